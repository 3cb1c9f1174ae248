"""The parts a turn is made of, alone: its timeline, its segment log and its result."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog

from bridge.core.cost import Price, TurnCost, heard_characters
from bridge.core.errors import ConfigError, LLMError, TTSConnectionError
from bridge.core.heard import HeardTracker, speakable_join
from bridge.core.result import SegmentTiming, TurnResult
from bridge.pipeline import PipelineOptions, ReconnectPolicy, TTSTarget, result_builder
from bridge.pipeline.handoff import Channel
from bridge.pipeline.result_builder import build_result, log_result
from bridge.pipeline.segment_log import SegmentLog
from bridge.pipeline.text_stage import TextStage
from bridge.pipeline.text_stage import _Cutter as StageCutter
from bridge.pipeline.timeline import Moments, Timeline
from bridge.qwen.protocol import billable_characters
from bridge.text import Segment, SegmenterOptions


def test_the_timeline_keeps_each_mark_at_its_first_moment_from_the_start() -> None:
    now = [100.0]
    timeline = Timeline(lambda: now[0])
    timeline.start()
    now[0] = 100.25
    timeline.mark("ttft")
    now[0] = 100.5
    timeline.mark("first_segment")
    timeline.mark("ttft")  # a later delta: the first one counts
    for i, name in enumerate(["first_append", "first_audio", "first_play", "llm_done"]):
        now[0] = 100.5 + (i + 1) / 10
        timeline.mark(name)  # type: ignore[arg-type]
    now[0] = 101.0
    timeline.mark("done")
    snapshot = timeline.snapshot()
    assert snapshot == Moments(
        ttft_ms=250.0,
        first_segment_ms=500.0,
        first_append_ms=pytest.approx(600.0),
        first_audio_ms=pytest.approx(700.0),
        first_play_ms=pytest.approx(800.0),
        llm_done_ms=pytest.approx(900.0),
        done_ms=1000.0,
    )
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


# --- the result of a turn (result_builder) -------------------------------------------------

RATE = 24000
MOMENTS = Moments(
    ttft_ms=1.0,
    first_segment_ms=2.0,
    first_append_ms=3.0,
    first_audio_ms=4.0,
    first_play_ms=5.0,
    llm_done_ms=6.0,
    interrupted_ms=7.0,
    done_ms=8.0,
)
PRICE = Price(per_10k_chars=10_000.0, currency="USD")  # one unit a character: easy to read


def _spoken_turn() -> tuple[SegmentLog, HeardTracker]:
    """Two segments appended in commit mode, each one response of one second."""
    log = SegmentLog()
    tracker = HeardTracker(commit_mode=True)
    for i, text in enumerate(["Hello there.", "你好。"]):
        log.cut(text, "sentence", ready_ms=float(i))
        index = tracker.appended(text, text + " ")
        log.appended(index, at_ms=float(i) + 0.5)
        tracker.response_started(f"r{i}")
        tracker.audio(f"r{i}", RATE)
        tracker.response_done(f"r{i}", billable_characters(text + " "))
    return log, tracker


def _build(log: SegmentLog, tracker: HeardTracker, **overrides: Any) -> TurnResult:
    args: dict[str, Any] = {
        "turn_id": "turn_x",
        "moments": MOMENTS,
        "segments": log,
        "tracker": tracker,
        "sample_rate": RATE,
        "samples_played": 2 * RATE,
        "interrupted": False,
        "error": None,
        "billed": 17,
        "reconnects": 2,
        "price": PRICE,
    } | overrides
    return build_result(**args)


def test_a_whole_turn_is_heard_in_full_and_billed_as_reported() -> None:
    log, tracker = _spoken_turn()
    result = _build(log, tracker)
    assert (result.turn_id, result.reconnects, result.error) == ("turn_x", 2, None)
    moments = (
        result.ttft_ms,
        result.first_segment_ms,
        result.first_append_ms,
        result.first_audio_ms,
        result.first_play_ms,
        result.llm_done_ms,
        result.done_ms,
    )
    assert moments == (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
    assert result.audio_ms == 2000.0
    assert result.text == result.spoken_text == speakable_join(["Hello there.", "你好。"])
    assert not result.interrupted
    assert result.chars_appended == len("Hello there.") + len("你好。")
    heard = billable_characters("Hello there.") + billable_characters("你好。")
    assert (result.chars_billed, result.chars_unreported, result.chars_heard) == (17, 0, heard)
    assert result.cost == TurnCost.of(PRICE, billed=17, heard=heard)
    assert [s.text for s in result.segments] == ["Hello there.", "你好。"]
    assert [s.timing for s in result.segments] == tracker.timings(RATE)
    assert all(s.timing is not None for s in result.segments)


@pytest.mark.parametrize("how", ["interrupted", "failed"])
def test_a_turn_cut_short_keeps_what_was_heard_and_counts_the_unreported(how: str) -> None:
    log, tracker = _spoken_turn()
    played = RATE + RATE // 2  # the first segment and half of the second
    cut = (
        {"interrupted": True}
        if how == "interrupted"
        else {"error": TTSConnectionError("the connection dropped")}
    )
    # Only the first response reported its usage before the cut.
    first = billable_characters("Hello there. ")
    result = _build(log, tracker, samples_played=played, billed=first, **cut)
    assert result.interrupted == (how == "interrupted")
    assert result.spoken_text == tracker.heard_text(played, RATE)
    assert result.spoken_text.startswith("Hello there.")
    assert result.spoken_text != result.text and result.text.startswith(result.spoken_text)
    assert result.audio_ms == 1500.0
    # Unreported: the appended characters (without joining spaces) the reports did not cover.
    unreported = log.billable_appended - first
    assert unreported > 0
    assert result.chars_unreported == unreported
    assert result.chars_heard == heard_characters(log.texts, result.spoken_text)
    assert result.chars_heard < log.billable_appended
    assert result.cost == TurnCost.of(PRICE, billed=first + unreported, heard=result.chars_heard)
    if how == "failed":
        assert result.error is not None
        assert (result.error.type, result.error.message) == (
            "TTSConnectionError",
            "the connection dropped",
        )
    # Reports beyond the appended text leave nothing unreported (never negative).
    over = _build(log, tracker, samples_played=played, billed=1000, **cut)
    assert over.chars_unreported == 0
    # No usage reported at all: nothing to count from, and no cost without a billed count.
    unknown = _build(log, tracker, samples_played=played, billed=None, **cut)
    assert (unknown.chars_billed, unknown.chars_unreported, unknown.cost) == (None, 0, None)


def test_a_turn_without_a_price_has_no_cost() -> None:
    log, tracker = _spoken_turn()
    assert _build(log, tracker, price=None).cost is None


@pytest.mark.parametrize("log_text", [False, True])
def test_the_turn_log_line_has_sizes_and_its_texts_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, log_text: bool
) -> None:
    monkeypatch.setattr(result_builder, "text_logging", lambda: log_text)
    log, tracker = _spoken_turn()
    result = _build(log, tracker, error=TTSConnectionError("dropped"))
    with structlog.testing.capture_logs() as logs:
        log_result(result, "Say hello.")
        log_result(result, None)
    lines = [(e["event"], e["log_level"]) for e in logs]
    text_level = "info" if log_text else "debug"
    assert lines == [("turn", "info"), ("turn.text", text_level)] * 2
    turn, text, turn_alone, text_alone = logs
    assert turn["request_chars"] == len("Say hello.") and "request_chars" not in turn_alone
    assert turn["turn_id"] == text["turn_id"] == "turn_x"
    assert "text" not in turn and turn["text_chars"] == len(result.text)
    assert text == {
        "event": "turn.text",
        "log_level": text_level,
        "turn_id": "turn_x",
        "request_text": "Say hello.",
        "text": result.text,
        "spoken_text": result.spoken_text,
        "segments": ["Hello there.", "你好。"],
        "error_message": "dropped",
    }
    assert "request_text" not in text_alone
    no_error = _build(log, tracker)
    with structlog.testing.capture_logs() as logs:
        log_result(no_error, None)
    assert logs[1]["error_message"] is None


def test_the_segment_log_bills_appended_segments_only_in_service_units() -> None:
    log = SegmentLog()
    log.cut("你好。", "sentence", ready_ms=0.0)
    log.cut("Hi there.", "sentence", ready_ms=1.0)
    log.cut("Never sent.", "sentence", ready_ms=2.0)
    assert (log.chars_appended, log.billable_appended) == (0, 0)
    log.appended(0, at_ms=0.5)
    log.appended(1, at_ms=1.5)
    # A Chinese character counts 2 (its full stop 1); the joining spaces are not billed;
    # unsent text is not.
    assert log.billable_appended == 2 + 2 + 1 + len("Hi there.")
    assert log.chars_appended == 3 + len("Hi there.")


# --- the options of a turn -----------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"stall_timeout": 0.0},
        {"stall_timeout": -1.0},
        {"stall_timeout": math.inf},
        {"stall_timeout": math.nan},
        {"settle_timeout": -0.1},
        {"settle_timeout": math.inf},
        {"settle_idle_timeout": -0.1},
        {"settle_idle_timeout": math.nan},
        {"reconnect": ReconnectPolicy(attempts=-1)},
    ],
)
def test_bad_pipeline_options_are_refused_when_made(bad: dict[str, Any]) -> None:
    (name,) = bad
    what = {"reconnect": "reconnect attempts must not be negative"}.get(name, f"{name} must be")
    with pytest.raises(ConfigError, match=f"^{what}"):
        PipelineOptions(**bad)


def test_edge_pipeline_options_are_accepted() -> None:
    options = PipelineOptions(
        stall_timeout=1e-3, settle_timeout=0.0, reconnect=ReconnectPolicy(attempts=0)
    )
    assert PipelineOptions(settle_idle_timeout=0.0).settle_idle_timeout == 0.0
    assert PipelineOptions(settle_idle_timeout=0.3).settle_idle_timeout == 0.3
    assert PipelineOptions().settle_idle_timeout is None
    with pytest.raises(ConfigError) as refused:
        PipelineOptions(settle_idle_timeout=-1.0)
    assert str(refused.value) == (
        "settle_idle_timeout must be None, zero or a positive number of seconds"
    )
    assert (options.stall_timeout, options.settle_timeout, options.reconnect.attempts) == (
        1e-3,
        0.0,
        0,
    )
    defaults = PipelineOptions()
    assert (defaults.commit_first, defaults.keep_full_text, defaults.stall_timeout) == (
        True,
        False,
        1.2,
    )
    assert (defaults.reconnect.attempts, defaults.reconnect.delay) == (1, 0.1)


def test_a_tts_target_refuses_a_bad_url_or_region_when_made() -> None:
    with pytest.raises(ConfigError):
        TTSTarget(url="http://example.com/")
    with pytest.raises(ConfigError):
        TTSTarget(region="atlantis")
    with pytest.raises(ConfigError):
        TTSTarget(url="ws://127.0.0.1:1/", workspace="not a workspace id!")
    assert TTSTarget(url="ws://127.0.0.1:1/").region == "beijing"
    assert TTSTarget().region == "beijing"  # the default gateway


def test_a_barge_in_inside_a_response_that_never_ended_is_estimated_at_the_voices_pace() -> None:
    log = SegmentLog()
    tracker = HeardTracker(commit_mode=True)
    for i, text in enumerate(["Hello there, my friend.", "How are you doing today?"]):
        log.cut(text, "sentence", ready_ms=float(i))
        log.appended(tracker.appended(text, text + " "), at_ms=float(i))
    tracker.response_started("r0")
    tracker.audio("r0", RATE // 2)  # half a second arrived and played; the end never came
    result = _build(log, tracker, samples_played=RATE // 2, interrupted=True, billed=None)
    # No response finished: the part heard is estimated from the text's speaking time at the
    # turn's sample rate (at 8 kHz the same samples would be three times as long).
    assert result.spoken_text == tracker.heard_text(RATE // 2, RATE) == "Hello"
    assert tracker.heard_text(RATE // 2, 8000) != "Hello"
    timings = tracker.timings(RATE)
    assert [s.timing for s in result.segments] == timings
    first = timings[0]
    assert first is not None and first.estimated and first.end > RATE // 2
    assert timings != tracker.timings(8000)


def test_a_turn_that_was_not_cut_short_was_heard_in_full() -> None:
    # Not interrupted and no error: the whole reply counts as heard, whatever the sink counted.
    log, tracker = _spoken_turn()
    result = _build(log, tracker, samples_played=RATE // 2)
    assert result.spoken_text == result.text
    assert result.chars_heard == log.billable_appended


# --- the text stages alone ----------------------------------------------------------------


class _Source:
    """A text source that remembers being closed (like an LLM stream's HTTP response)."""

    def __init__(self, deltas: list[str], fail: Exception | None = None) -> None:
        self._deltas = list(deltas)
        self._fail = fail
        self.closed = 0

    def __aiter__(self) -> _Source:
        return self

    async def __anext__(self) -> str:
        if self._deltas:
            return self._deltas.pop(0)
        if self._fail is not None:
            raise self._fail
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.closed += 1


async def _run_text(
    source: _Source, options: PipelineOptions | None = None
) -> tuple[TextStage, SegmentLog, Moments, list[str]]:
    now = [10.0]
    timeline = Timeline(lambda: now[0])
    timeline.start()
    log = SegmentLog()
    seen: list[str] = []
    told: list[Segment] = []
    stage = TextStage(
        source,
        options=options or PipelineOptions(),
        timeline=timeline,
        segments=log,
        on_text=seen.append,
        on_segment=told.append,
    )
    deltas: Channel[str] = Channel(64)
    segs_send, segs_recv = anyio.create_memory_object_stream[Segment](64)
    async with anyio.create_task_group() as tg:
        tg.start_soon(stage.read, deltas)
        tg.start_soon(stage.cut, deltas, segs_send)
        async with segs_recv:
            cut = [seg.text.strip() async for seg in segs_recv]
    assert cut == log.texts  # what left the stage is what the log recorded
    assert [seg.text.strip() for seg in told] == cut  # on_segment saw each, as cut
    records = log.records([])
    assert [r.kind for r in records] == [seg.kind for seg in told]
    assert all(r.ready_ms == 0.0 for r in records)  # the fake clock never moved
    return stage, log, timeline.snapshot(), seen


@pytest.mark.anyio
async def test_the_text_stage_skips_empty_deltas_marks_its_moments_and_closes_the_source() -> None:
    source = _Source(["", "Hello there. ", "", "How are you?"])
    stage, log, moments, seen = await _run_text(source)
    assert log.texts == ["Hello there.", "How are you?"]
    assert seen == ["Hello there. ", "How are you?"]  # on_text: the non-empty deltas
    assert stage.error is None
    assert (moments.ttft_ms, moments.first_segment_ms, moments.llm_done_ms) == (0.0, 0.0, 0.0)
    assert source.closed == 1


@pytest.mark.anyio
async def test_a_failing_text_source_is_reported_logged_closed_and_its_text_kept() -> None:
    source = _Source(["It began well. ", "Then"], fail=LLMError("the stream broke"))
    with structlog.testing.capture_logs() as logs:
        stage, log, moments, _ = await _run_text(source)
    assert isinstance(stage.error, LLMError)
    assert log.texts == ["It began well.", "Then"]  # what arrived is still spoken
    failed = [e for e in logs if e["event"] == "turn.text_failed"]
    assert failed == [
        {
            "event": "turn.text_failed",
            "log_level": "warning",
            "error": "LLMError",
            "message": "the stream broke",
        }
    ]
    assert moments.llm_done_ms is not None and source.closed == 1


@pytest.mark.anyio
async def test_the_text_stage_uses_the_code_placeholder_option() -> None:
    text = "Run this:\n```python\nprint(1)\n```\nDone."
    _, plain, _, _ = await _run_text(_Source([text]))
    _, marked, _, _ = await _run_text(_Source([text]), PipelineOptions(code_placeholder="(code)"))
    assert "(code)" not in " ".join(plain.texts)
    assert "(code)" in " ".join(marked.texts)
    assert "print" not in " ".join(plain.texts + marked.texts)


class _Cutter:
    """Stage 2 alone, driven by the test: deltas in, segments out, on the real clock (the
    stall guard waits with ``anyio.move_on_after``). Nothing is asserted on durations: a
    stall cut is awaited (bounded), and what was cut, and of which kind, is checked."""

    def __init__(
        self, options: PipelineOptions, clock: Callable[[], float] = anyio.current_time
    ) -> None:
        self.timeline = Timeline(clock)
        self.timeline.start()
        self.log = SegmentLog()
        self.stage = TextStage(
            _Source([]), options=options, timeline=self.timeline, segments=self.log
        )
        self.send: Channel[str] = Channel(64)
        self._inp = self.send
        self._out, self.recv = anyio.create_memory_object_stream[Segment](64)

    async def run(self) -> None:
        await self.stage.cut(self._inp, self._out)

    async def next(self) -> tuple[str, str]:
        with anyio.fail_after(10):
            seg = await self.recv.receive()
        return seg.text.strip(), seg.kind

    async def rest(self) -> list[tuple[str, str]]:
        with anyio.fail_after(10):
            return [(seg.text.strip(), seg.kind) async for seg in self.recv]


@pytest.mark.anyio
async def test_the_stall_guard_cuts_pending_text_after_the_stall_and_again_after_a_sentence() -> (
    None
):
    """Text pending without a boundary is cut (``forced``) once the model stalls; the words
    left after a sentence end are pending again and cut after the next stall; buffered
    deltas are all taken before the guard looks at the time."""
    cutter = _Cutter(PipelineOptions(stall_timeout=0.05))
    cutter.send.put_nowait("It was late.")  # a sentence end waiting for its look-ahead
    async with anyio.create_task_group() as tg:
        tg.start_soon(cutter.run)
        assert await cutter.next() == ("It was late.", "sentence")  # nothing left pending
        for delta in ("so", " we", " were", " walking "):  # all waiting before it looks
            cutter.send.put_nowait(delta)
        # The last word may go on ("walking..."): it waits for the next delta.
        assert await cutter.next() == ("so we were", "forced")
        await cutter.send.put("along the road. And then ")
        assert await cutter.next() == ("walking along the road.", "sentence")
        assert await cutter.next() == ("And", "forced")  # the tail, cut at the next stall
        await cutter.send.put("it rained.")
        cutter.send.close()
        assert await cutter.rest() == [("then it rained.", "final")]
    assert cutter.log.texts == [
        "It was late.",
        "so we were",
        "walking along the road.",
        "And",
        "then it rained.",
    ]


@pytest.mark.anyio
async def test_the_stall_guard_cuts_one_pending_wide_character_left_after_a_sentence() -> None:
    cutter = _Cutter(PipelineOptions(stall_timeout=0.05))
    async with anyio.create_task_group() as tg:
        tg.start_soon(cutter.run)
        await cutter.send.put("你好。我")
        assert (await cutter.next())[0] == "你好。"
        assert (await cutter.next())[0] == "我"  # one character pending: cut at the stall
        cutter.send.close()
        assert await cutter.rest() == []


@pytest.mark.anyio
async def test_a_word_left_pending_by_an_earlier_delta_is_cut_at_the_next_stall() -> None:
    """After an ambiguous abbreviation the segmenter waits for the whole next word, so a
    blank delta can end the sentence ("etc. And" + a newline): the word, which came in the
    delta before, is still pending and is cut at the next stall, not left until the model
    goes on. Both deltas wait before the stage runs; the stage's clock stands still, so the
    guard's deadline is one stall (real time) after it took them."""
    cutter = _Cutter(PipelineOptions(stall_timeout=0.05), clock=lambda: 0.0)
    cutter.send.put_nowait("We bought pears etc. And")
    cutter.send.put_nowait("\n")
    async with anyio.create_task_group() as tg:
        tg.start_soon(cutter.run)
        assert await cutter.next() == ("We bought pears etc.", "sentence")
        assert await cutter.next() == ("And", "forced")
        cutter.send.close()
        assert await cutter.rest() == []


@pytest.mark.anyio
async def test_text_the_reader_feeds_while_the_segmenter_waits_is_cut_at_the_next_stall() -> None:
    """While the segmenter waits for a delta, the reader feeds the delta itself (no wake-up of
    the segmenter's task); text it leaves pending must still start the stall guard, which
    was waiting with no deadline: the words are cut while the model is silent, in order."""
    resume = anyio.Event()

    async def source() -> Any:
        for word in ("so", " we", " were", " walking "):
            await anyio.wait_all_tasks_blocked()  # the segmenter waits for this delta
            yield word
        await resume.wait()
        await anyio.wait_all_tasks_blocked()
        yield "along the road. And"

    timeline = Timeline(anyio.current_time)
    timeline.start()
    log = SegmentLog()
    cutters: list[str] = []  # the task that cut each segment
    stage = TextStage(
        source(),
        options=PipelineOptions(stall_timeout=0.05),
        timeline=timeline,
        segments=log,
        on_segment=lambda seg: cutters.append(anyio.get_current_task().name),
    )
    deltas: Channel[str] = Channel(64)
    segs_send, segs_recv = anyio.create_memory_object_stream[Segment](64)
    async with anyio.create_task_group() as tg:
        tg.start_soon(stage.read, deltas)
        tg.start_soon(stage.cut, deltas, segs_send)
        with anyio.fail_after(10):
            first = await segs_recv.receive()
        assert (first.text.strip(), first.kind) == ("so we were", "forced")
        resume.set()
        with anyio.fail_after(10):
            rest = [seg.text.strip() async for seg in segs_recv]
    assert rest == ["walking along the road.", "And"]
    assert log.texts == ["so we were", "walking along the road.", "And"]
    # The stall and the end cut by the segmenter's task, the sentence by the reader's feed.
    assert [name.rsplit(".", 1)[-1] for name in cutters] == ["cut", "read", "cut"]


@pytest.mark.anyio
async def test_a_stall_deadline_moved_by_the_readers_feed_cuts_nothing_when_the_old_one_ends() -> (
    None
):
    """The segmenter's task waits with the deadline it computed; when the reader's own feed
    ends a sentence meanwhile, the words after it pend from then on: at the old deadline
    nothing is cut, at the new one they are (``forced``)."""
    now = [0.0]
    timeline = Timeline(lambda: now[0])
    timeline.start()
    log = SegmentLog()
    stage = TextStage(
        _Source([]), options=PipelineOptions(stall_timeout=1.0), timeline=timeline, segments=log
    )
    send, recv = anyio.create_memory_object_stream[Segment](8)
    cutter = StageCutter(stage, send)
    assert cutter.deadline() == math.inf
    await cutter.feed("so")
    assert cutter.deadline() == 1.0
    now[0] = 0.5
    await cutter.feed(" we go. And then")
    assert log.texts == ["so we go."]
    assert cutter.deadline() == 1.5  # "And then" pends from 0.5 ("then" may go on)
    now[0] = 1.0
    await cutter.stalled(1.0)  # the deadline the task waited with: no longer due
    assert log.texts == ["so we go."]
    now[0] = 1.5
    await cutter.stalled(1.5)
    assert log.texts == ["so we go.", "And"]
    assert [recv.receive_nowait().kind for _ in range(2)] == ["sentence", "forced"]


@pytest.mark.anyio
async def test_the_stall_counts_from_when_text_became_pending_not_from_the_last_delta() -> None:
    """A model trickling words faster than the stall timeout, without a boundary, is still
    cut: the guard measures from the first pending word. The stage's clock is a fake one,
    moved 0.6 s a word (stall 2 s); the test waits until the stage has taken each word."""
    now = [0.0]
    cutter = _Cutter(PipelineOptions(stall_timeout=2.0), clock=lambda: now[0])
    words = "and we went on walking along the old road".split()
    async with anyio.create_task_group() as tg:
        tg.start_soon(cutter.run)
        for word in words:
            await cutter.send.put(word + " ")
            await anyio.wait_all_tasks_blocked()
            now[0] += 0.6
        cutter.send.close()
        cut = await cutter.rest()
    # Cut once 2 s had passed since "and" (at the fifth word), not only at the end.
    assert cut[0][1] == "forced" and len(cut) >= 2
    assert " ".join(text for text, _ in cut) == " ".join(words)


@pytest.mark.anyio
async def test_the_text_the_scrubber_holds_at_the_end_is_still_cut() -> None:
    _, log, _, _ = await _run_text(_Source(["Hello there, it is **very"]))
    assert log.texts == ["Hello there, it is very"]  # " very" came out of the flush


@pytest.mark.anyio
async def test_the_text_stage_uses_the_segmenter_options() -> None:
    text = "Sure, here is the plan for today. We go."
    _, plain, _, _ = await _run_text(_Source([text]))
    early = PipelineOptions(segmenter=SegmenterOptions(first_min_words=1))
    _, clause, _, _ = await _run_text(_Source([text]), early)
    assert plain.texts == ["Sure, here is the plan for today.", "We go."]
    assert clause.texts == ["Sure,", "here is the plan for today.", "We go."]


class _Blocking:
    """A text source that gives one delta, then waits for ever; closing it takes an event-
    loop pass (like closing an HTTP response), or fails, or never ends."""

    def __init__(self, close: str = "ok") -> None:
        self.waiting = anyio.Event()
        self.closed = 0
        self._close = close
        self._given = False

    def __aiter__(self) -> _Blocking:
        return self

    async def __anext__(self) -> str:
        if not self._given:
            self._given = True
            return "Hello there. "
        self.waiting.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()
        if self._close == "fails":
            raise RuntimeError("the connection was already gone")
        if self._close == "hangs":
            await anyio.sleep_forever()
        self.closed += 1


async def _read_until_cancelled(source: object) -> list[str]:
    """Stage 1 alone, cancelled (a barge-in) while the source waits for its next delta."""
    timeline = Timeline(anyio.current_time)
    timeline.start()
    stage = TextStage(source, options=PipelineOptions(), timeline=timeline, segments=SegmentLog())  # type: ignore[arg-type]
    recv: Channel[str] = Channel(8)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stage.read, recv)
            await source.waiting.wait()  # type: ignore[attr-defined]
            tg.cancel_scope.cancel()
    return [d async for d in recv]


