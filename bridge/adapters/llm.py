"""The chat-model side: stream speakable text from any OpenAI-compatible endpoint.

``LLMClient.stream(messages)`` is a thin adapter around ``openai.AsyncOpenAI``. It yields only
text that may be spoken: reasoning deltas (``reasoning_content``/``reasoning``), tool-call deltas
and ``<think>…</think>`` blocks inside the content never come out. Every wait is bounded
(``first_token_timeout`` for the first token, ``token_timeout`` for each next chunk) and every
failure of the SDK or its HTTP stack is mapped to one of the ``LLMError`` subclasses at this
boundary (``adapters/openai_client.py``), with a one-line message that says what to do and never
contains the API key.

The token path is lean: for a client bridge built (``make_client``) the request goes out on
the SDK's HTTP client without the SDK's request path (``adapters/llm_http.py``; its errors are
still the SDK's exceptions), otherwise the SDK sends it; the reply is read from the streaming
response as raw bytes, cut into server-sent events by ``SSEDecoder`` and
parsed with ``orjson``, taking only the content, refusal, reasoning and tool-call markers, the
finish reason and the usage (the SDK would build a pydantic object per chunk). The JSON body
is passed as ``extra_body``, past the SDK's per-call transform of typed parameters.
``benchmarks/llm_stream_speed.py`` measures both paths.

``Conversation`` keeps the system prompt and the turns as they were heard.

Decisions:
- The library never reads the environment: ``base_url=None`` means OpenAI's public API and
  ``api_key=None`` sends a placeholder key (local servers need none). Entry points read
  ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` and pass them in.
- "First token" is the first chunk that carries content, reasoning or a tool call; an empty
  role-only chunk (some servers send one before prefill) does not stop the first-token clock.
- ``refusal`` deltas are spoken: they are what the assistant says to the user.
- ``last_usage``/``last_finish_reason`` describe the stream that ran last on this client; run
  concurrent turns on separate clients when these figures matter per turn.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import asdict, dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Self

import anyio
import openai
import orjson
import structlog

from bridge.adapters.llm_http import RawChat
from bridge.adapters.openai_client import (
    DEFAULT_BASE_URL,
    Endpoint,
    chain,
    client_for,
    is_transport_error,
)
from bridge.adapters.sse import SSEDecoder
from bridge.core.errors import ConfigError, LLMServerError, LLMTimeoutError
from bridge.core.sanitize import TextSanitizer

__all__ = [
    "DEFAULT_BASE_URL",
    "LLMClient",
    "LLMConfig",
    "LLMUsage",
    "ThinkFilter",
]

log = structlog.get_logger("bridge.adapters.llm")

_RESERVED = frozenset({"model", "messages", "stream"})
_REASONING_FIELDS = ("reasoning_content", "reasoning")
# Options of the SDK call itself rather than of the JSON body.
_SDK_OPTIONS = frozenset({"extra_headers", "extra_query", "timeout"})
_loads = orjson.loads
_DRAIN_TIMEOUT = 0.1  # seconds to read the rest of a body after [DONE]
_OPEN, _CLOSE = "<think>", "</think>"


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMConfig:
    """Where and how to ask the chat model. Times are in seconds.

    ``think_open``/``think_window`` are for models whose chat template pre-fills ``<think>``
    (see ``ThinkFilter``). ``extra`` holds further request options (``temperature``,
    ``max_tokens``, or server-specific ones such as ``top_k``), sent in the JSON body as they
    are, with the items of ``extra_body`` merged over them; ``extra_headers``, ``extra_query``
    and ``timeout`` go to the SDK call. ``stream_options`` in ``extra`` replaces ours
    (``{"include_usage": True}``).
    """

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    model: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    first_token_timeout: float = 30.0
    token_timeout: float = 15.0
    connect_timeout: float = 10.0
    max_retries: int = 0
    think_open: bool = False
    think_window: int = 0

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ConfigError("LLM model name is empty; pass the model to use", field="model")
        for name in ("first_token_timeout", "token_timeout", "connect_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"{name} must be > 0 seconds, got {value!r}", field=name)
        if self.max_retries < 0:
            raise ConfigError("max_retries must be >= 0", field="max_retries")
        if self.think_window < 0:
            raise ConfigError("think_window must be >= 0 characters", field="think_window")
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        reserved = sorted(_RESERVED.intersection(self.extra))
        if reserved:
            raise ConfigError(
                f"extra LLM options may not set {', '.join(reserved)}; bridge sets them itself",
                field="extra",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMUsage:
    """Token counts the server reported for one reply (``None`` when it left one out)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class ThinkFilter:
    """Remove ``<think>…</think>`` blocks from text that arrives in pieces (no I/O).

    Tags may be split across pieces; an unclosed ``<think>`` swallows everything up to its
    ``</think>`` (or to the end). A stray ``</think>`` is dropped, and whitespace right after a
    closing tag is dropped while nothing has been spoken yet. Any split of the same text into
    pieces gives the same output.

    For models whose chat template pre-fills ``<think>`` (the reasoning streams with no
    opener, then ``</think>``): ``start_inside`` drops everything up to the first closing
    tag; ``window`` (characters) holds the start of a reply back, and a closing tag with no
    opener within that many characters drops everything before it. The same options as
    ``ScrubberOptions.think_open`` / ``think_window``; both default off (no added latency).
    """

    def __init__(self, *, start_inside: bool = False, window: int = 0) -> None:
        if window < 0:
            raise ConfigError("the think window must be >= 0 characters", field="think_window")
        self._start_inside = start_inside
        self._window = window
        self._reset()

    def _reset(self) -> None:
        self._inside = self._start_inside
        self._pending = ""
        self._spoken = False
        self._strip = False
        self._pos = 0  # input characters consumed (not pending)
        self._decided = self._start_inside or self._window == 0  # no more holding back
        self._held = ""

    def feed(self, text: str) -> str:
        buf, self._pending = self._pending + text, ""
        out: list[str] = []
        while buf:
            if self._inside:
                end = buf.find(_CLOSE)
                if end < 0:
                    self._pending = _partial_tag(buf, (_CLOSE,))
                    self._pos += len(buf) - len(self._pending)
                    break
                buf = self._advance(buf, end + len(_CLOSE))
                self._inside = False
                self._decided = True
                self._strip = not self._spoken
                continue
            start, close = buf.find(_OPEN), buf.find(_CLOSE)
            if start < 0 and close < 0:
                keep = _partial_tag(buf, (_OPEN, _CLOSE))
                out.append(self._emit(buf[: len(buf) - len(keep)]))
                self._pending = keep
                self._pos += len(buf) - len(keep)
                break
            if start >= 0 and (close < 0 or start < close):
                out.append(self._emit(buf[:start]))
                buf = self._advance(buf, start + len(_OPEN))
                self._inside = True
                self._decided = True
            else:  # a closing tag with no opener
                if not self._decided and self._pos + close < self._window:
                    out, self._held, self._spoken = [], "", False  # it was all reasoning
                else:
                    out.append(self._emit(buf[:close]))
                buf = self._advance(buf, close + len(_CLOSE))
                self._decided = True
                self._strip = not self._spoken
        return self._release("".join(out))

    def flush(self) -> str:
        """End of text: return what was held back (a partial tag that never completed)."""
        rest = "" if self._inside else self._emit(self._pending)
        self._decided = True
        rest = self._release(rest)
        self._reset()
        return rest

    def _advance(self, buf: str, k: int) -> str:
        self._pos += k
        return buf[k:]

    def _release(self, text: str) -> str:
        if not self._decided and self._pos < self._window:
            self._held += text  # a closing tag may still come and drop it
            return ""
        self._decided = True
        text, self._held = self._held + text, ""
        return text

    def _emit(self, text: str) -> str:
        if self._strip:
            text = text.lstrip()
            if not text:
                return ""
            self._strip = False
        if text and not text.isspace():
            self._spoken = True
        return text


