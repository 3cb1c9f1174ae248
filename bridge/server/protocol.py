"""The ``bridge serve`` WebSocket protocol as pure code: messages, validation, codes (no I/O).

One WebSocket connection is one conversation. Control messages are JSON objects in text
frames, each with a ``type``; audio goes to the client in binary frames (PCM s16le mono at
the session's sample rate), announced per response by ``audio.start``. ``docs/protocol.md``
is the reference for client authors; this module is what the server actually enforces.

Client → server: ``session.configure``, ``session.resume``, ``user.message``,
``text.append``, ``text.done``, ``response.cancel``, ``playback.ack``. Server → client:
``session.ready``, ``response.started``, ``text.delta``, ``segment``, ``audio.start``
(+ binary frames), ``response.interrupted``, ``response.done``, ``error``.

Decisions:
- unknown fields are ignored (the protocol may grow); unknown ``type`` values are an error;
- invalid input is answered with one ``error`` event and the connection stays open, except for
  a message flood (close 1008) and frames over the hard frame limit (close 1009);
- error messages sent to clients are fixed texts chosen here, never an exception's text, so no
  URL, key or stack detail can leak (``client_error_for`` and ``public_result``).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from bridge.core import codec
from bridge.core.errors import (
    BridgeError,
    LLMAuthError,
    LLMError,
    LLMRateLimitError,
    LLMTimeoutError,
    TTSAuthError,
    TTSError,
    TTSTimeoutError,
)
from bridge.core.result import TurnFailure, TurnResult
from bridge.core.sanitize import sanitize

__all__ = [
    "ClientMessage",
    "ClientProtocolError",
    "CloseCode",
    "ErrorCode",
    "PlaybackAck",
    "ResponseCancel",
    "SessionConfigure",
    "SessionResume",
    "TextAppend",
    "TextDone",
    "UserMessage",
    "audio_start",
    "client_error_for",
    "encode",
    "error_event",
    "failed_result",
    "parse_client_message",
    "public_result",
    "response_done",
    "response_interrupted",
    "response_started",
    "segment_event",
    "segment_timing",
    "session_ready",
    "text_delta",
]


class ErrorCode(enum.StrEnum):
    """The ``code`` of an ``error`` event (documented in docs/protocol.md)."""

    INVALID_JSON = "invalid_json"  # a text frame that is not a JSON object
    UNKNOWN_TYPE = "unknown_type"  # a ``type`` this server does not know
    INVALID_MESSAGE = "invalid_message"  # a missing or ill-typed field
    UNEXPECTED_BINARY = "unexpected_binary"  # clients send no binary frames
    MESSAGE_TOO_LARGE = "message_too_large"  # over the message limit (frame limit: close 1009)
    INVALID_CONFIG = "invalid_config"  # session.configure with an unknown voice, prompt, ...
    RATE_LIMITED = "rate_limited"  # too many user.message turns; retry later
    TOO_MANY_MESSAGES = "too_many_messages"  # message flood; the connection is closed (1008)
    SHUTTING_DOWN = "shutting_down"  # the server is draining; no new turns
    SERVER_FULL = "server_full"  # max sessions reached; closed with 1013
    TOO_MANY_SESSIONS = "too_many_sessions"  # max sessions of one address; closed with 1013
    IDLE_TIMEOUT = "idle_timeout"  # nothing happened for too long; closed with 4000
    NO_CHAT_MODEL = "no_chat_model"  # user.message on a server without a chat model
    QUEUE_FULL = "queue_full"  # too many speak responses waiting for their turn
    RESUME_NOT_FOUND = "resume_not_found"  # session.resume: no conversation for the token
    RESUME_TOO_LATE = "resume_too_late"  # session.resume after the session's first response
    STORE_ERROR = "store_error"  # the conversation store failed (load or save)
    LLM_ERROR = "llm_error"  # the chat model failed during a response
    TTS_ERROR = "tts_error"  # the speech service failed during a response
    INTERNAL_ERROR = "internal_error"  # a bug on our side; closed with 1011


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses (documented in docs/protocol.md)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # graceful shutdown
    POLICY_VIOLATION = 1008  # message flood
    MESSAGE_TOO_BIG = 1009  # a frame over the hard frame limit (closed by websockets)
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # max sessions reached (of the server or of one address)
    IDLE_TIMEOUT = 4000


class ClientProtocolError(BridgeError):
    """A client message broke the protocol; ``code`` is the ``error`` event's code.

    ``message`` is sent to the client as it is, so it is always written here (never an
    exception's text)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- client → server -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfigure:
    """Change the session for the next responses; ``None`` keeps the current value."""

    voice: str | None = None
    prompt: str | None = None
    language: str | None = None
    sample_rate: int | None = None
    lexicon: str | None = None
    playback_delay_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionResume:
    """Continue the conversation of an earlier session: its ``resume_token``."""

    resume_token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserMessage:
    text: str
    traceparent: str | None = None  # W3C Trace Context of the client's span


@dataclass(frozen=True, slots=True, kw_only=True)
class TextAppend:
    """A piece of text for the server to speak (a speak response: the client's own text).

    ``text`` is as received: the session sanitises the pieces of one response together
    (``TextSanitizer``), so a surrogate pair split over two pieces comes out whole."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDone:
    """The end of the text of the speak response being appended to."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCancel:
    """Barge-in. ``response_id`` (optional) names the response; a stale one is ignored."""

    response_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackAck:
    """The client has played ``samples`` samples of the current (or named) response."""

    samples: int
    response_id: str | None = None


ClientMessage = (
    SessionConfigure
    | SessionResume
    | UserMessage
    | TextAppend
    | TextDone
    | ResponseCancel
    | PlaybackAck
)

_MAX_NAME = 64
_MAX_TOKEN = 128
_MAX_SAMPLES = 2**40
_MAX_TRACEPARENT = 128


def _optional_str(obj: dict[str, Any], name: str, *, max_len: int = _MAX_NAME) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = sanitize(value)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ClientProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"{obj['type']}: {name} must be a non-empty string of at most {max_len} characters",
        )
    return value.strip()


