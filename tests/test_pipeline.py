"""The turn pipeline against the emulator: early speech, barge-in, spoken history, resilience."""

from __future__ import annotations

import random
import wave
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from bridge.adapters.sinks import IteratorSink, NullSink, WavSink
from bridge.core.errors import LLMError
from bridge.core.result import TurnResult
from bridge.local import EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.local.engines.exact import ExactSynthesizer, decode_speech, samples_per_char
from bridge.pipeline import PipelineOptions, ReconnectPolicy, TTSTarget, Turn
from bridge.qwen import AudioChunk, SessionConfig, Timeouts
from bridge.text import Segment
from tests._scripted_tts import Peer, scripted_tts

pytestmark = pytest.mark.anyio

FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)
REPLY = (
    "Sure, here is the plan for today. First we visit Dr. Smith at 3 p.m. to talk it over. "
    "Then we buy groceries, about 12.50 dollars worth. After that we cook dinner together. "
    "Finally we rest and watch a film."
)


async def scripted(
    text: str, *, rate: float = 20.0, fail_after: int | None = None
) -> AsyncIterator[str]:
    """Tokens of ``text`` at ``rate`` tokens per second, like a streaming model."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if fail_after is not None and i == fail_after:
            raise LLMError("the model connection dropped (scripted)")
        await anyio.sleep(1 / rate)
        yield word if i == len(words) - 1 else word + " "


class RecordingSink(NullSink):
    """Counts samples and remembers when each chunk arrived and from which response."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[tuple[float, AudioChunk]] = []

    async def write(self, chunk: AudioChunk) -> None:
        self.chunks.append((anyio.current_time(), chunk))
        await super().write(chunk)


def target(url: str, **config: object) -> TTSTarget:
    return TTSTarget(url=url, config=SessionConfig(**config), timeouts=FAST)  # type: ignore[arg-type]


async def test_speech_starts_before_the_model_finishes(tmp_path: Path) -> None:
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        out = tmp_path / "reply.wav"
        sink = WavSink(out, 24000)
        result = await Turn(scripted(REPLY), sink, target=target(emu.url)).run()
    assert result.error is None and not result.interrupted
    assert result.first_audio_ms is not None and result.llm_done_ms is not None
    assert result.first_audio_ms < result.llm_done_ms
    assert result.ttft_ms is not None
    assert result.ttft_ms <= result.first_segment_ms <= result.first_append_ms  # type: ignore[operator]
    assert len(result.segments) >= 4
    # The timeline runs forward, and each segment was cut before its append.
    assert result.first_append_ms <= result.first_audio_ms <= result.first_play_ms  # type: ignore[operator]
    assert result.first_play_ms <= result.done_ms  # type: ignore[operator]
    for seg in result.segments:
        assert seg.ready_ms is not None and seg.appended_ms is not None
        assert seg.ready_ms <= seg.appended_ms
    assert result.chars_appended == sum(len(s.text) for s in result.segments)
    assert "Dr. Smith" in result.text
    assert result.spoken_text == result.text
    assert result.chars_billed is not None and result.chars_billed > 0
    with wave.open(str(out)) as w:
        frames = w.getnframes()
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
    assert frames / 24000 * 1000 == pytest.approx(result.audio_ms, abs=1)
    assert frames > 24000


async def test_first_clause_reaches_the_wire_with_commit_first() -> None:
    # Causal, not timed: the model sends the rest of its reply only once the first clause's
    # audio has reached the sink, so a bridge that waited for a sentence end (or the whole
    # reply) before speaking would wait here until the bounded wait fails the test. (The word
    # after the comma comes first: it shows the comma ends a clause.)
    heard = anyio.Event()

    class FirstAudio(NullSink):
        async def write(self, chunk: AudioChunk) -> None:
            heard.set()
            await super().write(chunk)

    async def model() -> AsyncIterator[str]:
        for word in "Well, thinking about it carefully, the".split():
            yield word + " "
        with anyio.fail_after(10):
            await heard.wait()
        for word in "answer depends on many things we know.".split():
            yield word + " "

    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        result = await Turn(model(), FirstAudio(), target=target(emu.url)).run()
    assert result.error is None
    first = result.segments[0]
    assert first.kind == "clause" and first.text == "Well, thinking about it carefully,"
    assert result.first_audio_ms is not None and result.llm_done_ms is not None
    assert result.first_audio_ms <= result.llm_done_ms


