"""The result of one turn and its latency timeline (frozen values, JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.core.cost import TurnCost, wasted_characters, wasted_share

__all__ = ["SegmentRecord", "SegmentTiming", "TurnFailure", "TurnResult"]


@dataclass(frozen=True, slots=True)
class TurnFailure:
    """Why a turn failed: the exception (one of ``bridge.core.errors``, or a bug) with its
    type's name and message. ``to_dict()`` is its JSON form. Errors stay exceptions up to here;
    where they meet a client (the server) they are mapped by their class, never by name."""

    type: str
    message: str
    exception: BaseException = field(repr=False, compare=False)

    @classmethod
    def of(cls, exc: BaseException) -> TurnFailure:
        return cls(type(exc).__name__, str(exc), exc)

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentTiming:
    """Where a segment's audio lies in the turn's audio: samples ``start`` to ``end`` (end
    exclusive), counted from the first sample the sink received.

    ``estimated`` is False when both ends are response boundaries the server confirmed (always
    so in ``commit`` mode once the response is done); True when a bound is interpolated inside
    a ``server_commit`` response that spoke several segments, or the response has not ended.
    """

    index: int
    start: int
    end: int
    estimated: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentRecord:
    text: str
    kind: str
    appended_ms: float | None  # when its append went on the wire
    ready_ms: float | None = None  # when the segmenter produced it
    timing: SegmentTiming | None = None  # None: none of its audio reached the sink


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnResult:
    """What happened in a turn. Times are milliseconds from the start of the turn; ``None``
    when the moment never came (e.g. no audio because the turn was interrupted first)."""

    turn_id: str
    ttft_ms: float | None = None  # first text delta from the model (or the text source)
    first_segment_ms: float | None = None
    first_append_ms: float | None = None
    first_audio_ms: float | None = None  # first audio delta received from the TTS server
    first_play_ms: float | None = None  # first sample handed to the sink
    llm_done_ms: float | None = None
    done_ms: float | None = None
    audio_ms: float = 0.0  # duration of the audio delivered to the sink
    text: str = ""  # the whole reply as speakable text
    spoken_text: str = ""  # what the listener heard
    interrupted: bool = False
    chars_appended: int = 0
    chars_billed: int | None = None  # reported by the TTS service (usage)
    chars_unreported: int = 0  # appended past the usage reported when cut short (an estimate)
    chars_heard: int = 0  # of spoken_text, counted as billed (see bridge.core.cost)
    cost: TurnCost | None = None  # with a price for the model (PipelineOptions.prices)
    segments: tuple[SegmentRecord, ...] = ()
    reconnects: int = 0
    error: TurnFailure | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def chars_wasted(self) -> int | None:
        """Characters billed (reported or not) nobody heard (None: no usage reported)."""
        return wasted_characters(self.chars_billed, self.chars_heard, self.chars_unreported)

    @property
    def wasted_share(self) -> float | None:
        """The share of the billed characters nobody heard (None: no usage reported)."""
        return wasted_share(self.chars_billed, self.chars_heard, self.chars_unreported)

    def log_fields(self) -> dict[str, Any]:
        """The turn for an INFO log line: the timeline, ids and sizes, no text of the user's
        or the model's (nor an error's message, which may quote them)."""
        data = self.to_dict()
        for key in ("text", "spoken_text", "segments", "error"):
            data.pop(key)
        data.update(
            text_chars=len(self.text),
            spoken_chars=len(self.spoken_text),
            segments=len(self.segments),
            error=None if self.error is None else self.error.type,
        )
        return data

    def to_dict(self) -> dict[str, Any]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "turn_id": self.turn_id,
            "ttft_ms": ms(self.ttft_ms),
            "first_segment_ms": ms(self.first_segment_ms),
            "first_append_ms": ms(self.first_append_ms),
            "first_audio_ms": ms(self.first_audio_ms),
            "first_play_ms": ms(self.first_play_ms),
            "llm_done_ms": ms(self.llm_done_ms),
            "done_ms": ms(self.done_ms),
            "audio_ms": round(self.audio_ms, 1),
            "text": self.text,
            "spoken_text": self.spoken_text,
            "interrupted": self.interrupted,
            "chars_appended": self.chars_appended,
            "chars_billed": self.chars_billed,
            "chars_unreported": self.chars_unreported,
            "chars_heard": self.chars_heard,
            "chars_wasted": self.chars_wasted,
            "wasted_share": None if (w := self.wasted_share) is None else round(w, 4),
            "cost": None if self.cost is None else self.cost.to_dict(),
            "segments": [
                {
                    "text": s.text,
                    "kind": s.kind,
                    "ready_ms": ms(s.ready_ms),
                    "appended_ms": ms(s.appended_ms),
                    "start_sample": None if s.timing is None else s.timing.start,
                    "end_sample": None if s.timing is None else s.timing.end,
                    "timing_estimated": None if s.timing is None else s.timing.estimated,
                }
                for s in self.segments
            ],
            "reconnects": self.reconnects,
            "error": None if self.error is None else self.error.to_dict(),
            **self.extra,
        }
