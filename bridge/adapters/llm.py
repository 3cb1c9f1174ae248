"""The chat-model side: stream speakable text from any OpenAI-compatible endpoint.

``LLMClient.stream(messages)`` is a thin adapter around ``openai.AsyncOpenAI``. It yields only
text that may be spoken: reasoning deltas (``reasoning_content``/``reasoning``), tool-call deltas
and ``<think>…</think>`` blocks inside the content never come out. Every wait is bounded
(``first_token_timeout`` for the first token, ``token_timeout`` for each next chunk) and every
failure of the SDK or its HTTP stack is mapped to one of the ``LLMError`` subclasses at this
boundary, with a one-line message that says what to do and never contains the API key.

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

import inspect
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Self, cast

import anyio
import openai
import structlog
from openai.types.chat import ChatCompletionChunk

from bridge.adapters.openai_client import (
    DEFAULT_BASE_URL,
    Endpoint,
    chain,
    client_for,
    is_transport_error,
)
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
_OPEN, _CLOSE = "<think>", "</think>"


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMConfig:
    """Where and how to ask the chat model. Times are in seconds.

    ``think_open``/``think_window`` are for models whose chat template pre-fills ``<think>``
    (see ``ThinkFilter``). ``extra`` holds further request options (``temperature``,
    ``max_tokens``, or server-specific ones such as ``top_k``); options the SDK does not know
    are sent in the JSON body. ``stream_options`` in ``extra`` replaces ours
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
    for size in range(min(len(text), max(map(len, tags)) - 1), 0, -1):
        tail = text[-size:]
        if any(tag.startswith(tail) for tag in tags):
            return tail
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
        self._sdk_params = _create_parameters(self._client)
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

    def _request(self, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": [dict(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        body: dict[str, Any] = {}
        for key, value in self.config.extra.items():
            if key in self._sdk_params:
                kwargs[key] = value
            else:
                body[key] = value
        if body:
            kwargs["extra_body"] = {**body, **dict(kwargs.get("extra_body") or {})}
        return kwargs

    async def stream(self, messages: Sequence[Mapping[str, Any]]) -> AsyncIterator[str]:
        """Yield the reply's speakable text as it arrives.

        Raises ``LLMTimeoutError``, ``LLMAuthError``, ``LLMRateLimitError``,
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
        try:
            with anyio.fail_after(cfg.first_token_timeout):
                created = await self._client.chat.completions.create(**self._request(messages))
        except TimeoutError as exc:
            raise self._first_token_timeout() from exc
        except openai.APIError as exc:
            mapped = self._endpoint.error(exc)
            raise mapped from chain(mapped, exc)
        response = cast("openai.AsyncStream[ChatCompletionChunk]", created)
        thinking = ThinkFilter(start_inside=cfg.think_open, window=cfg.think_window)
        clean = TextSanitizer()  # model text is sanitised here, once
        chunks = 0
        started = False
        chars = 0
        try:
            while True:
                wait = deadline - anyio.current_time() if not started else cfg.token_timeout
                try:
                    with anyio.fail_after(max(wait, 0.0)):
                        chunk = await response.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    if not started:
                        raise self._first_token_timeout() from exc
                    raise LLMTimeoutError(
                        f"model {cfg.model!r} stalled: no chunk for {cfg.token_timeout:g} s after "
                        f"{chunks} chunks (token_timeout); the reply is incomplete",
                        what="token",
                    ) from exc
                except openai.APIError as exc:
                    mapped = self._endpoint.error(exc, chunks=chunks)
                    raise mapped from chain(mapped, exc)
                except ValueError as exc:  # a chunk that is not JSON
                    raise LLMServerError(
                        f"the LLM endpoint {self._base_url} sent a malformed stream event "
                        f"({self._endpoint.detail(str(exc))}); is it OpenAI-compatible?"
                    ) from exc
                except Exception as exc:
                    if not is_transport_error(exc):
                        raise
                    raise self._endpoint.broken(exc, chunks) from exc
                chunks += 1
                for text, is_token in self._read_chunk(chunk):
                    started = started or is_token
                    speak = thinking.feed(clean.feed(text)) if text else ""
                    if speak:
                        chars += len(speak)
                        yield speak
            rest = thinking.feed(clean.flush()) + thinking.flush()
            if rest:
                chars += len(rest)
                yield rest
        finally:
            with anyio.move_on_after(2, shield=True):
                await response.close()
        log.debug(
            "llm.done",
            model=cfg.model,
            chunks=chunks,
            chars=chars,
            finish_reason=self.last_finish_reason,
            usage=None if self.last_usage is None else asdict(self.last_usage),
        )

    def _read_chunk(self, chunk: ChatCompletionChunk) -> Iterator[tuple[str, bool]]:
        """Record usage and finish reason; yield (speakable text, counts as a token) pairs."""
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.last_usage = LLMUsage(
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                completion_tokens=getattr(usage, "completion_tokens", None),
                total_tokens=getattr(usage, "total_tokens", None),
            )
        for choice in chunk.choices or ():
            if choice.index != 0:
                continue
            if choice.finish_reason is not None:
                self.last_finish_reason = str(choice.finish_reason)
            delta = choice.delta
            if delta is None:
                continue
            hidden = any(_extra_text(delta, name) for name in _REASONING_FIELDS)
            hidden = hidden or bool(getattr(delta, "tool_calls", None))
            hidden = hidden or getattr(delta, "function_call", None) is not None
            text = (delta.content or "") + (getattr(delta, "refusal", None) or "")
            if text or hidden:
                yield text, True

    def _first_token_timeout(self) -> LLMTimeoutError:
        return LLMTimeoutError(
            f"no token from model {self.config.model!r} at {self._base_url} within "
            f"{self.config.first_token_timeout:g} s (first_token_timeout); the server may be "
            "overloaded or still loading the model",
            what="first_token",
        )


def _create_parameters(client: openai.AsyncOpenAI) -> frozenset[str]:
    """The keyword names ``chat.completions.create`` accepts in this SDK version."""
    create = client.chat.completions.create
    names = set(inspect.signature(create).parameters) - {"self"}
    return frozenset(names | {"extra_headers", "extra_query", "extra_body", "timeout"})


def _extra_text(delta: Any, name: str) -> str:
    """A text field of a delta that may be declared or only present as a pydantic extra."""
    value = getattr(delta, name, None)
    if value is None:
        extra = getattr(delta, "model_extra", None) or {}
        value = extra.get(name)
    return value if isinstance(value, str) else ""
