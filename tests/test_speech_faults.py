"""The speech stage against faults the emulator does not make: a server scripted frame by frame
(``tests/_scripted_tts.py``) whose audio is the exact engine's, so the text heard is decoded
from what the sink received. An empty audio delta, a barge-in inside a response whose rest
comes only after ``input_text_buffer.clear`` (or never, or behind an error), a ``clear`` that
hangs, a frame the client cannot read, stale audio after a barge-in, a server that speaks two
segments in one response. Found by mutation testing (docs/mutation/pipeline.md); every wait
here is causal (a frame the client sent, a chunk the sink took), none is timed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog
from websockets.exceptions import ConnectionClosed

from bridge.adapters.sinks import NullSink
from bridge.adapters.tracing import TurnTrace
from bridge.core.heard import HeardTracker
from bridge.core.result import SegmentTiming, TurnResult
from bridge.local.engines.exact import ExactSynthesizer, decode_speech, samples_per_char
from bridge.local.wire import new_id
from bridge.pipeline import PipelineOptions, TTSTarget, Turn
from bridge.pipeline.segment_log import SegmentLog
from bridge.pipeline.speech_stage import SpeechStage
from bridge.pipeline.timeline import Timeline
from bridge.qwen import SessionConfig, Timeouts
from bridge.qwen.client import AudioChunk, TTSSession
from bridge.qwen.protocol import billable_characters
from bridge.text import Segment
from tests._scripted_tts import Peer, scripted_tts

pytestmark = pytest.mark.anyio

RATE = 24000
RUN = samples_per_char(RATE)  # samples a character (the exact engine's run)
FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)
FIRST, SECOND = "We walk to the lake.", "Then we rest."


def _audio(text: str, ms_per_char: int = 60) -> bytes:
    return ExactSynthesizer(ms_per_char=ms_per_char).synthesize(text, sample_rate=RATE)


class Speaker:
    """A scripted server speaking the exact engine's audio. In ``commit`` mode each commit's
    buffer is one response; in ``server_commit`` mode every ``merge`` appends are spoken as
    one response. The first response may start with an empty delta (``empty_first``), or
    stop after ``hold`` deltas until the client sends ``input_text_buffer.clear``, then go on
    with ``after_clear``: ``"error"`` (an error echoing its commit), ``"rest"`` (its other
    deltas), ``"done"`` (its end, billed ``billable_characters`` of its text); a response
    whose end is not in it never ends. ``binary_first`` sends a binary frame instead.
    ``ms_per_char``: the voice's pace (the exact engine's 60 ms, or faster than the pace the
    stage estimates, so an estimate and a measured cut differ)."""

    def __init__(
        self,
        *,
        merge: int = 1,
        empty_first: bool = False,
        hold: int | None = None,
        after_clear: Sequence[str] = ("rest", "done"),
        binary_first: bool = False,
        ms_per_char: int = 60,
    ) -> None:
        self.ms_per_char = ms_per_char
        self.run = samples_per_char(RATE, ms_per_char=ms_per_char)
        self.merge, self.empty_first, self.hold = merge, empty_first, hold
        self.after_clear, self.binary_first = tuple(after_clear), binary_first
        self.cleared = anyio.Event()
        self.responses: list[str] = []  # the text of each response begun

    async def __call__(self, peer: Peer) -> None:
        send, recv = anyio.create_memory_object_stream[tuple[str, str] | None](100)
        buffer, pending = "", 0
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._respond, peer, recv)
                while True:
                    event = await peer.recv()
                    kind = event["type"]
                    if kind == "session.update":
                        mode = event["session"].get("mode", "server_commit")
                        session = {**event["session"], "mode": mode}
                        await peer.send(peer.wire.session("session.updated", session))
                    elif kind == "input_text_buffer.append":
                        buffer += event["text"]
                        pending += 1
                        if mode == "server_commit" and pending == self.merge:
                            send.send_nowait((buffer, ""))
                            buffer, pending = "", 0
                    elif kind == "input_text_buffer.commit" and buffer:
                        send.send_nowait((buffer, event["event_id"]))
                        buffer, pending = "", 0
                    elif kind == "input_text_buffer.clear":
                        self.cleared.set()
                    elif kind == "session.finish":
                        if buffer:
                            send.send_nowait((buffer, ""))
                        send.send_nowait(None)
        except* ConnectionClosed:
            pass  # the client dropped the connection (a barge-in)

    async def _respond(self, peer: Peer, recv: Any) -> None:
        w = peer.wire
        async for job in recv:
            if job is None:
                await peer.finished()
                return
            text, commit_id = job
            first = not self.responses
            self.responses.append(text)
            if first and self.binary_first:
                await peer.ws.send(b"\x00\x01")
            rid, iid = new_id("resp"), new_id("item")
            await peer.send(w.response_created(rid, "Cherry"))
            await peer.send(w.item_added(rid, iid))
            await peer.send(w.part("response.content_part.added", rid, iid))
            audio = _audio(text, self.ms_per_char)
            step = 4 * self.run  # bytes of two characters
            deltas = [audio[i : i + step] for i in range(0, len(audio), step)]
            if first and self.empty_first:
                deltas.insert(0, b"")
            steps: tuple[str, ...] = ("rest", "done")
            if first and self.hold is not None:
                for delta in deltas[: self.hold]:
                    await peer.send(w.audio_delta(rid, iid, delta))
                deltas = deltas[self.hold :]
                await self.cleared.wait()
                steps = self.after_clear
            for step in steps:
                if step == "error":
                    error = {"code": "x", "message": "late", "event_id": commit_id}
                    await peer.send(w.event("error", error=error))
                elif step == "rest":
                    for delta in deltas:
                        await peer.send(w.audio_delta(rid, iid, delta))
                elif step == "done":
                    await peer.send(w.audio_done(rid, iid))
                    await peer.send(w.part("response.content_part.done", rid, iid))
                    await peer.send(w.item_done(rid, iid, "completed"))
                    usage = {"characters": billable_characters(text)}
                    done = w.response_done(
                        rid, iid, voice="Cherry", status="completed", usage=usage
                    )
                    await peer.send(done)
            if "done" not in steps:
                await anyio.sleep_forever()


class Sink(NullSink):
    """Keeps the audio it took; at its ``at``-th chunk it waits until ``until()`` holds (a
    causal wait: the stage's own progress) and then calls ``barge_in()`` from inside ``write``,
    without yielding after it; counts the chunks it is given after that."""

    def __init__(
        self,
        *,
        at: int | None = None,
        until: Callable[[], bool] = lambda: True,
        barge_in: Callable[[], None] = lambda: None,
        run: int = RUN,
    ) -> None:
        super().__init__()
        self.run = run
        self.pcm = bytearray()
        self.chunks = 0
        self.after_barge_in = 0
        self._at, self._until, self._barge_in = at, until, barge_in
        self._barged = False

    async def write(self, chunk: AudioChunk) -> None:
        if self._barged:
            self.after_barge_in += 1
        if self.stopped:
            return
        self.pcm += chunk.data
        self.chunks += 1
        await super().write(chunk)
        if self.chunks == self._at:
            while not self._until():
                await anyio.sleep(0.001)
            self._barged = True
            self._barge_in()

    @property
    def heard(self) -> str:
        return decode_speech(bytes(self.pcm), run_length=self.run).text


async def _words(text: str, *, then_wait: bool) -> AsyncIterator[str]:
    """``text`` word by word; ``then_wait``: the model is still thinking after it (the turn
    ends by a barge-in, before ``session.finish``, so the stage can still send the clear)."""
    for word in text.split(" "):
        await anyio.lowlevel.checkpoint()
        yield word + " "
    if then_wait:
        await anyio.sleep_forever()


def _target(
    url: str, mode: str = "commit", *, timeouts: Timeouts = FAST, **config: Any
) -> TTSTarget:
    return TTSTarget(url=url, config=SessionConfig(mode=mode, **config), timeouts=timeouts)


async def _turn(
    speaker: Speaker,
    *,
    mode: str = "commit",
    at: int | None = None,
    until: Callable[[Turn], bool] = lambda turn: True,
    options: PipelineOptions | None = None,
    on_timing: Callable[[SegmentTiming], None] | None = None,
    text: str = f"{FIRST} {SECOND}",
    timeouts: Timeouts = FAST,
    **config: Any,
) -> tuple[TurnResult, Sink, list[dict[str, Any]]]:
    async with scripted_tts(speaker) as url:
        holder: list[Turn] = []
        sink = Sink(
            at=at,
            until=lambda: until(holder[0]),
            barge_in=lambda: holder[0].interrupt(),
            run=speaker.run,
        )
        turn = Turn(
            _words(text, then_wait=at is not None),
            sink,
            target=_target(url, mode, timeouts=timeouts, **config),
            options=options or PipelineOptions(commit_first=False),
            on_timing=on_timing,
        )
        holder.append(turn)
        with anyio.fail_after(30), structlog.testing.capture_logs() as logs:  # a hang, not a time
            result = await turn.run()
    return result, sink, logs


def _settled(logs: list[dict[str, Any]]) -> list[str]:
    return [e["response_id"] for e in logs if e["event"] == "turn.settled"]


# --- what is received ---------------------------------------------------------------------


async def test_an_empty_audio_delta_is_skipped_and_the_rest_of_the_turn_is_heard() -> None:
    result, sink, _ = await _turn(Speaker(empty_first=True))
    assert result.error is None and not result.interrupted
    assert sink.heard == f"{FIRST} {SECOND} "
    assert result.spoken_text == result.text == f"{FIRST} {SECOND}"


async def test_a_frame_the_client_cannot_read_ends_the_turn_with_its_error() -> None:
    # A protocol error is neither a dropped connection nor the server's: no reconnect.
    result, sink, _ = await _turn(Speaker(binary_first=True))
    assert result.error is not None and result.error.type == "TTSProtocolError"
    assert result.reconnects == 0 and sink.pcm == b""


# --- a barge-in inside a response: the settle ------------------------------------------------


@pytest.mark.parametrize("mode", ["commit", "server_commit"])
async def test_a_barge_in_inside_a_response_settles_on_its_end_sent_after_the_clear(
    mode: str,
) -> None:
    """The first response stops after 9 deltas until the clear: its end comes only while the
    stage settles (within the default 0.5 s bound: nothing to wait for but loopback frames).
    The heard text is cut by the response's real length (the voice is twice as fast as the
    estimate, which would say "We walk") and its usage is billed."""
    speaker = Speaker(
        hold=9, merge=2, ms_per_char=30
    )  # server_commit: both segments in one response
    result, sink, logs = await _turn(speaker, mode=mode, at=8)
    assert result.interrupted and len(_settled(logs)) == 1
    assert sink.heard == "We walk to the l"  # eight deltas of two characters
    assert result.spoken_text == "We walk to the"
    assert result.chars_billed == billable_characters(speaker.responses[0])


async def test_a_late_error_answering_our_commit_while_settling_is_read_past() -> None:
    speaker = Speaker(hold=3, after_clear=("error", "rest", "done"))
    result, sink, logs = await _turn(speaker, at=2)
    assert result.interrupted and result.error is None and sink.heard == "We w"
    assert len(_settled(logs)) == 1
    assert result.chars_billed == billable_characters(FIRST + " ")
    assert result.spoken_text == "We"


async def test_a_response_that_never_ends_after_the_clear_bounds_the_settle() -> None:
    # The client's own receive timeouts are longer than the test's hang guard: only the
    # settle's bound ends the wait.
    speaker = Speaker(hold=3, after_clear=("rest",))
    options = PipelineOptions(commit_first=False, settle_timeout=0.05)
    patient = Timeouts(connect=5, update=5, first_audio=300, stall=300, idle=300, close=1)
    result, sink, logs = await _turn(speaker, at=2, options=options, timeouts=patient)
    assert speaker.cleared.is_set() and result.interrupted and not _settled(logs)
    assert sink.heard == "We w"
    assert result.error is None and result.chars_billed is None


async def test_a_clear_that_hangs_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    async def hanging(self: TTSSession) -> None:
        await anyio.sleep_forever()

    monkeypatch.setattr(TTSSession, "clear", hanging)
    options = PipelineOptions(commit_first=False, clear_timeout=0.05, settle_timeout=0)
    result, sink, logs = await _turn(Speaker(hold=3), at=2, options=options)
    assert result.interrupted and result.error is None and not _settled(logs)
    assert sink.heard == "We w"


async def test_no_chunk_queued_for_the_sink_is_played_after_an_interrupt() -> None:
    """The sink barges in once the stage has queued more audio for it: the player, which
    takes a queued chunk without yielding, must see the turn's own interrupt flag (the
    cancellation reaches it only at its next wait)."""
    result, sink, _ = await _turn(Speaker(), at=1, until=lambda turn: len(turn._speech._audio) >= 2)
    assert result.interrupted and sink.after_barge_in == 0 and sink.chunks == 1


# --- what the tracker is told ------------------------------------------------------------


async def test_a_response_spoken_for_two_segments_is_mapped_by_its_usage() -> None:
    """server_commit: the server speaks both segments in one response, billed for both. Its
    end (usage) has arrived before the barge-in, inside the second segment: the heard text
    reaches into it, with timings for both segments from that one response."""
    timings: list[SegmentTiming] = []
    into = len(FIRST + " Then ") // 2  # deltas: "We walk to the lake. Then" heard
    result, sink, _ = await _turn(
        Speaker(merge=2),
        mode="server_commit",
        at=into,
        until=lambda turn: bool(turn._tracker.responses) and turn._tracker.responses[0].done,
        on_timing=timings.append,
    )
    assert sink.heard == f"{FIRST} Then "
    assert result.interrupted and result.spoken_text == f"{FIRST} Then"
    assert {t.index for t in timings} == {0, 1}


async def test_a_segments_timing_is_told_at_its_first_audio_and_at_its_end_only() -> None:
    """Before the sink takes a response's first chunk its segment's timing has been told,
    and not again chunk by chunk while the response goes on, though its estimated end grows
    (a voice slower than the estimate: 8 deltas are longer than the whole text's estimate);
    once more when the response ends (its end confirmed)."""
    timings: list[SegmentTiming] = []
    seen: list[int] = []
    speaker = Speaker(hold=8, ms_per_char=120)

    def look() -> None:
        seen.append(len(timings))

    def release() -> None:
        look()
        speaker.cleared.set()

    async with scripted_tts(speaker) as url:
        sink = Sink(at=1, barge_in=look, run=speaker.run)
        late = Sink(at=8, barge_in=release, run=speaker.run)

        class Both(Sink):
            async def write(self, chunk: AudioChunk) -> None:
                await super().write(chunk)
                await sink.write(chunk)
                await late.write(chunk)

        turn = Turn(
            _words(FIRST, then_wait=False),
            Both(run=speaker.run),
            target=_target(url),
            options=PipelineOptions(commit_first=False),
            on_timing=timings.append,
        )
        with anyio.fail_after(30):
            result = await turn.run()
    assert not result.interrupted and sink.heard == FIRST + " " and result.spoken_text == FIRST
    assert seen == [1, 1] and timings[0].index == 0 and timings[0].start == 0
    assert len(timings) == 2 and timings[1].end == len(_audio(FIRST + " ", 120)) // 2
    assert not timings[1].estimated


async def test_commit_mode_timings_are_confirmed_response_bounds() -> None:
    timings: list[SegmentTiming] = []
    result, sink, _ = await _turn(Speaker(), on_timing=timings.append)
    assert result.error is None and sink.heard == f"{FIRST} {SECOND} "
    final = {t.index: t for t in timings}
    assert sorted(final) == [0, 1] and not any(t.estimated for t in final.values())
    assert final[0].start == 0 and final[0].end == final[1].start == len(FIRST + " ") * RUN


@pytest.mark.parametrize("rate", [None, 1.0, 2.0])
async def test_an_unsettled_barge_in_is_estimated_at_the_sessions_speech_rate(
    rate: float | None,
) -> None:
    """Settling off, the response's end never known: the part heard is estimated from the
    text's speaking time at the session's speech rate (unset: 1.0)."""
    options = PipelineOptions(commit_first=False, settle_timeout=0)
    config = {} if rate is None else {"speech_rate": rate}
    result, sink, _ = await _turn(Speaker(hold=6), at=6, options=options, **config)
    expected = HeardTracker(commit_mode=True, speech_rate=rate or 1.0)
    expected.appended(FIRST, FIRST + " ")
    expected.appended(SECOND, SECOND + " ")
    expected.response_started("r")
    expected.audio("r", sink.samples_played)
    assert result.interrupted
    assert result.spoken_text == expected.heard_text(sink.samples_played, RATE)
    slow = HeardTracker(commit_mode=True, speech_rate=1.0 if rate == 2.0 else 2.0)
    slow.appended(FIRST, FIRST + " ")
    slow.response_started("r")
    slow.audio("r", sink.samples_played)
    assert result.spoken_text != slow.heard_text(sink.samples_played, RATE)


# --- stale audio after a barge-in, the stage alone ------------------------------------------


async def _no_stop() -> None:
    return None


async def test_stale_audio_after_a_barge_in_is_dropped_but_counted_to_its_response() -> None:
    """The stage learns of the barge-in from ``interrupted`` before any cancellation reaches
    it: the audio still received is not played but counted, and the response's end is still
    read, so the part heard is measured against the response's real length."""
    flag = [False]
    speaker = Speaker(hold=3)  # the rest of the response only after the barge-in

    def barge_in() -> None:
        flag[0] = True
        speaker.cleared.set()

    async with scripted_tts(speaker) as url:
        sink = Sink(at=2, barge_in=barge_in)
        tracker = HeardTracker(commit_mode=True)
        segments = SegmentLog()
        segments.cut(FIRST, "sentence", ready_ms=0.0)
        stage = SpeechStage(
            target=_target(url),
            options=PipelineOptions(commit_first=False),
            sink=sink,
            timeline=Timeline(anyio.current_time),
            segments=segments,
            tracker=tracker,
            trace=TurnTrace(),
            interrupted=lambda: flag[0],
            stop_sink=_no_stop,
        )
        segs_send, segs_recv = anyio.create_memory_object_stream[Segment](4)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(stage.play)
                async with segs_send:
                    await segs_send.send(Segment(FIRST, 0, len(FIRST), "sentence"))
                await stage.run(segs_recv, tg.cancel_scope)
                stage.end_audio()
    assert sink.chunks == 2 and sink.heard == "We w"
    (resp,) = tracker.responses
    assert resp.done and resp.samples == len(_audio(FIRST + " ")) // 2
    assert tracker.unsettled(sink.samples_played) is None
    assert tracker.heard_text(sink.samples_played, RATE) == "We"
    assert stage.error is None and stage.billed == billable_characters(FIRST + " ")


# --- a sink that takes a chunk at once (TakesAtOnce) ------------------------------------------


class _Gate(Sink):
    """A ``TakesAtOnce`` sink (``ready()``: a write now would not wait). Not ready for the
    first chunk, which the player then writes; ready from then on, but that first write sets
    ``opened`` and holds until ``more`` chunks have queued for the player since. Notes which
    task wrote each chunk."""

    def __init__(self, queued: Callable[[], int], more: int, run: int) -> None:
        super().__init__(run=run)
        self.open = False
        self.opened = anyio.Event()
        self.writers: list[str] = []
        self._queued, self._more = queued, more

    def ready(self) -> bool:
        return self.open

    async def write(self, chunk: AudioChunk) -> None:
        self.writers.append(anyio.get_current_task().name)
        await super().write(chunk)
        if len(self.writers) == 1:
            self.open = True  # ready, but the player is still busy with this chunk
            before = self._queued()
            self.opened.set()
            with anyio.fail_after(10):  # a hang, not a time
                while self._queued() < before + self._more:
                    await anyio.sleep(0.001)


async def test_a_ready_sink_is_written_by_the_receiving_task_only_when_nothing_waits_for_it() -> (
    None
):
    """While the player writes (or chunks wait for it), received chunks queue behind, even
    though the sink is ready: the order holds. Once the player waits with nothing queued, a
    ready sink is written by the task that receives the audio (no wake-up of the player)."""
    holder: list[Turn] = []
    speaker = Speaker()
    third = "And home."
    chunks = [-(-len(text + " ") // 2) for text in (FIRST, SECOND, third)]  # 2 chars a delta

    async with scripted_tts(speaker) as url:
        sink = _Gate(lambda: len(holder[0]._speech._audio), 2, speaker.run)

        async def model() -> AsyncIterator[str]:
            yield f"{FIRST} Then"
            await sink.opened.wait()  # the second sentence's audio comes while the player writes
            yield " we rest. And"
            while sink.chunks < chunks[0] + chunks[1]:
                await anyio.sleep(0.001)  # the third comes to an idle player
            yield " home."

        turn = Turn(model(), sink, target=_target(url), options=PipelineOptions(commit_first=False))
        holder.append(turn)
        with anyio.fail_after(30):
            result = await turn.run()
    assert result.error is None and not result.interrupted
    assert sink.heard == f"{FIRST} {SECOND} {third} "  # every chunk, in order
    player = [name.endswith(".play") for name in sink.writers]
    assert player[0] and all(player[chunks[0] : chunks[0] + 2])  # queued behind the held one
    assert player[-chunks[2] :] == [False] * chunks[2]  # written as received


class _Leaving(Sink):
    """Always ready (``TakesAtOnce``); its listener goes away after its third chunk."""

    def ready(self) -> bool:
        return True

    @property
    def listener_left(self) -> bool:
        return self.chunks >= 3


async def test_a_listener_leaving_a_ready_sink_ends_the_turn_as_at_a_barge_in() -> None:
    speaker = Speaker()
    async with scripted_tts(speaker) as url:
        sink = _Leaving(run=speaker.run)
        turn = Turn(
            _words(f"{FIRST} {SECOND}", then_wait=False),
            sink,
            target=_target(url),
            options=PipelineOptions(commit_first=False),
        )
        with anyio.fail_after(30):
            result = await turn.run()
    assert sink.chunks == 3 and sink.heard == FIRST[:6]  # nothing written after it left
    assert result.interrupted and result.spoken_text == "We"
