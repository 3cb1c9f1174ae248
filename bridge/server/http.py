"""Plain HTTP on the WebSocket port: the demo page, ``/healthz``, ``/readyz``, ``/metrics``
(Prometheus text, behind the WebSocket's token rules), static files.

websockets answers these from ``process_request`` before any upgrade, so one port serves both.
Static files are read once at start-up from the package (``bridge/server/static``) into
memory and served by exact name only: no path from a request ever reaches the file system.

``/readyz`` is ready when the server is not draining and both upstreams answer: the speech
service accepts a session (opened and closed again) and the chat endpoint answers
``GET /models`` (any answer but an authentication failure or a server error counts, as some
compatible servers have no such route). Results are reused for ``readiness_ttl`` seconds and
one probe runs at a time; the body says ``ok``, ``unreachable``, ``auth_failed`` or ``error``
per upstream and never an address or a message from upstream.
"""

from __future__ import annotations

import http
import json
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import anyio
import openai
import structlog
from websockets.datastructures import Headers
from websockets.http11 import Response

from bridge.adapters.openai_client import Endpoint
from bridge.core.errors import (
    BridgeError,
    LLMAuthError,
    LLMError,
    LLMRateLimitError,
    LLMServerError,
    TTSAuthError,
)
from bridge.server.options import Backend

__all__ = [
    "Readiness",
    "StaticFiles",
    "body_response",
    "json_response",
    "load_static",
    "text_response",
]

log = structlog.get_logger("bridge.server")

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'"
)
_PROBE_TIMEOUT = 5.0


def _headers(content_type: str, length: int, extra: dict[str, str] | None = None) -> Headers:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(length)),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ]
    )
    for name, value in (extra or {}).items():
        headers[name] = value
    return headers


def text_response(
    status: http.HTTPStatus, body: str, *, extra: dict[str, str] | None = None
) -> Response:
    data = (body + "\n").encode()
    headers = _headers("text/plain; charset=utf-8", len(data), extra)
    return Response(status.value, status.phrase, headers, data)


def json_response(status: http.HTTPStatus, body: dict[str, Any]) -> Response:
    data = json.dumps(body).encode()
    return Response(status.value, status.phrase, _headers("application/json", len(data)), data)


def body_response(status: http.HTTPStatus, data: bytes, content_type: str) -> Response:
    return Response(status.value, status.phrase, _headers(content_type, len(data)), data)


@dataclass(frozen=True, slots=True)
class StaticFiles:
    """The demo's files by name (``index.html``, ``demo.js``, ...), read once."""

    files: MappingProxyType[str, tuple[bytes, str]]

    def response(self, name: str) -> Response | None:
        found = self.files.get(name)
        if found is None:
            return None
        data, content_type = found
        extra = {"Content-Security-Policy": _PAGE_POLICY} if name.endswith(".html") else {}
        if name.endswith(".html"):
            extra["X-Frame-Options"] = "DENY"
        ok = http.HTTPStatus.OK
        return Response(ok.value, ok.phrase, _headers(content_type, len(data), extra), data)


def load_static() -> StaticFiles:
    folder = resources.files("bridge.server").joinpath("static")
    files: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES and not entry.name.startswith("."):
            files[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return StaticFiles(MappingProxyType(files))


class Readiness:
    """Probes the upstreams for ``/readyz`` (cached, one probe at a time)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._lock = anyio.Lock()
        self._at: float | None = None
        self._last: dict[str, str] = {}

    async def check(self) -> dict[str, str]:
        ttl = self._backend.options.readiness_ttl
        async with self._lock:
            now = self._backend.clock()
            if self._at is None or now - self._at >= ttl:
                results: dict[str, str] = {}
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._probe, "tts", self._tts, results)
                    tg.start_soon(self._probe, "llm", self._llm, results)
                self._last, self._at = results, self._backend.clock()
            return dict(self._last)

    async def _probe(self, name: str, probe: Any, results: dict[str, str]) -> None:
        with anyio.move_on_after(_PROBE_TIMEOUT):
            results[name] = await probe()
            return
        results[name] = "unreachable"

    async def _tts(self) -> str:
        try:
            async with self._backend.tts.connect():
                return "ok"
        except TTSAuthError:
            return "auth_failed"
        except BridgeError as exc:
            log.warning("readyz.tts", error=type(exc).__name__)
            return "unreachable"

    async def _llm(self) -> str:
        client = self._backend.openai_client
        if client is None:
            return "not_configured"  # a speak-only server: ready without one
        try:
            await client.models.list()
        except openai.APIError as exc:
            state = _ready_state(Endpoint.of(client).error(exc))
            if state == "unreachable":  # connection errors and timeouts
                log.warning("readyz.llm", error=type(exc).__name__)
            return state
        return "ok"


def _ready_state(error: LLMError) -> str:
    """What ``/readyz`` says of the model endpoint after a failed model list: any answer
    below 500 (some servers have no model list, or rate limit it) means it is up."""
    if isinstance(error, LLMAuthError):
        return "auth_failed"
    if isinstance(error, LLMRateLimitError):
        return "ok"
    if isinstance(error, LLMServerError) and error.status is not None:
        return "error" if error.status >= 500 else "ok"
    return "unreachable"
