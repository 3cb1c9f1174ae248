"""The one queue of everything a session sends, drained by one writer task.

All outgoing frames of a connection (JSON control events and binary audio) pass through one
``Outbox`` in program order, so ``audio.start`` precedes its frames and ``response.interrupted``
follows the last frame that was let through. Control events never wait (callbacks such as
``on_segment`` are synchronous); audio frames wait while ``max_audio_frames`` are queued, so a
slow client slows the speech stage down instead of growing memory.

Barge-in: ``drop_audio(response_id)`` removes that response's queued frames and refuses any
later ones, so after ``response.cancel`` no audio frame of the response leaves the server.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import anyio

from bridge.server.protocol import encode

__all__ = ["Frame", "Outbox"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket message to send; ``response_id`` is set on audio frames."""

    data: str | bytes
    response_id: str | None = None


class Outbox:
    def __init__(self, *, max_audio_frames: int = 16) -> None:
        if max_audio_frames < 1:
            raise ValueError("max_audio_frames must be at least 1")
        self._items: deque[Frame] = deque()
        self._audio = 0
        self._max_audio = max_audio_frames
        self._refused: set[str] = set()
        self._closed = False
        self._changed = anyio.Event()
        self.sent_frames = 0
        self.sent_audio_bytes = 0

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, event: dict[str, Any]) -> None:
        """Queue a JSON control event (never blocks; dropped once closed)."""
        if self._closed:
            return
        self._items.append(Frame(encode(event)))
        self._notify()

    async def put_audio(self, response_id: str, data: bytes) -> bool:
        """Queue an audio frame, waiting while the audio queue is full. Returns whether the
        frame was queued (not after ``drop_audio`` of its response, nor once closed)."""
        while self._audio >= self._max_audio and not self._closed:
            if response_id in self._refused:
                return False
            await self._changed.wait()
        if self._closed or response_id in self._refused:
            return False
        self._items.append(Frame(data, response_id))
        self._audio += 1
        self._notify()
        return True

    def drop_audio(self, response_id: str) -> int:
        """Remove queued frames of ``response_id`` and refuse its later ones; return how many
        frames were removed."""
        self._refused.add(response_id)
        before = len(self._items)
        kept = deque(f for f in self._items if f.response_id != response_id)
        dropped = before - len(kept)
        self._items = kept
        self._audio -= dropped
        self._notify()
        return dropped

    def close(self) -> None:
        """No more frames; ``get`` returns what is queued, then ``None``."""
        self._closed = True
        self._notify()

    async def get(self) -> Frame | None:
        while not self._items:
            if self._closed:
                return None
            await self._changed.wait()
        frame = self._items.popleft()
        if frame.response_id is not None:
            self._audio -= 1
            self.sent_audio_bytes += len(frame.data)
            self._notify()
        self.sent_frames += 1
        return frame
