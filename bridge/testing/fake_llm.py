"""A scripted OpenAI-compatible chat endpoint on loopback, for tests, benchmarks and demos.

The real ``openai`` SDK talks to it, so its HTTP and SSE parsing run for real. It is a tiny
HTTP/1.1 server on anyio (keep-alive, chunked streaming bodies) that answers:

- ``POST /v1/chat/completions``: streamed (``"stream": true``, ``chat.completion.chunk`` SSE
  events, a usage chunk when ``stream_options.include_usage`` is set, then ``data: [DONE]``)
  or as one ``chat.completion`` JSON object;
- ``GET /v1/models`` and ``GET /healthz``.

Each completion request takes the next ``FakeReply`` of the script (the last one repeats), or
asks a callable for one. A reply scripts the tokens, their timing, reasoning deltas, a tool call,
a dropped connection or an OpenAI-style error answer. Every wait is bounded and a broken
connection only ends that connection.
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
import structlog
from anyio.streams.buffered import BufferedByteReceiveStream

from bridge.core.errors import ConfigError
from bridge.text._chars import CJK_CLASS, HANGUL_CLASS

__all__ = ["FakeLLM", "FakeReply", "serve_fake_llm", "tokens_for"]

log = structlog.get_logger("bridge.testing.fake_llm")

DEFAULT_MODEL = "fake-llm"
_MAX_HEAD = 64 * 1024
_MAX_BODY = 8 * 1024 * 1024
_IDLE_TIMEOUT = 30.0  # keep-alive: how long an idle connection may wait for its next request
_IO_TIMEOUT = 10.0  # reading one request, or sending one piece of a response
# Chinese/Japanese letters and Hangul syllables are tokens of one character each.
_CJK = CJK_CLASS + HANGUL_CLASS
_TOKEN_RE = re.compile(rf"\s*(?:[{_CJK}]|[^\W\d_{_CJK}]{{1,8}}|\d{{1,3}}|.)|\s+", re.DOTALL)
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "bad_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}
_TRANSPORT_ERRORS = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.DelimiterNotFound,
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

    def __post_init__(self) -> None:
        for name in ("tokens", "reasoning"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ConfigError(
                    f"FakeReply.{name} must be a list of tokens; use tokens_for(text)"
                )
            object.__setattr__(self, name, tuple(value))
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

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


class _DroppedError(Exception):
    """Scripted fault: close the connection now."""


class _BadRequestError(Exception):
    """The request cannot be parsed; answer 400 and close."""


@dataclass(eq=False)
class FakeLLM:
    """A running fake endpoint: ``base_url`` is ready for ``openai.AsyncOpenAI(base_url=...)``."""

    replies: Replies
    api_key: str | None = None
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    check_model: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    served: int = 0  # completion requests that took a reply from the script
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

    async def handle(self, conn: anyio.abc.SocketStream) -> None:
        """Serve one connection: requests one after another until it closes or idles out."""
        async with conn:
            reader = BufferedByteReceiveStream(conn)
            try:
                while True:
                    head: bytes | None = None
                    with anyio.move_on_after(_IDLE_TIMEOUT):
                        head = await reader.receive_until(b"\r\n\r\n", _MAX_HEAD)
                    if head is None:  # idle too long
                        return
                    try:
                        request = await _read_request(reader, head)
                    except _BadRequestError as exc:
                        await _send_json(conn, 400, _error_body(400, str(exc)), keep_alive=False)
                        return
                    if not await self._respond(conn, request) or not request.keep_alive:
                        return
            except _DroppedError:
                log.debug("fake_llm.drop")
            except _TRANSPORT_ERRORS as exc:
                log.debug("fake_llm.connection_error", error=type(exc).__name__)

    async def _respond(self, conn: anyio.abc.SocketStream, req: _Request) -> bool:
        """Answer one request; return whether the connection may serve another."""
        path = req.path.split("?", 1)[0].rstrip("/")
        keep = req.keep_alive
        if path == "/healthz":
            return await _send(conn, 200, b"ok\n", "text/plain; charset=utf-8", keep_alive=keep)
        if path not in ("/v1/models", "/v1/chat/completions"):
            error = _error_body(404, f"no route for {req.method} {path}")
            return await _send_json(conn, 404, error, keep_alive=keep)
        if (
            self.api_key is not None
            and req.headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            given = req.headers.get("authorization", "").removeprefix("Bearer ")
            # Real servers echo (part of) the key; echo all of it so tests can check redaction.
            error = _error_body(401, f"Incorrect API key provided: {given}")
            return await _send_json(conn, 401, error, keep_alive=keep)
        if path == "/v1/models":
            if req.method != "GET":
                return await _send_json(conn, 405, _error_body(405, "use GET"), keep_alive=keep)
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "bridge"}
                for m in self.models
            ]
            return await _send_json(conn, 200, {"object": "list", "data": data}, keep_alive=keep)
        if req.method != "POST":
            return await _send_json(conn, 405, _error_body(405, "use POST"), keep_alive=keep)
        body: Any = None
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            body = json.loads(req.body or b"null")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            error = _error_body(400, "the body must be a JSON object with a messages list")
            return await _send_json(conn, 400, error, keep_alive=keep)
        self.requests.append(body)
        model = str(body.get("model") or "")
        if self.check_model and model not in self.models:
            text = f"The model `{model}` does not exist or you do not have access to it."
            return await _send_json(conn, 404, _error_body(404, text), keep_alive=keep)
        reply = self._next_reply(body["messages"])
        self._ids += 1
        reply_id = f"chatcmpl-fake-{self._ids}"
        if reply.status != 200:
            given = req.headers.get("authorization", "").removeprefix("Bearer ")
            text = reply.message or _default_message(reply.status, given)
            headers = {"retry-after": "1"} if reply.status == 429 else {}
            error = _error_body(reply.status, text)
            return await _send_json(conn, reply.status, error, keep_alive=keep, headers=headers)
        if body.get("stream"):
            options = body.get("stream_options") or {}
            usage = reply.usage and isinstance(options, dict) and bool(options.get("include_usage"))
            await _Streamer(conn, reply, reply_id, model, usage, body["messages"]).run()
            return keep
        await anyio.sleep(reply.first_delay + reply.delay * max(len(reply.tokens) - 1, 0))
        if reply.fail_after is not None:
            raise _DroppedError
        return await _send_json(
            conn, 200, _completion(reply, reply_id, model, body), keep_alive=keep
        )


class _Streamer:
    """Sends one scripted reply as an SSE stream in a chunked HTTP response."""

    def __init__(
        self,
        conn: anyio.abc.SocketStream,
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
        with anyio.fail_after(_IO_TIMEOUT):
            await self.conn.send(data)

    async def _event(self, payload: str) -> None:
        data = f"data: {payload}\n\n".encode()
        await self._write(b"%x\r\n%s\r\n" % (len(data), data))

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
        await self._write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
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
        await self._write(b"0\r\n\r\n")


async def _read_request(reader: BufferedByteReceiveStream, head: bytes) -> _Request:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(line)
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise _BadRequestError("malformed request head") from exc
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequestError("chunked request bodies are not supported; send Content-Length")
    if not 0 <= length <= _MAX_BODY:
        raise _BadRequestError(f"Content-Length must be 0..{_MAX_BODY}")
    with anyio.fail_after(_IO_TIMEOUT):
        body = await reader.receive_exactly(length) if length else b""
    return _Request(method.upper(), path, headers, body)


async def _send(
    conn: anyio.abc.SocketStream,
    status: int,
    body: bytes,
    content_type: str,
    *,
    keep_alive: bool,
    headers: dict[str, str] | None = None,
) -> bool:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Status"
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    with anyio.fail_after(_IO_TIMEOUT):
        await conn.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return keep_alive


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


async def _send_json(
    conn: anyio.abc.SocketStream,
    status: int,
    payload: dict[str, Any],
    *,
    keep_alive: bool,
    headers: dict[str, str] | None = None,
) -> bool:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return await _send(
        conn, status, body, "application/json", keep_alive=keep_alive, headers=headers
    )


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
    # An error of the block is re-raised after the task group, so that callers see it as it is
    # rather than wrapped in an ExceptionGroup.
    error: Exception | None = None
    async with listener, anyio.create_task_group() as tg:
        server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.start_soon(listener.serve, server.handle, tg)
        log.debug("fake_llm.listening", base_url=server.base_url)
        try:
            yield server
        except Exception as exc:
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error
