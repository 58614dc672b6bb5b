// The Node side of tests/typescript.rs: runs the exchange or the stress cases (compiled by tsc,
// in this directory) and prints the report as one JSON line. argv[2] is a JSON object:
//   home       the package.json that `ws` and `undici` are installed beside
//   socket     "ws" (the `ws` package) or "undici" (undici's WebSocket: Node 22+'s global one)
//   run        "exchange" or "stress"
//   echo       the generated echo server's base URL
//   adversary  the misbehaving server's base URL (stress)
//   refused    a URL nothing listens at (stress)
//   only       the stress cases to run (all when absent)
import { createRequire } from "node:module";
import vm from "node:vm";

const config = JSON.parse(process.argv[2]);
const require = createRequire(config.home);
const WebSocket = config.socket === "ws" ? require("ws") : require("undici").WebSocket;
const version = require(`${config.socket}/package.json`).version;
const client = `node ${process.version} ${config.socket} ${version}`;

// Counted instead of ending the process, so that the report says how many there were.
let unhandled = 0;
process.on("unhandledRejection", (reason) => {
  unhandled += 1;
  console.error("unhandled rejection:", reason);
});

const timeout = setTimeout(() => {
  console.error("the run took more than 240s");
  process.exit(2);
}, 240000);

try {
  let report;
  if (config.run === "exchange") {
    const { exchange } = await import("./exchange.js");
    report = await exchange(config.echo, client, { WebSocket });
  } else {
    const { stress } = await import("./stress-cases.js");
    report = await stress(
      {
        echo: config.echo,
        adversary: config.adversary,
        refused: config.refused,
        options: { WebSocket },
        foreignBuffer: () => vm.runInNewContext("new Uint8Array([1, 2, 3]).buffer"),
        unhandled: () => unhandled,
      },
      config.only ?? [],
    );
    report.client = client;
  }
  clearTimeout(timeout);
  console.log(JSON.stringify(report));
  // Whatever the client left running (a timer, a socket) must not keep Node from exiting.
  setTimeout(() => process.exit(0), 100).unref();
} catch (error) {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
}
