"""`bridge serve` limits that span connections and the idle rule: turn rates per session, per
client address and for the whole server, concurrent sessions per address, the proxy's
forwarded address when (and only when) it is trusted, and idle meaning "starts no turn"."""

from __future__ import annotations

import json

import anyio
import pytest
from _serve import SHORT, client, running
from websockets.exceptions import ConnectionClosed

from bridge.server import ServerLimits, ServerOptions

pytestmark = pytest.mark.anyio


# --- idle: a session that starts no turn is closed, whatever else it sends -------------------


async def test_a_client_sending_only_non_turn_messages_is_closed_as_idle() -> None:
    limits = ServerLimits(idle_timeout=0.3)
    options = ServerOptions(port=0, limits=limits, audio_lead=None)
    noise: list[str | bytes] = [
        json.dumps({"type": "playback.ack", "samples": 0}),
        json.dumps({"type": "response.cancel"}),
        "{not json",
        json.dumps({"type": "dance"}),
        b"\x00",
    ]
    async with running(options=options) as stack, client(stack.url) as c:
        voice = c.events[0]["voice"]
        noise.append(json.dumps({"type": "session.configure", "voice": voice}))
        closed_with: int | None = None
        # Far longer than the timeout (bounded): on the old rule every frame reset the timer.
        for i in range(300):
            try:
                await c.ws.send(noise[i % len(noise)])
                await c.ws.ping()
                with anyio.move_on_after(0.03):
                    while True:
                        await c.recv()
            except ConnectionClosed as exc:
                closed_with = exc.rcvd.code if exc.rcvd is not None else None
                break
    assert closed_with == 4000
    assert c.of("error")[-1]["code"] == "idle_timeout"
    assert not c.of("response.started")


async def test_a_client_that_keeps_starting_turns_is_not_idle() -> None:
    limits = ServerLimits(idle_timeout=0.5, turn_burst=50, turns_per_minute=600)
    options = ServerOptions(port=0, limits=limits, audio_lead=None)
    async with running(options=options) as stack, client(stack.url) as c:
        for _ in range(6):
            await c.send(type="user.message", text="Hi")
            done = await c.until("response.done")
            assert done["result"]["text"] == SHORT
        assert not [e for e in c.of("error") if e["code"] == "idle_timeout"]
        # Once it stops starting turns, it is idle.
        code, _reason = await c.closed(timeout=10)
    assert code == 4000
