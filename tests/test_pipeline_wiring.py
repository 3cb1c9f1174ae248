"""How a turn's stages are wired, checked against the emulator (found by mutation testing,
see docs/mutation/pipeline.md): commits, reconnect reports, caption timings, the trace, the
assistant's hand-over to its turn, and which server errors are tolerated."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import ClassVar

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
import structlog

import bridge.pipeline.turn as turn_module
from bridge.adapters.llm import LLMClient, LLMConfig
from bridge.adapters.sinks import NullSink
from bridge.adapters.tracing import TurnTrace
from bridge.core.cost import Price, PriceTable, TurnCost
from bridge.core.errors import BridgeError, TTSServerError
from bridge.core.heard import HeardTracker
from bridge.core.result import SegmentTiming, TurnResult
from bridge.local import EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.pipeline import PipelineOptions, ReconnectPolicy, TTSTarget, Turn
from bridge.pipeline.assistant import Assistant
from bridge.pipeline.segment_log import SegmentLog
from bridge.pipeline.speech_stage import SpeechStage
from bridge.pipeline.timeline import Timeline
from bridge.qwen import SessionConfig, Timeouts
from bridge.qwen.client import AudioChunk, TTSSession
from bridge.qwen.protocol import billable_characters
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for
from bridge.text import Lexicon, Segment

pytestmark = pytest.mark.anyio

FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)
REPLY = (
    "Sure, here is the plan for today. First we visit the old market to look around. "
    "Then we buy groceries for the week. After that we cook dinner together. "
    "Finally we rest and watch a film."
)


async def scripted(text: str, *, rate: float = 200.0) -> AsyncIterator[str]:
    words = text.split(" ")
    for i, word in enumerate(words):
        await anyio.sleep(1 / rate)
        yield word if i == len(words) - 1 else word + " "


def target(url: str, **config: object) -> TTSTarget:
    return TTSTarget(url=url, config=SessionConfig(**config), timeouts=FAST)  # type: ignore[arg-type]


class RecordingTrace(TurnTrace):
    """A turn's trace that remembers what the turn told it."""

    made: ClassVar[list[RecordingTrace]] = []

    def __init__(self, *, traceparent: str | None = None, model: str | None = None) -> None:
        super().__init__(traceparent=traceparent, model=model)
        self.traceparent = traceparent
        self.model = model
        self.barge_ins: list[float] = []
        self.reconnects: list[tuple[float, str, int]] = []
        self.finished: list[TurnResult] = []
        RecordingTrace.made.append(self)

    def barge_in(self, ms: float) -> None:
        self.barge_ins.append(ms)
        super().barge_in(ms)

    def finish(self, result: TurnResult) -> None:
        self.finished.append(result)
        super().finish(result)

    def reconnect(self, ms: float, *, error: str, resend: int) -> None:
        self.reconnects.append((ms, error, resend))
        super().reconnect(ms, error=error, resend=resend)


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> list[RecordingTrace]:
    RecordingTrace.made = []
    monkeypatch.setattr(turn_module, "TurnTrace", RecordingTrace)
    return RecordingTrace.made


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the ``input_text_buffer.commit`` events the turns sent."""
    sent: list[str] = []
    original = TTSSession.commit

    async def commit(self: TTSSession) -> str:
        event_id = await original(self)
        sent.append(event_id)
        return event_id

    monkeypatch.setattr(TTSSession, "commit", commit)
    return sent


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``append`` and ``commit`` in the order the turns sent them."""
    order: list[str] = []
    append, commit = TTSSession.append, TTSSession.commit

    async def appended(self: TTSSession, text: str) -> None:
        order.append("append")
        await append(self, text)

    async def committed(self: TTSSession) -> str:
        order.append("commit")
        return await commit(self)

    monkeypatch.setattr(TTSSession, "append", appended)
    monkeypatch.setattr(TTSSession, "commit", committed)
    return order


