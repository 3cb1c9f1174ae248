"""The one place bridge builds an ``openai.AsyncOpenAI`` and turns openai's exceptions into ours.

Every caller (the LLM adapter, ``bridge serve``, ``bridge chat``'s start-up check, the embedded
llama.cpp server's readiness probe) builds its client with ``make_client`` (or ``client_for``
an ``LLMConfig``) and maps an ``openai.APIError`` with ``Endpoint.error``, so a wrong key, an
unreachable server or an unknown model reads the same everywhere, and never shows the key.

Decisions:
- ``base_url=None`` means OpenAI's public API and ``api_key=None`` sends a placeholder key
  (local servers need none); the SDK never reads ``OPENAI_BASE_URL``/``OPENAI_API_KEY``
  itself, as entry points pass what they read.
- No retries unless asked: a voice reply that waits for a retry is a reply that is late.
- Auth errors are raised without their cause (``chain``): servers quote the key they refused.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import openai

from bridge.core.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMServerError,
)
from bridge.core.version import user_agent
from bridge.logs import redact, safe_url

__all__ = [
    "DEFAULT_BASE_URL",
    "Endpoint",
    "chain",
    "client_for",
    "error_message",
    "is_plain",
    "is_transport_error",
    "make_client",
    "safe_url",
    "status_failure",
    "transport_failure",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "no-key"  # placeholder sent when no API key is configured
_TRANSPORT_MODULES = frozenset({"httpx", "httpx2", "httpcore", "h11", "anyio"})
# The clients make_client built: a static key, nothing but bridge's options (llm_http.RawChat).
_PLAIN: weakref.WeakSet[openai.AsyncOpenAI] = weakref.WeakSet()


def make_client(
    *,
    base_url: str | None,
    api_key: str | None,
    connect_timeout: float,
    read_timeout: float | None = None,
    max_retries: int = 0,
) -> openai.AsyncOpenAI:
    """An ``AsyncOpenAI`` with bridge's defaults; ``read_timeout`` defaults to the connect one."""
    read = connect_timeout if read_timeout is None else read_timeout
    client = openai.AsyncOpenAI(
        base_url=base_url or DEFAULT_BASE_URL,
        api_key=api_key or NO_KEY,
        timeout=openai.Timeout(read, connect=connect_timeout),
        max_retries=max_retries,
        # bridge first, then what openai calls itself (its own default User-Agent).
        default_headers={"User-Agent": f"{user_agent()} AsyncOpenAI/Python {openai.__version__}"},
    )
    _PLAIN.add(client)
    return client


def is_plain(client: openai.AsyncOpenAI) -> bool:
    """Whether ``make_client`` built ``client`` (a static key; bridge's options only)."""
    return client in _PLAIN


