"""Session parameters of Qwen-TTS Realtime and their validation per model family.

Pure: no I/O. ``SessionConfig.validate(model)`` raises ``ConfigError`` naming the field and the
allowed values before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from bridge.core.errors import ConfigError
from bridge.qwen.models import DEFAULT_VOICE, ModelFamily, model_info

__all__ = [
    "LANGUAGE_TYPES",
    "MODES",
    "RESPONSE_FORMATS",
    "SAMPLE_RATES",
    "Mode",
    "SessionConfig",
    "validate_session_dict",
]

Mode = Literal["server_commit", "commit"]

MODES: tuple[str, ...] = ("server_commit", "commit")
LANGUAGE_TYPES: tuple[str, ...] = (
    "Auto",
    "Chinese",
    "English",
    "German",
    "Italian",
    "Portuguese",
    "Spanish",
    "Japanese",
    "Korean",
    "French",
    "Russian",
)
RESPONSE_FORMATS: tuple[str, ...] = ("pcm", "wav", "mp3", "opus")
SAMPLE_RATES: tuple[int, ...] = (8000, 16000, 24000, 48000)
# Instructions are limited to 1600 tokens; we do not tokenize, so we bound characters at a
# generous 4 characters per token and let the server have the last word.
_MAX_INSTRUCTION_CHARS = 6400


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """The ``session`` object of ``session.update``. ``None`` means "leave the server default".

    ``extra`` is merged last into the sent object: an escape hatch for parameters newer than
    this library (as the vendor SDK's ``**kwargs``).
    """

    voice: str = DEFAULT_VOICE
    mode: Mode = "server_commit"
    language_type: str | None = None
    response_format: str = "pcm"
    sample_rate: int = 24000
    speech_rate: float | None = None
    volume: int | None = None
    pitch_rate: float | None = None
    bit_rate: int | None = None
    instructions: str | None = None
    optimize_instructions: bool | None = None
    enable_tn: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_session(self) -> dict[str, Any]:
        """The JSON object sent as ``session``: only fields that are set."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        out.update(self.extra)
        return out

    def with_changes(self, **changes: Any) -> SessionConfig:
        return replace(self, **changes)

    def validate(self, model: str) -> SessionConfig:
        """Check every field for ``model``; return ``self`` or raise ``ConfigError``."""
        validate_session_dict(self.to_session(), model)
        return self


def _fail(name: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"invalid session.{name} {value!r}: allowed {allowed}", field=name)


def _check_range(
    session: Mapping[str, Any], name: str, lo: float, hi: float, *, integer: bool
) -> None:
    if name not in session:
        return
    value = session[name]
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        raise _fail(name, value, f"{kind} in [{lo:g}, {hi:g}]")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise _fail(name, value, f"{kind} in [{lo:g}, {hi:g}]")


def validate_session_dict(session: Mapping[str, Any], model: str) -> None:
    """Validate a ``session`` object (as sent in ``session.update``) for ``model``.

    Used by the client before sending and by the local emulator on receipt, so both sides
    agree. Unknown keys are allowed (the protocol grows); known keys are checked.
    """
    info = model_info(model)
    family = info.family if info is not None else None
    legacy = family is ModelFamily.LEGACY

    if "voice" in session:
        voice = session["voice"]
        if not isinstance(voice, str) or not voice.strip():
            raise _fail("voice", voice, "a non-empty voice name")
        if info is not None and info.voices and voice not in info.voice_names:
            shown = ", ".join(info.voice_names[:12])
            more = f" and {len(info.voices) - 12} more" if len(info.voices) > 12 else ""
            raise ConfigError(
                f"voice {voice!r} is not available for model {model}: choose one of "
                f"{shown}{more} (names are case-sensitive)",
                field="voice",
            )
    if "mode" in session and session["mode"] not in MODES:
        raise _fail("mode", session["mode"], " or ".join(MODES))
    if "language_type" in session:
        lang = session["language_type"]
        allowed_langs = ("Auto", "Chinese", "English") if legacy else LANGUAGE_TYPES
        if lang not in allowed_langs:
            raise _fail("language_type", lang, ", ".join(allowed_langs))
    if "response_format" in session:
        allowed_formats = ("pcm",) if legacy else RESPONSE_FORMATS
        if session["response_format"] not in allowed_formats:
            raise _fail("response_format", session["response_format"], ", ".join(allowed_formats))
    if "sample_rate" in session:
        allowed_rates = (24000,) if legacy else SAMPLE_RATES
        rate = session["sample_rate"]
        if isinstance(rate, bool) or rate not in allowed_rates:
            raise _fail("sample_rate", rate, ", ".join(str(r) for r in allowed_rates))
    tuning = ("speech_rate", "volume", "pitch_rate", "bit_rate")
    if legacy:
        for name in tuning:
            if name in session:
                raise ConfigError(
                    f"session.{name} is not supported by the legacy model {model}; "
                    "use a qwen3-tts realtime model",
                    field=name,
                )
    _check_range(session, "speech_rate", 0.5, 2.0, integer=False)
    _check_range(session, "pitch_rate", 0.5, 2.0, integer=False)
    _check_range(session, "volume", 0, 100, integer=True)
    _check_range(session, "bit_rate", 6, 510, integer=True)
    if "instructions" in session:
        text = session["instructions"]
        if not isinstance(text, str) or len(text) > _MAX_INSTRUCTION_CHARS:
            raise _fail("instructions", "…", f"a string of at most {_MAX_INSTRUCTION_CHARS} chars")
        # The vendor's own example sends ``"instructions": ""`` (and
        # ``"optimize_instructions": false``) for a flash model: an empty or default value
        # asks for nothing. Only a real instruction to a model that cannot follow it is wrong.
        if text.strip() and info is not None and family is not ModelFamily.INSTRUCT:
            raise ConfigError(
                "session.instructions is only accepted by the instruct models "
                f"(qwen3-tts-instruct-flash-realtime), not {model}; leave it empty or unset",
                field="instructions",
            )
    for name in ("optimize_instructions", "enable_tn"):
        if name in session and not isinstance(session[name], bool):
            raise _fail(name, session[name], "true or false")