@pytest.mark.parametrize(
    ("mode", "commit_first", "expected"),
    [("server_commit", True, "one"), ("server_commit", False, "none"), ("commit", True, "each")],
)
async def test_commits_follow_the_mode_and_commit_first(
    wire: list[str], commits: list[str], mode: str, commit_first: bool, expected: str
) -> None:
    options = PipelineOptions(commit_first=commit_first)
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        result = await Turn(
            scripted(REPLY), NullSink(), target=target(emu.url, mode=mode), options=options
        ).run()
    assert result.error is None and result.spoken_text == result.text
    assert len(result.segments) > 2
    want = {"one": 1, "none": 0, "each": len(result.segments)}[expected]
    assert len(commits) == want
    if expected == "one":  # the commit follows the first append, before the second
        assert wire[:3] == ["append", "commit", "append"]
    elif expected == "each":
        assert wire == ["append", "commit"] * len(result.segments)
    # The billed characters are the sum of the responses' usage. The emulator bills what each
    # response spoke: in commit mode one segment as sent (with its trailing space), in
    # server_commit mode the segments without the spaces between them.
    space = " " if mode == "commit" else ""
    assert result.chars_billed == sum(billable_characters(s.text + space) for s in result.segments)


async def test_each_reconnect_is_counted_logged_and_traced(
    traces: list[RecordingTrace], commits: list[str]
) -> None:
    faults = Faults(close_after_deltas=8, connections=2)
    options = PipelineOptions(reconnect=ReconnectPolicy(attempts=2, delay=0))
    async with serve_emulator(EmulatorOptions(engine="tone", faults=faults)) as emu:
        with structlog.testing.capture_logs() as logs:
            result = await Turn(
                scripted(REPLY), NullSink(), target=target(emu.url), options=options
            ).run()
    assert result.error is None and result.spoken_text == result.text
    assert result.reconnects == 2
    told = [e for e in logs if e["event"] == "turn.tts_reconnect"]
    assert [(e["log_level"], e["error"]) for e in told] == [("warning", "TTSClosedError")] * 2
    assert all(e["resend"] >= 1 for e in told)  # the partly heard segment goes again
    (trace,) = traces
    assert [(error, resend) for _, error, resend in trace.reconnects] == [
        (e["error"], e["resend"]) for e in told
    ]
    first, second = (ms for ms, _, _ in trace.reconnects)
    assert 0 < first <= second
    # Re-sent segments are not "first": only the turn's first segment was committed.
    assert len(commits) == 1


@pytest.mark.parametrize("mode", ["commit", "server_commit"])
async def test_on_timing_reports_each_segment_when_known_and_only_when_changed(mode: str) -> None:
    seen: list[SegmentTiming] = []
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        result = await Turn(
            scripted(REPLY), NullSink(), target=target(emu.url, mode=mode), on_timing=seen.append
        ).run()
    assert result.error is None and len(result.segments) > 2
    assert all(isinstance(t, SegmentTiming) for t in seen)
    last: dict[int, SegmentTiming] = {}
    for timing in seen:
        assert last.get(timing.index) != timing, "an unchanged timing was reported again"
        last[timing.index] = timing
    # Every segment's place was told, and the last word on each is the result's.
    assert sorted(last) == list(range(len(result.segments)))
    assert [last[i] for i in sorted(last)] == [s.timing for s in result.segments]


async def test_a_barge_in_is_traced_and_an_interrupt_after_the_end_changes_nothing(
    traces: list[RecordingTrace],
) -> None:
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        done = Turn(scripted("One short sentence."), NullSink(), target=target(emu.url))
        done_result = await done.run()
        done.interrupt()  # "safe to call at any time": the turn is over
        assert not done.interrupted and not done_result.interrupted

        sink = NullSink()
        cut = Turn(scripted(REPLY, rate=20), sink, target=target(emu.url))

        async def barge_in() -> None:
            while sink.samples_played == 0:
                await anyio.sleep(0.01)
            cut.interrupt()

        async with anyio.create_task_group() as tg:
            tg.start_soon(barge_in)
            result = await cut.run()
    assert result.interrupted and cut.interrupted
    first, second = traces
    assert first.barge_ins == []
    (at,) = second.barge_ins
    assert result.first_play_ms is not None and result.done_ms is not None
    assert result.first_play_ms <= at <= result.done_ms


