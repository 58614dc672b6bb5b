"""A starlette + uvicorn echo server: what a user of the seed frameworks (Cafeto is built on
starlette) runs today. Prints `listening on ws://ADDR` first, as the bench expects. `/echo/json`
decodes a note, checks its length and answers it re-encoded; other paths echo as they come."""

import asyncio
import json
import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocketDisconnect

sessions = 0


def quiet_disconnects(handler):
    """Load clients hang up without a close handshake; that ends the handler, not in a log."""

    async def run(ws):
        try:
            await handler(ws)
        except WebSocketDisconnect:
            pass

    return run


@quiet_disconnects
async def raw(ws):
    await ws.accept()
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await ws.send_text(message["text"])
        elif message.get("bytes") is not None:
            await ws.send_bytes(message["bytes"])


@quiet_disconnects
async def typed(ws):
    global sessions
    await ws.accept()
    sessions += 1
    await ws.send_text(json.dumps({"type": "welcome", "session": sessions}))
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        note = json.loads(message.get("text") or "{}")
        if note.get("type") != "note" or not 1 <= len(note.get("text", "")) <= 1000:
            await ws.close(1007)
            return
        await ws.send_text(json.dumps({"type": "note", "id": note["id"], "text": note["text"]}))


app = Starlette(routes=[WebSocketRoute("/echo/json", typed), WebSocketRoute("/{path:path}", raw)])


async def main():
    host, port = (sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:0").rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    print(f"listening on ws://{host}:{sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio"))
    await server.serve(sockets=[sock])


if __name__ == "__main__":
    asyncio.run(main())
