"""The timeline of a turn: named moments in milliseconds from the turn's start, each kept at
its first occurrence, and a frozen snapshot of them for the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Mark", "Moments", "Timeline"]

Mark = Literal[
    "ttft",  # the first text delta
    "first_segment",  # the segmenter's first segment
    "first_append",  # the first append on the wire
    "first_audio",  # the first audio delta from the TTS server
    "first_play",  # the first sample handed to the sink
    "llm_done",  # the text source ended (or failed)
    "interrupted",  # the barge-in
    "done",  # the sink closed or stopped
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Moments:
    """The timeline's marks at one instant; ``None`` for a moment that never came."""

    ttft_ms: float | None = None
    first_segment_ms: float | None = None
    first_append_ms: float | None = None
    first_audio_ms: float | None = None
    first_play_ms: float | None = None
    llm_done_ms: float | None = None
    interrupted_ms: float | None = None
    done_ms: float | None = None


class Timeline:
    """Milliseconds since ``start()``, by the injected clock (in seconds, like
    ``anyio.current_time``)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._t0 = 0.0
        self._marks: dict[Mark, float] = {}

    def start(self) -> None:
        self._t0 = self.clock()

    def now_ms(self) -> float:
        return (self.clock() - self._t0) * 1000

    def mark(self, name: Mark) -> None:
        """Note the moment ``name`` now, unless it came before."""
        if name not in self._marks:
            self._marks[name] = self.now_ms()

    def snapshot(self) -> Moments:
        m = self._marks.get
        return Moments(
            ttft_ms=m("ttft"),
            first_segment_ms=m("first_segment"),
            first_append_ms=m("first_append"),
            first_audio_ms=m("first_audio"),
            first_play_ms=m("first_play"),
            llm_done_ms=m("llm_done"),
            interrupted_ms=m("interrupted"),
            done_ms=m("done"),
        )
