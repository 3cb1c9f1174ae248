"""A scripted OpenAI-compatible chat endpoint on loopback, for tests, benchmarks and demos.

The real ``openai`` SDK talks to it, so its HTTP and SSE parsing run for real. Its HTTP/1.1 is
``h11``'s (the sans-I/O library httpx is built on: keep-alive, chunked streaming bodies, request
bodies with ``Content-Length`` or chunked) over anyio sockets; it answers:

- ``POST /v1/chat/completions``: streamed (``"stream": true``, ``chat.completion.chunk`` SSE
  events, a usage chunk when ``stream_options.include_usage`` is set, then ``data: [DONE]``)
  or as one ``chat.completion`` JSON object;
- ``GET /v1/models`` and ``GET /healthz``.

Each completion request takes the next ``FakeReply`` of the script (the last one repeats), or
asks a callable for one. A reply scripts the tokens, their timing, reasoning deltas, a tool call,
raw bytes in the stream (malformed events, comments), an error event in the stream, a dropped
connection or an OpenAI-style error answer. Every wait is bounded, a client that goes away only
ends its own connection, and a request h11 cannot parse gets HTTP 400.
"""

from __future__ import annotations

import contextlib
import http
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import h11
import structlog

from bridge.core.errors import ConfigError
from bridge.text._chars import CJK_CLASS, HANGUL_CLASS

__all__ = ["FakeLLM", "FakeReply", "serve_fake_llm", "tokens_for"]

log = structlog.get_logger("bridge.testing.fake_llm")

DEFAULT_MODEL = "fake-llm"
_MAX_HEAD = 64 * 1024
_MAX_BODY = 8 * 1024 * 1024
_IDLE_TIMEOUT = 30.0  # keep-alive: how long an idle connection may wait for its next request
_IO_TIMEOUT = 10.0  # each read of a started request, or sending one piece of a response
# Chinese/Japanese letters and Hangul syllables are tokens of one character each.
_CJK = CJK_CLASS + HANGUL_CLASS
_TOKEN_RE = re.compile(rf"\s*(?:[{_CJK}]|[^\W\d_{_CJK}]{{1,8}}|\d{{1,3}}|.)|\s+", re.DOTALL)
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "bad_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}
_TRANSPORT_ERRORS = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,  # includes TimeoutError from the bounded waits
)


def tokens_for(text: str) -> list[str]:
    """Split ``text`` into word-ish pieces like a model's tokens; joining them gives ``text``.

    Words keep their leading space and are cut into pieces of at most 8 letters; digits come in
    groups of up to 3; punctuation and each CJK character are tokens of their own.
    """
    return _TOKEN_RE.findall(text)


