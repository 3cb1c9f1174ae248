"""CPU per audio delta and per text.delta: the hot paths as they are against the way they were.

Prints figures; asserts nothing. Run: ``uv run python benchmarks/hot_paths.py [--rounds N]``.

Both sides run in this one process, interleaved (old, new, old, new, ...), ``--rounds`` times;
each figure is the median of the rounds with its spread (min..max), in CPU microseconds
(``time.process_time``) per item. The machine's load average is printed before and after.

1. **Audio delta, client side** (one 100 ms delta of 24 kHz PCM, 4800 bytes): from the frame
   the websocket hands over to the ``AudioChunk`` the pipeline writes.
   - *old*: what the client did before (written out here, nothing is checked out): an anyio
     ``fail_after`` scope around the receive, ``json.loads``, ``base64.b64decode``, a typed
     ``ResponseAudioDelta`` built the way the old parser built it, the old bookkeeping, then
     the ``AudioChunk``;
   - *new*: ``TTSSession.recv_chunk`` itself, on a stand-in connection whose ``recv`` returns
     the frame at once (one receive deadline per connection, orjson, pybase64, no typed event).
   Run on asyncio's own loop and on uvloop (when installed).
2. **text.delta, server side**: a reply of ``--tokens`` tokens streamed into the session's
   outbox, one token every 20 ms (a usual model's pace), a ``segment`` event after each
   sentence, drained by a writer task, for ``--sessions`` sessions at once; CPU per token and
   frames per reply. A third, *base*, run does the same with an outbox that sends nothing
   (the producer's sleeps and the event loop alone); old and new are shown above it.
   - *old*: the previous ``Outbox`` (written out here): one JSON frame per token, stdlib
     ``json``, a ``Frame`` object and a new ``anyio.Event`` per put and per get;
   - *new*: ``bridge.server.outbox.Outbox`` with ``put_text`` and its 100 ms window.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from bridge.core import codec
from bridge.qwen import AudioChunk, TTSSession
from bridge.qwen import events as ev
from bridge.qwen.protocol import SessionState, _Open
from bridge.server import protocol as p
from bridge.server.outbox import Outbox

RATE = 24000
PCM = bytes(range(256)) * (4800 // 256) + bytes(4800 % 256)
FRAME = json.dumps(
    {
        "event_id": "event_B1osAAAAAAAAAAAAAAAAA",
        "type": "response.audio.delta",
        "response_id": "resp_B1osAAAAAAAAAAAAAAAAA",
        "item_id": "item_B1osAAAAAAAAAAAAAAAAA",
        "output_index": 0,
        "content_index": 0,
        "delta": base64.b64encode(PCM).decode(),
    }
)
RID = "resp_B1osAAAAAAAAAAAAAAAAA"


# --- 1. audio delta ------------------------------------------------------------------------


class _InstantWS:
    """A connection whose every ``recv`` returns the same audio delta frame at once."""

    async def recv(self) -> str:
        return FRAME


def _session() -> TTSSession:
    s = TTSSession(model="qwen3-tts-flash-realtime", url="ws://x", _ws=_InstantWS())  # type: ignore[arg-type]
    s.machine.state = SessionState.SPEAKING
    s.machine._open[RID] = _Open(None, 0.0)
    return s


def _old_parse(data: str) -> ev.ServerEvent:
    """The previous parse of an audio delta: stdlib json and base64, dict merges, typed event."""
    raw = json.loads(data)
    if not isinstance(raw, Mapping):
        raise ValueError
    kind = raw.get("type")
    common: dict[str, Any] = {"type": kind, "event_id": ev._str(raw, "event_id"), "raw": raw}
    item_id = ev._str(raw, "item_id") or ev._str(ev._obj(raw, "item"), "id")
    scoped = {
        "response_id": ev._str(raw, "response_id"),
        "item_id": item_id,
        "output_index": ev._int(raw, "output_index"),
    }
    delta = raw.get("delta", "")
    audio = base64.b64decode(delta, validate=True)
    return ev.ResponseAudioDelta(
        **common, **scoped, content_index=ev._int(raw, "content_index"), audio=audio
    )


_OLD_CHAIN = (
    ev.SessionCreated,
    ev.SessionUpdated,
    ev.InputTextBufferCleared | ev.InputTextBufferCommitted,
    ev.ErrorEvent,
    ev.ResponseCreated,
)


def _old_machine(s: TTSSession, event: ev.ServerEvent) -> None:
    """The previous state machine's ``on_receive`` for an audio delta: its isinstance chain,
    then the byte count."""
    for kind in _OLD_CHAIN:
        if isinstance(event, kind):
            return
    if isinstance(event, ev.ResponseAudioDelta):
        s.machine.audio_bytes += len(event.audio)


async def _old_recv(s: TTSSession) -> AudioChunk:
    """The previous ``recv`` + ``chunk``: a cancel scope per receive, the typed event, the
    old bookkeeping (``_observe``'s isinstance chain and the machine's)."""
    limit = s.timeouts.idle
    with anyio.fail_after(limit):
        frame = await s._ws.recv()
    event = _old_parse(frame)
    _old_machine(s, event)
    now = s.clock()
    if isinstance(event, ev.ResponseCreated):
        pass
    elif isinstance(event, ev.ResponseAudioDelta):
        rec = s.machine._open.get(event.response_id)
        if rec is not None:
            if rec.first_audio_at is None:
                rec.first_audio_at = now
            rec.audio_bytes += len(event.audio)
    if isinstance(event, ev.ErrorEvent):
        raise event.to_exception()
    assert isinstance(event, ev.ResponseAudioDelta)
    return AudioChunk(event.audio, s.sample_rate, event.response_id, s.response_format)


async def _new_recv(s: TTSSession) -> AudioChunk:
    item = await s.recv_chunk()
    assert isinstance(item, AudioChunk)
    return item


async def _time_audio(recv: Callable[[TTSSession], Awaitable[AudioChunk]], n: int) -> float:
    s = _session()
    chunk = await recv(s)
    assert chunk.data == PCM and chunk.response_id == RID
    t0 = time.process_time()
    for _ in range(n):
        await recv(s)
    return (time.process_time() - t0) / n * 1e6


def audio_round(n: int, loop: str) -> tuple[float, float]:
    options = {"use_uvloop": True} if loop == "uvloop" else {}

    async def both() -> tuple[float, float]:
        return await _time_audio(_old_recv, n), await _time_audio(_new_recv, n)

    return anyio.run(both, backend="asyncio", backend_options=options)


# --- 2. text.delta -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Frame:
    data: str | bytes
    response_id: str | None = None


def _old_encode(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class _OldOutbox:
    """The previous Outbox (control events and text only; audio is not part of this figure)."""

    def __init__(self) -> None:
        self._items: deque[_Frame] = deque()
        self._closed = False
        self._changed = anyio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def put(self, event: dict[str, Any]) -> None:
        if self._closed:
            return
        self._items.append(_Frame(_old_encode(event)))
        self._notify()

    def put_text(self, response_id: str, text: str) -> None:
        self.put(p.text_delta(response_id, text))

    def close(self) -> None:
        self._closed = True
        self._notify()

    async def get(self) -> _Frame | None:
        while not self._items:
            if self._closed:
                return None
            await self._changed.wait()
        return self._items.popleft()


class _NoOutbox:
    """Sends nothing: the base line of the text figure."""

    def put(self, event: dict[str, Any]) -> None:
        pass

    def put_text(self, response_id: str, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    async def get(self) -> None:
        return None


REPLY = (
    "Sure. First we check the weather report for the coast. Then we pack a small bag with "
    "water and some bread. After that we walk slowly down to the lake and look at the birds. "
    "We rest there for an hour in the shade. Finally we walk home again before it gets dark. "
)


def _tokens(count: int) -> list[str]:
    words = REPLY.split(" ")
    out = [w + " " for w in words if w]
    while len(out) < count:
        out += out
    return out[:count]


async def _one_reply(box: Any, tokens: list[str], interval: float) -> int:
    frames = 0

    async def writer() -> None:
        nonlocal frames
        while (frame := await box.get()) is not None:
            data = frame.data if isinstance(frame, _Frame) else frame
            data.encode("utf-8") if isinstance(data, str) else data  # what websockets sends
            frames += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        rid = "turn_0123456789ab"
        box.put(p.response_started(rid))
        index = 0
        for token in tokens:
            box.put_text(rid, token)
            if token.rstrip().endswith("."):
                box.put(p.segment_event(rid, index, "a sentence"))
                index += 1
            await anyio.sleep(interval)
        box.put(p.response_done(rid, {"text": "".join(tokens)}))
        box.close()
    return frames


def text_round(
    make: Callable[[], Any], tokens: list[str], sessions: int, interval: float
) -> tuple[float, float]:
    async def run() -> tuple[float, float]:
        counts: list[int] = []

        async def one() -> None:
            counts.append(await _one_reply(make(), tokens, interval))

        t0 = time.process_time()
        async with anyio.create_task_group() as tg:
            for _ in range(sessions):
                tg.start_soon(one)
        cpu = time.process_time() - t0
        return cpu / (sessions * len(tokens)) * 1e6, statistics.mean(counts)

    return anyio.run(run, backend="asyncio")


# --- report --------------------------------------------------------------------------------


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f}  ({min(values):.2f}..{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--deltas", type=int, default=5000, help="audio deltas per round")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per reply")
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    load0 = os.getloadavg()
    print(f"codecs: {codec.BACKENDS}; cores: {os.cpu_count()}; load average {load0[0]:.2f}")

    loops = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        loops.append("uvloop")
    except ImportError:
        pass
    print("\n1. audio delta (100 ms, 4800 bytes), client side: CPU us per delta, median (min..max)")
    for loop in loops:
        old: list[float] = []
        new: list[float] = []
        for _ in range(args.rounds):
            o, n = audio_round(args.deltas, loop)
            old.append(o)
            new.append(n)
        ratio = statistics.median(old) / statistics.median(new)
        print(f"   {loop:8s} old {_fmt(old)}   new {_fmt(new)}   old/new {ratio:.2f}x")

    interval = 0.02
    print(
        f"\n2. text.delta, server outbox + writer, {args.sessions} sessions x {args.tokens} "
        f"tokens, one per {interval * 1000:g} ms: CPU us per token above the base run, "
        "median (min..max); frames per reply"
    )
    tokens = _tokens(args.tokens)
    makers: dict[str, Callable[[], Any]] = {"base": _NoOutbox, "old": _OldOutbox, "new": Outbox}
    cpu: dict[str, list[float]] = {k: [] for k in makers}
    frames: dict[str, list[float]] = {k: [] for k in makers}
    for _ in range(args.rounds):
        for name, make in makers.items():
            c, f = text_round(make, tokens, args.sessions, interval)
            cpu[name].append(c)
            frames[name].append(f)
    over = {k: [c - b for c, b in zip(cpu[k], cpu["base"], strict=True)] for k in ("old", "new")}
    print(f"   base {_fmt(cpu['base'])}   (absolute: sleeps and loop)")
    print(f"   old  {_fmt(over['old'])}   frames {statistics.median(frames['old']):.0f}")
    ratio = statistics.median(over["old"]) / max(statistics.median(over["new"]), 1e-9)
    print(
        f"   new  {_fmt(over['new'])}   frames {statistics.median(frames['new']):.0f}"
        f"   old/new {ratio:.2f}x"
    )
    load1 = os.getloadavg()
    print(f"\nload average after: {load1[0]:.2f} (before {load0[0]:.2f}) on {os.cpu_count()} cores")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
