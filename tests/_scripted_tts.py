"""A scripted Qwen-TTS Realtime server for tests: the test decides every frame it sends.

``scripted_tts(handler)`` serves on 127.0.0.1:0 and yields the URL; each connection gets
``session.created`` and then ``handler(peer)``, which reads client events (``peer.recv()``)
and answers with whatever shapes the test needs (``peer.send`` / ``peer.respond``). The frame
builders are the emulator's (``bridge.local.wire``), so the envelopes have the documented
shapes while the answers (errors in particular) can be anything.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from bridge.local.wire import ServerWire, new_id

__all__ = ["Peer", "scripted_tts"]


@dataclass(eq=False)
class Peer:
    ws: ServerConnection
    wire: ServerWire = field(default_factory=ServerWire)
    received: list[dict[str, Any]] = field(default_factory=list)

    async def recv(self) -> dict[str, Any]:
        event = json.loads(await self.ws.recv())
        assert isinstance(event, dict)
        self.received.append(event)
        return event

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def error(self, error: dict[str, Any]) -> None:
        """An ``error`` event whose ``error`` object is exactly ``error``."""
        await self.send(self.wire.event("error", error=error))

    async def respond(self, audio: bytes, *, deltas: int = 1) -> str:
        """One whole response envelope carrying ``audio`` in ``deltas`` pieces; its id."""
        rid, iid = new_id("resp"), new_id("item")
        w = self.wire
        await self.send(w.response_created(rid, "Cherry"))
        await self.send(w.item_added(rid, iid))
        await self.send(w.part("response.content_part.added", rid, iid))
        step = max(2, len(audio) // deltas // 2 * 2)
        for offset in range(0, len(audio), step):
            await self.send(w.audio_delta(rid, iid, audio[offset : offset + step]))
        await self.send(w.audio_done(rid, iid))
        await self.send(w.part("response.content_part.done", rid, iid))
        await self.send(w.item_done(rid, iid, "completed"))
        await self.send(w.response_done(rid, iid, voice="Cherry", status="completed", usage={}))
        return rid

    async def finished(self) -> None:
        await self.send(self.wire.event("session.finished"))
        await self.ws.close(1000, "")


Handler = Callable[[Peer], Awaitable[None]]


@asynccontextmanager
async def scripted_tts(handler: Handler) -> AsyncIterator[str]:
    async def on_connection(ws: ServerConnection) -> None:
        peer = Peer(ws)
        session = {"id": new_id("sess"), "mode": "server_commit", "model": "m"}
        await peer.send(peer.wire.session("session.created", session))
        await handler(peer)

    async with serve(on_connection, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/api-ws/v1/realtime"
