"""The parameter ranges every synthesizer accepts, and one check for them (pure).

The ranges are the ones Qwen-TTS Realtime documents for ``session.update`` (the protocol layer
validates them too; the engines check again because they are also called directly).
"""

from __future__ import annotations

import math
from typing import Final

from bridge.core.errors import ConfigError

__all__ = [
    "PITCH_RATE_RANGE",
    "SPEECH_RATE_RANGE",
    "SUPPORTED_SAMPLE_RATES",
    "VOLUME_RANGE",
    "check_options",
]

SUPPORTED_SAMPLE_RATES: Final[tuple[int, ...]] = (8000, 16000, 24000, 48000)
SPEECH_RATE_RANGE: Final[tuple[float, float]] = (0.5, 2.0)
PITCH_RATE_RANGE: Final[tuple[float, float]] = (0.5, 2.0)
VOLUME_RANGE: Final[tuple[int, int]] = (0, 100)


def _check_number(name: str, value: float, bounds: tuple[float, float]) -> None:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}", field=name)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ConfigError(f"{name} must be in [{lo:g}, {hi:g}], got {value!r}", field=name)


def check_options(*, sample_rate: int, speech_rate: float, pitch_rate: float, volume: int) -> None:
    """Raise ``ConfigError`` (naming the field) unless every option is in its documented range."""
    if isinstance(sample_rate, bool) or sample_rate not in SUPPORTED_SAMPLE_RATES:
        allowed = ", ".join(str(r) for r in SUPPORTED_SAMPLE_RATES)
        raise ConfigError(
            f"unsupported sample_rate {sample_rate!r}: choose one of {allowed}",
            field="sample_rate",
        )
    _check_number("speech_rate", speech_rate, SPEECH_RATE_RANGE)
    _check_number("pitch_rate", pitch_rate, PITCH_RATE_RANGE)
    if isinstance(volume, bool) or not isinstance(volume, int):
        raise ConfigError(f"volume must be an integer in [0, 100], got {volume!r}", field="volume")
    _check_number("volume", volume, VOLUME_RANGE)
