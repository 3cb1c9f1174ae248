"""The voice's pace learned over turns (``VoicePace``): sizing a barge-in's response when its
end cannot be waited for, in the first response of a later turn."""

from __future__ import annotations

import pytest

from bridge.adapters.sinks import NullSink
from bridge.core.heard import VoicePace
from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.pipeline import PipelineOptions, Turn
from bridge.qwen import AudioChunk
from tests.test_pipeline import scripted, target

pytestmark = pytest.mark.anyio


def test_the_factor_is_audio_over_estimate_per_model_and_voice() -> None:
    pace = VoicePace()
    assert pace.factor("m", "v") is None
    pace.learn("m", "v", 6.0, 5.0)
    pace.learn("m", "v", 3.0, 2.5)
    assert pace.factor("m", "v") == pytest.approx(1.2)
    assert pace.factor("m", "other") is None and pace.factor("other", "v") is None
    pace.learn("m", "v", 0.0, 1.0)  # a turn without audio teaches nothing
    pace.learn("m", "v", 1.0, 0.0)
    assert pace.factor("m", "v") == pytest.approx(1.2)


def test_older_turns_fade_out() -> None:
    """About the last two minutes of audio count: a voice that changed its pace (a new speech
    rate, a new model version) is followed, not averaged with all it ever did."""
    pace = VoicePace()
    pace.learn("m", "v", 600.0, 300.0)  # ten minutes at twice the estimate
    pace.learn("m", "v", 120.0, 120.0)  # then two minutes at the estimate
    factor = pace.factor("m", "v")
    assert factor is not None and 1.0 < factor < 1.6  # all summed: 720 / 420 = 1.71


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
    factor = pace.factor(tts.model, tts.config.voice)
    assert factor == pytest.approx(60 / 65, abs=0.02)
    decoded = decode_speech(b"".join(c.data for c in sink.chunks), run_length=run).text
    assert decoded == second[:heard]  # what the listener heard, to the character
    if learned:
        assert result.spoken_text == "Seventeen quick brown foxes jumped"
    else:  # 35.5 characters at 65 ms are 32.8 at 60: "jumped" is not claimed
        assert result.spoken_text == "Seventeen quick brown foxes"
