// The Node side of tests/typescript.rs: runs the exchange (compiled by tsc, in this directory)
// with the `ws` package as the WebSocket implementation, against the server at argv[2], and
// prints the report as one JSON line. argv[3] is the package.json that `ws` is installed beside.
import { createRequire } from "node:module";

import { exchange } from "./exchange.js";

const require = createRequire(process.argv[3]);
const WebSocket = require("ws");
const version = require("ws/package.json").version;

const timeout = setTimeout(() => {
  console.error("the exchange took more than 30s");
  process.exit(2);
}, 30000);

try {
  const report = await exchange(process.argv[2], `node ${process.version} ws ${version}`, { WebSocket });
  clearTimeout(timeout);
  console.log(JSON.stringify(report));
} catch (error) {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
}