@pytest.mark.parametrize("seed", range(6))
async def test_barge_in_at_random_moments_never_leaks_audio(seed: int) -> None:
    rng = random.Random(seed)
    slow = LatencyModel(first_packet=0.05, rtf=0.5, delta_ms=40)
    async with serve_emulator(EmulatorOptions(engine="exact", latency=slow)) as emu:
        sink = IteratorSink(max_chunks=4)
        turn = Turn(scripted(REPLY, rate=40), sink, target=target(emu.url))
        taken: list[tuple[float, AudioChunk]] = []
        interrupted_at: list[float] = []

        async def listen() -> None:
            async for chunk in sink:
                taken.append((anyio.current_time(), chunk))

        async def barge_in() -> None:
            await anyio.sleep(rng.uniform(0.05, 1.5))
            interrupted_at.append(anyio.current_time())
            turn.interrupt()

        async with anyio.create_task_group() as tg:
            tg.start_soon(listen)
            tg.start_soon(barge_in)
            result = await turn.run()

        # The next turn on the same emulator hears only its own audio.
        sink2 = RecordingSink()
        result2 = await Turn(scripted("A new turn.", rate=100), sink2, target=target(emu.url)).run()

    assert result.interrupted
    assert all(t <= interrupted_at[0] for t, _ in taken), "audio reached the sink after barge-in"
    assert sink.samples_played == sum(c.samples for _, c in taken)
    # The history is what the decoded audio says was heard ("" only if no word was).
    assert_heard(result, [c for _, c in taken], "server_commit")
    assert result.audio_ms == pytest.approx(sink.samples_played / 24, abs=1)
    first_ids = {c.response_id for _, c in taken}
    assert not first_ids & {c.response_id for _, c in sink2.chunks}
    assert result2.spoken_text == "A new turn."
    assert not result2.interrupted


class _BargeInSink(IteratorSink):
    """An ``IteratorSink`` that counts the chunks the turn wrote into it and can call
    ``turn.interrupt()`` itself, right after the write of chunk ``interrupt_after``."""

    def __init__(self, max_chunks: int, interrupt_after: int | None = None) -> None:
        super().__init__(max_chunks=max_chunks)
        self.written = 0
        self.full = anyio.Event()
        self.turn: Turn | None = None
        self._interrupt_after = interrupt_after

    async def write(self, chunk: AudioChunk) -> None:
        await super().write(chunk)
        self.written += 1
        if self.written == self._interrupt_after and self.turn is not None:
            self.turn.interrupt()
        if self.written == 4:
            self.full.set()


async def test_interrupt_drops_the_audio_buffered_in_an_iterator_sink_at_once() -> None:
    """Nobody listens while the sink's buffer fills (4 chunks); then interrupt() and only then
    iterate: not one of the buffered chunks may reach the listener, though the turn has not
    yet had a chance to run its own stop."""
    async with serve_emulator(EmulatorOptions(engine="exact")) as emu:
        sink = _BargeInSink(max_chunks=4)
        turn = Turn(scripted(REPLY, rate=400), sink, target=target(emu.url))
        taken: list[AudioChunk] = []
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                await turn.run()

            tg.start_soon(run)
            with anyio.fail_after(10):
                await sink.full.wait()
            turn.interrupt()
            async for chunk in sink:
                taken.append(chunk)
    assert sink.written >= 4 and turn.interrupted
    assert taken == [] and sink.samples_played == 0
    assert turn.result is not None and turn.result.spoken_text == ""


async def test_a_chunk_handed_to_a_waiting_listener_before_interrupt_is_not_delivered() -> None:
    """The listener waits on an empty buffer, so the first chunk written goes straight to it;
    interrupt() comes before the listener has run again (from inside the write): the chunk
    must not be delivered after the barge-in."""
    async with serve_emulator(EmulatorOptions(engine="exact")) as emu:
        sink = _BargeInSink(max_chunks=4, interrupt_after=1)
        turn = Turn(scripted(REPLY, rate=400), sink, target=target(emu.url))
        sink.turn = turn
        taken: list[AudioChunk] = []
        async with anyio.create_task_group() as tg:

            async def listen() -> None:
                async for chunk in sink:
                    taken.append(chunk)

            tg.start_soon(listen)
            await anyio.wait_all_tasks_blocked()
            result = await turn.run()
    assert sink.written == 1 and result.interrupted
    assert taken == [] and sink.samples_played == 0 and result.spoken_text == ""


