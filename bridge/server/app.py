"""The lifetime of ``bridge serve``: listen, route handshakes, hold sessions, shut down gracefully.

``serve_bridge(options, llm=LLMConfig, tts=TTSTarget)`` is an async context manager yielding a
running ``BridgeServer``; ``url`` is the WebSocket URL (``ws://host:port/ws``) and
``http_url`` the demo page, ``speech_url`` the OpenAI-compatible base URL when
``options.speech_port`` is set (``bridge.server.speech_http``, a listener of its own). One
websockets asyncio server answers plain HTTP (the page, ``/healthz``, ``/readyz``, static
files) and WebSocket handshakes on ``/ws`` on the same port.

Graceful shutdown (``await server.shutdown()``, done by the command on SIGTERM or SIGINT): the
listening socket is closed at once (no new connections), ``/readyz`` and new handshakes answer
503, every session refuses new turns and closes with 1001 as soon as its running response has
finished, and at ``shutdown_grace`` the responses still running are interrupted (each still
gets ``response.interrupted`` and ``response.done``) and their connections closed with 1001.
"""

from __future__ import annotations

import http
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace

import anyio
import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from bridge.adapters.lexicon_file import NO_LEXICON
from bridge.adapters.llm import LLMConfig
from bridge.adapters.openai_client import client_for
from bridge.adapters.prompts import list_prompts, load_prompt
from bridge.core.errors import ConfigError
from bridge.pipeline import TTSTarget
from bridge.server.clients import client_key
from bridge.server.http import (
    Readiness,
    StaticFiles,
    body_response,
    json_response,
    load_static,
    text_response,
)
from bridge.server.limits import check_access
from bridge.server.metrics import CONTENT_TYPE as METRICS_TYPE
from bridge.server.metrics import ServerMetrics
from bridge.server.options import WS_PATH, Backend, ServerOptions
from bridge.server.protocol import CloseCode, ErrorCode
from bridge.server.quotas import ServerQuotas
from bridge.server.request import BadRequestError, ParsedRequest, parse_request
from bridge.server.session import ClientSession, reject
from bridge.server.speech_api import SPEECH_PATH
from bridge.server.speech_http import SpeechListener
from bridge.server.store import open_store
from bridge.text import Lexicon

__all__ = ["BridgeServer", "builtin_prompts", "serve_bridge"]

log = structlog.get_logger("bridge.server")

_TTS_CLOSE_TIMEOUT = 0.25
_REFUSED = {401: "unauthorized", 403: "forbidden"}


def builtin_prompts(default: str | None = None, default_text: str | None = None) -> dict[str, str]:
    """Prompts clients may choose by name: the built-in ones, ``default`` first.

    ``default`` is a built-in name, or with ``default_text`` any label (e.g. ``"custom"`` for
    a prompt file the operator chose)."""
    prompts = {name: load_prompt(name) for name in list_prompts()}
    if default is None:
        default = "assistant" if "assistant" in prompts else next(iter(prompts), "none")
    if default_text is not None:
        prompts.pop(default, None)
        return {default: default_text, **prompts}
    if default not in prompts:
        raise ConfigError(f"unknown prompt {default!r}", field="prompt")
    return {default: prompts.pop(default), **prompts}