async def test_the_assistant_hands_its_options_callbacks_and_request_to_the_turn(
    traces: list[RecordingTrace],
) -> None:
    answer = "Hello world, how are you? I am fine. Thank you for asking."
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    texts: list[str] = []
    segments: list[Segment] = []
    timings: list[SegmentTiming] = []
    options = PipelineOptions(lexicon=Lexicon.build(exact={"world": "planet"}))
    async with (
        serve_fake_llm([FakeReply(tokens_for(answer), delay=0.01)]) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, api_key="k", model="m")) as llm,
    ):
        assistant = Assistant(llm=llm, tts=target(emu.url), options=options)
        turn = assistant.reply(
            "Say hello.",
            NullSink(),
            on_segment=segments.append,
            on_text=texts.append,
            on_timing=timings.append,
            traceparent=parent,
        )
        with structlog.testing.capture_logs() as logs:
            result: TurnResult = await turn.run()
    assert result.error is None
    assert "planet" in result.text and "world" not in result.text  # the assistant's options
    assert "".join(texts) == answer  # on_text: the deltas before scrubbing
    assert [s.text.strip() for s in segments] == [s.text for s in result.segments]
    assert timings and {t.index for t in timings} == set(range(len(result.segments)))
    (line,) = [e for e in logs if e["event"] == "turn"]
    assert line["request_chars"] == len("Say hello.")
    (trace,) = traces
    assert trace.traceparent == parent


async def _no_stop() -> None:
    return None


def _stage(mode: str = "server_commit") -> SpeechStage:
    tts = target("ws://127.0.0.1:9/", mode=mode)
    return SpeechStage(
        target=tts,
        options=PipelineOptions(),
        sink=NullSink(),
        timeline=Timeline(lambda: 0.0),
        segments=SegmentLog(),
        tracker=HeardTracker(commit_mode=mode == "commit"),
        trace=TurnTrace(),
        interrupted=lambda: False,
        stop_sink=_no_stop,
    )


class _CommitOnly:
    """Just enough of a session for ``SpeechStage._append``."""

    def __init__(self) -> None:
        self.appended: list[str] = []

    async def append(self, text: str) -> None:
        self.appended.append(text)

    async def commit(self) -> str:
        return f"event_commit_{len(self.appended)}"


async def test_only_errors_answering_our_commits_are_tolerated() -> None:
    stage = _stage()
    session = _CommitOnly()
    await stage._append(session, "Hello there.", first=True)  # type: ignore[arg-type]
    await stage._append(session, "How are you?", first=False)  # type: ignore[arg-type]
    assert session.appended == ["Hello there. ", "How are you? "]
    with structlog.testing.capture_logs() as logs:
        # Paired with a commit by position, whatever it echoes.
        assert stage._tolerable(TTSServerError("empty", code="x", answers_commit="c9"))
        # Echoing the id of the one commit sent (the first segment's).
        assert stage._tolerable(TTSServerError("empty", code="y", event_id="event_commit_1"))
    assert [(e["event"], e["code"]) for e in logs] == [
        ("turn.commit_answered_by_error", "x"),
        ("turn.commit_answered_by_error", "y"),
    ]
    # Any other error is the server's failure: not tolerated.
    assert not stage._tolerable(TTSServerError("boom", code="internal_error"))
    assert not stage._tolerable(TTSServerError("boom", event_id="event_commit_2"))
    assert not stage._tolerable(TTSServerError("boom", event_id="event_append_1"))


