// The exchange every JavaScript client of the interop tests runs against the echo spec's
// `echo.json` endpoint, with the browser's WebSocket or Node's `ws` (the same API): the welcome
// push, a typed note echoed, a validation error envelope, server pushes, and the typed close.
// It resolves to a report object; the Rust test checks every field.

async function wsgenExchange(WebSocketImpl, base, client) {
  const ws = new WebSocketImpl(base + "/echo/json");
  const inbox = [];
  const waiters = [];
  let closed = null;
  const settle = () => {
    while (waiters.length && (inbox.length || closed)) {
      const waiter = waiters.shift();
      if (inbox.length) waiter.resolve(inbox.shift());
      else waiter.reject(new Error("closed: " + JSON.stringify(closed)));
    }
  };
  ws.onmessage = (event) => {
    const data = typeof event.data === "string" ? event.data : event.data.toString();
    inbox.push(JSON.parse(data));
    settle();
  };
  const closedPromise = new Promise((resolve) => {
    ws.onclose = (event) => {
      closed = { code: event.code, reason: String(event.reason) };
      settle();
      resolve(closed);
    };
  });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("could not connect to " + base));
  });
  const next = () => new Promise((resolve, reject) => {
    waiters.push({ resolve, reject });
    settle();
  });
  const send = (message) => ws.send(JSON.stringify(message));

  const report = { client };
  report.welcome = await next();
  send({ type: "note", id: 1, text: "hello from " + client });
  report.echo = await next();
  send({ type: "note", id: 2, text: "" });
  report.error = await next();
  send({ type: "push", count: 3 });
  const pushes = [await next(), await next(), await next(), await next()];
  report.ticks = pushes.filter((m) => m.type === "tick").map((m) => m.n).sort();
  report.pushed = pushes.filter((m) => m.type === "pushed").map((m) => m.count);
  send({ type: "bye" });
  report.close = await closedPromise;
  return report;
}

// Opens a connection that the server must refuse (an origin it does not allow); resolves to
// whether it opened and the close code the client saw.
function wsgenRefused(WebSocketImpl, url) {
  return new Promise((resolve) => {
    let opened = false;
    const ws = new WebSocketImpl(url);
    ws.onopen = () => { opened = true; ws.close(); };
    ws.onerror = () => {};
    ws.onclose = (event) => resolve({ opened, code: event.code });
  });
}

if (typeof module !== "undefined") {
  module.exports = { wsgenExchange, wsgenRefused };
}