async def test_interrupted_history_is_the_heard_prefix_in_commit_mode() -> None:
    paced = LatencyModel(rtf=1.0, delta_ms=50)  # real time: playback position is predictable
    async with serve_emulator(EmulatorOptions(engine="exact", latency=paced)) as emu:
        sink = RecordingSink()
        turn = Turn(
            scripted("One short sentence. Another one follows here. And a third.", rate=200),
            sink,
            target=target(emu.url, mode="commit"),
        )
        async with anyio.create_task_group() as tg:

            async def stop_later() -> None:
                while sink.samples_played < 24000 * 1.3:  # "One short sentence." 1.14 s
                    await anyio.sleep(0.01)
                turn.interrupt()

            tg.start_soon(stop_later)
            result = await turn.run()
    assert result.interrupted
    # Exactly the words the sink received, the whole first sentence at least, not all.
    assert assert_heard(result, [c for _, c in sink.chunks], "commit") >= 3
    assert result.spoken_text.startswith("One short sentence.")
    assert result.spoken_text != result.text


async def test_tts_drop_mid_turn_reconnects_and_loses_no_segment() -> None:
    faults = Faults(close_after_deltas=12, connections=1)
    async with serve_emulator(EmulatorOptions(engine="tone", faults=faults)) as emu:
        sink = RecordingSink()
        options = PipelineOptions(reconnect=ReconnectPolicy(attempts=1, delay=0))
        result = await Turn(
            scripted(REPLY, rate=200), sink, target=target(emu.url), options=options
        ).run()
        clean = RecordingSink()
        baseline = await Turn(scripted(REPLY, rate=200), clean, target=target(emu.url)).run()
    assert result.error is None
    assert result.reconnects == 1
    assert [s.text for s in result.segments] == [s.text for s in baseline.segments]
    # Everything was spoken; at most the one partial segment repeats.
    longest = max(
        sum(c.samples for _, c in clean.chunks if c.response_id == rid)
        for rid in {c.response_id for _, c in clean.chunks}
    )
    assert clean.samples_played <= sink.samples_played <= clean.samples_played + longest
    assert result.spoken_text == result.text


async def test_tts_drop_without_reconnect_reports_the_error() -> None:
    faults = Faults(close_after_deltas=5)
    async with serve_emulator(EmulatorOptions(engine="tone", faults=faults)) as emu:
        options = PipelineOptions(reconnect=ReconnectPolicy(attempts=0))
        result = await Turn(
            scripted(REPLY, rate=200), NullSink(), target=target(emu.url), options=options
        ).run()
    assert result.error is not None
    assert result.error.type == "TTSClosedError"
    # Half a second of audio arrived before the drop: some of the reply was heard, not all.
    assert result.spoken_text and result.spoken_text != result.text
    assert result.text.startswith(result.spoken_text)
    assert result.audio_ms == pytest.approx(5 * 100, abs=1)


async def test_model_failure_mid_turn_still_speaks_what_arrived() -> None:
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        result = await Turn(
            scripted(REPLY, fail_after=12, rate=200), NullSink(), target=target(emu.url)
        ).run()
    assert result.error is not None and result.error.type == "LLMError"
    assert result.text == " ".join(REPLY.split(" ")[:12])
    assert result.spoken_text == result.text
    assert result.audio_ms > 0


async def test_stall_guard_cuts_when_the_model_trickles_without_punctuation() -> None:
    async def trickle() -> AsyncIterator[str]:
        for word in ("so", " we", " were", " walking", " along", " the", " road"):
            yield word
        await anyio.sleep(2.0)  # the model stalls with text pending
        yield " and then it rained."

    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        options = PipelineOptions(stall_timeout=0.3)
        result = await Turn(trickle(), NullSink(), target=target(emu.url), options=options).run()
    assert result.segments[0].kind == "forced"
    assert result.first_append_ms is not None and result.first_append_ms < 1500
    assert result.first_audio_ms is not None and result.first_audio_ms < 1500
    assert result.text.endswith("and then it rained.")


async def test_markdown_never_reaches_the_tts() -> None:
    md = "# Plan\n\n1. **Buy** milk\n2. Call `mom`\n\n```python\nprint('x')\n```\nDone! 🎉"
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        result = await Turn(scripted(md, rate=500), NullSink(), target=target(emu.url)).run()
    spoken = " ".join(s.text for s in result.segments)
    for mark in ("#", "**", "`", "print", "🎉", "1."):
        assert mark not in spoken, mark
    assert "Buy milk" in spoken and "Call mom" in spoken


