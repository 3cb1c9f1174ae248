"""The segments of a turn in the order they were cut, as frozen ``SegmentRecord``s: a record is
replaced (never edited) when its append goes on the wire, and given its audio's place at the
end of the turn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bridge.core.result import SegmentRecord, SegmentTiming
from bridge.qwen.protocol import billable_characters

__all__ = ["SegmentLog"]


class SegmentLog:
    def __init__(self) -> None:
        self._records: list[SegmentRecord] = []

    def __len__(self) -> int:
        return len(self._records)

    def cut(self, text: str, kind: str, *, ready_ms: float) -> None:
        """A segment (stripped, not blank) left the segmenter at ``ready_ms``."""
        self._records.append(
            SegmentRecord(text=text, kind=kind, appended_ms=None, ready_ms=ready_ms)
        )

    def appended(self, index: int, *, at_ms: float) -> None:
        """Segment ``index`` (its position in the log) was appended at ``at_ms``."""
        self._records[index] = replace(self._records[index], appended_ms=at_ms)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self._records]

    @property
    def chars_appended(self) -> int:
        return sum(len(r.text) for r in self._records if r.appended_ms is not None)

    @property
    def billable_appended(self) -> int:
        """The appended segments in the service's billing units (a Chinese character counts
        2), without the spaces that join segments: the basis of billed and heard characters."""
        return sum(billable_characters(r.text) for r in self._records if r.appended_ms is not None)

    def records(self, timings: Sequence[SegmentTiming | None]) -> tuple[SegmentRecord, ...]:
        """The records with where each one's audio lies (``timings`` by index; a shorter list
        leaves the rest without)."""
        return tuple(
            replace(r, timing=timings[i] if i < len(timings) else None)
            for i, r in enumerate(self._records)
        )