async def test_a_turn_has_its_given_id_or_a_fresh_one_and_traces_its_model(
    traces: list[RecordingTrace],
) -> None:
    tts = TTSTarget(url="ws://127.0.0.1:9/", model="qwen3-tts-flash-realtime-2025-11-27")
    named = Turn(scripted("Hi."), NullSink(), target=tts, turn_id="turn_mine")
    fresh = [Turn(scripted("Hi."), NullSink(), target=tts) for _ in range(2)]
    assert named.turn_id == "turn_mine"
    assert all(re.fullmatch(r"turn_[0-9a-f]{12}", t.turn_id) for t in fresh)
    assert fresh[0].turn_id != fresh[1].turn_id
    assert [t.model for t in traces] == [tts.model] * 3


async def test_a_model_slower_than_the_idle_timeout_is_still_spoken_in_full() -> None:
    # Nothing is owed while the model thinks: an idle timeout then is no failure.
    async def thinking() -> AsyncIterator[str]:
        await anyio.sleep(0.5)
        yield "After a long pause, "
        await anyio.sleep(0.5)
        yield "the answer came."

    patient = Timeouts(connect=5, update=5, first_audio=5, idle=0.2, close=1)
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        tts = TTSTarget(url=emu.url, timeouts=patient)
        result = await Turn(thinking(), NullSink(), target=tts).run()
    assert result.error is None and not result.interrupted
    assert result.spoken_text == result.text == "After a long pause, the answer came."
    assert result.audio_ms > 0


# --- the turn's own bookkeeping: its sink, its result, its scope ---------------------------


class _Sink(NullSink):
    """Counts ``close`` and ``stop``; either may fail or hang; ``queued`` keeps written audio
    as not yet played (a speaker with a queue), so a close has audio to drain."""

    def __init__(self, *, close: str = "ok", stop: str = "ok", queued: bool = False) -> None:
        super().__init__()
        self.closes = self.stops = 0
        self.closing = anyio.Event()
        self.closed = False  # a close that ran to its end
        self.pcm = bytearray()
        self._close, self._stop, self._queued = close, stop, queued

    async def write(self, chunk: AudioChunk) -> None:
        if not self.stopped:
            self.pcm += chunk.data
        if not self._queued:
            await super().write(chunk)

    async def close(self) -> None:
        self.closes += 1
        self.closing.set()
        if self._close == "fails":
            raise RuntimeError("the device went away")
        if self._close == "hangs":
            await anyio.sleep_forever()
        if self._close == "slow":  # plays out 2.5 s of queue, more than the 2 s slack
            await anyio.sleep(2.5)
        self.closed = True

    async def stop(self) -> None:
        self.stops += 1
        await super().stop()
        if self._stop == "fails":
            raise RuntimeError("the device went away")
        if self._stop == "hangs":
            await anyio.sleep_forever()


async def _interrupted_after_audio(turn: Turn, sink: NullSink) -> TurnResult:
    async with anyio.create_task_group() as tg:

        async def barge_in() -> None:
            while sink.samples_played == 0:
                await anyio.sleep(0.01)
            turn.interrupt()

        tg.start_soon(barge_in)
        return await turn.run()


async def test_the_sink_is_closed_after_a_whole_turn_and_stopped_once_after_a_barge_in() -> None:
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        whole = _Sink()
        with structlog.testing.capture_logs() as logs:
            done = await Turn(scripted("One short sentence."), whole, target=target(emu.url)).run()
        cut = _Sink()
        turn = Turn(scripted(REPLY, rate=20), cut, target=target(emu.url))
        result = await _interrupted_after_audio(turn, cut)
    assert not done.interrupted and (whole.closes, whole.stops) == (1, 0)
    assert not [e for e in logs if e["log_level"] == "warning"]
    assert result.interrupted and (cut.closes, cut.stops) == (0, 1)  # the stage's stop only