class StreamTimeouts(Protocol):
    """What ``client_for`` reads of an ``LLMConfig`` (seconds)."""

    @property
    def base_url(self) -> str | None: ...
    @property
    def api_key(self) -> str | None: ...
    @property
    def first_token_timeout(self) -> float: ...
    @property
    def token_timeout(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def max_retries(self) -> int: ...


def client_for(config: StreamTimeouts) -> openai.AsyncOpenAI:
    """The client for streaming replies with ``config``: its HTTP read timeout is only a
    backstop behind the first-token and token timeouts that the LLM adapter enforces."""
    read = max(config.first_token_timeout, config.token_timeout) + config.connect_timeout
    return make_client(
        base_url=config.base_url,
        api_key=config.api_key,
        connect_timeout=config.connect_timeout,
        read_timeout=read,
        max_retries=config.max_retries,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """What an error message may say about the endpoint that failed (no secrets).

    ``url`` is shown as given (pass it through ``safe_url``); ``api_key`` is only used to
    redact the key from server messages and to say when none was set.
    """

    url: str
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    connect_timeout: float | None = None

    @classmethod
    def of(
        cls,
        client: openai.AsyncOpenAI,
        *,
        model: str | None = None,
        api_key: str | None = None,
        connect_timeout: float | None = None,
    ) -> Endpoint:
        return cls(
            url=safe_url(str(client.base_url)),
            model=model,
            api_key=api_key,
            connect_timeout=connect_timeout,
        )

    def detail(self, text: str) -> str:
        """A server-provided message made safe: one line, short, no secrets."""
        if self.api_key:
            text = text.replace(self.api_key, "[redacted]")
        text = str(redact(" ".join(text.split())))
        return text if len(text) <= 200 else text[:197] + "..."

    def broken(self, exc: BaseException, chunks: int) -> LLMConnectionError:
        """The stream broke after ``chunks`` chunks had arrived."""
        cause = self.detail(str(exc) or type(exc).__name__)
        return LLMConnectionError(
            f"the LLM stream from {self.url} broke after {chunks} chunks ({cause}); "
            "the reply is incomplete"
        )

    def error(self, exc: openai.APIError, *, chunks: int | None = None) -> LLMError:
        """Translate an openai exception into ours (``chunks`` is None before a stream)."""
        url = self.url
        if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
            if chunks is not None:
                return self.broken(exc.__cause__ or exc, chunks)
            if isinstance(exc, openai.APITimeoutError):
                within = "" if self.connect_timeout is None else f" {self.connect_timeout:g} s"
                why = f"no answer within connect_timeout{within}"
            else:
                why = self.detail(str(exc.__cause__ or exc))
            return LLMConnectionError(
                f"cannot reach the LLM endpoint {url} ({why}); check the base URL, the network "
                "and that the server is running"
            )
        detail = self.detail(error_message(exc))
        if not isinstance(exc, openai.APIStatusError):
            return LLMServerError(f"the LLM endpoint {url} reported an error: {detail}")
        status = exc.status_code
        said = f"(HTTP {status}: {detail})"
        model = "the model" if self.model is None else f"model {self.model!r}"
        if isinstance(exc, openai.AuthenticationError):
            hint = "check that the API key belongs to this endpoint"
            if not self.api_key:
                hint = "no API key was set; pass the key for this endpoint"
            return LLMAuthError(f"{url} rejected the API key {said}; {hint}", status=status)
        if isinstance(exc, openai.PermissionDeniedError):
            return LLMAuthError(
                f"{url} denied access {said}; check that the key may use {model}",
                status=status,
            )
        if isinstance(exc, openai.RateLimitError):
            retry_after = _retry_after(exc)
            wait = f"retry after {retry_after:g} s" if retry_after is not None else "retry later"
            return LLMRateLimitError(
                f"{url} is rate limiting {said}; {wait} or check the quota",
                retry_after=retry_after,
            )
        if isinstance(exc, openai.NotFoundError):
            hint = "check the model name and that the base URL ends in /v1"
            message = f"{model} was not found at {url} {said}; {hint}"
        elif status >= 500:
            message = f"the LLM server {url} failed {said}; try again later"
        else:
            hint = "check the model name and the extra request options"
            message = f"the LLM endpoint {url} rejected the request {said}; {hint}"
        return LLMServerError(message, status=status)

    def stream_error(self, body: object) -> LLMServerError:
        """An ``{"error": ...}`` event inside a stream (the server failed mid-reply)."""
        said = _body_message(body) or "An error occurred during streaming"
        return LLMServerError(f"the LLM endpoint {self.url} reported an error: {self.detail(said)}")


def chain(error: LLMError, exc: BaseException) -> BaseException | None:
    """The exception to chain to ``error``: none for auth errors, as servers quote the key
    they refused (use ``raise error from chain(error, exc)``)."""
    return None if isinstance(error, LLMAuthError) else exc


def error_message(exc: openai.APIError) -> str:
    """The server's own message inside an error answer, else the SDK's."""
    return _body_message(exc.body) or exc.message or type(exc).__name__


def _body_message(body: object) -> str | None:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body
    return None


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def transport_failure(exc: BaseException, request: Any) -> openai.APIError:
    """The SDK's own exception for a transport failure of ``request`` sent on the SDK's HTTP
    client past its request path (``llm_http.RawChat``): what the SDK itself raises for it."""
    if "Timeout" in type(exc).__name__:
        return openai.APITimeoutError(request=request)
    return openai.APIConnectionError(request=request)


def status_failure(client: openai.AsyncOpenAI, response: Any) -> openai.APIError:
    """The SDK's own typed exception for an HTTP error ``response`` (its body read), made by
    the SDK (``AuthenticationError``, ``RateLimitError``, ...)."""
    error: openai.APIError = client._make_status_error_from_response(response)
    return error


def is_transport_error(exc: BaseException) -> bool:
    """Whether an exception comes from the HTTP stack (raw byte streams let these escape)."""
    if isinstance(exc, OSError | EOFError):
        return True
    return any(cls.__module__.split(".")[0] in _TRANSPORT_MODULES for cls in type(exc).__mro__)
