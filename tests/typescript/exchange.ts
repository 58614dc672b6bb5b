// The exchange the TypeScript tests run with the generated client for the echo spec
// (generated/ts/echo.ts), in headless Chromium and in Node: typed messages, a validation error
// the server rejects, server pushes, typed query parameters, text and binary frames, and the
// typed close. It returns a report; the Rust test (tests/typescript.rs) checks every field.

import {
  ClosedError,
  EchoEnvelopedClient,
  EchoFeedClient,
  EchoJsonClient,
  EchoProtocolClient,
  EchoRawClient,
  EchoTextClient,
  RejectedError,
  type ConnectOptions,
  type Event,
} from "./echo.js";

export interface Report {
  client: string;
  welcome: Event;
  echo: Event;
  rejected: { isRejectedError: boolean; status: number; errors: unknown };
  pushes: Event[];
  close: { condition: string | null; code: number; reason: string };
  afterClose: string;
  feed: number[];
  feedClose: { condition: string | null; code: number };
  text: string;
  binary: number[];
  handshake: string;
  enveloped: { note: unknown; rejected: string[]; errorsSeen: number };
  refused: string;
}

export async function exchange(base: string, client: string, options: ConnectOptions = {}): Promise<Report> {
  const json = await EchoJsonClient.connect(base, options);
  const welcome = await json.recv();

  json.send({ type: "note", id: 1, text: `hello from ${client}` });
  const echo = await json.recv();

  // Breaks the spec's `min_length: 1`: the server answers with the error envelope, and the
  // connection stays open.
  json.send({ type: "note", id: 2, text: "" });
  const rejected = await json.recv().then(
    () => ({ isRejectedError: false, status: 0, errors: null as unknown }),
    (error: unknown) =>
      error instanceof RejectedError
        ? { isRejectedError: true, status: error.status, errors: error.errors as unknown }
        : { isRejectedError: false, status: 0, errors: String(error) as unknown },
  );

  // `pushed` is the reply; the three ticks are server pushes, taken by a listener.
  const pushes: Event[] = [];
  const fourth = new Promise<void>((resolve) => {
    json.onMessage((message) => {
      pushes.push(message);
      if (pushes.length === 4) {
        resolve();
      }
    });
  });
  json.send({ type: "push", count: 3 });
  await fourth;

  json.send({ type: "bye" });
  const closed = await json.closed;
  const close =
    closed.condition === "Goodbye"
      ? { condition: closed.condition, code: closed.code, reason: closed.reason }
      : { condition: null, code: closed.code, reason: closed.reason };
  let afterClose = "send did not throw";
  try {
    json.send({ type: "bye" });
  } catch (error) {
    afterClose = error instanceof ClosedError ? `ClosedError ${error.close.code}` : String(error);
  }

  // A send-only endpoint with a typed query parameter: the server pushes `count` ticks.
  const feed = await EchoFeedClient.connect(base, { count: 3 }, options);
  const ticks: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    const tick = await feed.recv();
    if (tick.type === "tick") {
      ticks.push(tick.n);
    }
  }
  feed.close();
  const feedClosed = await feed.closed;

  const text = await EchoTextClient.connect(base, options);
  text.send("plain text ✓");
  const textBack = await text.recv();
  text.close();

  const raw = await EchoRawClient.connect(base, options);
  raw.send(new Uint8Array([0, 1, 2, 254, 255]));
  const rawBack = await raw.recv();
  raw.close();

  // The protocol handshake runs in connect; the echo follows it.
  const protocol = await EchoProtocolClient.connect(base, options);
  protocol.send("after the handshake");
  const handshake = await protocol.recv();
  protocol.close();

  // Notes in the status envelope; an invalid one comes back as a rejection, to `onError`.
  const enveloped = await EchoEnvelopedClient.connect(base, options);
  const envelopeErrors: string[] = [];
  enveloped.onError((error) => {
    if (error instanceof RejectedError) {
      envelopeErrors.push(...error.errors.map((e) => `${e.loc.join(".")}: ${e.type}`));
    }
  });
  enveloped.send({ id: 9, text: "" });
  enveloped.send({ id: 10, text: "wrapped" });
  const note = await enveloped.recv();
  enveloped.close();

  // A path nobody serves: connect rejects.
  const refused = await EchoJsonClient.connect(`${base}/nowhere`, options).then(
    () => "connected",
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );

  return {
    client,
    welcome,
    echo,
    rejected,
    pushes,
    close,
    afterClose,
    feed: ticks,
    feedClose: { condition: feedClosed.condition, code: feedClosed.code },
    text: textBack,
    binary: typeof rawBack === "string" ? [] : Array.from(rawBack),
    handshake,
    enveloped: { note, rejected: envelopeErrors, errorsSeen: envelopeErrors.length },
    refused,
  };
}