@pytest.mark.parametrize("how", ["fails", "hangs"])
async def test_a_sink_that_fails_or_hangs_is_logged_and_the_turn_still_ends(how: str) -> None:
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        closing, stopping = _Sink(close=how), _Sink(stop=how)
        with anyio.fail_after(20), structlog.testing.capture_logs() as logs:
            done = await Turn(
                scripted("One short sentence."), closing, target=target(emu.url)
            ).run()
            cut = Turn(scripted(REPLY, rate=20), stopping, target=target(emu.url))
            result = await _interrupted_after_audio(cut, stopping)  # bounded: 2 s if it hangs
    warnings = [(e["event"], e.get("error")) for e in logs if e["log_level"] == "warning"]
    if how == "fails":
        assert warnings == [
            ("sink.close_failed", "RuntimeError"),
            ("sink.stop_failed", "RuntimeError"),
        ]
    else:  # a hung close is bounded by the audio it has queued plus 2 s; a stop by 2 s
        assert warnings == []
    assert done.error is None and result.interrupted
    assert done.spoken_text == "One short sentence."


async def test_an_interrupt_while_the_sink_plays_out_its_queue_stops_it_at_once() -> None:
    """The turn's audio has all arrived and the sink drains its queue (bounded by the audio
    queued plus 2 s, here about 12 s): ``interrupt()`` cuts the drain short and stops it."""
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        sink = _Sink(close="hangs", queued=True)
        turn = Turn(scripted(REPLY, rate=200), sink, target=target(emu.url))
        with anyio.fail_after(8):  # far less than the drain's bound
            async with anyio.create_task_group() as tg:

                async def barge_in() -> None:
                    await sink.closing.wait()
                    turn.interrupt()

                tg.start_soon(barge_in)
                result = await turn.run()
            # The turn finishes shielded: a deadline passed meanwhile is delivered here.
            await anyio.lowlevel.checkpoint()
    assert result.interrupted and (sink.closes, sink.stops) == (1, 1)


async def test_a_turn_interrupted_before_it_runs_is_interrupted_and_runs_once(
    traces: list[RecordingTrace],
) -> None:
    tts = TTSTarget(url="ws://127.0.0.1:9/", timeouts=FAST)  # never reached
    turn = Turn(scripted("Hello."), NullSink(), target=tts)
    turn.interrupt()
    result = await turn.run()
    assert result.interrupted and turn.interrupted and result.audio_ms == 0
    assert result.chars_billed is None and result.error is None
    assert traces[0].barge_ins == []  # interrupted before the turn started: no moment
    with pytest.raises(BridgeError, match=r"^a Turn runs once$"):
        await turn.run()


async def test_the_turn_reports_its_result_its_error_and_its_cost(
    traces: list[RecordingTrace],
) -> None:
    price = Price(per_10k_chars=10_000.0, currency="USD")
    seen: list[TurnResult] = []

    async def on_result(result: TurnResult) -> None:  # awaited by the turn
        await anyio.lowlevel.checkpoint()
        seen.append(result)

    async with serve_emulator(EmulatorOptions(engine="tone", api_key="sk-k")) as emu:
        tts = TTSTarget(url=emu.url, api_key="sk-k", timeouts=FAST)
        options = PipelineOptions(prices=PriceTable({tts.model: price}))
        turn = Turn(
            scripted("One short sentence."),
            NullSink(),
            target=tts,
            options=options,
            on_result=on_result,
            turn_id="turn_costed",
        )
        result = await turn.run()
        with structlog.testing.capture_logs() as logs:
            refused = await Turn(scripted("Hello."), NullSink(), target=target(emu.url)).run()
    assert seen == [result] and turn.result is result and result.turn_id == "turn_costed"
    assert result.first_append_ms is not None and result.first_audio_ms is not None
    assert all(s.appended_ms is not None for s in result.segments)
    assert result.cost is not None and result.cost.currency == "USD"
    assert result.chars_billed is not None
    assert result.cost == TurnCost.of(price, billed=result.chars_billed, heard=result.chars_heard)
    assert traces[0].finished == [result]
    assert refused.error is not None and refused.error.type == "TTSAuthError"
    failed = [e for e in logs if e["event"] == "turn.tts_failed"]
    assert failed == [{"event": "turn.tts_failed", "log_level": "warning", "error": "TTSAuthError"}]
    assert refused.cost is None


