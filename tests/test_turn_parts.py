"""The parts a turn is made of, alone: its timeline and its segment log."""

from __future__ import annotations

import dataclasses

import pytest

from bridge.core.result import SegmentTiming
from bridge.pipeline.segment_log import SegmentLog
from bridge.pipeline.timeline import Moments, Timeline


def test_the_timeline_keeps_each_mark_at_its_first_moment_from_the_start() -> None:
    now = [100.0]
    timeline = Timeline(lambda: now[0])
    timeline.start()
    now[0] = 100.25
    timeline.mark("ttft")
    now[0] = 100.5
    timeline.mark("first_segment")
    timeline.mark("ttft")  # a later delta: the first one counts
    now[0] = 101.0
    timeline.mark("done")
    snapshot = timeline.snapshot()
    assert snapshot == Moments(ttft_ms=250.0, first_segment_ms=500.0, done_ms=1000.0)
    assert timeline.now_ms() == 1000.0
    timeline.mark("interrupted")
    assert snapshot.interrupted_ms is None  # a snapshot does not follow later marks
    assert timeline.snapshot().interrupted_ms == 1000.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.done_ms = 0.0  # type: ignore[misc]


def test_the_segment_log_replaces_its_frozen_records_as_they_go_on() -> None:
    log = SegmentLog()
    log.cut("Hello there,", "clause", ready_ms=10.0)
    log.cut("how are you?", "sentence", ready_ms=20.0)
    log.cut("Fine.", "sentence", ready_ms=30.0)
    log.appended(0, at_ms=12.0)
    log.appended(1, at_ms=25.0)
    assert len(log) == 3
    assert log.texts == ["Hello there,", "how are you?", "Fine."]
    assert log.chars_appended == len("Hello there,") + len("how are you?")
    timing = SegmentTiming(index=0, start=0, end=4800, estimated=False)
    first, second, third = log.records([timing, None])
    assert (first.appended_ms, first.ready_ms, first.timing) == (12.0, 10.0, timing)
    assert (second.kind, second.appended_ms, second.timing) == ("sentence", 25.0, None)
    assert (third.appended_ms, third.timing) == (None, None)  # cut, never appended
    assert log.records([])[0].timing is None  # the log itself keeps no timing
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.text = "changed"  # type: ignore[misc]
