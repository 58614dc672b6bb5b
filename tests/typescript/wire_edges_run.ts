// The TypeScript side of tests/e2e_wire_edges.rs: the generated client for
// examples/specs/wire_edges.yaml sends each text to the echo endpoint and records how it reads
// the answer, and connects to the greet endpoint with each name; the Rust test does the same
// with the generated Rust client and compares.

import {
  BagsEchoClient,
  BagsGreetClient,
  DecodeError,
  RejectedError,
  type ConnectOptions,
} from "./wire_edges.js";

export interface Seen {
  echo: string[];
  greet: string[];
}

function describe(error: unknown): string {
  if (error instanceof RejectedError) {
    return `rejected ${error.status}: ${error.errors.length}`;
  }
  return error instanceof DecodeError ? "decode error" : `error ${String(error)}`;
}

export async function wireEdges(
  base: string,
  options: ConnectOptions,
  texts: string[],
  names: string[],
): Promise<Seen> {
  const echo = await BagsEchoClient.connect(base, options);
  const echoed: string[] = [];
  for (const text of texts) {
    echo.send(text);
    try {
      echoed.push(`message ${await echo.recv()}`);
    } catch (error) {
      echoed.push(describe(error));
    }
  }
  echo.close();
  const greeted: string[] = [];
  for (const name of names) {
    try {
      const client = await BagsGreetClient.connect(base, { name }, options);
      client.send("hi");
      greeted.push(`message ${await client.recv()}`);
      client.close();
    } catch (error) {
      greeted.push(describe(error));
    }
  }
  return { echo: echoed, greet: greeted };
}
