"""The client's fast audio path and its one receive deadline per connection (emulator)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from bridge.core.errors import TTSProtocolError, TTSTimeoutError
from bridge.local import Emulator, EmulatorOptions, serve_emulator
from bridge.qwen import AudioChunk, SessionConfig, SessionState, Timeouts, connect
from bridge.qwen import events as ev
from bridge.qwen.deadline import Deadline

pytestmark = pytest.mark.anyio

FAST = Timeouts(connect=5, update=5, first_audio=5, stall=5, idle=5, close=1)
TEXT = "Hello there, this is a test of the fast path. And a second sentence follows it. "


@asynccontextmanager
async def emulator() -> AsyncIterator[Emulator]:
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        yield emu


async def _typed(url: str) -> tuple[list[AudioChunk], list[str], int]:
    """The reference: every event typed by recv(), audio taken from ResponseAudioDelta."""
    chunks: list[AudioChunk] = []
    kinds: list[str] = []
    async with connect(url=url, config=SessionConfig(mode="commit"), timeouts=FAST) as tts:
        await tts.append(TEXT)
        await tts.commit()
        await tts.send_finish()
        while tts.state is not SessionState.CLOSED:
            event = await tts.recv()
            kinds.append(event.type)
            if isinstance(event, ev.ResponseAudioDelta):
                chunks.append(tts.chunk(event))
        return chunks, kinds, tts.machine.audio_bytes


async def test_recv_chunk_gives_the_typed_path_audio_and_events() -> None:
    async with emulator() as emu:
        want_chunks, want_kinds, want_bytes = await _typed(emu.url)
        chunks: list[AudioChunk] = []
        kinds: list[str] = []
        async with connect(url=emu.url, config=SessionConfig(mode="commit"), timeouts=FAST) as tts:
            await tts.append(TEXT)
            await tts.commit()
            await tts.send_finish()
            while tts.state is not SessionState.CLOSED:
                item = await tts.recv_chunk()
                if isinstance(item, AudioChunk):
                    kinds.append("response.audio.delta")
                    chunks.append(item)
                else:
                    assert not isinstance(item, ev.ResponseAudioDelta)
                    kinds.append(item.type)
            stats = tts.responses
            assert tts.machine.audio_bytes == want_bytes
    assert len(want_chunks) > 3
    # the same bytes, rate and format, in order, each with its own session's response id
    assert [(c.data, c.sample_rate, c.format) for c in chunks] == [
        (c.data, c.sample_rate, c.format) for c in want_chunks
    ]
    assert {c.response_id for c in chunks} == {stats[0].response_id}
    assert kinds == want_kinds
    assert stats[0].audio_bytes == want_bytes
    assert stats[0].first_audio_at is not None


async def test_invalid_base64_on_the_fast_path_is_a_protocol_error() -> None:
    with pytest.raises(TTSProtocolError, match="invalid base64"):
        ev.delta_audio({"type": "response.audio.delta", "delta": "not base64!"})
    with pytest.raises(TTSProtocolError, match="base64 string"):
        ev.delta_audio({"type": "response.audio.delta", "delta": 12})
    assert ev.delta_audio({"delta": "AAEC"}) == b"\x00\x01\x02"


@pytest.mark.parametrize(
    "anyio_backend",
    [("asyncio", {}), ("asyncio", {"use_uvloop": True})],
    ids=["asyncio", "uvloop"],
)
async def test_a_timed_out_receive_leaves_the_connection_usable() -> None:
    async with emulator() as emu, connect(url=emu.url, timeouts=FAST) as tts:
        with pytest.raises(TTSTimeoutError, match=r"sent nothing for 0\.05 s"):
            await tts.recv_chunk(timeout=0.05)  # nothing owed: nothing comes
        with pytest.raises(TTSTimeoutError):
            await tts.recv(timeout=0.05)
        await tts.append(TEXT)
        chunks = await tts.finish()
    assert sum(len(c.data) for c in chunks) > 0


async def test_one_timer_per_connection_not_one_per_receive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    real: Callable[..., Any] = loop.call_at

    def call_at(when: float, callback: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if getattr(callback, "__func__", None) is Deadline._expire:
            armed.append(when)
        return real(when, callback, *args, **kw)

    monkeypatch.setattr(loop, "call_at", call_at)
    events = 0
    async with emulator() as emu, connect(url=emu.url, timeouts=FAST) as tts:
        await tts.append(TEXT)
        await tts.send_finish()
        while tts.state is not SessionState.CLOSED:
            await tts.recv_chunk()
            events += 1
    assert events > 20
    # connect's session.created (connect bound) arms it; a later wait that asks for a bound
    # ending earlier may re-arm it once; nothing else re-arms it within the 5 s bounds.
    assert 1 <= len(armed) <= 2, armed


LOOPS = pytest.mark.parametrize(
    "anyio_backend",
    [("asyncio", {}), ("asyncio", {"use_uvloop": True})],
    ids=["asyncio", "uvloop"],
)


@LOOPS
async def test_an_outer_cancel_scope_still_cancels_a_waiting_receive() -> None:
    async with emulator() as emu, connect(url=emu.url, timeouts=FAST) as tts:
        with anyio.move_on_after(0.05) as scope:
            await tts.recv_chunk(timeout=5)  # the scope's cancel, not the deadline's
        assert scope.cancelled_caught
        with pytest.raises(TTSTimeoutError):
            await tts.recv_chunk(timeout=0.05)  # then the deadline's own
        await tts.append(TEXT)
        chunks = await tts.finish()
    assert sum(len(c.data) for c in chunks) > 0
