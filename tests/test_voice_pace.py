"""The voice's pace learned over turns (``VoicePace``): sizing a barge-in's response when its
end cannot be waited for, in the first response of a later turn."""

from __future__ import annotations

import pytest

from bridge.adapters.sinks import NullSink
from bridge.core.heard import HeardTracker
from bridge.core.pace import PaceSums, VoicePace
from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.pipeline import PipelineOptions, Turn
from bridge.qwen import AudioChunk
from tests.test_pipeline import scripted, target

pytestmark = pytest.mark.anyio


def test_a_span_takes_the_slower_of_the_two_models() -> None:
    """Heard: 10 units in 0.6 s whose text was estimated at 1.8 s (a voice three times faster
    than the estimate, 60 ms a unit). A span of 10 units estimated at 0.65 s (Latin text) is
    sized by the 60 ms a unit (0.6 s, not 0.22); one estimated at 2.2 s (Korean) by the
    estimate scaled (0.73 s, not 0.6)."""
    sums = PaceSums().add(0.6, 10, 1.8)
    assert sums.seconds(10, 0.65) == pytest.approx(0.6)
    assert sums.seconds(10, 2.2) == pytest.approx(2.2 / 3)
    assert PaceSums().seconds(10, 0.65) == 0.65  # nothing heard: the estimate
    assert (sums + sums).seconds(10, 0.65) == pytest.approx(0.6)
    assert PaceSums().add(0, 1, 1) == PaceSums().add(1, 0, 1) == PaceSums().add(1, 1, 0)
    assert PaceSums().add(1, 1, 0) == PaceSums()


def test_the_sums_are_kept_per_model_and_voice() -> None:
    pace = VoicePace()
    assert pace.sums("m", "v") == PaceSums()
    pace.learn("m", "v", PaceSums().add(1.5, 10, 1.0))
    assert pace.sums("m", "v") == PaceSums(1.5, 10, 1.0)
    pace.learn("m", "v", PaceSums().add(0.5, 5, 0.5))
    assert pace.sums("m", "v") == PaceSums(2.0, 15, 1.5)
    assert pace.sums("m", "other") == PaceSums() and pace.sums("other", "v") == PaceSums()
    pace.learn("m", "x", PaceSums())  # a turn without audio teaches nothing
    assert pace.sums("m", "x") == PaceSums()


def test_older_turns_fade_out() -> None:
    """About the last two minutes of audio count: a voice that changed its pace (a new speech
    rate, a new model version) is followed, not averaged with all it ever did."""
    pace = VoicePace()
    for _ in range(60):  # ten minutes at twice the estimate
        pace.learn("m", "v", PaceSums().add(10.0, 100, 5.0))
    for _ in range(24):  # then two minutes at the estimate
        pace.learn("m", "v", PaceSums().add(5.0, 100, 5.0))
    sums = pace.sums("m", "v")
    assert sums.audio == pytest.approx(120.0)
    # All three sums fade alike: the audio per unit stays between the two paces given
    # (0.1 and 0.05 s a unit), nearer the recent one.
    assert 0.05 < sums.audio / sums.units < 0.075
    assert 1.0 < sums.audio / sums.estimated < 1.5  # all summed: 720 / 420 = 1.71


class _StopAt(NullSink):
    """Calls ``turn.interrupt()`` once ``stop`` samples have been written (played)."""

    def __init__(self, stop: int | None) -> None:
        super().__init__()
        self.turn: Turn | None = None
        self.chunks: list[AudioChunk] = []
        self._stop = stop

    async def write(self, chunk: AudioChunk) -> None:
        if self.stopped:
            return
        if self._stop is not None:
            chunk = AudioChunk(
                data=chunk.data[: 2 * max(0, self._stop - self.samples_played)],
                sample_rate=chunk.sample_rate,
                response_id=chunk.response_id,
            )
        self.chunks.append(chunk)
        await super().write(chunk)
        if self._stop is not None and self.samples_played >= self._stop and self.turn:
            self.turn.interrupt()


