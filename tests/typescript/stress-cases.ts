// The TypeScript client under stress: the cases tests/typescript.rs runs in Node with
// the `ws` package, in Node with undici's WebSocket (Node's global one) and in headless
// Chromium, with the clients generated from examples/specs/echo.yaml and stress.yaml, against
// the generated echo server (`env.echo`) and a misbehaving one written for these tests
// (`env.adversary`, in tests/typescript.rs). Each case returns what it saw; the Rust
// test checks it. A case that hangs is reported as `{ "hung": ms }` instead of hanging the run.

import {
  EchoEnvelopedClient,
  EchoFeedClient,
  EchoJsonClient,
  EchoProtocolClient,
  EchoRawClient,
  EchoTextClient,
  type ConnectOptions,
  type SocketEvent,
  type WebSocketLike,
} from "./echo.js";
import { StressFloatClient } from "./stress.js";

export interface Env {
  /** The generated echo server. */
  echo: string;
  /** The misbehaving server. */
  adversary: string;
  /** A URL nothing listens at. */
  refused: string;
  /** The WebSocket implementation (empty for the global one). */
  options: ConnectOptions;
  /** An `ArrayBuffer` holding [1, 2, 3], made in another realm (an iframe, `vm`). */
  foreignBuffer(): ArrayBuffer;
  /** How many unhandled rejections there have been so far. */
  unhandled(): number;
}

type Result = Record<string, unknown>;

const sleep = (ms: number): Promise<"slept"> =>
  new Promise((resolve) => setTimeout(() => resolve("slept"), ms));

/** What `promise` settled with, or `{ hung }` when it did not within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<unknown> {
  const hung = { hung: ms };
  return Promise.race([
    promise.then(
      (value) => value,
      (error: unknown) => failure(error),
    ),
    sleep(ms).then(() => hung),
  ]);
}

/** An error as data: its class name and the fields the tests look at. */
function failure(error: unknown): Result {
  if (!(error instanceof Error)) {
    return { thrown: error as unknown };
  }
  const out: Result = { error: error.name };
  const fields = error as unknown as Result;
  for (const key of ["status", "code", "timeout", "reason", "close", "errors"]) {
    if (key in fields) {
      out[key] = fields[key];
    }
  }
  return out;
}

/** A WebSocket the test drives by hand: it records its URL and emits what it is told to. */
class FakeSocket implements WebSocketLike {
  static last: FakeSocket | null = null;
  readonly url: string;
  binaryType = "blob";
  readyState = 0;
  bufferedAmount = 0;
  private readonly listeners = new Map<string, ((event: SocketEvent) => void)[]>();

  constructor(url: string) {
    this.url = url;
    FakeSocket.last = this;
    void Promise.resolve().then(() => {
      this.readyState = 1;
      this.emit({ type: "open" });
    });
  }

  send(): void {}

  close(code?: number, reason?: string): void {
    this.readyState = 3;
    this.emit({ type: "close", code: code ?? 1005, reason: reason ?? "" });
  }

