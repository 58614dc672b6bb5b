// The TypeScript client generated from tests/specs/diff/e2e_union_variant_added/old.yaml
// (compiled by tsc into this directory as feed.js) against a server generated from new.yaml:
// argv[2] is the server, argv[3] the package.json that `ws` is installed beside. Prints one
// JSON line: what recv() gave for the variant the client does not know, then for a known one.
import { createRequire } from "node:module";

import { DecodeError, ShopFeedClient } from "./feed.js";

const require = createRequire(process.argv[3]);
const WebSocket = require("ws");
const timeout = setTimeout(() => process.exit(2), 20000);

const client = await ShopFeedClient.connect(process.argv[2], { WebSocket });
client.send("refund");
let unknown;
try {
  unknown = { decoded: await client.recv() };
} catch (error) {
  unknown = { isDecodeError: error instanceof DecodeError, message: String(error.message) };
}
client.send("open");
const next = await client.recv();
client.close();
clearTimeout(timeout);
console.log(JSON.stringify({ unknown, next }));