async def test_interrupt_before_run_and_auth_failure() -> None:
    async with serve_emulator(EmulatorOptions(engine="tone", api_key="sk-k")) as emu:
        turn = Turn(scripted("Hello."), NullSink(), target=target(emu.url))
        turn.interrupt()
        early = await turn.run()
        bad = await Turn(scripted("Hello there."), NullSink(), target=target(emu.url)).run()
    assert early.interrupted and early.audio_ms == 0
    assert bad.error is not None and bad.error.type == "TTSAuthError"
    assert "sk-k" not in bad.error.message


async def test_a_bug_in_a_callback_cuts_the_turn_off_and_still_reports_it() -> None:
    """An exception that is not ours (a bug in ``on_segment``) ends the turn like a barge-in:
    the server's buffer is dropped, the sink stopped, ``on_result`` sees the heard prefix;
    then the exception propagates."""
    sink = RecordingSink()
    results: list[TurnResult] = []
    cut: list[Segment] = []

    async def text() -> AsyncIterator[str]:
        yield "Hello there, this is the first sentence of the reply. "
        with anyio.fail_after(10):
            while sink.samples_played < 24000 * 0.8:  # "Hello there, " was heard
                await anyio.sleep(0.01)
        yield "And here comes a second one."

    def on_segment(segment: Segment) -> None:
        cut.append(segment)
        if len(cut) == 2:
            raise RuntimeError("a bug in on_segment")

    async with serve_emulator(EmulatorOptions(engine="exact")) as emu:
        turn = Turn(
            text(), sink, target=target(emu.url), on_segment=on_segment, on_result=results.append
        )
        with pytest.raises(ExceptionGroup) as caught:
            await turn.run()
    assert caught.group_contains(RuntimeError, match="a bug in on_segment")
    assert turn.interrupted and sink.stopped
    assert len(results) == 1 and results[0].interrupted
    assert assert_heard(results[0], [c for _, c in sink.chunks], "server_commit") >= 2
    assert results[0].spoken_text.startswith("Hello")
    assert turn.result is results[0]


async def test_cancelling_the_turn_scope_is_a_barge_in() -> None:
    async with serve_emulator(
        EmulatorOptions(engine="exact", latency=LatencyModel(rtf=1.0))
    ) as emu:
        sink = RecordingSink()
        turn = Turn(scripted(REPLY, rate=50), sink, target=target(emu.url))
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_later() -> None:
                    while sink.samples_played < 24000 * 0.8:  # "Sure, here is " was heard
                        await anyio.sleep(0.01)
                    scope.cancel()

                tg.start_soon(cancel_later)
                await turn.run()
    assert turn.result is not None and turn.result.interrupted
    assert turn.result.done_ms is not None
    assert assert_heard(turn.result, [c for _, c in sink.chunks], "server_commit") >= 2
    assert turn.result.spoken_text.startswith("Sure,")


async def test_interrupt_closes_the_text_source_at_once() -> None:
    closed: list[bool] = []

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                await anyio.sleep(0.01)
                yield "word "
        finally:
            closed.append(True)

    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        turn = Turn(endless(), NullSink(), target=target(emu.url))
        async with anyio.create_task_group() as tg:

            async def stop() -> None:
                await anyio.sleep(0.3)
                turn.interrupt()

            tg.start_soon(stop)
            result = await turn.run()
        assert closed == [True]  # closed by the turn, not later by the garbage collector
    assert result.interrupted


def heard_truth(chunks: Sequence[AudioChunk]) -> str:
    """Exactly the text the sink received, decoded from ``exact`` engine audio."""
    pcm = b"".join(c.data for c in chunks)
    return decode_speech(pcm, run_length=samples_per_char(24000)).text


def words_heard(truth: str, full: str) -> int:
    """How many whole words of ``full`` the decoded ``truth`` contains. White space is left
    out of the comparison: the server drops the spaces appended between segments."""
    heard = "".join(truth.split())
    assert "".join(full.split()).startswith(heard), f"{truth!r} was never sent"
    count = used = 0
    for word in full.split():
        used += len(word)
        if used > len(heard):
            # Whole once its letters were heard: its trailing punctuation is silent.
            count += used - (len(word) - len(word.rstrip(".,!?"))) <= len(heard)
            break
        count += 1
    return count


