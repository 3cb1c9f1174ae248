"""``POST /v1/audio/speech`` (OpenAI-compatible) on a listener of its own, on h11.

Why not the WebSocket port: websockets answers plain HTTP from ``process_request`` with one
complete ``Response`` and refuses any request with a body ("unsupported request body"), so
neither a JSON POST nor a streamed answer can pass through it. This listener (``--speech-port``)
is a small HTTP/1.1 server on h11 (the sans-I/O HTTP library httpx is built on) and anyio:

- one request per connection (``Connection: close``); the head and the body must arrive within
  ``_READ_TIMEOUT`` seconds (else 408), the body is at most ``_max_body`` bytes (else 413);
- the access rules of the WebSocket (``check_access``: the Bearer token when one is set, else
  loopback ``Host`` names; a browser's ``Origin``), the per-address session count and the turn
  rates per client address and per server (a request is one turn); refusals answer in OpenAI's
  error shape ``{"error": {"message", "type", "param", "code"}}``;
- the text goes through the same ``Turn`` as every reply (scrubbed, segmented, the first
  clause early); the answer's head is sent with the first audio and every chunk of audio is
  sent as it arrives, with chunked transfer (``audio/wav`` or ``audio/pcm``). A failure before
  the first audio is an error answer (502, 504 on a timeout; never 500); after it the body is
  cut short (no final chunk), so the client sees an incomplete response, not a short success;
- a client that goes away stops the synthesis (the turn is interrupted).
"""

from __future__ import annotations

import http
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import h11
import structlog

from bridge.adapters.sinks import IteratorSink
from bridge.core.errors import ConfigError
from bridge.core.result import TurnResult
from bridge.pipeline import Turn
from bridge.qwen.models import ModelFamily, model_info
from bridge.server.clients import client_key
from bridge.server.limits import TokenBucket, check_access
from bridge.server.protocol import client_error_for
from bridge.server.request import BadRequestError, parse_request
from bridge.server.speech_api import (
    SPEECH_PATH,
    SPEECH_SAMPLE_RATE,
    SpeechError,
    SpeechRequest,
    parse_speech_request,
    streaming_wav_header,
)

if TYPE_CHECKING:
    from bridge.server.app import BridgeServer

__all__ = ["SpeechListener"]

log = structlog.get_logger("bridge.server")

_READ_TIMEOUT = 10.0
_SEND_TIMEOUT = 30.0  # a client that stops reading for this long is dropped
_MAX_HEAD = 16 * 1024
_REFUSED = {401: "unauthorized", 403: "forbidden"}


async def _once(text: str) -> AsyncIterator[str]:
    yield text


