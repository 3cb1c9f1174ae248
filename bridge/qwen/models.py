"""Qwen-TTS Realtime models, their families and the system voices each accepts.

Facts come from Alibaba Model Studio's documentation as summarised in our protocol notes
(voice table of the realtime user guide, 2025-11 to 2026-05). Where the docs are silent we
decided, and say so next to the data.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bridge.qwen.regions import realtime_url, region_names

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "REGION_URLS",
    "ModelFamily",
    "ModelInfo",
    "VoiceInfo",
    "known_models",
    "model_info",
]

DEFAULT_MODEL = "qwen3-tts-flash-realtime"
DEFAULT_VOICE = "Cherry"

# Every region name (ids and aliases, see ``bridge.qwen.regions``) -> its shared realtime URL.
REGION_URLS: Mapping[str, str] = MappingProxyType(
    {name: realtime_url(name) for name in region_names()}
)


class ModelFamily(enum.Enum):
    """What a model accepts: the session parameters and voices differ per family."""

    FLASH = "flash"  # qwen3-tts-flash-realtime*
    INSTRUCT = "instruct"  # qwen3-tts-instruct-flash-realtime*: also takes instructions
    VOICE_CLONE = "vc"  # qwen3-tts-vc-realtime-*: cloned voice ids only
    VOICE_DESIGN = "vd"  # qwen3-tts-vd-realtime-*: designed voice ids only
    LEGACY = "legacy"  # qwen-tts-realtime*: Beijing only, pcm 24 kHz only, zh/en


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    name: str
    languages: str  # a short human description, e.g. "zh, en, fr, de, ..." or "Sichuanese"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    family: ModelFamily
    voices: tuple[VoiceInfo, ...]  # empty for families that take custom voice ids only
    # The names of ``voices``, made once (every session.update checks its voice against them).
    voice_names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "voice_names", tuple(v.name for v in self.voices))

    @property
    def takes_custom_voices(self) -> bool:
        return self.family in (ModelFamily.VOICE_CLONE, ModelFamily.VOICE_DESIGN)


_MULTI = "zh, en, fr, de, ru, it, es, pt, ja, ko"

_DIALECTS = {
    "Jada": "Shanghainese (zh), en",
    "Dylan": "Beijing dialect (zh), en",
    "Li": "Nanjing dialect (zh), en",
    "Marcus": "Shaanxi dialect (zh), en",
    "Roy": "Minnan (zh), en",
    "Peter": "Tianjin dialect (zh), en",
    "Sunny": "Sichuanese (zh), en",
    "Eric": "Sichuanese (zh), en",
    "Rocky": "Cantonese (zh), en",
    "Kiki": "Cantonese (zh), en",
}


def _voices(names: str) -> tuple[VoiceInfo, ...]:
    out = []
    for name in (n.strip() for n in names.split(",")):
        out.append(VoiceInfo(name, _DIALECTS.get(name, _MULTI)))
    return tuple(out)


_FLASH_49 = _voices(
    "Cherry, Serena, Ethan, Chelsie, Momo, Vivian, Moon, Maia, Kai, Nofish, Bella, Jennifer, "
    "Ryan, Katerina, Aiden, Eldric Sage, Mia, Mochi, Bellona, Vincent, Bunny, Neil, Elias, "
    "Arthur, Nini, Ebona, Seren, Pip, Stella, Bodega, Sonrisa, Alek, Dolce, Sohee, Ono Anna, "
    "Lenn, Emilien, Andre, Radio Gol, Jada, Dylan, Li, Marcus, Roy, Peter, Sunny, Eric, Rocky, "
    "Kiki"
)
_FLASH_17 = _voices(
    "Cherry, Ethan, Nofish, Jennifer, Ryan, Katerina, Elias, Jada, Dylan, Li, Marcus, Roy, "
    "Peter, Sunny, Eric, Rocky, Kiki"
)
# The instruct realtime voice list is not in the official docs we could read; this is the
# third-party list for the instruct family (unconfirmed for realtime).
_INSTRUCT_24 = _voices(
    "Cherry, Serena, Ethan, Chelsie, Momo, Vivian, Moon, Maia, Kai, Nofish, Bella, Eldric Sage, "
    "Mia, Mochi, Bellona, Vincent, Bunny, Neil, Elias, Arthur, Nini, Seren, Pip, Stella"
)
# The legacy table lists four voices; the English page says seven (unconfirmed): we accept the
# four plus the three the HTTP legacy model has.
_LEGACY = tuple(
    VoiceInfo(n, "zh, en")
    for n in ("Cherry", "Serena", "Ethan", "Chelsie", "Dylan", "Jada", "Sunny")
)

_MODELS: dict[str, ModelInfo] = {}


def _add(family: ModelFamily, voices: tuple[VoiceInfo, ...], *names: str) -> None:
    for name in names:
        _MODELS[name] = ModelInfo(name, family, voices)


_add(
    ModelFamily.FLASH, _FLASH_49, "qwen3-tts-flash-realtime", "qwen3-tts-flash-realtime-2025-11-27"
)
_add(ModelFamily.FLASH, _FLASH_17, "qwen3-tts-flash-realtime-2025-09-18")
_add(
    ModelFamily.INSTRUCT,
    _INSTRUCT_24,
    "qwen3-tts-instruct-flash-realtime",
    "qwen3-tts-instruct-flash-realtime-2026-01-22",
)
_add(
    ModelFamily.VOICE_CLONE,
    (),
    "qwen3-tts-vc-realtime-2026-01-15",
    "qwen3-tts-vc-realtime-2025-11-27",
)
_add(
    ModelFamily.VOICE_DESIGN,
    (),
    "qwen3-tts-vd-realtime-2026-01-15",
    "qwen3-tts-vd-realtime-2025-12-16",
)
_add(
    ModelFamily.LEGACY,
    _LEGACY,
    "qwen-tts-realtime",
    "qwen-tts-realtime-latest",
    "qwen-tts-realtime-2025-07-15",
)


def known_models() -> tuple[str, ...]:
    return tuple(_MODELS)


def model_info(model: str) -> ModelInfo | None:
    """The family and voices of ``model``, or ``None`` when we do not know the model.

    Unknown names are allowed through by the client (new snapshots appear often): only the
    parameters we know to be wrong for every model are rejected then.
    """
    found = _MODELS.get(model)
    if found is not None:
        return found
    # A dated snapshot we have not listed yet: infer the family from the name.
    for prefix, family in (
        ("qwen3-tts-instruct-flash-realtime", ModelFamily.INSTRUCT),
        ("qwen3-tts-flash-realtime", ModelFamily.FLASH),
        ("qwen3-tts-vc-realtime", ModelFamily.VOICE_CLONE),
        ("qwen3-tts-vd-realtime", ModelFamily.VOICE_DESIGN),
        ("qwen-tts-realtime", ModelFamily.LEGACY),
    ):
        if model.startswith(prefix):
            base = _MODELS[prefix if prefix in _MODELS else next(iter(_MODELS))]
            voices = base.voices if base.family is family else ()
            return ModelInfo(model, family, voices)
    return None
