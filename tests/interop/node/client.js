// The Node client of the interop tests: `ws` from npm runs the shared exchange against the
// server at process.argv[2] and prints its report as one JSON line.
const WebSocket = require("ws");
const { wsgenExchange } = require("../exchange.js");

const timeout = setTimeout(() => {
  console.error("the exchange took more than 30s");
  process.exit(2);
}, 30000);

wsgenExchange(WebSocket, process.argv[2], "node ws " + require("ws/package.json").version)
  .then((report) => {
    clearTimeout(timeout);
    console.log(JSON.stringify(report));
  })
  .catch((error) => {
    console.error(error.stack || String(error));
    process.exit(1);
  });
