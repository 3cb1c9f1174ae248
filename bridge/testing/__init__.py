"""The test kit: stand-ins for the services bridge talks to, for bridge's tests and yours.

Everything runs on loopback, offline and without keys:

- ``serve_fake_llm`` / ``FakeReply`` / ``tokens_for``: a scripted OpenAI-compatible chat server
  (HTTP/1.1 on h11) that the real ``openai`` SDK talks to; a reply scripts its tokens, timing,
  reasoning, a tool call, raw bytes or an error event in the stream, a dropped connection or an
  HTTP error status. ``FakeLLM.requests`` holds what your app sent.
- ``serve_emulator`` / ``EmulatorOptions`` / ``Faults`` / ``LatencyModel``: the
  Qwen-TTS-Realtime-compatible emulator, with fault injection and a latency model.
- ``decode_speech`` / ``samples_per_char`` / ``heard_text``: the ``exact`` engine's decoder.
  With ``EmulatorOptions(engine="exact")`` every character becomes a run of samples that
  encodes it, so the audio your app received says exactly which text was played.

``bridge.testing.pytest_plugin`` (registered with pytest through the ``pytest11`` entry point)
offers them as fixtures: ``fake_llm``, ``bridge_emulator``, ``bridge_exact_emulator``,
``bridge_target`` and ``bridge_emulator_options``.
"""

from __future__ import annotations

from bridge.local import Emulator, EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.local.engines.exact import DecodedSpeech, decode_speech, samples_per_char
from bridge.testing.fake_llm import FakeLLM, FakeReply, serve_fake_llm, tokens_for

__all__ = [
    "DecodedSpeech",
    "Emulator",
    "EmulatorOptions",
    "FakeLLM",
    "FakeReply",
    "Faults",
    "LatencyModel",
    "decode_speech",
    "heard_text",
    "samples_per_char",
    "serve_emulator",
    "serve_fake_llm",
    "tokens_for",
]


def heard_text(pcm: bytes, *, sample_rate: int = 24000, speech_rate: float = 1.0) -> str:
    """The text that ``exact`` audio (s16le at ``sample_rate``) says, characters cut short left out.

    Raises ``ValueError`` for audio the ``exact`` engine did not make, so that a test cannot pass
    on the wrong engine's audio.
    """
    run = samples_per_char(sample_rate, speech_rate=speech_rate)
    return decode_speech(pcm, run_length=run).text