@pytest.mark.parametrize("learned", [True, False])
async def test_a_later_turn_sizes_its_first_response_by_the_voice_learned(learned: bool) -> None:
    """Turn 1 plays to its end; turn 2 is cut inside its first response, whose end has not
    arrived, with no wait for it (settle_timeout 0): the part heard is converted at a pace.
    The exact engine speaks 8% faster than the text estimate (60 against 65 ms a character):
    with the pace learned in turn 1 the history is exact to the word; with the estimate
    alone it is a word short here (never more than was heard)."""
    rate = 2.0
    run = samples_per_char(24000, speech_rate=rate)
    paced = LatencyModel(rtf=1.0, delta_ms=40)  # audio arrives as it plays: no end read ahead
    options = PipelineOptions(settle_timeout=0)
    second = "Seventeen quick brown foxes jumped over the lazy sleeping dogs today."
    heard = len("Seventeen quick brown foxes jumped ")  # and half a character more
    async with serve_emulator(EmulatorOptions(engine="exact", latency=paced)) as emu:
        tts = target(emu.url, mode="commit", speech_rate=rate)
        pace = VoicePace()
        first = await Turn(
            scripted("One two three four five six.", rate=200),
            NullSink(),
            target=tts,
            pace=pace,
            options=options,
        ).run()
        assert not first.interrupted
        sink = _StopAt(heard * run + run // 2)
        turn = Turn(
            scripted(second, rate=200),
            sink,
            target=tts,
            pace=pace if learned else None,
            options=options,
        )
        sink.turn = turn
        result = await turn.run()
    assert result.interrupted
    sums = pace.sums(tts.model, tts.config.voice)
    assert sums.audio / sums.estimated == pytest.approx(60 / 65, abs=0.02)
    decoded = decode_speech(b"".join(c.data for c in sink.chunks), run_length=run).text
    assert decoded == second[:heard]  # what the listener heard, to the character
    if learned:
        assert result.spoken_text == "Seventeen quick brown foxes jumped"
    else:  # 35.5 characters at 65 ms are 32.8 at 60: "jumped" is not claimed
        assert result.spoken_text == "Seventeen quick brown foxes"


def test_a_span_is_estimated_from_the_characters_whose_units_it_holds() -> None:
    """Every character whose billable units lie in the span counts at its own script's
    rate; units not covered by a character (the space sent after a segment, or a part of a
    character) count as spaces. Korean syllables (wide, one unit) make each edge show."""
    t = HeardTracker()
    t.appended("a가")  # units 0-2
    t.appended("나b", "나b ")  # units 2-5
    latin, wide = 0.065, 0.22
    assert t._span_seconds(0, 1) == pytest.approx(latin)  # "a", not the syllable after it
    assert t._span_seconds(1, 2) == pytest.approx(wide)  # "가", its unit ends the span
    assert t._span_seconds(1, 3) == pytest.approx(2 * wide)  # "가" and "나", across segments
    assert t._span_seconds(2, 5) == pytest.approx(wide + 2 * latin)  # "나b" and the space
    assert t._span_seconds(0, 5) == pytest.approx(2 * latin + 2 * wide + latin)


def test_the_pace_learned_at_one_speech_rate_holds_at_another() -> None:
    """Learned at speech rate 1 (60 ms a character), used at rate 2: 30 ms a character. The
    per-unit model is kept at rate 1 too, so it does not claim the old, slower pace."""
    learned = HeardTracker(commit_mode=True, speech_rate=1.0)
    learned.appended("Hello there.", "Hello there. ")
    learned.response_started("a")
    learned.audio("a", 13 * 60)
    learned.response_done("a", None)
    pace = VoicePace()
    pace.learn("m", "v", learned.pace_sums(1000))
    text = "Three four five six."
    t = HeardTracker(commit_mode=True, speech_rate=2.0, prior=pace.sums("m", "v"))
    t.appended(text, text + " ")
    t.response_started("b")
    t.audio("b", 21 * 30)
    assert t.heard_text(int(10.5 * 30), 1000) == "Three four"
    assert t.heard_text(int(9.5 * 30), 1000) == "Three"


@pytest.mark.parametrize("shared", [True, False])
async def test_a_new_session_of_the_server_starts_from_the_pace_other_sessions_learned(
    shared: bool,
) -> None:
    """One ``bridge serve`` process: session 1 hears a reply to its end; session 2 cancels
    inside its first response, with no wait for that response's end (settle_timeout 0), and
    acknowledged 35.5 characters. The server's pace (all sessions') sizes it exactly to the
    word; a pace of the session's own (``shared=False``: what it was before) is the text
    estimate, a word short."""
    from _serve import RATE, client, running

    from bridge.server import ServerOptions
    from bridge.testing.fake_llm import FakeReply, tokens_for

    second = "Seventeen quick brown foxes jumped over the lazy sleeping dogs today."
    heard = len("Seventeen quick brown foxes jumped ")
    run = samples_per_char(RATE)
    replies = [FakeReply(tokens_for("One two three four five six.")), FakeReply(tokens_for(second))]
    options = ServerOptions(port=0, audio_lead=None, pipeline=PipelineOptions(settle_timeout=0))
    paced = LatencyModel(rtf=1.0, delta_ms=40)  # audio arrives as it plays: no end read ahead
    async with running(
        replies, engine="exact", mode="commit", latency=paced, options=options
    ) as stack:
        async with client(stack.url) as c:
            await c.send(type="user.message", text="Count.")
            done = await c.until("response.done")
            assert not done["result"]["interrupted"]
        backend = stack.server.backend
        learned = backend.pace.sums(backend.tts.model, backend.tts.config.voice)
        assert learned.audio / learned.estimated == pytest.approx(60 / 65, abs=0.02)
        if not shared:  # the next session starts from nothing, as when each had its own
            object.__setattr__(backend, "pace", VoicePace())
        async with client(stack.url) as c:
            await c.send(type="user.message", text="Tell me.")
            rid = (await c.until("response.started"))["response_id"]
            got = 0
            while got < heard * run + run // 2:
                frame = await c.recv()
                if isinstance(frame, bytes):
                    got += len(frame) // 2
            await c.send(type="playback.ack", response_id=rid, samples=heard * run + run // 2)
            await c.send(type="response.cancel")
            done = await c.until("response.done", response_id=rid)
    assert done["result"]["interrupted"]
    assert done["result"]["spoken_text"] == (
        "Seventeen quick brown foxes jumped" if shared else "Seventeen quick brown foxes"
    )
