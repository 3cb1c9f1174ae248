"""The OpenAI-compatible speech request (``POST /v1/audio/speech``) as pure code: parse and check
the JSON body, map OpenAI's voice names, build OpenAI-shaped errors and the streamed WAV header.

Fields (OpenAI's names):

- ``model`` (required): OpenAI's speech models (``tts-1``, ``tts-1-hd``, ``gpt-4o-mini-tts``,
  dated ``gpt-4o-mini-tts-...``) stand for the server's own Qwen model; the server's model name
  is accepted as itself; anything else is a 400 naming what is accepted;
- ``input`` (required): the text, at most ``max_chars`` characters, sanitised like all text
  from clients;
- ``voice`` (required): a voice the server's model offers (``session.ready``'s ``voices``),
  or an OpenAI voice name, mapped by ``OPENAI_VOICES`` (when the model does not offer the
  mapped voice, the server's default voice);
- ``response_format``: ``pcm`` (raw s16le mono at 24 kHz, as OpenAI's) or ``wav`` (the same
  behind a 44-byte header whose sizes are unknown while streaming: both set to the maximum);
  ``mp3``, ``opus``, ``aac``, ``flac`` and anything else are a 400. Default ``wav`` (OpenAI's
  default, ``mp3``, is not produced);
- ``speed``: 0.5 to 2.0, Qwen's ``speech_rate`` (OpenAI allows 0.25 to 4.0; outside Qwen's
  range is a 400, as is any speed but 1.0 for a model without ``speech_rate``);
- ``instructions``: a style instruction, for Qwen's instruct models only (others: a 400 when
  not empty);
- ``stream_format``: ``audio`` (the default) only; ``sse`` is a 400.

Unknown fields are ignored, like OpenAI's optional ones this server does not use.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from bridge.core.sanitize import sanitize
from bridge.core.wav import wav_header

__all__ = [
    "OPENAI_MODELS",
    "OPENAI_VOICES",
    "SPEECH_PATH",
    "SPEECH_SAMPLE_RATE",
    "SpeechError",
    "SpeechRequest",
    "error_body",
    "parse_speech_request",
    "streaming_wav_header",
]

SPEECH_PATH = "/v1/audio/speech"
SPEECH_SAMPLE_RATE = 24000  # OpenAI's pcm is 24 kHz s16le mono; wav the same
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
FORMATS = ("pcm", "wav")
_OPENAI_FORMATS = ("mp3", "opus", "aac", "flac")
_MAX_VOICE = 64
_MAX_INSTRUCTIONS = 4000  # Qwen's own limit (1600 tokens) is checked by the session config

# OpenAI's voice names -> a Qwen system voice of a similar kind (our choice; documented in the
# README). Every target is one of the flash models' voices.
OPENAI_VOICES: Mapping[str, str] = MappingProxyType(
    {
        "alloy": "Cherry",
        "ash": "Ryan",
        "ballad": "Aiden",
        "coral": "Maia",
        "echo": "Ethan",
        "fable": "Elias",
        "onyx": "Eldric Sage",
        "nova": "Serena",
        "sage": "Katerina",
        "shimmer": "Jennifer",
        "verse": "Kai",
        "marin": "Vivian",
        "cedar": "Moon",
    }
)


class SpeechError(Exception):
    """A request answered with an error: the HTTP status and OpenAI's error fields.

    ``message`` is sent as it is, so it is always written here (never an exception's text)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def body(self) -> bytes:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> bytes:
    """OpenAI's error JSON: ``{"error": {"message", "type", "param", "code"}}``."""
    error = {"message": message, "type": type, "param": param, "code": code}
    return json.dumps({"error": error}).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechRequest:
    """A checked speech request: the Qwen voice, the text, and how to answer."""

    input: str
    voice: str
    response_format: Literal["pcm", "wav"]
    speed: float | None
    instructions: str | None

    @property
    def content_type(self) -> str:
        return "audio/wav" if self.response_format == "wav" else "audio/pcm"


def _bad(message: str, param: str, code: str = "invalid_value") -> SpeechError:
    return SpeechError(400, message, param=param, code=code)


def _string(obj: Mapping[str, Any], name: str, *, required: bool, max_len: int) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _bad(f"'{name}' is required", name, "missing_required_parameter")
        return None
    if not isinstance(value, str):
        raise _bad(f"'{name}' must be a string", name)
    value = sanitize(value)
    if len(value) > max_len:
        raise _bad(f"'{name}' is limited to {max_len} characters", name, "string_above_max_length")
    return value


def _model(obj: Mapping[str, Any], server_model: str) -> None:
    model = _string(obj, "model", required=True, max_len=_MAX_VOICE)
    assert model is not None
    if model == server_model or model in OPENAI_MODELS or model.startswith("gpt-4o-mini-tts-"):
        return
    accepted = ", ".join((*OPENAI_MODELS, server_model))
    raise SpeechError(
        400,
        f"unknown model; this server speaks with {server_model}: use one of {accepted}",
        param="model",
        code="model_not_found",
    )


def _voice(obj: Mapping[str, Any], voices: Sequence[str], default_voice: str) -> str:
    name = _string(obj, "voice", required=True, max_len=_MAX_VOICE)
    assert name is not None
    if name in voices:
        return name
    mapped = OPENAI_VOICES.get(name.strip().lower())
    if mapped is not None:
        return mapped if mapped in voices else default_voice
    shown = ", ".join([*voices[:12], "..."] if len(voices) > 12 else voices)
    raise _bad(
        f"unknown voice; use one of this model's voices ({shown}) or an OpenAI voice name "
        f"({', '.join(OPENAI_VOICES)})",
        "voice",
    )


def _format(obj: Mapping[str, Any]) -> Literal["pcm", "wav"]:
    value = obj.get("response_format", "wav")
    if value == "pcm":
        return "pcm"
    if value == "wav":
        return "wav"
    if value in _OPENAI_FORMATS:
        message = f"response_format {value} is not produced by this server; use pcm or wav"
    else:
        message = "response_format must be pcm or wav"
    raise _bad(message, "response_format")


def _speed(obj: Mapping[str, Any], has_speech_rate: bool) -> float | None:
    value = obj.get("speed")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad("'speed' must be a number", "speed")
    speed = float(value)
    if speed == 1.0:
        return None
    if not has_speech_rate:
        raise _bad("this speech model has no speed setting; send 1.0 or omit it", "speed")
    if not 0.5 <= speed <= 2.0:
        raise _bad("'speed' must be between 0.5 and 2.0 for Qwen speech", "speed")
    return speed


def parse_speech_request(
    body: bytes,
    *,
    server_model: str,
    voices: Sequence[str],
    default_voice: str,
    has_speech_rate: bool,
    max_chars: int,
) -> SpeechRequest:
    """Check a request body; raise ``SpeechError`` (400) saying which field is wrong."""
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        raise SpeechError(400, "the request body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise SpeechError(400, "the request body must be a JSON object")
    _model(obj, server_model)
    text = _string(obj, "input", required=True, max_len=max_chars)
    assert text is not None
    if not text.strip():
        raise _bad("'input' must not be empty", "input")
    voice = _voice(obj, voices, default_voice)
    response_format = _format(obj)
    stream_format = obj.get("stream_format", "audio")
    if stream_format != "audio":
        raise _bad("stream_format must be audio (sse is not produced)", "stream_format")
    speed = _speed(obj, has_speech_rate)
    instructions = _string(obj, "instructions", required=False, max_len=_MAX_INSTRUCTIONS)
    return SpeechRequest(
        input=text,
        voice=voice,
        response_format=response_format,
        speed=speed,
        instructions=instructions or None,
    )


def streaming_wav_header(sample_rate: int = SPEECH_SAMPLE_RATE) -> bytes:
    """A WAV header for audio of unknown length (RIFF and data sizes at their maximum)."""
    return wav_header(0xFFFFFFFF - 36, sample_rate)