@dataclass(frozen=True, slots=True)
class FakeReply:
    """One scripted answer. Delays are in seconds.

    ``delay`` is the pause between tokens and ``first_delay`` the pause before the first one
    (reasoning included). ``reasoning`` is sent as ``delta.<reasoning_field>`` before the content.
    ``fail_after=N`` drops the connection after N content tokens (``0``: before any).
    ``status`` other than 200 answers with an OpenAI-style JSON error instead (``message``
    overrides its text). ``tool_call`` adds a streamed tool call after the content.
    ``usage=False`` ignores ``stream_options.include_usage`` like some servers do.

    Faults inside a stream (streamed requests only), after the content tokens, in this order:
    ``raw`` is written into the SSE body byte for byte, each item as given (for example
    ``b"data: {not json\\n\\n"``, ``b": comment\\r\\n"`` or half an event); ``error_event``
    sends ``data: {"error": {"message": error_event, ...}}`` and ends the stream there, without
    a finish reason or ``[DONE]``, as OpenAI-compatible servers report a failure that began after
    the 200. A non-streamed request of a reply with ``error_event`` gets HTTP 500 with that
    message; ``raw`` has no place in a JSON answer and is not sent there.
    """

    tokens: Sequence[str]
    delay: float = 0.0
    first_delay: float = 0.0
    reasoning: Sequence[str] = ()
    fail_after: int | None = None
    status: int = 200
    tool_call: bool = False
    reasoning_field: str = "reasoning_content"
    finish_reason: str = "stop"
    usage: bool = True
    message: str | None = None
    raw: Sequence[bytes] = ()
    error_event: str | None = None

    def __post_init__(self) -> None:
        for name in ("tokens", "reasoning"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ConfigError(
                    f"FakeReply.{name} must be a list of tokens; use tokens_for(text)"
                )
            object.__setattr__(self, name, tuple(value))
        if isinstance(self.raw, bytes | str) or not all(
            isinstance(item, bytes) for item in self.raw
        ):
            raise ConfigError("FakeReply.raw must be a list of bytes, e.g. [b'data: {oops\\n\\n']")
        object.__setattr__(self, "raw", tuple(self.raw))
        if self.delay < 0 or self.first_delay < 0:
            raise ConfigError("FakeReply delays must be >= 0")
        if self.fail_after is not None and self.fail_after < 0:
            raise ConfigError("FakeReply.fail_after must be >= 0 or None")
        if not 200 <= self.status <= 599:
            raise ConfigError(f"FakeReply.status must be an HTTP status, got {self.status}")


Replies = Sequence[FakeReply] | Callable[[list[dict[str, Any]]], FakeReply]


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received: float  # time.monotonic() when its first byte was read


class _DroppedError(Exception):
    """Scripted fault: close the connection now."""


class _RequestError(Exception):
    """The request cannot be served (malformed or too large): answer ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _HTTP:
    """One connection's HTTP/1.1: h11's state machine and the socket, every wait bounded."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)

    async def read_request(self) -> _Request | None:
        """The next whole request, or ``None`` when the client closed or idled out."""
        head: h11.Request | None = None
        body = bytearray()
        received: float | None = None
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _RequestError(exc.error_status_hint, "malformed HTTP request") from None
            if event is h11.NEED_DATA:
                data: bytes | None = None
                with anyio.move_on_after(_IDLE_TIMEOUT if head is None else _IO_TIMEOUT):
                    try:
                        data = await self.stream.receive(65536)
                    except anyio.EndOfStream:
                        data = b""
                if data is None:
                    if head is None:
                        return None  # idle too long between requests
                    raise TimeoutError("the request body did not arrive in time")
                if received is None and data:
                    received = time.monotonic()
                self.conn.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
                length = _content_length(event.headers)
                if length is not None and length > _MAX_BODY:
                    raise _RequestError(413, f"the request body is limited to {_MAX_BODY} bytes")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > _MAX_BODY:
                    raise _RequestError(413, f"the request body is limited to {_MAX_BODY} bytes")
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                # h11 gives the names lower-cased
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in head.headers}
                return _Request(
                    head.method.decode("ascii").upper(),
                    head.target.decode("latin-1"),
                    headers,
                    bytes(body),
                    time.monotonic() if received is None else received,
                )
            else:  # ConnectionClosed (before or in the middle of a request), or PAUSED
                return None

    def next_cycle(self) -> bool:
        """After a whole response: whether the connection may serve another request."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return True
        return False

    async def send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            with anyio.fail_after(_IO_TIMEOUT):
                await self.stream.send(data)

    async def start(self, status: int, headers: dict[str, str]) -> None:
        try:
            reason = http.HTTPStatus(status).phrase.encode("ascii")
        except ValueError:
            reason = b""
        await self.send(
            h11.Response(status_code=status, headers=list(headers.items()), reason=reason)
        )

    async def respond(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        all_headers = {
            "content-type": content_type,
            "content-length": str(len(body)),
            **(headers or {}),
        }
        await self.start(status, all_headers)
        await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())

    async def respond_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        await self.respond(status, body, "application/json", headers)

    async def refuse(self, exc: _RequestError) -> None:
        """Answer a request that could not be read, if no answer has begun, and close."""
        if self.conn.our_state is not h11.IDLE and self.conn.our_state is not h11.SEND_RESPONSE:
            return
        with contextlib.suppress(h11.LocalProtocolError, *_TRANSPORT_ERRORS):
            error = _error_body(exc.status, str(exc))
            await self.respond_json(exc.status, error, {"connection": "close"})


def _content_length(headers: Any) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


@dataclass(eq=False)
class FakeLLM:
    """A running fake endpoint: ``base_url`` is ready for ``openai.AsyncOpenAI(base_url=...)``.

    ``requests`` holds the JSON body of every completion request in order; ``served`` counts the
    requests that took a reply from the script. ``received`` is when the request being answered
    had its first byte read (``time.monotonic()``; after this server's wake-up, before its
    parsing), set before a replies callable is asked, for benchmarks that time requests.
    """

    replies: Replies
    api_key: str | None = None
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    check_model: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    served: int = 0  # completion requests that took a reply from the script
    received: float | None = None  # time.monotonic(): the answered request's first byte read
    _ids: int = 0

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def _next_reply(self, messages: list[dict[str, Any]]) -> FakeReply:
        self.served += 1
        if callable(self.replies):
            return self.replies(messages)
        return self.replies[min(self.served, len(self.replies)) - 1]

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        """Serve one connection: requests one after another until it closes or idles out."""
        async with stream:
            conn = _HTTP(stream)
            try:
                while True:
                    request = await conn.read_request()
                    if request is None:
                        return
                    await self._respond(conn, request)
                    if not conn.next_cycle():
                        return
            except _RequestError as exc:
                await conn.refuse(exc)
            except _DroppedError:
                log.debug("fake_llm.drop")
            except _TRANSPORT_ERRORS as exc:
                log.debug("fake_llm.connection_error", error=type(exc).__name__)

    async def _respond(self, conn: _HTTP, req: _Request) -> None:
        """Answer one request."""
        self.received = req.received
        path = req.path.split("?", 1)[0].rstrip("/")
        if path == "/healthz":
            return await conn.respond(200, b"ok\n", "text/plain; charset=utf-8")
        if path not in ("/v1/models", "/v1/chat/completions"):
            error = _error_body(404, f"no route for {req.method} {path}")
            return await conn.respond_json(404, error)
        given = req.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and req.headers.get("authorization") != (
            f"Bearer {self.api_key}"
        ):
            # Real servers echo (part of) the key; echo all of it so tests can check redaction.
            return await conn.respond_json(
                401, _error_body(401, f"Incorrect API key provided: {given}")
            )
        if path == "/v1/models":
            if req.method != "GET":
                return await conn.respond_json(405, _error_body(405, "use GET"))
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "bridge"}
                for m in self.models
            ]
            return await conn.respond_json(200, {"object": "list", "data": data})
        if req.method != "POST":
            return await conn.respond_json(405, _error_body(405, "use POST"))
        body: Any = None
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            body = json.loads(req.body or b"null")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            error = _error_body(400, "the body must be a JSON object with a messages list")
            return await conn.respond_json(400, error)
        self.requests.append(body)
        model = str(body.get("model") or "")
        if self.check_model and model not in self.models:
            text = f"The model `{model}` does not exist or you do not have access to it."
            return await conn.respond_json(404, _error_body(404, text))
        reply = self._next_reply(body["messages"])
        self._ids += 1
        reply_id = f"chatcmpl-fake-{self._ids}"
        if reply.status != 200:
            text = reply.message or _default_message(reply.status, given)
            headers = {"retry-after": "1"} if reply.status == 429 else {}
            return await conn.respond_json(reply.status, _error_body(reply.status, text), headers)
        if body.get("stream"):
            options = body.get("stream_options") or {}
            usage = reply.usage and isinstance(options, dict) and bool(options.get("include_usage"))
            return await _Streamer(conn, reply, reply_id, model, usage, body["messages"]).run()
        await anyio.sleep(reply.first_delay + reply.delay * max(len(reply.tokens) - 1, 0))
        if reply.fail_after is not None:
            raise _DroppedError
        if reply.error_event is not None:
            return await conn.respond_json(500, _error_body(500, reply.error_event))
        return await conn.respond_json(200, _completion(reply, reply_id, model, body))


class _Streamer:
    """Sends one scripted reply as an SSE stream (h11 sends it chunked)."""

    def __init__(
        self,
        conn: _HTTP,
        reply: FakeReply,
        reply_id: str,
        model: str,
        usage: bool,
        messages: list[dict[str, Any]],
    ) -> None:
        self.conn, self.reply, self.id, self.model = conn, reply, reply_id, model
        self.usage, self.messages = usage, messages
        self.created = int(time.time())

    async def _write(self, data: bytes) -> None:
        await self.conn.send(h11.Data(data=data))

    async def _event(self, payload: str) -> None:
        await self._write(f"data: {payload}\n\n".encode())

    async def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, *, usage: Any = None
    ) -> None:
        choices = (
            []
            if usage is not None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.usage:
            chunk["usage"] = usage
        payload = json.dumps(chunk, ensure_ascii=False)
        if _has_surrogates(payload):  # a scripted half emoji: sent as \uXXXX, as models do
            payload = json.dumps(chunk)
        await self._event(payload)

    async def run(self) -> None:
        reply = self.reply
        await self.conn.start(
            200, {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        )
        await self._chunk({"role": "assistant", "content": ""})
        await anyio.sleep(reply.first_delay)
        sent = 0
        for token in reply.reasoning:
            if sent:
                await anyio.sleep(reply.delay)
            await self._chunk({reply.reasoning_field: token})
            sent += 1
        for count, token in enumerate(reply.tokens):
            if reply.fail_after is not None and count >= reply.fail_after:
                raise _DroppedError
            if sent:
                await anyio.sleep(reply.delay)
            await self._chunk({"content": token})
            sent += 1
        if reply.fail_after is not None and reply.fail_after >= len(reply.tokens):
            raise _DroppedError
        for data in reply.raw:
            await self._write(data)
        if reply.error_event is not None:
            error = _error_body(500, reply.error_event)
            await self._event(json.dumps(error, ensure_ascii=False))
            await self.conn.send(h11.EndOfMessage())
            return
        if reply.tool_call:
            call = {"index": 0, "id": "call_fake_1", "type": "function"}
            await self._chunk(
                {"tool_calls": [{**call, "function": {"name": "lookup", "arguments": ""}}]}
            )
            for part in ('{"query": ', '"weather"}'):
                await self._chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        await self._chunk({}, "tool_calls" if reply.tool_call else reply.finish_reason)
        if self.usage:
            await self._chunk({}, usage=_usage(reply, self.messages))
        await self._event("[DONE]")
        await self.conn.send(h11.EndOfMessage())


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", str(status))
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _default_message(status: int, given_key: str) -> str:
    if status == 401:
        return f"Incorrect API key provided: {given_key}"
    if status == 429:
        return "Rate limit reached for requests (scripted)"
    if status >= 500:
        return "The server had an error while processing your request (scripted)"
    return f"scripted error {status}"


def _usage(reply: FakeReply, messages: list[dict[str, Any]]) -> dict[str, int]:
    prompt = sum(
        len(tokens_for(str(m.get("content") or ""))) for m in messages if isinstance(m, dict)
    )
    completion = len(reply.tokens) + len(reply.reasoning)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(
    reply: FakeReply, reply_id: str, model: str, body: dict[str, Any]
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.tokens)}
    if reply.reasoning:
        message[reply.reasoning_field] = "".join(reply.reasoning)
    if reply.tool_call:
        function = {"name": "lookup", "arguments": '{"query": "weather"}'}
        message["tool_calls"] = [{"id": "call_fake_1", "type": "function", "function": function}]
    return {
        "id": reply_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if reply.tool_call else reply.finish_reason,
            }
        ],
        "usage": _usage(reply, body["messages"]),
    }


@asynccontextmanager
async def serve_fake_llm(
    replies: Sequence[FakeReply] | Callable[[list[dict[str, Any]]], FakeReply],
    *,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    models: Sequence[str] | None = None,
) -> AsyncIterator[FakeLLM]:
    """Serve the scripted endpoint on ``host:port`` (port 0 picks a free one) for the block.

    With ``api_key`` set, requests without ``Authorization: Bearer <api_key>`` get HTTP 401.
    With ``models`` set, ``/v1/models`` lists them and any other model gets HTTP 404.
    """
    if not callable(replies):
        replies = tuple(replies)
        if not replies:
            raise ConfigError("serve_fake_llm needs at least one FakeReply")
    server = FakeLLM(
        replies=replies,
        api_key=api_key,
        models=tuple(models) if models else (DEFAULT_MODEL,),
        check_model=bool(models),
        host=host,
    )
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    # An error of the block (a failed assertion, pytest.fail, ...) is re-raised after the task
    # group, so that callers see it as it is rather than wrapped in an exception group; only a
    # cancellation goes through the task group, which needs it.
    error: BaseException | None = None
    async with listener, anyio.create_task_group() as tg:
        server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.start_soon(listener.serve, server.handle, tg)
        log.debug("fake_llm.listening", base_url=server.base_url)
        try:
            yield server
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error