def assert_heard(result: TurnResult, chunks: Sequence[AudioChunk], mode: str) -> int:
    """``result.spoken_text`` against the text decoded from the ``exact`` audio the sink
    received: exact to the word in ``commit`` mode, never more and at most one word less in
    ``server_commit`` mode. Returns how many words were heard."""
    words = result.text.split()
    heard = words_heard(heard_truth(chunks), result.text)
    spoken = result.spoken_text.rstrip(".,!?")
    exact = " ".join(words[:heard]).rstrip(".,!?")
    if mode == "commit":
        assert spoken == exact
    else:
        assert spoken in (exact, " ".join(words[: heard - 1]).rstrip(".,!?"))
    assert result.text.startswith(result.spoken_text)
    return heard


@pytest.mark.parametrize("mode", ["commit", "server_commit"])
@pytest.mark.parametrize("stop_at", [0.9, 1.7, 2.6])
async def test_barge_in_heard_text_matches_the_decoded_audio(stop_at: float, mode: str) -> None:
    """The exact engine tells what the sink received; the spoken history is that text cut
    back to a whole word, not a character more or a word less."""
    text = "One short sentence. Another one follows here. And a third."
    paced = LatencyModel(rtf=1.0, delta_ms=50)  # the sink receives audio as it would play
    async with serve_emulator(EmulatorOptions(engine="exact", latency=paced)) as emu:
        sink = RecordingSink()
        turn = Turn(scripted(text, rate=200), sink, target=target(emu.url, mode=mode))
        async with anyio.create_task_group() as tg:

            async def stop_later() -> None:
                while sink.samples_played < 24000 * stop_at:
                    await anyio.sleep(0.005)
                turn.interrupt()

            tg.start_soon(stop_later)
            result = await turn.run()
    assert result.interrupted
    truth = heard_truth([c for _, c in sink.chunks])
    words = text.split()
    heard = words_heard(truth, text)
    assert 0 < heard < len(words), "the barge-in came after the first word, before the end"
    # A word is heard once its letters are: its trailing (silent) punctuation may follow.
    spoken = result.spoken_text.rstrip(".,!?")
    if mode == "commit":  # exact
        assert spoken == " ".join(words[:heard]).rstrip(".,!?")
    else:  # never more than was heard, at most one word less
        assert spoken in (
            " ".join(words[:heard]).rstrip(".,!?"),
            " ".join(words[: heard - 1]).rstrip(".,!?"),
        )


async def test_a_tts_that_stalls_mid_response_is_a_drop_and_the_turn_recovers() -> None:
    """The first connection goes quiet mid-response: after the stall bound (default 3 s,
    whatever the idle bound) the turn reconnects, re-sends what was not spoken and ends with
    the whole reply heard. The 60 s guard only fails if the stall bound is not used."""
    faults = Faults(stall_after_deltas=3, connections=1)
    patient = Timeouts(connect=5, update=5, first_audio=60, idle=600, close=1)
    options = PipelineOptions(reconnect=ReconnectPolicy(attempts=1, delay=0))
    async with serve_emulator(EmulatorOptions(engine="exact", faults=faults)) as emu:
        sink = RecordingSink()
        tts = TTSTarget(url=emu.url, timeouts=patient)
        with anyio.fail_after(60):
            result = await Turn(scripted(REPLY, rate=200), sink, target=tts, options=options).run()
        assert emu.connections == 2
    assert result.error is None and result.reconnects == 1
    truth = "".join(heard_truth([c for _, c in sink.chunks]).split())
    sent = "".join(REPLY.split())
    # Nothing lost; the segment cut by the stall may be heard again from its start.
    assert truth.endswith(sent[-40:]) and len(truth) >= len(sent)
    first = result.segments[0].text
    assert truth.count("".join(first.split())) <= 2
    assert result.spoken_text == result.text == REPLY


class _SilentFor:
    """The ``exact`` engine, silent for one text (as a voice may say nothing for a lone "…"):
    that text's response has no audio at all."""

    name = "exact"

    def __init__(self, silent: str | None) -> None:
        self._exact = ExactSynthesizer()
        self._silent = silent  # None: silent for every text

    def synthesize(self, text: str, **options: Any) -> bytes:
        if self._silent is None or text.strip() == self._silent:
            return b""
        return self._exact.synthesize(text, **options)