class BridgeServer:
    """A running ``bridge serve``. Create it with ``serve_bridge``."""

    def __init__(self, backend: Backend, static: StaticFiles) -> None:
        self.backend = backend
        self.options = backend.options
        self.static = static
        self.readiness = Readiness(backend)
        self.metrics = ServerMetrics()
        self.quotas = ServerQuotas(self.options.limits)
        self.proxy_trust = self.options.proxy_trust()
        self.sessions: set[ClientSession] = set()
        self.sessions_total = 0
        self.port = self.options.port
        self.draining = False
        self._server: Server | None = None
        self.speech: SpeechListener | None = None  # POST /v1/audio/speech, when served
        self._idle = anyio.Event()

    @property
    def _authority(self) -> str:
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"ws://{self._authority}{WS_PATH}"

    @property
    def http_url(self) -> str:
        return f"http://{self._authority}/"

    @property
    def speech_url(self) -> str | None:
        """The OpenAI-compatible base URL (``http://host:port/v1``), when it is served."""
        if self.speech is None:
            return None
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.speech.port}{SPEECH_PATH.removesuffix('/audio/speech')}"

    # --- HTTP and the handshake --------------------------------------------------------------

    async def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        # Whatever the client sent is parsed before it is acted on: a request that does not
        # parse is the client's error (400), answered without a traceback, and the log line
        # holds neither the path (a ?token=) nor a header value.
        try:
            parsed = parse_request(request.path, request.headers.raw_items())
            if parsed.path != "/readyz":
                return self._route(parsed)
        except ValueError as exc:  # BadRequestError, or any other parse failure of client input
            reason = exc.reason if isinstance(exc, BadRequestError) else "malformed request"
            log.info("request.bad", reason=reason, error=type(exc).__name__)
            self.metrics.refused.labels("bad_request").inc()
            return text_response(http.HTTPStatus.BAD_REQUEST, f"bad request: {reason}")
        return await self._readyz()

    def _route(self, request: ParsedRequest) -> Response | None:
        path = request.path
        if path == WS_PATH:
            return self._check_handshake(request)
        if path == "/healthz":
            return text_response(http.HTTPStatus.OK, "ok")
        if path == "/metrics":
            return self._metrics(request)
        name = "index.html" if path in ("/", "/index.html") else path.removeprefix("/static/")
        if path == "/" or path.startswith("/static/") or path == "/index.html":
            found = self.static.response(name)
            if found is not None:
                return found
        return text_response(http.HTTPStatus.NOT_FOUND, f"not found; the WebSocket is {WS_PATH}")

    async def _readyz(self) -> Response:
        if self.draining:
            return json_response(http.HTTPStatus.SERVICE_UNAVAILABLE, {"status": "shutting_down"})
        checks = await self.readiness.check()
        ready = all(v in ("ok", "not_configured") for v in checks.values())
        status = http.HTTPStatus.OK if ready else http.HTTPStatus.SERVICE_UNAVAILABLE
        return json_response(status, {"status": "ready" if ready else "not_ready", **checks})

    def _metrics(self, request: ParsedRequest) -> Response:
        # The WebSocket's access rules: the token when one is set, else loopback Host names.
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return body_response(http.HTTPStatus.OK, self.metrics.render(), METRICS_TYPE)

    def _refusal(self, request: ParsedRequest) -> Response | None:
        """The answer to a request that the access rules refuse (counted), else ``None``."""
        denied = check_access(
            path=request.target,
            headers=request.headers,
            token=self.options.token,
            origins=self.options.origins,
        )
        if denied is None:
            return None
        log.info("access.denied", status=denied.status, reason=denied.reason)
        self.metrics.refused.labels(_REFUSED.get(denied.status, "forbidden")).inc()
        return text_response(http.HTTPStatus(denied.status), denied.reason)

    def _check_handshake(self, request: ParsedRequest) -> Response | None:
        if self.draining:
            self.metrics.refused.labels("shutting_down").inc()
            return text_response(
                http.HTTPStatus.SERVICE_UNAVAILABLE, "shutting down", extra={"Retry-After": "5"}
            )
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if "websocket" not in request.headers.get("upgrade", "").lower():
            return text_response(
                http.HTTPStatus.UPGRADE_REQUIRED, "this path takes WebSocket connections"
            )
        return None

    async def handler(self, conn: ServerConnection) -> None:
        if len(self.sessions) >= self.options.limits.max_sessions:
            log.warning("session.refused_full", sessions=len(self.sessions))
            self.metrics.refused.labels("server_full").inc()
            await reject(
                conn,
                ErrorCode.SERVER_FULL,
                "the server holds its maximum number of sessions; try again later",
                CloseCode.TRY_AGAIN_LATER,
            )
            return
        if self.draining:
            self.metrics.refused.labels("shutting_down").inc()
            await reject(
                conn, ErrorCode.SHUTTING_DOWN, "the server is shutting down", CloseCode.GOING_AWAY
            )
            return
        key = self._client_key(conn)
        if not self.quotas.open_session(key):
            log.warning("session.refused_address_full")  # no address in the log
            self.metrics.refused.labels("too_many_sessions").inc()
            await reject(
                conn,
                ErrorCode.TOO_MANY_SESSIONS,
                "this client address holds its maximum number of sessions; close one first",
                CloseCode.TRY_AGAIN_LATER,
            )
            return
        try:
            session = ClientSession(
                conn, self.backend, metrics=self.metrics, quotas=self.quotas, client_key=key
            )
            self.sessions.add(session)
            self.sessions_total += 1
            self.metrics.sessions.inc()
            self.metrics.worker_sessions.inc()
            self.metrics.sessions_accepted.inc()
            self._idle = anyio.Event() if self._idle.is_set() else self._idle
            try:
                await session.run()
            finally:
                self.sessions.discard(session)
                self.metrics.sessions.dec()
                self.metrics.worker_sessions.dec()
                if not self.sessions:
                    self._idle.set()
        finally:
            self.quotas.close_session(key)

    def _client_key(self, conn: ServerConnection) -> str:
        """The key of the connection's client address (the forwarded one from a trusted
        proxy) for the per-address limits."""
        peer = conn.remote_address
        host = peer[0] if isinstance(peer, tuple) and peer else None
        request = conn.request
        values = request.headers.get_all(self.proxy_trust.header) if request is not None else []
        return client_key(self.proxy_trust.client_address(host, values))

    # --- shutdown ------------------------------------------------------------------------------

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, let running responses finish up to ``grace`` seconds (default
        ``options.shutdown_grace``), close every connection with 1001. Calling it again (e.g.
        on a second signal) shortens the deadline."""
        grace = self.options.shutdown_grace if grace is None else grace
        first = not self.draining
        self.draining = True
        if first:
            log.info("server.draining", sessions=len(self.sessions), grace=grace)
            if self._server is not None:
                self._server.close(close_connections=False)

        deadline = self.backend.clock() + grace
        for session in list(self.sessions):
            session.drain(deadline)
        if self.sessions:
            # Sessions close themselves by the deadline; allow for their closing handshakes.
            with anyio.move_on_after(grace + 5):
                await self._idle.wait()
        # Speech being streamed (POST /v1/audio/speech) may finish by the deadline too.
        while self.speech is not None and self.speech.active and self.backend.clock() < deadline:
            await anyio.sleep(0.05)
        log.info("server.drained", left=len(self.sessions))


@asynccontextmanager
async def serve_bridge(
    options: ServerOptions,
    *,
    llm: LLMConfig | None,
    tts: TTSTarget,
    prompts: Mapping[str, str] | None = None,
    lexicons: Mapping[str, Lexicon] | None = None,
    default_lexicon: str = NO_LEXICON,
) -> AsyncIterator[BridgeServer]:
    """Run ``bridge serve`` for the block's duration (``options.port=0`` picks a free port).

    ``prompts`` maps names clients may choose to prompt texts, the default first (default:
    ``builtin_prompts()``); ``lexicons`` maps names clients may choose to lexicons (besides
    ``"none"``), ``default_lexicon`` is a new session's. ``llm=None``: no chat model; sessions
    speak their clients' own text (``text.append``) and ``user.message`` is refused with
    ``no_chat_model``. Raises ``ConfigError`` when the port cannot be bound."""
    tts.config.validate(tts.model)
    # A barge-in closes the turn's TTS connection before the result (and so
    # response.interrupted) exists. With audio paced to the client, that connection's unread
    # audio holds the close frame back until the close timeout: keep it short here.
    timeouts = replace(tts.timeouts, close=min(tts.timeouts.close, _TTS_CLOSE_TIMEOUT))
    tts = replace(tts, timeouts=timeouts)
    # Conversations kept for a reconnect (session.resume): checked before anything else opens.
    store = await open_store(options.store, clock=anyio.current_time)
    # one connection pool shared by all sessions
    client = client_for(llm) if llm is not None else None
    backend = Backend(
        llm_config=llm,
        openai_client=client,
        tts=tts,
        prompts=prompts if prompts is not None else builtin_prompts(),
        options=options,
        lexicons=lexicons or {},
        default_lexicon=default_lexicon,
        store=store,
    )
    app = BridgeServer(backend, load_static())
    limits = options.limits
    try:
        server = await serve(
            app.handler,
            options.host,
            options.port,
            process_request=app.process_request,
            max_size=limits.max_frame_bytes,
            max_queue=32,
            compression=None,
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_interval,
            close_timeout=2,
            server_header="bridge",
            reuse_port=options.reuse_port or None,
        )
    except OSError as exc:
        if client is not None:
            await client.close()
        await store.aclose()
        raise ConfigError(
            f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}"
        ) from None
    app._server = server
    app.port = next(iter(server.sockets)).getsockname()[1]
    try:
        async with anyio.create_task_group() as tg:
            if options.speech_port is not None:
                app.speech = await _speech_listener(app, options)
                tg.start_soon(app.speech.serve)
                log.info("server.speech_listening", url=app.speech_url)
            log.info("server.listening", url=app.url, max_sessions=limits.max_sessions)
            try:
                yield app
            finally:
                tg.cancel_scope.cancel()  # requests still streaming speech end here
    finally:
        with anyio.CancelScope(shield=True):
            if not app.draining:
                await app.shutdown(grace=0)
            server.close()
            with anyio.move_on_after(5):
                await server.wait_closed()
            if client is not None:
                await client.close()
            with anyio.move_on_after(2):
                await store.aclose()


async def _speech_listener(app: BridgeServer, options: ServerOptions) -> SpeechListener:
    port = options.speech_port
    assert port is not None
    try:
        listener = await anyio.create_tcp_listener(
            local_host=options.host, local_port=port, reuse_port=options.reuse_port
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {options.host}:{port} (--speech-port): {exc.strerror or exc}"
        ) from None
    return SpeechListener(app, listener)
