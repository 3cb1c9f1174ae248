"""Speech engines of the local emulator: text in, PCM s16le mono out.

- ``espeak``: real speech from espeak-ng (the ``local`` extra), English, Mandarin and more;
- ``tone``: deterministic, dependency-free tones timed like speech, for fast tests.

Importing this package loads nothing; ``make_synthesizer("espeak")`` loads espeak-ng.
"""

from __future__ import annotations

from bridge.local.engines.base import ENGINE_NAMES, Synthesizer, make_synthesizer
from bridge.local.engines.espeak import EspeakSynthesizer
from bridge.local.engines.options import SUPPORTED_SAMPLE_RATES
from bridge.local.engines.tone import ToneSynthesizer

__all__ = [
    "ENGINE_NAMES",
    "SUPPORTED_SAMPLE_RATES",
    "EspeakSynthesizer",
    "Synthesizer",
    "ToneSynthesizer",
    "make_synthesizer",
]