class SpeechListener:
    """Serves ``POST /v1/audio/speech`` for a ``BridgeServer`` on its own TCP listener."""

    def __init__(
        self, app: BridgeServer, listener: anyio.abc.Listener[anyio.abc.SocketStream]
    ) -> None:
        self.app = app
        self.listener = listener
        self.port: int = listener.extra(anyio.abc.SocketAttribute.local_port)
        self.active = 0
        limits = app.options.limits
        self._max_chars = limits.max_speak_chars
        self._max_body = 4 * limits.max_speak_chars + 8192

    async def serve(self) -> None:
        """Accept until cancelled (the server's end), then close the listening socket. While
        the server drains, new requests are answered 503 and those being answered go on."""
        async with self.listener:
            await self.listener.serve(self._connection)

    # --- one connection -----------------------------------------------------------------------

    async def _connection(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
            try:
                await self._serve_one(stream, conn)
            except SpeechError as exc:
                await self._send_error(stream, conn, exc)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass  # the client went away
            except Exception:  # a bug ends this request only, and is logged; never a 500
                log.exception("speech.failed")
                await self._send_error(
                    stream,
                    conn,
                    SpeechError(502, "the server failed; please retry", type="server_error"),
                )

    async def _read(
        self, stream: anyio.abc.SocketStream, conn: h11.Connection
    ) -> tuple[h11.Request, bytes]:
        request: h11.Request | None = None
        body = bytearray()
        with anyio.move_on_after(_READ_TIMEOUT) as scope:
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError:
                    raise SpeechError(400, "malformed HTTP request") from None
                if event is h11.NEED_DATA:
                    if conn.they_are_waiting_for_100_continue:  # "Expect: 100-continue"
                        await stream.send(
                            conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                        )
                    try:
                        data = await stream.receive(65536)
                    except anyio.EndOfStream:
                        data = b""
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    request = event
                    length = _content_length(event.headers)
                    if length is not None and length > self._max_body:
                        raise SpeechError(
                            413, f"the request body is limited to {self._max_body} bytes"
                        )
                elif isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > self._max_body:
                        raise SpeechError(
                            413, f"the request body is limited to {self._max_body} bytes"
                        )
                elif isinstance(event, h11.EndOfMessage):
                    assert request is not None
                    return request, bytes(body)
                else:  # ConnectionClosed before a whole request
                    raise anyio.EndOfStream
        assert scope.cancelled_caught
        raise SpeechError(408, "the request did not arrive in time", code="timeout")

    async def _serve_one(self, stream: anyio.abc.SocketStream, conn: h11.Connection) -> None:
        try:
            request, body = await self._read(stream, conn)
        except anyio.EndOfStream:
            return
        target = request.target.decode("latin-1")
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        try:
            parsed = parse_request(target, pairs)
        except BadRequestError as exc:
            self.app.metrics.refused.labels("bad_request").inc()
            raise SpeechError(400, f"bad request: {exc.reason}") from None
        if parsed.path != SPEECH_PATH:
            raise SpeechError(404, f"not found; this port serves POST {SPEECH_PATH}")
        if request.method != b"POST":
            raise SpeechError(405, f"{SPEECH_PATH} takes POST")
        if self.app.draining:
            self.app.metrics.refused.labels("shutting_down").inc()
            raise SpeechError(503, "the server is shutting down", type="server_error")
        denied = check_access(
            path=parsed.target,
            headers=parsed.headers,
            token=self.app.options.token,
            origins=self.app.options.origins,
        )
        if denied is not None:
            log.info("access.denied", status=denied.status, reason=denied.reason)
            self.app.metrics.refused.labels(_REFUSED.get(denied.status, "forbidden")).inc()
            code = "invalid_api_key" if denied.status == 401 else "forbidden"
            raise SpeechError(denied.status, denied.reason, code=code)
        speech = self._parse(body)
        key = self._client_key(stream, parsed.headers)
        quotas = self.app.quotas
        if not quotas.open_session(key):
            self.app.metrics.refused.labels("too_many_sessions").inc()
            raise SpeechError(
                429,
                "this client address holds its maximum number of sessions; retry later",
                type="requests",
                code="rate_limit_exceeded",
            )
        try:
            refused = quotas.take_turn(_unlimited(), key, self.app.backend.clock())
            if refused is not None:
                self.app.metrics.rate_limited.labels(f"turns_{refused.scope}").inc()
                raise SpeechError(
                    429,
                    f"at most {refused.per_minute:g} requests per minute; retry later",
                    type="requests",
                    code="rate_limit_exceeded",
                    retry_after=refused.retry_after,
                )
            self.active += 1
            try:
                await self._speak(stream, conn, speech)
            finally:
                self.active -= 1
        finally:
            quotas.close_session(key)

    def _parse(self, body: bytes) -> SpeechRequest:
        backend = self.app.backend
        info = model_info(backend.tts.model)
        return parse_speech_request(
            body,
            server_model=backend.tts.model,
            voices=backend.voices(),
            default_voice=backend.tts.config.voice,
            has_speech_rate=info is None or info.family is not ModelFamily.LEGACY,
            max_chars=self._max_chars,
        )

    def _client_key(self, stream: anyio.abc.SocketStream, headers: Any) -> str:
        peer = stream.extra(anyio.abc.SocketAttribute.remote_address, None)
        host = peer[0] if isinstance(peer, tuple) and peer else None
        trust = self.app.proxy_trust
        value = headers.get(trust.header)
        return client_key(trust.client_address(host, [value] if value is not None else []))

    # --- the answer ---------------------------------------------------------------------------

    async def _speak(
        self, stream: anyio.abc.SocketStream, conn: h11.Connection, speech: SpeechRequest
    ) -> None:
        backend = self.app.backend
        config = backend.tts.config.with_changes(
            voice=speech.voice,
            sample_rate=SPEECH_SAMPLE_RATE,
            speech_rate=speech.speed,
            instructions=speech.instructions,
        )
        try:
            config.validate(backend.tts.model)
        except ConfigError as exc:
            raise SpeechError(
                400,
                f"the speech model does not accept this {exc.field or 'setting'}",
                param="instructions" if exc.field == "instructions" else exc.field,
                code="invalid_value",
            ) from None
        sink = IteratorSink(max_chunks=8)
        target = replace(backend.tts, config=config)
        # the server's default lexicon (bridge serve --lexicon) applies here too
        options = backend.pipeline_for(backend.default_settings())
        turn = Turn(_once(speech.input), sink, target=target, options=options)
        metrics = self.app.metrics
        started = gone = False
        sent = 0
        result: list[TurnResult] = []
        metrics.running_turns.inc()
        try:
            async with anyio.create_task_group() as tg:

                async def run() -> None:
                    result.append(await turn.run())

                tg.start_soon(run)
                try:
                    async for chunk in sink:
                        if not started:
                            started = True
                            await self._start(stream, conn, speech)
                        await self._send(stream, conn, h11.Data(data=chunk.data))
                        sent += chunk.samples
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    gone = True
                    turn.interrupt()  # the client went away: stop synthesising
        finally:
            metrics.running_turns.dec()
            metrics.turn_finished(
                result[0] if result else None, audio_sent=sent / SPEECH_SAMPLE_RATE
            )
        outcome = result[0]
        if gone:
            log.info("speech.client_gone")
            return
        if outcome.error is not None:
            code, message = client_error_for(outcome.error)
            if not started:
                status = 504 if isinstance(outcome.error.exception, TimeoutError) else 502
                raise SpeechError(status, message, type="server_error", code=code.value)
            return  # the body stays incomplete: no final chunk
        if not started:
            raise SpeechError(
                400,
                "the input has nothing to speak (markdown, emoji and code are not read aloud)",
                param="input",
            )
        await self._send(stream, conn, h11.EndOfMessage())

    async def _start(
        self, stream: anyio.abc.SocketStream, conn: h11.Connection, speech: SpeechRequest
    ) -> None:
        headers = [
            ("Content-Type", speech.content_type),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Connection", "close"),
            ("Server", "bridge"),
        ]
        await self._send(stream, conn, h11.Response(status_code=200, headers=headers))
        if speech.response_format == "wav":
            await self._send(stream, conn, h11.Data(data=streaming_wav_header()))

    async def _send(self, stream: anyio.abc.SocketStream, conn: h11.Connection, event: Any) -> None:
        data = conn.send(event)
        if data:
            try:
                with anyio.fail_after(_SEND_TIMEOUT):
                    await stream.send(data)
            except TimeoutError:
                raise anyio.BrokenResourceError from None  # a client that stopped reading

    async def _send_error(
        self, stream: anyio.abc.SocketStream, conn: h11.Connection, exc: SpeechError
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # the answer has begun: nothing more can be said
        body = exc.body()
        status = http.HTTPStatus(exc.status)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
            ("Server", "bridge"),
        ]
        if exc.retry_after is not None:
            headers.append(("Retry-After", str(max(1, round(exc.retry_after)))))
        raw = _raw_response(status, headers, body)
        with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, TimeoutError):
            with anyio.fail_after(5):
                await stream.send(raw)


def _raw_response(status: http.HTTPStatus, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """An HTTP/1.1 answer written directly, for requests h11 could not parse as well."""
    head = f"HTTP/1.1 {status.value} {status.phrase}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (head + "\r\n").encode("latin-1") + body


def _content_length(headers: Any) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _unlimited() -> TokenBucket:
    """The per-session bucket of a request: none (the address and server rates apply)."""
    return TokenBucket(1, 1.0)
