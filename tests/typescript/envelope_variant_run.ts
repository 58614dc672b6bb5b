// The TypeScript side of tests/review_findings.rs: an enveloped union with a tag the client
// does not know is a DecodeError, as without the envelope (and as in the Rust client).
import { CUClient, CPClient, DecodeError, type ConnectOptions } from "./envu.js";

class FakeSocket {
  static last: FakeSocket | null = null;
  readonly url: string;
  binaryType = "blob";
  readyState = 0;
  bufferedAmount = 0;
  private readonly listeners = new Map<string, ((event: any) => void)[]>();
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
  addEventListener(type: string, listener: (event: any) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  emit(event: any): void {
    for (const listener of this.listeners.get(event.type) ?? []) listener(event);
  }
}
const options = { WebSocket: FakeSocket } as unknown as ConnectOptions;

async function seen(recv: Promise<unknown>): Promise<string> {
  try {
    return `message ${JSON.stringify(await recv)}`;
  } catch (e) {
    return e instanceof DecodeError ? "decode error" : `error ${String(e)}`;
  }
}
const plain = await CPClient.connect("ws://host", options);
FakeSocket.last!.emit({ type: "message", data: '{"type":"zzz"}' });
const p = await seen(plain.recv());
const env = await CUClient.connect("ws://host", options);
FakeSocket.last!.emit({ type: "message", data: '{"statusCode":200,"body":{"type":"zzz"}}' });
const e = await seen(env.recv());
console.log(JSON.stringify({ plain: p, enveloped: e }));