  addEventListener(type: string, listener: (event: SocketEvent) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  emit(event: SocketEvent): void {
    for (const listener of this.listeners.get(event.type) ?? []) {
      listener(event);
    }
  }

  message(data: unknown): void {
    this.emit({ type: "message", data });
  }
}

function fake(): FakeSocket {
  if (FakeSocket.last === null) {
    throw new Error("no fake socket");
  }
  return FakeSocket.last;
}

const fakeOptions: ConnectOptions = { WebSocket: FakeSocket };

/** 1. `connect` settles when the upgrade fails (undici 6 sends `error` and never `close`). */
async function connectSettles(env: Env): Promise<Result> {
  return {
    notFound: await within(EchoJsonClient.connect(`${env.echo}/nowhere`, env.options), 5000),
    refused: await within(EchoJsonClient.connect(env.refused, env.options), 5000),
  };
}

/** 2. 100k unread messages arrive in linear time, and a late listener takes them all. */
async function flood(env: Env): Promise<Result> {
  const count = 100000;
  const options = { ...env.options, maxUnread: 200000 };
  const feed = await EchoFeedClient.connect(`${env.adversary}/flood`, { count }, options);
  let last = performance.now();
  let maxGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  // The server closes the connection after the last message.
  const closed = await within(feed.closed, 60000);
  const arrivedMs = performance.now() - started;
  clearInterval(ticker);
  let handed = 0;
  let ordered = true;
  const handover = performance.now();
  feed.onMessage((event) => {
    handed += 1;
    ordered = ordered && event.type === "tick" && event.n === handed;
  });
  await sleep(0);
  const handoverMs = performance.now() - handover;
  return { closed, handed, ordered, arrivedMs, handoverMs, maxGapMs };
}

/** 2. Past `maxUnread`, the client closes with 1008; what it kept can still be read. */
async function bounded(env: Env): Promise<Result> {
  const options = { ...env.options, maxUnread: 1000 };
  const feed = await EchoFeedClient.connect(`${env.adversary}/flood-open`, { count: 5000 }, options);
  const closed = await within(feed.closed, 10000);
  let kept = 0;
  let after: unknown = null;
  for (;;) {
    const next = await within(feed.recv(), 2000);
    if (typeof next === "object" && next !== null && "type" in next) {
      kept += 1;
    } else {
      after = next;
      break;
    }
  }
  return { closed, kept, after };
}

/** What an echo client's listeners see, as short strings. */
function logOf(client: EchoJsonClient): { log: string[]; listen(): void; errors(): void } {
  const log: string[] = [];
  return {
    log,
    listen: () => {
      client.onMessage((event) => log.push(event.type === "note" ? `note ${event.id}` : event.type));
    },
    errors: () => {
      client.onError((error) => log.push(`error ${error.name}`));
    },
  };
}

/** 3. Errors never become unhandled rejections, and keep their place among messages. */
async function errorsInOrder(env: Env): Promise<Result> {
  const before = env.unhandled();
  // Only `onMessage`, then an invalid message: the rejection waits for `onError`.
  const only = await EchoJsonClient.connect(env.echo, env.options);
  await only.recv();
  const onlyLog = logOf(only);
  onlyLog.listen();
  only.send({ type: "note", id: 1, text: "" });
  only.send({ type: "note", id: 2, text: "fine" });
  await sleep(300);
  const unhandled = env.unhandled() - before;
  onlyLog.errors();
  await sleep(50);
  only.close();

  // A message, a rejection and a message arrive before any listener; then both are added.
  const orders: Result = {};
  for (const first of ["onError", "onMessage"]) {
    const client = await EchoJsonClient.connect(env.echo, env.options);
    await client.recv();
    client.send({ type: "note", id: 1, text: "one" });
    client.send({ type: "note", id: 2, text: "" });
    client.send({ type: "note", id: 3, text: "three" });
    await sleep(300);
    const { log, listen, errors } = logOf(client);
    if (first === "onError") {
      errors();
      listen();
    } else {
      listen();
      errors();
    }
    await sleep(50);
    orders[first] = log;
    client.close();
  }
  return { unhandled, onlyMessages: onlyLog.log, ...orders, unhandledAfter: env.unhandled() - before };
}

/** 4. A shared signal's listeners are removed once connecting (or `recv`) is done. */
async function signalReleased(env: Env): Promise<Result> {
  let listening = 0;
  const signal = {
    aborted: false,
    reason: undefined,
    addEventListener: () => {
      listening += 1;
    },
    removeEventListener: () => {
      listening -= 1;
    },
  };
  const options = { ...env.options, signal };
  for (let i = 0; i < 5; i += 1) {
    const client = await EchoTextClient.connect(env.echo, options);
    client.send("x");
    await client.recv({ signal });
    client.close();
    await client.closed;
  }
  await within(EchoTextClient.connect(`${env.echo}/nowhere`, options), 5000);
  return { listening };
}

/** 5. A `recv()` that gave up takes no message. */
async function abandonedRecv(env: Env): Promise<Result> {
  const text = await EchoTextClient.connect(env.echo, env.options);
  const timedOut = await within(Promise.race([text.recv({ timeout: 100 }), sleep(300)]), 1000);
  const controller = new AbortController();
  const aborted = text.recv({ signal: controller.signal });
  controller.abort("changed my mind");
  const abortedWith = await within(aborted, 1000);
  text.send("after");
  const next = await within(text.recv(), 2000);
  text.close();
  return { timedOut, abortedWith, next };
}

/** 6. Connecting gives up after `timeout`: no upgrade answer, and no handshake answer. */
async function connectTimeout(env: Env): Promise<Result> {
  const options = { ...env.options, timeout: 300 };
  return {
    silent: await within(EchoJsonClient.connect(`${env.adversary}/silent`, options), 5000),
    mute: await within(EchoProtocolClient.connect(`${env.adversary}/mute`, options), 5000),
  };
}

/** 7. Credentials: headers where the runtime can send them, a subprotocol everywhere. */
async function credentials(env: Env): Promise<Result> {
  const auth = `${env.adversary}/auth`;
  const welcome = (options: ConnectOptions): Promise<unknown> =>
    EchoJsonClient.connect(auth, options).then(async (client) => {
      const message = await client.recv();
      client.close();
      return message;
    });
  const headers = { Authorization: "Bearer t0k3n" };
  return {
    headers: await within(welcome({ ...env.options, headers }), 5000),
    protocol: await within(welcome({ ...env.options, protocols: ["bearer.t0k3n"] }), 5000),
    none: await within(welcome(env.options), 5000),
  };
}

/** 8. Each way connecting fails has its own class. */
async function connectErrors(env: Env): Promise<Result> {
  const controller = new AbortController();
  const aborted = EchoJsonClient.connect(`${env.adversary}/silent`, {
    ...env.options,
    signal: controller.signal,
  });
  setTimeout(() => controller.abort("stop"), 100);
  return {
    unauthorized: await within(EchoJsonClient.connect(`${env.adversary}/auth`, env.options), 5000),
    aborted: await within(aborted, 5000),
    closedInHandshake: await within(
      EchoProtocolClient.connect(`${env.adversary}/handshake-close`, env.options),
      5000,
    ),
  };
}

/** 10. The smaller points, on a socket driven by hand. */
async function smaller(env: Env): Promise<Result> {
  const urls: string[] = [];
  const floats = await StressFloatClient.connect(
    "ws://host/base?token=a%20b",
    { name: "..", id: 18446744073709551615n },
    { big: 2 ** 70 },
    fakeOptions,
  );
  urls.push(fake().url);
  for (const text of ["inf", "-inf", "NaN", "1.5"]) {
    fake().message(text);
  }
  const numbers: unknown[] = [];
  for (let i = 0; i < 4; i += 1) {
    const value = await within(floats.recv(), 500);
    numbers.push(typeof value === "number" ? String(value) : value);
  }
  await StressFloatClient.connect(
    "ws://host/",
    { name: ".", id: "12345678901234567890" },
    { big: 9007199254740993n, note: undefined },
    fakeOptions,
  );
  urls.push(fake().url);

  const raw = await EchoRawClient.connect("ws://host", fakeOptions);
  fake().message(env.foreignBuffer());
  const foreign = await within(raw.recv(), 500);

  const text = await EchoTextClient.connect("ws://host", fakeOptions);
  const calls: string[] = [];
  let removeSecond: () => void = () => {};
  text.onMessage(() => {
    calls.push("first");
    removeSecond();
  });
  removeSecond = text.onMessage(() => calls.push("second"));
  await sleep(0);
  fake().message("x");

  const json = await EchoJsonClient.connect("ws://host", fakeOptions);
  const errorList = [{ loc: ["text"], type: "string_too_short", msg: "short" }];
  fake().message(JSON.stringify({ body: { errorList }, statusCode: 400 }));
  fake().message(`{ "statusCode" : 400, "body": ${JSON.stringify({ errorList })} }`);
  const reordered = await within(json.recv(), 500);
  const spaced = await within(json.recv(), 500);
  const enveloped = await EchoEnvelopedClient.connect("ws://host", fakeOptions);
  fake().message(`{"body": {"id": 1, "text": "a"}, "statusCode": 200}`);
  const body = await within(enveloped.recv(), 500);

  return {
    urls,
    numbers,
    foreign: foreign instanceof Uint8Array ? Array.from(foreign) : foreign,
    calls,
    reordered,
    spaced,
    body,
  };
}

/** 6. Without a `timeout` option, connecting gives up after 10s (last: it takes that long). */
async function defaultTimeout(env: Env): Promise<Result> {
  const started = performance.now();
  const silent = await within(EchoJsonClient.connect(`${env.adversary}/silent`, env.options), 20000);
  return { silent, seconds: Math.round((performance.now() - started) / 1000) };
}

const cases: Record<string, (env: Env) => Promise<Result>> = {
  connectSettles,
  flood,
  bounded,
  errorsInOrder,
  signalReleased,
  abandonedRecv,
  connectTimeout,
  credentials,
  connectErrors,
  smaller,
  defaultTimeout,
};

/** Runs every case (or those named in `only`); a case that throws reports `{ failed }`. */
export async function stress(env: Env, only: string[] = []): Promise<Result> {
  const report: Result = {};
  for (const [name, run] of Object.entries(cases)) {
    if (only.length > 0 && !only.includes(name)) {
      continue;
    }
    try {
      report[name] = await within(run(env), 90000);
    } catch (error) {
      report[name] = { failed: String(error instanceof Error ? error.stack : error) };
    }
  }
  return report;
}