def _int(obj: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)  # JavaScript clients may send 4800.0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SAMPLES:
        raise ClientProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"{obj['type']}: {name} must be a non-negative integer",
        )
    return value


def parse_client_message(
    data: str | bytes, *, max_bytes: int, max_text_chars: int
) -> ClientMessage:
    """Parse one frame from a client, or raise ``ClientProtocolError`` saying what is wrong."""
    if isinstance(data, bytes | bytearray | memoryview):
        raise ClientProtocolError(
            ErrorCode.UNEXPECTED_BINARY,
            "binary frames are not accepted from clients; send JSON text frames",
        )
    if len(data) > max_bytes or len(data.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ClientProtocolError(
            ErrorCode.MESSAGE_TOO_LARGE, f"messages are limited to {max_bytes} bytes"
        )
    try:
        obj = codec.loads(data)
    except (ValueError, RecursionError):
        raise ClientProtocolError(ErrorCode.INVALID_JSON, "the message is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ClientProtocolError(ErrorCode.INVALID_JSON, "a message must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ClientProtocolError(ErrorCode.INVALID_MESSAGE, "a message needs a string 'type'")
    kind = sanitize(kind)
    if kind == "user.message":
        text = obj.get("text")
        text = sanitize(text) if isinstance(text, str) else text
        if not isinstance(text, str) or not text.strip():
            raise ClientProtocolError(
                ErrorCode.INVALID_MESSAGE, "user.message: text must be a non-empty string"
            )
        if len(text) > max_text_chars:
            raise ClientProtocolError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"user.message: text is limited to {max_text_chars} characters",
            )
        traceparent = obj.get("traceparent")
        if traceparent is not None and (
            not isinstance(traceparent, str) or len(traceparent) > _MAX_TRACEPARENT
        ):
            raise ClientProtocolError(
                ErrorCode.INVALID_MESSAGE,
                f"user.message: traceparent must be a W3C traceparent string (at most "
                f"{_MAX_TRACEPARENT} characters)",
            )
        return UserMessage(text=text, traceparent=traceparent)
    if kind == "text.append":
        piece = obj.get("text")
        if not isinstance(piece, str):
            raise ClientProtocolError(
                ErrorCode.INVALID_MESSAGE, "text.append: text must be a string"
            )
        if len(piece) > max_text_chars:
            raise ClientProtocolError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"text.append: text is limited to {max_text_chars} characters a message",
            )
        return TextAppend(text=piece)
    if kind == "text.done":
        return TextDone()
    if kind == "playback.ack":
        samples = _int(obj, "samples", required=True)
        assert samples is not None
        return PlaybackAck(samples=samples, response_id=_optional_str(obj, "response_id"))
    if kind == "response.cancel":
        return ResponseCancel(response_id=_optional_str(obj, "response_id"))
    if kind == "session.resume":
        token = obj.get("resume_token")
        if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN:
            raise ClientProtocolError(
                ErrorCode.INVALID_MESSAGE,
                f"session.resume: resume_token must be a string of 1 to {_MAX_TOKEN} characters",
            )
        return SessionResume(resume_token=token)
    if kind == "session.configure":
        return SessionConfigure(
            voice=_optional_str(obj, "voice"),
            prompt=_optional_str(obj, "prompt"),
            language=_optional_str(obj, "language"),
            sample_rate=_int(obj, "sample_rate", required=False),
            lexicon=_optional_str(obj, "lexicon"),
            playback_delay_ms=_int(obj, "playback_delay_ms", required=False),
        )
    shown = kind if len(kind) <= _MAX_NAME else kind[:_MAX_NAME] + "..."
    raise ClientProtocolError(
        ErrorCode.UNKNOWN_TYPE,
        f"unknown message type {shown!r}; expected session.configure, session.resume, "
        "user.message, text.append, text.done, response.cancel or playback.ack",
    )


