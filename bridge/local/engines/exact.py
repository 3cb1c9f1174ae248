"""The ``exact`` engine: "speech" that carries its own text, so tests know what was heard.

Each character of the text becomes one fixed-length run of samples that encodes its code
point; decoding the samples a sink or client received gives back, character by character,
exactly the text that was played. Tests then measure heard, lost, repeated and stale text
exactly instead of estimating it from durations.

A run lasts ``ms_per_char`` (60 ms, divided by ``speech_rate``), at least 3 samples:

- the first sample is ``MARK`` (32767), which no other sample takes, so a run cut short (a
  barge-in, a cancelled response) is recognised when the next run or the end of the audio
  comes early;
- then ``1 + (code_point >> 10)`` (1..1088) and ``-(1 + (code_point & 0x3FF))`` (-1..-1024)
  alternate to the end of the run.

The text is encoded as given, white space included; blank text gives ``b""`` as every engine
does. ``language``, ``voice``, ``pitch_rate`` and ``volume`` are checked but do not change
the samples (volume 0 would erase the text).
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass, field
from typing import Final

from bridge.local.engines.options import check_options
from bridge.local.engines.resample import pcm16_from_samples

__all__ = ["MARK", "DecodedSpeech", "ExactSynthesizer", "decode_speech", "samples_per_char"]

MARK: Final = 32767
_MIN_RUN: Final = 3


def samples_per_char(sample_rate: int, *, ms_per_char: int = 60, speech_rate: float = 1.0) -> int:
    """The length of one character's run at ``sample_rate`` and ``speech_rate``."""
    return max(_MIN_RUN, round(sample_rate * ms_per_char / 1000.0 / speech_rate))


def _run(code_point: int, length: int) -> array[int]:
    hi, lo = 1 + (code_point >> 10), -(1 + (code_point & 0x3FF))
    run = array("h", [MARK])
    run.extend(hi if i % 2 == 0 else lo for i in range(length - 1))
    return run


@dataclass(frozen=True, slots=True)
class ExactSynthesizer:
    """The ``exact`` engine. Stateless and thread-safe."""

    ms_per_char: int = 60
    name: str = field(default="exact", init=False)

    def synthesize(
        self,
        text: str,
        *,
        sample_rate: int,
        language: str | None = None,
        voice: str | None = None,
        speech_rate: float = 1.0,
        pitch_rate: float = 1.0,
        volume: int = 50,
    ) -> bytes:
        check_options(
            sample_rate=sample_rate, speech_rate=speech_rate, pitch_rate=pitch_rate, volume=volume
        )
        if not text.strip():
            return b""
        length = self.samples_per_char(sample_rate, speech_rate=speech_rate)
        samples: array[int] = array("h")
        for char in text:
            samples.extend(_run(ord(char), length))
        return pcm16_from_samples(samples)

    def samples_per_char(self, sample_rate: int, *, speech_rate: float = 1.0) -> int:
        return samples_per_char(sample_rate, ms_per_char=self.ms_per_char, speech_rate=speech_rate)


@dataclass(frozen=True, slots=True)
class DecodedSpeech:
    """What a stretch of ``exact`` audio says.

    ``text`` holds the characters whose runs arrived whole, in order; ``cut`` those whose
    runs were cut short (started but not finished: the character was not fully heard), with
    their position in ``text`` where they would have been.
    """

    text: str
    cut: tuple[tuple[int, str], ...] = ()


def decode_speech(pcm: bytes, *, run_length: int) -> DecodedSpeech:
    """Decode s16le audio made by ``ExactSynthesizer`` whose runs are ``run_length`` long.

    Raises ``ValueError`` for audio the engine did not make (a sample out of the code range,
    or a run whose samples disagree), so that a test cannot pass on foreign audio.
    """
    if run_length < _MIN_RUN:
        raise ValueError(f"run_length must be at least {_MIN_RUN}, got {run_length}")
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":  # pragma: no cover - big-endian hosts
        samples.byteswap()
    chars: list[str] = []
    cut: list[tuple[int, str]] = []
    i, n = 0, len(samples)
    while i < n:
        if samples[i] != MARK:
            raise ValueError(f"no character run starts at sample {i}")
        end = i + 1
        while end < n and samples[end] != MARK and end - i < run_length:
            end += 1
        run = samples[i:end]
        i = end
        if len(run) < _MIN_RUN:
            cut.append((len(chars), ""))
            continue
        hi, lo = run[1], run[2]
        if not (1 <= hi <= 1088 and -1024 <= lo <= -1):
            raise ValueError("a run does not carry a code point")
        if any(s != (hi if k % 2 == 0 else lo) for k, s in enumerate(run[1:])):
            raise ValueError("a run's samples disagree")
        char = chr(((hi - 1) << 10) | (-lo - 1))
        if len(run) == run_length:
            chars.append(char)
        else:
            cut.append((len(chars), char))
    return DecodedSpeech("".join(chars), tuple(cut))
