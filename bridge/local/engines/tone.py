"""Deterministic, dependency-free "speech": soft tones whose timing follows the text.

For tests of many concurrent sessions, where what matters is that audio of a plausible length
arrives, not what it says. The same input gives byte-identical output on every run.

Timing (at ``speech_rate`` 1.0; everything is divided by ``speech_rate``):

- a letter or digit lasts ``ms_per_char`` (60 ms), a full-width one (CJK ideograph, kana,
  Hangul) ``ms_per_wide_char`` (180 ms);
- narrow letters and digits in a row form one word, one tone; every full-width letter is a
  syllable of its own, one tone each;
- a run of white space, and every punctuation mark or symbol, is a silence of one character
  (full-width punctuation: of one full-width character);
- non-empty text lasts at least ``min_ms`` (100 ms); empty or blank text gives ``b""``.

Sound: each word is a sine at ``base_hz * pitch_rate`` times one of four steps picked from its
letters, with a raised-cosine fade in and out of about 6 ms so that the seams do not click; its
amplitude is ``volume / 100`` of half full scale. ``language`` and ``voice`` are ignored.

Speed: frequencies are rounded so that one period is a whole number of samples; a word is
then ``fade_in + one_period * k + fade_out``, three cached byte strings joined at C speed.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from array import array
from dataclasses import dataclass, field
from typing import Final

from bridge.local.engines.options import check_options
from bridge.local.engines.resample import pcm16_from_samples
from bridge.local.engines.scripts import is_wide

__all__ = ["ToneSpan", "ToneSynthesizer", "plan_tones"]

_PITCH_STEPS: Final = (1.0, 1.125, 0.9, 1.2)
_FULL_AMPLITUDE: Final = 16000  # volume 100; volume 50 (normal) is a quarter of full scale
_FADE_SECONDS: Final = 0.006


@dataclass(frozen=True, slots=True)
class ToneSpan:
    """A stretch of the planned sound: ``ms`` long, a tone at ``step`` or silence (``None``)."""

    ms: int
    step: int | None


def plan_tones(
    text: str, *, ms_per_char: int = 60, ms_per_wide_char: int = 180
) -> tuple[ToneSpan, ...]:
    """The spans of tone and silence for ``text`` at speech rate 1.0 (see the module docstring)."""
    spans: list[ToneSpan] = []
    word_ms = 0
    word_key = 0

    def flush() -> None:
        nonlocal word_ms, word_key
        if word_ms:
            spans.append(ToneSpan(word_ms, word_key % len(_PITCH_STEPS)))
            word_ms = word_key = 0

    def pause(ms: int) -> None:
        flush()
        if spans and spans[-1].step is None:
            spans[-1] = ToneSpan(spans[-1].ms + ms, None)
        else:
            spans.append(ToneSpan(ms, None))

    previous_space = False
    for char in text.strip():
        if char.isspace():
            if not previous_space:
                pause(ms_per_char)
            previous_space = True
            continue
        previous_space = False
        wide = is_wide(char)
        if unicodedata.category(char)[0] not in "LNM":
            pause(ms_per_wide_char if wide else ms_per_char)
        elif wide:
            flush()
            spans.append(ToneSpan(ms_per_wide_char, ord(char) % len(_PITCH_STEPS)))
        else:
            word_ms += ms_per_char
            word_key += ord(char)
    flush()
    return tuple(spans)


@dataclass(frozen=True, slots=True)
class ToneSynthesizer:
    """The ``tone`` engine. Stateless and thread-safe; the waveform cache is a bounded
    ``functools.lru_cache`` of immutable byte strings."""

    base_hz: float = 300.0
    ms_per_char: int = 60
    ms_per_wide_char: int = 180
    min_ms: int = 100
    name: str = field(default="tone", init=False)

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
        spans = self.plan(text)
        if not spans:
            return b""
        amplitude = round(_FULL_AMPLITUDE * volume / 100)
        samples_per_ms = sample_rate / (1000.0 * speech_rate)
        pieces: list[bytes] = []
        elapsed_ms = 0
        position = 0
        for span in spans:
            elapsed_ms += span.ms
            end = round(elapsed_ms * samples_per_ms)
            count, position = end - position, end
            if span.step is None or amplitude == 0:
                pieces.append(bytes(2 * count))
                continue
            hz = self.base_hz * pitch_rate * _PITCH_STEPS[span.step]
            period = max(2, round(sample_rate / hz))
            fade_periods = max(1, round(_FADE_SECONDS * sample_rate / period))
            pieces.append(_word(count, period, fade_periods, amplitude))
        minimum = round(self.min_ms * sample_rate / 1000)
        if position < minimum:
            pieces.append(bytes(2 * (minimum - position)))
        return b"".join(pieces)

    def plan(self, text: str) -> tuple[ToneSpan, ...]:
        return plan_tones(
            text, ms_per_char=self.ms_per_char, ms_per_wide_char=self.ms_per_wide_char
        )

    def expected_samples(self, text: str, *, sample_rate: int, speech_rate: float = 1.0) -> int:
        """How many samples ``synthesize`` returns for ``text`` (0 for blank text)."""
        total_ms = sum(span.ms for span in self.plan(text))
        if total_ms == 0:
            return 0
        count = round(total_ms * sample_rate / (1000.0 * speech_rate))
        return max(count, round(self.min_ms * sample_rate / 1000))


def _word(count: int, period: int, fade_periods: int, amplitude: int) -> bytes:
    """``count`` samples: a faded tone of whole periods, then silence to fill up."""
    fade_in, one_period, fade_out = _tone_parts(period, fade_periods, amplitude)
    fade = fade_periods * period
    body_periods = (count - 2 * fade) // period
    if body_periods < 0:  # too short to fade in and out: only at rates beyond the valid range
        return bytes(2 * count)
    rest = count - 2 * fade - body_periods * period
    return b"".join((fade_in, one_period * body_periods, fade_out, bytes(2 * rest)))


@functools.lru_cache(maxsize=512)
def _tone_parts(period: int, fade_periods: int, amplitude: int) -> tuple[bytes, bytes, bytes]:
    """Fade-in, one steady period and fade-out of a sine, as s16le. Each starts at phase 0 and
    lasts whole periods, so they join without a discontinuity."""
    fade = fade_periods * period
    wave = [math.sin(2.0 * math.pi * i / period) for i in range(period)]
    rise = [0.5 * (1.0 - math.cos(math.pi * i / fade)) for i in range(fade)]  # 0 -> 1
    steady = array("h", (round(amplitude * w) for w in wave))
    up = array("h", (round(amplitude * wave[i % period] * rise[i]) for i in range(fade)))
    down = array("h", (round(amplitude * wave[i % period] * (1.0 - rise[i])) for i in range(fade)))
    return pcm16_from_samples(up), pcm16_from_samples(steady), pcm16_from_samples(down)