async def test_cancelling_the_enclosing_scope_is_a_barge_in_with_its_moment(
    traces: list[RecordingTrace],
) -> None:
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        sink = _Sink()
        seen: list[TurnResult] = []

        async def on_result(result: TurnResult) -> None:  # awaited, shielded from the cancel
            await anyio.lowlevel.checkpoint()
            seen.append(result)

        turn = Turn(scripted(REPLY, rate=20), sink, target=target(emu.url), on_result=on_result)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_later() -> None:
                    while sink.samples_played == 0:
                        await anyio.sleep(0.01)
                    scope.cancel()

                tg.start_soon(cancel_later)
                await turn.run()
    assert scope.cancelled_caught
    result = turn.result  # finished, shielded from the cancellation
    assert result is not None and result.interrupted and sink.stops == 1 and seen == [result]
    (at,) = traces[0].barge_ins
    assert result.first_play_ms is not None and result.done_ms is not None
    assert result.first_play_ms <= at <= result.done_ms


@pytest.mark.parametrize(("attempts", "drops"), [(0, 1), (2, 3), (2, 2)])
async def test_the_reconnect_policy_allows_so_many_attempts_then_reports_the_drop(
    attempts: int, drops: int
) -> None:
    faults = Faults(close_after_deltas=3, connections=drops)
    async with serve_emulator(EmulatorOptions(engine="tone", faults=faults)) as emu:
        options = PipelineOptions(reconnect=ReconnectPolicy(attempts=attempts, delay=0))
        with structlog.testing.capture_logs() as logs:
            result = await Turn(
                scripted(REPLY), NullSink(), target=target(emu.url), options=options
            ).run()
    failed = [(e["event"], e["error"]) for e in logs if e["event"] == "turn.tts_failed"]
    if drops > attempts:  # one drop more than the policy allows
        assert result.reconnects == attempts
        assert result.error is not None and result.error.type == "TTSClosedError"
        assert failed == [("turn.tts_failed", "TTSClosedError")]
    else:
        assert result.reconnects == drops and result.error is None and failed == []
        assert result.spoken_text == result.text


async def test_a_bug_in_on_segment_cuts_the_session_off_like_a_barge_in() -> None:
    """Not a barge-in of the caller's: the session is cancelled by the bug, and that alone
    makes the turn interrupted (the sink stopped, the heard prefix kept)."""
    results: list[TurnResult] = []
    sink = _Sink()

    async def text() -> AsyncIterator[str]:
        yield "Hello there, this is the first sentence of the reply. "
        with anyio.fail_after(10):
            while sink.samples_played == 0:
                await anyio.sleep(0.01)
        yield "And here comes a second one."

    def on_segment(segment: Segment) -> None:
        if segment.text.startswith("And"):
            raise RuntimeError("a bug in on_segment")

    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        turn = Turn(
            text(), sink, target=target(emu.url), on_segment=on_segment, on_result=results.append
        )
        with pytest.raises(ExceptionGroup):
            await turn.run()
    assert turn.interrupted and results[0].interrupted and sink.stops == 1
    assert results[0].error is None


async def test_a_sink_playing_out_its_queue_gets_as_long_as_the_audio_queued() -> None:
    """The drain's bound is the audio written but not yet played plus 2 s: a speaker with
    several seconds queued may take 2.5 s to close (not cut at 2 s)."""
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        sink = _Sink(close="slow", queued=True)
        with structlog.testing.capture_logs() as logs:
            result = await Turn(scripted(REPLY, rate=200), sink, target=target(emu.url)).run()
    assert not result.interrupted and sink.closed and sink.stops == 0
    assert not [e for e in logs if e["log_level"] == "warning"]


