// Runs tests/typescript/wire_edges.ts (compiled by tsc, in this directory) with the `ws`
// package against the server at argv[2]; argv[3] is the package.json `ws` is installed beside,
// argv[4] the JSON of `{texts, names}`. Prints what the client saw as one JSON line.
import { createRequire } from "node:module";

import { wireEdges } from "./wire_edges_run.js";

const require = createRequire(process.argv[3]);
const WebSocket = require("ws");
const { texts, names } = JSON.parse(process.argv[4]);

const timeout = setTimeout(() => {
  console.error("the exchange took more than 30s");
  process.exit(2);
}, 30000);

try {
  const seen = await wireEdges(process.argv[2], { WebSocket }, texts, names);
  clearTimeout(timeout);
  console.log(JSON.stringify(seen));
} catch (error) {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
}
