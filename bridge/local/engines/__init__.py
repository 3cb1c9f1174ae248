"""Speech engines of the local emulator: text in, PCM s16le mono out.

- ``espeak``: real speech from espeak-ng (the ``local`` extra), English, Mandarin and more;
- ``tone``: deterministic, dependency-free tones timed like speech, for fast tests;
- ``exact``: audio that encodes its text character by character, decoded by
  ``decode_speech``, for tests that must know exactly what was heard.

Importing this package loads nothing: its public names are resolved on first use (PEP 562),
and ``make_synthesizer`` imports only the engine it makes, so the emulator of ``bridge speak
--local`` (espeak) builds neither of the test engines. ``make_synthesizer("espeak")`` loads
espeak-ng.
"""

from __future__ import annotations

# Private aliases: every public name of this module is in __all__.
import typing as _typing

from bridge.core.lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from bridge.local.engines.base import ENGINE_NAMES, Synthesizer, make_synthesizer
    from bridge.local.engines.espeak import EspeakSynthesizer
    from bridge.local.engines.exact import DecodedSpeech, ExactSynthesizer, decode_speech
    from bridge.local.engines.options import SUPPORTED_SAMPLE_RATES
    from bridge.local.engines.tone import ToneSynthesizer

# Public name -> the module that defines it; imported by __getattr__ on first access.
_LAZY: dict[str, str] = {
    "ENGINE_NAMES": "bridge.local.engines.base",
    "SUPPORTED_SAMPLE_RATES": "bridge.local.engines.options",
    "DecodedSpeech": "bridge.local.engines.exact",
    "EspeakSynthesizer": "bridge.local.engines.espeak",
    "ExactSynthesizer": "bridge.local.engines.exact",
    "Synthesizer": "bridge.local.engines.base",
    "ToneSynthesizer": "bridge.local.engines.tone",
    "decode_speech": "bridge.local.engines.exact",
    "make_synthesizer": "bridge.local.engines.base",
}

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


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, globals(), __all__)