def _whole_words(truth: str, text: str) -> str:
    """The words of ``text`` whose letters the decoded ``truth`` holds (white space and a
    word's trailing punctuation left out: both are silent)."""
    heard = len("".join(truth.split()))
    used, kept = 0, []
    for word in text.split():
        used += len(word)
        if used - (len(word) - len(word.rstrip(".,!?"))) > heard:
            break
        kept.append(word)
    return " ".join(kept).rstrip(".,!?")


@pytest.mark.parametrize("mode", ["commit", "server_commit"])
async def test_a_barge_in_inside_an_unfinished_response_reads_on_to_its_end(mode: str) -> None:
    """The emulator speaks in real time: at a barge-in 0.6 s into a 2 s sentence its end has
    not arrived, so the stage reads on (its audio dropped) until that end, and the heard
    text is cut by the response's real length: exact to the word, in both modes; the
    response's usage is billed."""
    text = "We walk slowly to the quiet lake. Then we rest."
    paced = LatencyModel(first_packet=0.02, rtf=1.0, delta_ms=50)
    async with serve_emulator(EmulatorOptions(engine="exact", latency=paced)) as emu:
        sink = _Sink()
        options = PipelineOptions(settle_timeout=10)
        turn = Turn(scripted(text), sink, target=target(emu.url, mode=mode), options=options)
        with structlog.testing.capture_logs() as logs:
            async with anyio.create_task_group() as tg:

                async def barge_in() -> None:
                    while sink.samples_played < 24000 * 0.6:
                        await anyio.sleep(0.005)
                    turn.interrupt()

                tg.start_soon(barge_in)
                result = await turn.run()
    truth = decode_speech(bytes(sink.pcm), run_length=samples_per_char(24000)).text
    heard = _whole_words(truth, result.text)
    assert heard and len(heard) < len("We walk slowly to the quiet lake")
    assert result.interrupted and result.spoken_text.rstrip(".,!?") == heard
    settled = [e["response_id"] for e in logs if e["event"] == "turn.settled"]
    assert len(settled) == 1 and settled[0]
    if mode == "commit":  # one response a segment: the first one's usage (with its space)
        assert result.chars_billed == billable_characters("We walk slowly to the quiet lake. ")


async def test_cancelling_the_enclosing_scope_before_the_session_opens_is_a_barge_in() -> None:
    """No session was open to be cancelled (the TTS server accepted the connection and never
    answered): the turn itself records the barge-in."""
    accepted = anyio.Event()

    async def silent(stream: anyio.abc.SocketStream) -> None:
        accepted.set()
        with suppress(anyio.EndOfStream, anyio.BrokenResourceError):
            await stream.receive()  # the handshake, never answered
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as server:
        server.start_soon(listener.serve, silent)
        turn = Turn(scripted("Hello there."), NullSink(), target=target(f"ws://127.0.0.1:{port}/"))
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_when_connecting() -> None:
                    await accepted.wait()
                    scope.cancel()

                tg.start_soon(cancel_when_connecting)
                await turn.run()
        server.cancel_scope.cancel()
    assert turn.result is not None and turn.result.interrupted and turn.interrupted
    assert turn.result.error is None and turn.result.spoken_text == ""


@pytest.mark.anyio
async def test_a_source_that_never_says_its_request_is_out_is_spoken_from_its_first_delta() -> None:
    """``request_sent`` given, but the source never sets it (no ``on_sent``): the turn's
    text stage sets it at the first delta, so speech starts while the source is still open.
    The source here goes on only once audio has reached the sink."""
    sink = NullSink()

    async def source() -> AsyncIterator[str]:
        yield "Hello there. "
        while sink.samples_played == 0:
            await anyio.sleep(0.01)
        yield "Bye now."

    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        turn = Turn(
            source(),
            sink,
            target=TTSTarget(url=emu.url, timeouts=FAST),
            request_sent=anyio.Event(),
        )
        turn.hurry()  # before any barge-in: nothing to bring back, no error
        with anyio.fail_after(20):
            result = await turn.run()
    assert result.error is None and not result.interrupted
    assert result.text == "Hello there. Bye now."