class _FirstResponseOnly(RecordingSink):
    """Plays only the first response's audio; at the first chunk of another response (its
    audio received, none of it played) the listener barges in."""

    def __init__(self) -> None:
        super().__init__()
        self.turn: Turn | None = None

    async def write(self, chunk: AudioChunk) -> None:
        first = self.chunks[0][1].response_id if self.chunks else chunk.response_id
        self.chunks.append((anyio.current_time(), chunk))
        if chunk.response_id == first:
            self.samples_played += chunk.samples
        elif self.turn is not None:
            self.turn.interrupt()


@pytest.mark.parametrize("mode", ["commit", "server_commit"])
async def test_a_response_without_audio_is_not_counted_as_heard(mode: str) -> None:
    """The second sentence gets a response with no audio; the listener heard "One two three."
    and none of the next response's audio: the history must not claim the silent sentence."""
    text = "One two three. Let me think about that. Four five six."
    async with serve_emulator(
        EmulatorOptions(engine="exact"), synthesizer=_SilentFor("Let me think about that.")
    ) as emu:
        sink = _FirstResponseOnly()
        turn = Turn(scripted(text, rate=400), sink, target=target(emu.url, mode=mode))
        sink.turn = turn
        result = await turn.run()
    played = [c for _, c in sink.chunks if c.response_id == sink.chunks[0][1].response_id]
    assert result.interrupted and heard_truth(played).strip() == "One two three."
    assert [s.text for s in result.segments][:2] == ["One two three.", "Let me think about that."]
    assert len({c.response_id for _, c in sink.chunks}) == 2  # "Hmm." sent no audio
    assert result.spoken_text == "One two three."
    assert_heard(result, played, mode)


@pytest.mark.parametrize("mode", ["commit", "server_commit"])
@pytest.mark.parametrize("silent", ["Four five six.", None])
async def test_a_turn_played_to_its_end_has_not_heard_text_without_audio(
    mode: str, silent: str | None
) -> None:
    """Not interrupted, all the audio played, but the last sentence (or every one) got no
    audio: the history does not claim it."""
    text = "One two three. Let me think about that. Four five six."
    options = EmulatorOptions(engine="exact")
    async with serve_emulator(options, synthesizer=_SilentFor(silent)) as emu:
        sink = RecordingSink()
        result = await Turn(scripted(text, rate=400), sink, target=target(emu.url, mode=mode)).run()
    assert not result.interrupted and result.error is None
    truth = heard_truth([c for _, c in sink.chunks]).strip()
    if silent is None:
        assert truth == "" and result.spoken_text == "" and result.chars_heard == 0
    else:
        # (White space aside: the server drops the spaces appended between segments.)
        assert "".join(truth.split()) == "Onetwothree.Letmethinkaboutthat."
        assert result.spoken_text == "One two three. Let me think about that."
        assert_heard(result, [c for _, c in sink.chunks], mode)


async def test_the_tts_connection_waits_for_the_model_request_to_be_out() -> None:
    # Causal: the text source waits (bounded) for the TTS connection before telling that its
    # request is out; a turn that connected at once would have connected by then.
    sent = anyio.Event()
    connected = anyio.Event()
    seen: list[bool] = []

    async def model() -> AsyncIterator[str]:
        with anyio.move_on_after(0.5):
            await connected.wait()
        seen.append(connected.is_set())
        sent.set()
        yield "Hello there."

    async def speaker(peer: Peer) -> None:
        connected.set()
        await peer.recv()  # session.update
        await peer.send(peer.wire.event("session.updated", session={}))
        while (await peer.recv())["type"] != "session.finish":
            pass
        await peer.respond(b"\x00\x00" * 2400)
        await peer.finished()

    async with scripted_tts(speaker) as url:
        result = await Turn(model(), NullSink(), target=target(url), request_sent=sent).run()
    assert seen == [False] and connected.is_set()
    assert result.error is None and result.text == "Hello there."


async def test_a_source_that_never_tells_is_spoken_from_its_first_delta() -> None:
    # More deltas than the stages between the reader and the TTS hold: a turn that waited
    # for the source's end would never get there.
    words = ["Yes"] + [" and"] * 150 + ["."]

    async def model() -> AsyncIterator[str]:
        for word in words:
            yield word

    never = anyio.Event()
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        with anyio.fail_after(20):
            result = await Turn(
                model(), NullSink(), target=target(emu.url), request_sent=never
            ).run()
    assert result.error is None and result.text == "".join(words)
    assert never.is_set()
