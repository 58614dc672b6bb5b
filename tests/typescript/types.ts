// Compiled by tests/typescript.rs with tsc under the strict options (exactOptionalPropertyTypes
// among them) against the clients generated from examples/specs/echo.yaml and stress.yaml;
// it is never run. Each line is something a program may write.

import { ClosedError, type ConnectOptions, type Json, type Note } from "./echo.js";
import {
  StressFloatClient,
  type Item,
  type Shape,
  type StressFloatQuery,
} from "./stress.js";

/** `true` when `T` is `any`. */
type IsAny<T> = 0 extends 1 & T ? true : false;

// An explicit `undefined` where a property is optional.
export const options: ConnectOptions = { protocols: undefined, signal: undefined, timeout: undefined };
export const item: Item = { label: undefined };
export const query: StressFloatQuery = { big: 1n, note: undefined };

// A variant that carries a struct without fields is a value, not `never`.
export const empty: Shape = { kind: "empty" };

// Message types are JSON.
export const note: Json = { id: 1, text: "a" } satisfies Note;
export function asJson(value: Note | Item | Shape): Json {
  return value;
}

// `instanceof ClosedError` gives a typed `close`, not `any`.
export function closeOf(error: unknown): number | null {
  if (error instanceof ClosedError) {
    const typed: IsAny<typeof error.close> = false;
    const condition: string | null = error.close.condition;
    return typed || condition === null ? error.close.code : null;
  }
  return null;
}

// 64-bit parameters take a bigint or the digits as a string.
export async function exact(base: string): Promise<void> {
  await StressFloatClient.connect(base, { name: "a", id: "18446744073709551615" }, { big: 2n ** 64n - 1n });
}