# --- server → client -----------------------------------------------------------------------


def encode(event: dict[str, Any]) -> str:
    """Compact JSON text of a server event (orjson when installed; see ``bridge.core.codec``)."""
    return codec.dumps(event)


def session_ready(
    *,
    session_id: str,
    model: str,
    voice: str,
    voices: list[str],
    prompt: str,
    prompts: list[str],
    language: str,
    languages: list[str],
    sample_rate: int,
    sample_rates: list[int],
    limits: dict[str, Any],
    lexicon: str = "none",
    lexicons: list[str] | None = None,
    playback_delay_ms: int,
    chat: bool = True,
    resume_token: str | None = None,
    history: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``history`` (the conversation, oldest first) is sent only in answer to
    ``session.resume``."""
    return {
        "type": "session.ready",
        "session_id": session_id,
        "model": model,
        "voice": voice,
        "voices": voices,
        "prompt": prompt,
        "prompts": prompts,
        "language": language,
        "languages": languages,
        "sample_rate": sample_rate,
        "sample_rates": sample_rates,
        "lexicon": lexicon,
        "lexicons": lexicons if lexicons is not None else [lexicon],
        "playback_delay_ms": playback_delay_ms,
        "limits": limits,
        "chat": chat,
        **({"resume_token": resume_token} if resume_token is not None else {}),
        **({"history": history} if history is not None else {}),
    }


def response_started(response_id: str) -> dict[str, Any]:
    return {"type": "response.started", "response_id": response_id}


def text_delta(response_id: str, text: str) -> dict[str, Any]:
    return {"type": "text.delta", "response_id": response_id, "text": text}


def segment_event(response_id: str, index: int, text: str) -> dict[str, Any]:
    return {"type": "segment", "response_id": response_id, "index": index, "text": text}


def segment_timing(
    response_id: str, index: int, start: int, end: int, *, estimated: bool
) -> dict[str, Any]:
    return {
        "type": "segment.timing",
        "response_id": response_id,
        "index": index,
        "start": start,
        "end": end,
        "estimated": estimated,
    }


def audio_start(response_id: str, sample_rate: int) -> dict[str, Any]:
    return {"type": "audio.start", "response_id": response_id, "sample_rate": sample_rate}


def response_interrupted(response_id: str, spoken_text: str) -> dict[str, Any]:
    return {"type": "response.interrupted", "response_id": response_id, "spoken_text": spoken_text}


def response_done(response_id: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"type": "response.done", "response_id": response_id, "result": result}


def failed_result(response_id: str) -> dict[str, Any]:
    """The ``result`` of a response that failed on the server before it had a turn result:
    nothing was heard, the error is ``internal_error`` with its fixed message."""
    code, message = client_error_for(None)
    return {
        "turn_id": response_id,
        "text": "",
        "spoken_text": "",
        "interrupted": False,
        "segments": [],
        "error": {"type": "InternalError", "code": code.value, "message": message},
    }


def error_event(
    code: ErrorCode,
    message: str,
    *,
    response_id: str | None = None,
    retry_after: float | None = None,
    limit: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "error", "code": code.value, "message": message}
    if response_id is not None:
        event["response_id"] = response_id
    if retry_after is not None:
        event["retry_after"] = round(retry_after, 1)
    if limit is not None:
        event["limit"] = limit
    return event


# --- errors that travel to a client: built in this one place -------------------------------

_LLM_MESSAGES: tuple[tuple[type[BaseException], str], ...] = (
    (LLMAuthError, "the chat model refused the server's credentials"),
    (LLMRateLimitError, "the chat model is rate limiting; try again later"),
    (LLMTimeoutError, "the chat model did not answer in time"),
    (LLMError, "the chat model failed; the reply may be incomplete"),
)
_TTS_MESSAGES: tuple[tuple[type[BaseException], str], ...] = (
    (TTSAuthError, "the speech service refused the server's credentials"),
    (TTSTimeoutError, "the speech service did not answer in time"),
    (TTSError, "the speech service failed; the audio may be incomplete"),
)


def client_error_for(error: TurnFailure | BaseException | None) -> tuple[ErrorCode, str]:
    """The one mapping from our error tree to what a client is told: the code and a fixed,
    secret-free message, chosen by the exception's class (anything else, a bug included, is
    ``internal_error``)."""
    exc = error.exception if isinstance(error, TurnFailure) else error
    for table, code in (
        (_LLM_MESSAGES, ErrorCode.LLM_ERROR),
        (_TTS_MESSAGES, ErrorCode.TTS_ERROR),
    ):
        for base, message in table:
            if isinstance(exc, base):
                return code, message
    return ErrorCode.INTERNAL_ERROR, "the response failed on the server"


def public_result(result: TurnResult) -> dict[str, Any]:
    """A turn result as clients may see it: the error's text replaced by a fixed message."""
    data = result.to_dict()
    if result.error is None:
        return data
    code, message = client_error_for(result.error)
    return {**data, "error": {"type": result.error.type, "code": code.value, "message": message}}
