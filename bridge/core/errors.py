"""The one error hierarchy of bridge, split by where an error comes from.

::

    BridgeError
    ├── ConfigError              bad options or parameters, found before anything is sent
    ├── StateError               our own misuse: a call that is illegal in the current state
    ├── NothingToSpeak           a turn ended normally with nothing speakable (the CLI's verdict)
    ├── LLMError                 the chat-model side
    │   ├── LLMAuthError         the endpoint refused the API key (HTTP 401/403)
    │   ├── LLMRateLimitError    the endpoint is rate limiting (HTTP 429)
    │   ├── LLMConnectionError   could not connect, or the stream broke mid-reply
    │   ├── LLMTimeoutError      no first token, or no next chunk, in time
    │   └── LLMServerError       any other error answer (status), e.g. an unknown model
    ├── StoreError               the conversation store (bridge serve --store) failed
    └── TTSError                 the speech side
        ├── TTSConnectionError   could not connect, or the connection broke
        │   ├── TTSAuthError     the handshake was refused (HTTP 401/403)
        │   └── TTSClosedError   the connection closed mid-stream (says how much audio arrived)
        ├── TTSTimeoutError      a bounded wait ran out
        ├── TTSProtocolError     the server sent something we cannot understand
        └── TTSServerError       the server sent an ``error`` event (code, message, param)

Errors are exceptions, never strings inside data. Adapters map library exceptions to these
at their boundary (``raise TTSConnectionError(...) from exc``). Messages never contain secrets.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BridgeError",
    "ConfigError",
    "LLMAuthError",
    "LLMConnectionError",
    "LLMError",
    "LLMRateLimitError",
    "LLMServerError",
    "LLMTimeoutError",
    "NothingToSpeak",
    "StateError",
    "StoreError",
    "TTSAuthError",
    "TTSClosedError",
    "TTSConnectionError",
    "TTSError",
    "TTSProtocolError",
    "TTSServerError",
    "TTSTimeoutError",
]


class BridgeError(Exception):
    """Base class of every error bridge raises on purpose."""


class StoreError(BridgeError):
    """The conversation store (in-process or Redis) could not load or save a conversation."""


class ConfigError(BridgeError, ValueError):
    """An option or session parameter is invalid; raised before anything is sent.

    ``field`` names the offending option when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StateError(BridgeError, RuntimeError):
    """A method was called in a state where it is not allowed (our own misuse)."""


class NothingToSpeak(BridgeError):  # noqa: N818 - its name is the JSON "type" of such turns
    """The text (a reply, an input) was empty or only code and markup: nothing was spoken."""


class LLMError(BridgeError):
    """The chat model failed (connection, authentication, rate limit, server error)."""


class LLMAuthError(LLMError):
    """The chat endpoint refused the API key (HTTP 401) or its permissions (HTTP 403)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMRateLimitError(LLMError):
    """The chat endpoint is rate limiting (HTTP 429); ``retry_after`` is in seconds when sent."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMConnectionError(LLMError):
    """Could not reach the chat endpoint, or the connection broke mid-stream."""


class LLMTimeoutError(LLMError, TimeoutError):
    """A bounded wait on the chat model ran out (``what`` says which wait)."""

    def __init__(self, message: str, *, what: str = "") -> None:
        super().__init__(message)
        self.what = what


class LLMServerError(LLMError):
    """The chat endpoint answered with an error; ``status`` is the HTTP status when there is one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TTSError(BridgeError):
    """The speech side failed.

    ``chunks`` is the audio a call had already received when it failed (``TTSSession.finish()``
    drains the stream and keeps what arrived before and after an error), so nothing is lost
    with the error; it is empty for calls that collect no audio.
    """

    chunks: tuple[Any, ...] = ()


class TTSConnectionError(TTSError):
    """Could not connect to the TTS server, or the connection broke."""


class TTSAuthError(TTSConnectionError):
    """The TTS server refused the handshake (HTTP 401/403): a missing, wrong or other-region key."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TTSClosedError(TTSConnectionError):
    """The connection closed before the session finished.

    ``audio_bytes`` is how much decoded audio had arrived in the session, ``code``/``reason``
    are the WebSocket close code and reason when known.
    """

    def __init__(
        self,
        message: str,
        *,
        audio_bytes: int = 0,
        code: int | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.audio_bytes = audio_bytes
        self.code = code
        self.reason = reason


class TTSTimeoutError(TTSError, TimeoutError):
    """A bounded wait on the TTS server ran out (``what`` says which wait)."""

    def __init__(self, message: str, *, what: str = "") -> None:
        super().__init__(message)
        self.what = what


class TTSProtocolError(TTSError):
    """The TTS server sent a message that does not follow the protocol."""


class TTSServerError(TTSError):
    """The TTS server answered with an ``error`` event.

    ``event_id`` is the client event the server says it answers, when it says so.
    ``answers_commit`` is the id of our ``input_text_buffer.commit`` this error is the answer
    to, judged by its position (it came while that commit was unanswered and names no other
    event of ours): the server's reply to a commit that found the buffer empty, whatever its
    code or message. ``None`` for every other error.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        param: str | None = None,
        error_type: str | None = None,
        event_id: str | None = None,
        answers_commit: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.error_type = error_type
        self.event_id = event_id
        self.answers_commit = answers_commit

    def __str__(self) -> str:
        base = super().__str__()
        parts = [f"code={self.code}"] if self.code else []
        if self.param:
            parts.append(f"param={self.param}")
        return f"{base} ({', '.join(parts)})" if parts else base