def _partial_tag(text: str, tags: tuple[str, ...]) -> str:
    """The longest end of ``text`` that could be the start of one of ``tags``."""
    # Called once per delta: look only where a tag's first character occurs near the end.
    start = max(0, len(text) - max(map(len, tags)) + 1)
    firsts = {tag[0] for tag in tags}
    at = min((i for i in (text.find(c, start) for c in firsts) if i >= 0), default=-1)
    while 0 <= at < len(text):
        tail = text[at:]
        if any(tag.startswith(tail) for tag in tags):
            return tail
        at += 1
    return ""


class LLMClient:
    """Streams speakable reply text from an OpenAI-compatible chat endpoint.

    Use ``async with LLMClient(config) as llm`` (or call ``aclose()``). A ``client`` passed in
    stays open: its owner closes it. Consume ``stream()`` inside ``contextlib.aclosing`` so an
    early exit (barge-in) closes the HTTP response at once.
    """

    def __init__(self, config: LLMConfig, *, client: openai.AsyncOpenAI | None = None) -> None:
        self.config = config
        self._owns_client = client is None
        self._client = client if client is not None else client_for(config)
        self._endpoint = Endpoint.of(
            self._client,
            model=config.model,
            api_key=config.api_key,
            connect_timeout=config.connect_timeout,
        )
        self._base_url = self._endpoint.url
        sdk_options = {k: v for k, v in config.extra.items() if k in _SDK_OPTIONS}
        self._raw = RawChat.of(self._client, sdk_options)  # None: the SDK's own path
        self.last_usage: LLMUsage | None = None
        self.last_finish_reason: str | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            with anyio.move_on_after(5, shield=True):
                await self._client.close()

    def _body(self, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The request's JSON body: bridge's fields, the extra options, ``extra_body`` over
        them as it is."""
        body: dict[str, Any] = {
            "model": self.config.model,
            # the caller's dicts as they are (the body is serialised at once, never changed)
            "messages": [m if type(m) is dict else dict(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for key, value in self.config.extra.items():
            if key not in _SDK_OPTIONS and key != "extra_body":
                body[key] = value
        body.update(self.config.extra.get("extra_body") or {})
        return body

    def _request(self, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The keyword arguments of ``create`` (the SDK's path): the whole JSON body goes in
        ``extra_body``.

        The SDK's per-call transform of typed parameters costs milliseconds per request with a
        long history (it walks every message), so only ``model`` and an empty ``messages`` go
        through it; ``extra_body`` is merged over them as it is.
        """
        kwargs: dict[str, Any] = {"model": self.config.model, "messages": (), "stream": True}
        for key, value in self.config.extra.items():
            if key in _SDK_OPTIONS:
                kwargs[key] = value
        kwargs["extra_body"] = self._body(messages)
        return kwargs

    async def stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        on_sent: Callable[[], None] | None = None,
    ) -> AsyncGenerator[str, None]:
        """Yield the reply's speakable text as it arrives.

        ``on_sent`` is called once, when the request is out: its last byte written, or as
        soon as it has to open a new connection first (``llm_http.RawChat.open``); on the
        SDK's path, when the request starts; at the latest when the response begins or the
        request fails. Raises ``LLMTimeoutError``, ``LLMAuthError``, ``LLMRateLimitError``,
        ``LLMConnectionError`` or ``LLMServerError``; text received before a failure has
        already been yielded.
        """
        if not messages:
            raise ConfigError("no messages to send to the LLM", field="messages")
        self.last_usage = None
        self.last_finish_reason = None
        cfg = self.config
        deadline = anyio.current_time() + cfg.first_token_timeout
        log.debug("llm.request", model=cfg.model, base_url=self._base_url, messages=len(messages))
        raw = self._raw
        if raw is None and on_sent is not None:
            on_sent()  # the SDK's path has no earlier moment to tell
        opened: AbstractAsyncContextManager[Any] = (
            raw.open(self._body(messages), on_sent)
            if raw is not None
            else self._client.chat.completions.with_streaming_response.create(
                **self._request(messages)
            )
        )
        try:
            with anyio.fail_after(cfg.first_token_timeout):
                response = await opened.__aenter__()
        except TimeoutError as exc:
            raise self._first_token_timeout() from exc
        except openai.APIError as exc:
            mapped = self._endpoint.error(exc)
            raise mapped from chain(mapped, exc)
        thinking = ThinkFilter(start_inside=cfg.think_open, window=cfg.think_window)
        clean = TextSanitizer()  # model text is sanitised here, once
        events = SSEDecoder()
        if raw is not None:  # an httpx response
            received, http_version = aiter(response.aiter_bytes()), response.http_version
        else:  # the SDK's wrapper of one
            received = aiter(response.iter_bytes())
            http_version = response.http_response.http_version
        chunks = 0
        started = False
        chars = 0
        done = finished = False  # finished: the server sent [DONE]
        try:
            while not done:
                # One bounded wait per network read (a read may hold many chunks): the first
                # token's deadline, then token_timeout from the last chunk on.
                try:
                    with anyio.CancelScope(deadline=deadline) as wait:
                        data = await anext(received)
                except StopAsyncIteration:
                    payloads, done = events.flush(), True
                except openai.APIError as exc:
                    mapped = self._endpoint.error(exc, chunks=chunks)
                    raise mapped from chain(mapped, exc)
                except Exception as exc:
                    if not is_transport_error(exc):
                        raise
                    raise self._endpoint.broken(exc, chunks) from exc
                else:
                    if wait.cancelled_caught:
                        raise self._stalled(started, chunks)
                    payloads = events.feed(data)
                for payload in payloads:
                    if payload.startswith(b"[DONE]"):
                        done = finished = True
                        break
                    chunks += 1
                    text, is_token = self._read_chunk(payload)
                    started = started or is_token
                    speak = thinking.feed(clean.feed(text)) if text else ""
                    if speak:
                        chars += len(speak)
                        yield speak
                if started and payloads:
                    deadline = anyio.current_time() + cfg.token_timeout
            rest = thinking.feed(clean.flush()) + thinking.flush()
            if rest:
                chars += len(rest)
                yield rest
            if finished:  # the text is out: now let the connection go back to the pool
                await _drain(received, http_version)
        finally:
            with anyio.move_on_after(2, shield=True):
                close = getattr(received, "aclose", None)
                if close is not None:
                    await close()
                await opened.__aexit__(None, None, None)
        log.debug(
            "llm.done",
            model=cfg.model,
            chunks=chunks,
            chars=chars,
            finish_reason=self.last_finish_reason,
            usage=None if self.last_usage is None else asdict(self.last_usage),
        )

    def _read_chunk(self, payload: bytes) -> tuple[str, bool]:
        """Record usage and finish reason of one ``chat.completion.chunk``; return its
        speakable text and whether it counts as a token (text, reasoning or a tool call)."""
        try:
            chunk = _loads(payload)
        except ValueError:  # orjson's and json's decode errors are ValueErrors
            try:  # orjson refuses a lone surrogate escape (half an emoji); json keeps it
                chunk = json.loads(payload)
            except ValueError as exc:
                raise self._malformed(str(exc)) from exc
        if not isinstance(chunk, dict):
            raise self._malformed(f"a JSON {type(chunk).__name__}, not an object")
        if chunk.get("error"):
            raise self._endpoint.stream_error(chunk["error"])
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.last_usage = LLMUsage(
                prompt_tokens=_int(usage.get("prompt_tokens")),
                completion_tokens=_int(usage.get("completion_tokens")),
                total_tokens=_int(usage.get("total_tokens")),
            )
        text, token = "", False
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            finish = choice.get("finish_reason")
            if finish is not None:
                self.last_finish_reason = str(finish)
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            said = _text(delta, "content") + _text(delta, "refusal")
            hidden = any(_text(delta, name) for name in _REASONING_FIELDS)
            hidden = hidden or bool(delta.get("tool_calls"))
            hidden = hidden or delta.get("function_call") is not None
            text += said
            token = token or bool(said) or hidden
        return text, token

    def _stalled(self, started: bool, chunks: int) -> LLMTimeoutError:
        if not started:
            return self._first_token_timeout()
        return LLMTimeoutError(
            f"model {self.config.model!r} stalled: no chunk for {self.config.token_timeout:g} s "
            f"after {chunks} chunks (token_timeout); the reply is incomplete",
            what="token",
        )

    def _malformed(self, why: str) -> LLMServerError:
        return LLMServerError(
            f"the LLM endpoint {self._base_url} sent a malformed stream event "
            f"({self._endpoint.detail(why)}); is it OpenAI-compatible?"
        )

    def _first_token_timeout(self) -> LLMTimeoutError:
        return LLMTimeoutError(
            f"no token from model {self.config.model!r} at {self._base_url} within "
            f"{self.config.first_token_timeout:g} s (first_token_timeout); the server may be "
            "overloaded or still loading the model",
            what="first_token",
        )


async def _drain(received: AsyncIterator[bytes], http_version: str) -> None:
    """Read what follows ``[DONE]`` (the end of the chunked body), so that an HTTP/1.1
    connection goes back to the pool instead of being closed (HTTP/2 streams close alone)."""
    if http_version != "HTTP/1.1":
        return
    with anyio.move_on_after(_DRAIN_TIMEOUT), suppress(Exception):
        async for _ in received:
            pass


def _text(delta: dict[str, Any], name: str) -> str:
    value = delta.get(name)
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
