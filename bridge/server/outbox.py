"""The one queue of everything a session sends, drained by one writer task (or sent directly).

All outgoing frames of a connection (JSON control events and binary audio) pass through one
``Outbox`` in program order, so ``audio.start`` precedes its frames and ``response.interrupted``
follows the last frame that was let through. Control events never wait (callbacks such as
``on_segment`` are synchronous); audio frames wait while ``max_audio_frames`` are queued, so a
slow client slows the speech stage down instead of growing memory.

Barge-in: ``drop_audio(response_id)`` removes that response's queued frames and refuses any
later ones, so after ``response.cancel`` no audio frame of the response leaves the server.

Reply text is coalesced (``put_text``): the model's deltas are joined into one ``text.delta``
that goes out when any other control event is queued (a ``segment``, ``audio.start``,
``response.done``, ...: so it always precedes them), when the outbox closes, or at the latest
``text_window`` seconds (0.1) after its first character was queued (a timer of the
event loop wakes the writer then: the outbox runs on asyncio, as ``bridge serve`` does). The
frames' texts concatenated are exactly the deltas' texts concatenated; none is held past the
response's ``response.done``.

The hot path allocates no frame objects and no wake-up events per frame: the queue holds the
frames themselves (with a parallel queue of their response ids), and an ``anyio.Event`` is
made only when a task really has to wait (the writer on an empty queue, a producer on a full
audio queue).

Direct sends: while ``pump`` drains the outbox, an audio frame that finds nothing queued and
no frame being sent is sent by its producer at once, with the pump's ``send``, instead of
waking the writer task for it: one pass of the event loop less per audio frame (the hop the
writer task adds; ``benchmarks/relay_compare.py`` measures it). Order is kept: a frame is
sent directly only when no other frame is queued or on its way, and while a direct send
waits (a slow client's full buffer) the writer waits for it. A direct send that fails
(the connection closed) closes the outbox, the frame counts as not sent, and the writer
raises the failure, where it handles its own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from bridge.server.protocol import encode, text_delta

__all__ = ["TEXT_WINDOW", "Outbox"]

TEXT_WINDOW = 0.1  # seconds a text.delta may collect more of the reply text


class Outbox:
    def __init__(self, *, max_audio_frames: int = 16, text_window: float = TEXT_WINDOW) -> None:
        if max_audio_frames < 1:
            raise ValueError("max_audio_frames must be at least 1")
        if text_window < 0:
            raise ValueError("text_window must not be negative")
        self._data: deque[str | bytes] = deque()
        self._rids: deque[str | None] = deque()  # the response id of each audio frame
        self._audio = 0
        self._max_audio = max_audio_frames
        self._refused: set[str] = set()
        self._closed = False
        self._reader: anyio.Event | None = None  # set when the writer waits for a frame
        self._space: anyio.Event | None = None  # set when producers wait for audio room
        self._send: Callable[[str | bytes], Awaitable[None]] | None = None  # while pumped
        self._busy = False  # a frame is being sent (by the writer or, directly, a producer)
        self._idle: anyio.Event | None = None  # set when the writer waits for _busy to end
        self._failed: BaseException | None = None  # a direct send's failure, for the writer
        self._window = text_window
        self._text: list[str] = []
        self._text_rid = ""
        self._text_due = 0.0
        self.sent_frames = 0
        self.sent_audio_bytes = 0
        self.text_frames = 0  # text.delta frames queued (each carrying one or more deltas)

    def _wake_reader(self) -> None:
        event = self._reader
        if event is not None:
            self._reader = None
            event.set()

    def _wake_producers(self) -> None:
        event = self._space
        if event is not None:
            self._space = None
            event.set()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def audio_room(self) -> bool:
        """``put_audio`` would not wait for room now."""
        return self._audio < self._max_audio

    def put(self, event: dict[str, Any], *, wake: bool = True) -> None:
        """Queue a JSON control event (never blocks; dropped once closed). Reply text still
        collecting goes out first. ``wake=False`` queues it without waking the writer: it
        goes out at the next ``wake()`` or with the next frame queued, in its place."""
        if self._closed:
            return
        if self._text:
            self._flush_text()
        self._data.append(encode(event))
        self._rids.append(None)
        if wake:
            self._wake_reader()

    def wake(self) -> None:
        """Wake the writer for what is queued (see ``put``'s ``wake``)."""
        self._wake_reader()

    def put_text(self, response_id: str, text: str) -> None:
        """Queue reply text for a coalesced ``text.delta`` (never blocks; dropped once closed)."""
        if self._closed or not text:
            return
        if self._text and response_id != self._text_rid:
            self._flush_text()
        if not self._text:
            self._text_rid = response_id
            self._text_due = anyio.current_time() + self._window
            self._text.append(text)
            if self._window == 0:
                self._flush_text()
            self._wake_reader()  # a waiting writer now waits until the window's end
            return
        self._text.append(text)

    def _flush_text(self) -> None:
        text = self._text[0] if len(self._text) == 1 else "".join(self._text)
        self._text.clear()
        self._data.append(encode(text_delta(self._text_rid, text)))
        self._rids.append(None)
        self.text_frames += 1

    async def put_audio(self, response_id: str, data: bytes) -> bool:
        """Queue an audio frame, waiting while the audio queue is full. Returns whether the
        frame was queued (not after ``drop_audio`` of its response, nor once closed)."""
        while not self.audio_room and not self._closed:
            if response_id in self._refused:
                return False
            if self._space is None:
                self._space = anyio.Event()
            await self._space.wait()
        if self._closed or response_id in self._refused:
            return False
        if self._send is not None and not self._data and not self._busy:
            return await self._send_direct(data)
        self._data.append(data)
        self._rids.append(response_id)
        self._audio += 1
        self._wake_reader()
        return True

    async def _send_direct(self, data: bytes) -> bool:
        assert self._send is not None
        self._busy = True
        try:
            await self._send(data)
        except Exception as exc:  # the connection failed: the writer reports it
            self._failed = exc
            self.close()
            return False
        finally:
            self._busy = False
            idle = self._idle
            if idle is not None:
                self._idle = None
                idle.set()
        self.sent_frames += 1
        self.sent_audio_bytes += len(data)
        return True

    async def pump(self, send: Callable[[str | bytes], Awaitable[None]]) -> None:
        """Send every frame with ``send`` until the outbox is closed and empty (the writer
        task); producers send audio directly meanwhile (see the module's docstring). An
        exception of ``send`` propagates, here or, for a direct send, at the next frame."""
        self._send = send
        try:
            while (frame := await self.get()) is not None:
                self._busy = True
                try:
                    await send(frame)
                finally:
                    self._busy = False
            if self._failed is not None:
                raise self._failed
        finally:
            self._send = None

    def drop_audio(self, response_id: str) -> int:
        """Remove queued frames of ``response_id`` and refuse its later ones; return how many
        frames were removed."""
        self._refused.add(response_id)
        if response_id not in self._rids:
            self._wake_producers()
            return 0
        data: deque[str | bytes] = deque()
        rids: deque[str | None] = deque()
        for frame, rid in zip(self._data, self._rids, strict=True):
            if rid != response_id:
                data.append(frame)
                rids.append(rid)
        dropped = len(self._data) - len(data)
        self._data, self._rids = data, rids
        self._audio -= dropped
        self._wake_producers()
        return dropped

    def close(self) -> None:
        """No more frames; ``get`` returns what is queued (collected text too), then ``None``."""
        if not self._closed and self._text:
            self._flush_text()
        self._closed = True
        self._wake_reader()
        self._wake_producers()

    async def get(self) -> str | bytes | None:
        """The next frame (``str``: a JSON text frame; ``bytes``: audio), or ``None`` once
        closed and empty. Waits while a producer sends a frame directly."""
        while True:
            if self._busy:
                event = self._idle = anyio.Event()
                await event.wait()
            elif self._data:
                break
            elif self._closed:
                return None
            elif self._text:
                left = self._text_due - anyio.current_time()
                if left <= 0:
                    self._flush_text()
                    break
                event = self._reader = anyio.Event()
                # A timer callback wakes the writer at the window's end: cheaper than a
                # cancel scope's timeout (its delivery takes passes of the loop of its own).
                timer = asyncio.get_running_loop().call_later(left, event.set)
                try:
                    await event.wait()
                finally:
                    timer.cancel()
            else:
                event = self._reader = anyio.Event()
                await event.wait()
        frame = self._data.popleft()
        if self._rids.popleft() is not None:
            self._audio -= 1
            self.sent_audio_bytes += len(frame)
            self._wake_producers()
        self.sent_frames += 1
        return frame