@pytest.mark.anyio
async def test_a_cancelled_text_stage_still_closes_its_source() -> None:
    source = _Blocking()
    assert await _read_until_cancelled(source) == ["Hello there. "]
    assert source.closed == 1  # the close ran shielded from the barge-in's cancellation


@pytest.mark.anyio
@pytest.mark.parametrize("close", ["fails", "hangs"])
async def test_closing_the_text_source_may_fail_or_hang_without_holding_the_turn(
    close: str,
) -> None:
    source = _Blocking(close)
    assert await _read_until_cancelled(source) == ["Hello there. "]  # bounded: 1 s for "hangs"
    assert source.closed == 0


@pytest.mark.anyio
async def test_a_text_source_without_aclose_is_read_to_its_end() -> None:
    class Plain:
        def __init__(self) -> None:
            self._deltas = ["Hello there. ", "Bye."]

        def __aiter__(self) -> Plain:
            return self

        async def __anext__(self) -> str:
            if not self._deltas:
                raise StopAsyncIteration
            return self._deltas.pop(0)

    stage, log, _, _ = await _run_text(Plain())  # type: ignore[arg-type]
    assert log.texts == ["Hello there.", "Bye."] and stage.error is None


@pytest.mark.anyio
async def test_after_a_stall_cut_that_cut_nothing_the_next_stall_counts_from_that_cut() -> None:
    """A word too short to be a first segment is not cut: the guard then waits one more stall
    from that moment, not from the next delta. Fake clock (stall 100 s); an empty delta
    makes the stage look at the clock again; whether it cut is read once every task is
    blocked (a stage still waiting for its deadline has cut nothing yet). The guard's wait
    is on the real clock: a deadline the fake clock has passed is a zero wait, whose timer
    runs before that of any real sleep begun after it, so ``at`` sleeps a moment before it
    looks (no duration is asserted; a stage waiting 5 s or more has not cut)."""
    now = [0.0]
    cutter = _Cutter(PipelineOptions(stall_timeout=100.0), clock=lambda: now[0])

    async def at(moment: float, delta: str) -> None:
        now[0] = moment
        await cutter.send.put(delta)
        await anyio.wait_all_tasks_blocked()
        await anyio.sleep(0.01)  # a zero wait the stage began has ended
        await anyio.wait_all_tasks_blocked()

    async with anyio.create_task_group() as tg:
        tg.start_soon(cutter.run)
        await at(0.0, "walking ")
        await at(250.0, "")  # past the stall: a cut, of nothing
        with pytest.raises(anyio.WouldBlock):
            cutter.recv.receive_nowait()
        await at(260.0, "along the old ")
        await at(355.0, "")  # 105 s after the cut that cut nothing: cut now
        seg = cutter.recv.receive_nowait()
        assert (seg.text.strip(), seg.kind) == ("walking along the", "forced")
        cutter.send.close()
        assert await cutter.rest() == [("old", "final")]


@pytest.mark.anyio
@pytest.mark.parametrize("deltas", [["", "Hello there. ", "How are you?"], []])
async def test_the_text_stage_says_the_request_is_out_at_the_first_delta_or_the_end(
    deltas: list[str],
) -> None:
    """``request_sent`` (held by the turn until the model's request is out) is set by the
    text stage at the first delta (an empty one too) if the source did not set it, and at
    the end of a source that gave none, so a source that never tells cannot hold the turn."""
    sent = anyio.Event()
    when: list[bool] = []

    class Source(_Source):
        async def __anext__(self) -> str:
            if len(when) < len(deltas):
                when.append(sent.is_set())  # before each delta after the first: set
            return await super().__anext__()

    stage = TextStage(
        Source(deltas),
        options=PipelineOptions(),
        timeline=Timeline(lambda: 0.0),
        segments=SegmentLog(),
        request_sent=sent,
    )
    out: Channel[str] = Channel(64)
    await stage.read(out)
    assert when == ([False] + [True] * (len(deltas) - 1) if deltas else [])
    assert sent.is_set()
