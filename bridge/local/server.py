"""The local Qwen-TTS-Realtime-compatible server (the emulator): handshake, routing, lifetime.

``serve_emulator(options, host=..., port=0)`` is an async context manager yielding an
``Emulator`` whose ``url`` is ready for ``bridge.qwen.connect(url=...)`` or the vendor SDK.
"""

from __future__ import annotations

import http
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bridge.local.engines import Synthesizer, make_synthesizer
from bridge.local.options import EmulatorOptions, Faults
from bridge.local.session import EmulatedSession

__all__ = ["REALTIME_PATH", "Emulator", "serve_emulator"]

log = structlog.get_logger("bridge.local")

REALTIME_PATH = "/api-ws/v1/realtime"


def _text_response(status: http.HTTPStatus, body: str) -> Response:
    data = (body + "\n").encode()
    headers = Headers(
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    )
    return Response(status.value, status.phrase, headers, data)


def _bearer(headers: Headers) -> str | None:
    value = headers.get("Authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    # The vendor SDK sent "bearer" until 2026-01, "Bearer" since: accept any case.
    return token.strip() if scheme.lower() == "bearer" else None


@dataclass(eq=False)
class Emulator:
    """A running emulator. ``url`` is ``ws://host:port/api-ws/v1/realtime``."""

    options: EmulatorOptions
    synthesizer: Synthesizer
    host: str = "127.0.0.1"
    port: int = 0
    connections: int = 0
    active: int = 0
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _faults_by_conn: dict[int, Faults] = field(default_factory=dict)
    server: Server | None = None
    last_headers: Headers | None = None  # of the last accepted handshake (for tests)
    last_session: dict[str, Any] | None = None  # the last ended session's settings (for tests)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{REALTIME_PATH}"

    def _faults_for(self, number: int) -> Faults:
        faults = self.options.faults
        if faults.connections is not None and number > faults.connections:
            return Faults()
        return faults

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        if parts.path in ("/healthz", "/readyz"):
            return _text_response(http.HTTPStatus.OK, "ok")
        if parts.path != REALTIME_PATH:
            return _text_response(http.HTTPStatus.NOT_FOUND, f"not found; use {REALTIME_PATH}")
        number = next(self._counter)
        faults = self._faults_for(number)
        if faults.refuse_handshake is not None:
            status = http.HTTPStatus(faults.refuse_handshake)
            return _text_response(status, "refused (injected fault)")
        if self.options.api_key is not None and _bearer(request.headers) != self.options.api_key:
            return _text_response(http.HTTPStatus.UNAUTHORIZED, "invalid or missing API key")
        models = parse_qs(parts.query).get("model")
        if not models or not models[0]:
            return _text_response(http.HTTPStatus.BAD_REQUEST, "missing ?model= query parameter")
        self._faults_by_conn[id(conn)] = faults
        self.last_headers = request.headers
        return None

    async def handler(self, conn: ServerConnection) -> None:
        request = conn.request
        assert request is not None
        model = parse_qs(urlsplit(request.path).query)["model"][0]
        faults = self._faults_by_conn.pop(id(conn), Faults())
        self.connections += 1
        self.active += 1
        session: EmulatedSession | None = None
        try:
            session = EmulatedSession(
                ws=conn,
                model=model,
                options=self.options,
                synthesizer=self.synthesizer,
                faults=faults,
            )
            await session.run()
        except* ConnectionClosed:
            pass  # the client left while we answered (a barge-in closes at once): normal
        finally:
            self.active -= 1
            if session is not None:
                self.last_session = dict(session.config)


@asynccontextmanager
async def serve_emulator(
    options: EmulatorOptions | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    synthesizer: Synthesizer | None = None,
) -> AsyncIterator[Emulator]:
    """Run the emulator on ``host:port`` (port 0 picks a free one) for the block's duration."""
    options = options or EmulatorOptions()
    synth = synthesizer or make_synthesizer(options.engine, processes=options.synthesis_workers)
    emulator = Emulator(options=options, synthesizer=synth, host=host)
    async with serve(
        emulator.handler,
        host,
        port,
        process_request=emulator.process_request,
        max_size=options.max_frame_bytes,
        compression=None,
        ping_interval=20,
        close_timeout=2,
    ) as server:
        emulator.server = server
        sock = next(iter(server.sockets))
        emulator.port = sock.getsockname()[1]
        log.info("emulator.listening", url=emulator.url, engine=synth.name)
        try:
            yield emulator
        finally:
            server.close()
            with anyio.move_on_after(3, shield=True):
                await server.wait_closed()
            close = getattr(synth, "close", None)
            if synthesizer is None and close is not None:  # ours: stop its worker processes
                await anyio.to_thread.run_sync(close)
