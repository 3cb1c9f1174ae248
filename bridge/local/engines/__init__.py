"""Speech engines of the local emulator: text in, PCM s16le mono out.

- ``espeak``: real speech from espeak-ng (the ``local`` extra), English, Mandarin and more;
- ``tone``: deterministic, dependency-free tones timed like speech, for fast tests;
- ``exact``: audio that encodes its text character by character, decoded by
  ``decode_speech``, for tests that must know exactly what was heard.

Importing this package loads nothing; ``make_synthesizer("espeak")`` loads espeak-ng.
"""

from __future__ import annotations

from bridge.local.engines.base import ENGINE_NAMES, Synthesizer, make_synthesizer
from bridge.local.engines.espeak import EspeakSynthesizer
from bridge.local.engines.exact import DecodedSpeech, ExactSynthesizer, decode_speech
from bridge.local.engines.options import SUPPORTED_SAMPLE_RATES
from bridge.local.engines.tone import ToneSynthesizer

__all__ = [
    "ENGINE_NAMES",
    "SUPPORTED_SAMPLE_RATES",
    "DecodedSpeech",
    "EspeakSynthesizer",
    "ExactSynthesizer",
    "Synthesizer",
    "ToneSynthesizer",
    "decode_speech",
    "make_synthesizer",
]
