"""The Python client of the interop tests.

`websockets` from PyPI runs the exchange against the echo spec's `echo.json` endpoint at the
base URL given as the first argument: the welcome push, a typed note echoed, a validation error
envelope, server pushes and the typed close. Prints the report as one JSON line. For a `wss://`
URL, the optional second argument is a PEM file of the CA certificates to trust.
"""

import asyncio
import json
import ssl
import sys

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def exchange(base: str, cafile: str | None) -> dict:
    report = {"client": f"python websockets {websockets.__version__}"}
    tls = {"ssl": ssl.create_default_context(cafile=cafile)} if cafile else {}
    async with connect(base + "/echo/json", **tls) as ws:
        report["welcome"] = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "note", "id": 1, "text": "hello from python"}))
        report["echo"] = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "note", "id": 2, "text": ""}))
        report["error"] = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "push", "count": 3}))
        pushes = [json.loads(await ws.recv()) for _ in range(4)]
        report["ticks"] = sorted(m["n"] for m in pushes if m["type"] == "tick")
        report["pushed"] = [m["count"] for m in pushes if m["type"] == "pushed"]
        await ws.send(json.dumps({"type": "bye"}))
        try:
            await ws.recv()
        except ConnectionClosed as closed:
            report["close"] = {"code": closed.rcvd.code, "reason": closed.rcvd.reason}
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(asyncio.wait_for(exchange(sys.argv[1], (sys.argv[2:] or [None])[0]), 30))))
