"""Typed server events of Qwen-TTS Realtime, and the parser from JSON into them.

Pure: no I/O. ``parse_server_event`` turns any text frame into a frozen dataclass; an unknown
``type`` becomes ``UnknownEvent`` (kept, never dropped); something that is not a JSON object
with a string ``type`` raises ``TTSProtocolError``. Field access is defensive: the docs show
some fields only in some versions, so missing optional fields get neutral defaults.

The parse is in two steps for the client's fast audio path: ``parse_frame`` (JSON, checked to
be an object with a ``type``) and ``event_from_object``; ``delta_audio`` decodes an audio
delta's base64 alone, without building a ``ResponseAudioDelta``. JSON and base64 go through
``bridge.core.codec`` (orjson and pybase64 when installed).
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.core.codec import b64decode, loads
from bridge.core.errors import TTSProtocolError, TTSServerError

__all__ = [
    "AUDIO_DELTA",
    "AUDIO_DONE",
    "BUFFER_CLEARED",
    "BUFFER_COMMITTED",
    "CONTENT_PART_ADDED",
    "CONTENT_PART_DONE",
    "ERROR",
    "OUTPUT_ITEM_ADDED",
    "OUTPUT_ITEM_DONE",
    "RESPONSE_CREATED",
    "RESPONSE_DONE",
    "SERVER_EVENT_TYPES",
    "SESSION_CREATED",
    "SESSION_FINISHED",
    "SESSION_UPDATED",
    "ErrorEvent",
    "InputTextBufferCleared",
    "InputTextBufferCommitted",
    "ResponseAudioDelta",
    "ResponseAudioDone",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ServerEvent",
    "SessionCreated",
    "SessionFinished",
    "SessionInfo",
    "SessionUpdated",
    "UnknownEvent",
    "Usage",
    "delta_audio",
    "event_from_object",
    "parse_frame",
    "parse_server_event",
]


# --- event names (the server side; the client's are in bridge.qwen.protocol) ------------

SESSION_CREATED = "session.created"
SESSION_UPDATED = "session.updated"
BUFFER_COMMITTED = "input_text_buffer.committed"
BUFFER_CLEARED = "input_text_buffer.cleared"
RESPONSE_CREATED = "response.created"
OUTPUT_ITEM_ADDED = "response.output_item.added"
CONTENT_PART_ADDED = "response.content_part.added"
AUDIO_DELTA = "response.audio.delta"
AUDIO_DONE = "response.audio.done"
CONTENT_PART_DONE = "response.content_part.done"
OUTPUT_ITEM_DONE = "response.output_item.done"
RESPONSE_DONE = "response.done"
SESSION_FINISHED = "session.finished"
ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerEvent:
    """Base of every server event: its ``type``, ``event_id`` and the raw JSON object."""

    type: str
    event_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    id: str = ""
    model: str = ""
    voice: str = ""
    mode: str = ""
    response_format: str = ""
    sample_rate: int = 0
    language_type: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionCreated(ServerEvent):
    session: SessionInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionUpdated(ServerEvent):
    session: SessionInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTextBufferCommitted(ServerEvent):
    item_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTextBufferCleared(ServerEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCreated(ServerEvent):
    response_id: str
    status: str = "in_progress"
    voice: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class _ResponseScoped(ServerEvent):
    response_id: str
    item_id: str = ""
    output_index: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputItemAdded(_ResponseScoped):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputItemDone(_ResponseScoped):
    status: str = "completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseContentPartAdded(_ResponseScoped):
    content_index: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseContentPartDone(_ResponseScoped):
    content_index: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseAudioDelta(_ResponseScoped):
    """One piece of audio; ``audio`` is already decoded from base64."""

    content_index: int = 0
    audio: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseAudioDone(_ResponseScoped):
    content_index: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Billing usage of one response: ``characters`` for Qwen3 models, tokens for legacy ones."""

    characters: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    audio_tokens: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseDone(ServerEvent):
    response_id: str
    status: str = "completed"
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionFinished(ServerEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent(ServerEvent):
    code: str = ""
    message: str = ""
    param: str | None = None
    error_type: str | None = None
    client_event_id: str | None = None

    def to_exception(self, *, answers_commit: str | None = None) -> TTSServerError:
        return TTSServerError(
            self.message or "the TTS server reported an error",
            code=self.code,
            param=self.param,
            error_type=self.error_type,
            event_id=self.client_event_id,
            answers_commit=answers_commit,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(ServerEvent):
    """An event type this library does not know; the raw object is kept in ``raw``."""


# --- parsing ---------------------------------------------------------------------------


def _str(obj: Mapping[str, Any], key: str, default: str = "") -> str:
    value = obj.get(key, default)
    return value if isinstance(value, str) else default


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _int(obj: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = obj.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _obj(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _session(raw: Mapping[str, Any]) -> SessionInfo:
    s = _obj(raw, "session")
    return SessionInfo(
        id=_str(s, "id"),
        model=_str(s, "model"),
        voice=_str(s, "voice"),
        mode=_str(s, "mode"),
        response_format=_str(s, "response_format"),
        sample_rate=_int(s, "sample_rate"),
        language_type=_opt_str(s, "language_type"),
        fields=dict(s),
    )


def _scoped(raw: Mapping[str, Any]) -> dict[str, Any]:
    item_id = _str(raw, "item_id") or _str(_obj(raw, "item"), "id")
    return {
        "response_id": _str(raw, "response_id"),
        "item_id": item_id,
        "output_index": _int(raw, "output_index"),
    }


def _usage(response: Mapping[str, Any]) -> Usage:
    u = _obj(response, "usage")
    return Usage(
        characters=_opt_int(u, "characters"),
        input_tokens=_opt_int(u, "input_tokens"),
        output_tokens=_opt_int(u, "output_tokens"),
        total_tokens=_opt_int(u, "total_tokens"),
        audio_tokens=_opt_int(_obj(u, "output_tokens_details"), "audio_tokens"),
    )


def delta_audio(raw: Mapping[str, Any]) -> bytes:
    """The decoded audio of a ``response.audio.delta`` object (``TTSProtocolError`` if its
    ``delta`` is not a base64 string)."""
    delta = raw.get("delta", "")
    if not isinstance(delta, str):
        raise TTSProtocolError("response.audio.delta without a base64 string in 'delta'")
    try:
        return b64decode(delta)
    except (binascii.Error, ValueError) as exc:
        raise TTSProtocolError("response.audio.delta carries invalid base64 audio") from exc


def _error(raw: Mapping[str, Any], common: dict[str, Any]) -> ErrorEvent:
    err = _obj(raw, "error")
    return ErrorEvent(
        **common,
        code=_str(err, "code"),
        message=_str(err, "message"),
        param=_opt_str(err, "param"),
        error_type=_opt_str(err, "type"),
        client_event_id=_opt_str(err, "event_id"),
    )


_Builder = Callable[[Mapping[str, Any], dict[str, Any]], ServerEvent]

_BUILDERS: dict[str, _Builder] = {
    SESSION_CREATED: lambda r, c: SessionCreated(**c, session=_session(r)),
    SESSION_UPDATED: lambda r, c: SessionUpdated(**c, session=_session(r)),
    BUFFER_COMMITTED: lambda r, c: InputTextBufferCommitted(**c, item_id=_str(r, "item_id")),
    BUFFER_CLEARED: lambda r, c: InputTextBufferCleared(**c),
    RESPONSE_CREATED: lambda r, c: ResponseCreated(
        **c,
        response_id=_str(_obj(r, "response"), "id"),
        status=_str(_obj(r, "response"), "status", "in_progress"),
        voice=_str(_obj(r, "response"), "voice"),
    ),
    OUTPUT_ITEM_ADDED: lambda r, c: ResponseOutputItemAdded(**c, **_scoped(r)),
    CONTENT_PART_ADDED: lambda r, c: ResponseContentPartAdded(
        **c, **_scoped(r), content_index=_int(r, "content_index")
    ),
    AUDIO_DELTA: lambda r, c: ResponseAudioDelta(
        **c, **_scoped(r), content_index=_int(r, "content_index"), audio=delta_audio(r)
    ),
    AUDIO_DONE: lambda r, c: ResponseAudioDone(
        **c, **_scoped(r), content_index=_int(r, "content_index")
    ),
    CONTENT_PART_DONE: lambda r, c: ResponseContentPartDone(
        **c, **_scoped(r), content_index=_int(r, "content_index")
    ),
    OUTPUT_ITEM_DONE: lambda r, c: ResponseOutputItemDone(
        **c, **_scoped(r), status=_str(_obj(r, "item"), "status", "completed")
    ),
    RESPONSE_DONE: lambda r, c: ResponseDone(
        **c,
        response_id=_str(_obj(r, "response"), "id"),
        status=_str(_obj(r, "response"), "status", "completed"),
        usage=_usage(_obj(r, "response")),
    ),
    SESSION_FINISHED: lambda r, c: SessionFinished(**c),
    ERROR: _error,
}

SERVER_EVENT_TYPES: tuple[str, ...] = tuple(_BUILDERS)


def parse_frame(data: str | bytes) -> dict[str, Any]:
    """One text frame's JSON object, checked to carry a non-empty string ``type``."""
    try:
        raw = loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TTSProtocolError("the TTS server sent a frame that is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise TTSProtocolError("the TTS server sent JSON that is not an object")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise TTSProtocolError("the TTS server sent an event without a 'type'")
    return raw


def event_from_object(raw: Mapping[str, Any]) -> ServerEvent:
    """The typed event of a decoded server message (``TTSProtocolError`` without a ``type``)."""
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise TTSProtocolError("the TTS server sent an event without a 'type'")
    common: dict[str, Any] = {"type": kind, "event_id": _str(raw, "event_id"), "raw": raw}
    builder = _BUILDERS.get(kind)
    if builder is None:
        return UnknownEvent(**common)
    return builder(raw, common)


def parse_server_event(data: str | bytes | Mapping[str, Any]) -> ServerEvent:
    """Parse one server message (a JSON text frame, or an already decoded object)."""
    if isinstance(data, Mapping):
        return event_from_object(data)
    return event_from_object(parse_frame(data))
