"""A streaming chat request sent on the SDK's own HTTP client, without the SDK's request path.

``chat.completions.with_streaming_response.create`` spends about a millisecond of CPU per
request before the first byte leaves (option objects, the header and URL merging of its
request builder, its auth and retry layers), most of the gap between ``user.message`` and the
request at the model (``benchmarks/relay_compare.py``'s hop; ``benchmarks/llm_stream_speed.py``
measures the CPU per request). For a client bridge built itself
(``make_client``: a static key, no retries, no credential provider) the request is the same
bytes every time but for the body: ``RawChat`` keeps the headers once and sends the body with
the SDK's ``httpx`` client (one connection pool), and raises the SDK's own exceptions for a
failure (``openai.APIConnectionError``/``APITimeoutError`` for the transport, the typed
``APIStatusError`` for an HTTP error, made by the SDK itself), so ``Endpoint.error`` reads
them as before. Any other client, retries, or per-call SDK options take the SDK's path.

The request itself is built once (``build_request``, at the start: the URL parsed, the client's
default headers merged with ours, the timeout) and then per call only its body and
``Content-Length`` change, and it goes to the client's transport for that URL straight away,
past the client's ``send`` (its auth flow, redirect loop, event hooks and cookie jar; the
transport maps the errors, as under ``send``): the same bytes on the wire. That path is taken
while the client has no auth, no event hooks and no cookies; a response that sets a cookie is
put in the client's jar (and the next requests take ``send``), and a redirect is sent again
through ``send``, which follows it as the SDK's client does. In all ``build_request`` and
``send`` took ~0.5 ms of CPU per request on the one-client hop, with cold caches
(``benchmarks/model_hop.py``).

The request's head and its body go out in one write (one TCP segment for a small request):
``httpcore`` writes them one after the other with a pass of the event loop between, so the
server woke for the head and again for the body. The connection pool's network backend is
wrapped (``OneWrite``) to hold the head of a request with a body until the body's first write;
the bytes are the same.

``open(body, on_sent=...)`` says when the request is out, through the HTTP stack's ``trace``
request extension (httpcore's documented events): once its body has been written, or as soon as
the request has to open a new connection first (a connect, and TLS, take long enough for other
work to go on meanwhile), and at the latest when ``open`` returns or fails. ``Turn`` starts the
rest of a turn after it, so that nothing comes between the request's bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import openai
import orjson

from bridge.adapters.openai_client import (
    is_plain,
    is_transport_error,
    status_failure,
    transport_failure,
)

__all__ = ["OneWrite", "RawChat"]

# httpcore trace events after which the request is out, or will not be for a while
_SENT_EVENTS = ("send_request_body.complete", "send_request_body.failed")
_CONNECTING_EVENTS = ("connect_tcp.started", "connect_unix_socket.started")


class RawChat:
    """Opens streaming chat completions for one plain client (see the module's docstring)."""

    def __init__(self, client: openai.AsyncOpenAI, http: Any) -> None:
        self._client = client
        self._http = http
        self._url = str(client.base_url).rstrip("/") + "/chat/completions"
        headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}
        headers.update(client.auth_headers)
        self._headers = headers
        self._timeout = client.timeout
        # The request as the client builds it, once; per call only the body changes.
        template = http.build_request(
            "POST", self._url, content=b"{}", headers=headers, timeout=self._timeout
        )
        self._request_type = type(template)
        self._stream_type = type(template.stream)
        self._request_url = template.url
        self._raw_headers: list[tuple[bytes, bytes]] = list(template.headers.raw)
        self._length_at = next(
            (i for i, (k, _) in enumerate(self._raw_headers) if k.lower() == b"content-length"),
            None,
        )
        self._extensions: dict[str, Any] = dict(template.extensions)
        transport_for = getattr(http, "_transport_for_url", None)
        transport = transport_for(template.url) if callable(transport_for) else None
        direct = (
            hasattr(transport, "handle_async_request")
            and self._length_at is not None
            and getattr(http, "auth", None) is None
            and not any(getattr(http, "event_hooks", {"?": [None]}).values())
        )
        self._transport = transport if direct else None
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, OneWrite):
            pool._network_backend = OneWrite(backend)  # type: ignore[union-attr]

    @classmethod
    def of(cls, client: openai.AsyncOpenAI, options: Mapping[str, Any]) -> RawChat | None:
        """The raw path for ``client``, or ``None`` when the SDK's path must be taken: a
        client bridge did not build, retries, or per-call SDK ``options``."""
        if options or not is_plain(client) or client.max_retries:
            return None
        http = getattr(client, "_client", None)
        if not hasattr(http, "build_request") or not hasattr(http, "send"):
            return None
        if not hasattr(client, "_make_status_error_from_response"):
            return None
        return cls(client, http)

    @asynccontextmanager
    async def open(
        self, body: Mapping[str, Any], on_sent: Callable[[], None] | None = None
    ) -> AsyncIterator[Any]:
        """The streaming HTTP response to ``body`` (a 2xx one), closed at the block's end.
        ``on_sent`` is called once, when the request is out (see the module's docstring)."""
        extensions: dict[str, Any] | None = None
        sent = on_sent
        if on_sent is not None:

            async def trace(event: str, info: Mapping[str, Any]) -> None:
                nonlocal sent
                if sent is not None and event.endswith(_SENT_EVENTS + _CONNECTING_EVENTS):
                    call, sent = sent, None
                    call()

            extensions = {"trace": trace}
        content = orjson.dumps(body)
        http = self._http
        transport = self._transport
        try:
            if transport is not None and not http.cookies and not http.is_closed:
                request = self._request(content, extensions)
                response = await transport.handle_async_request(request)
                response.request = request
                if response.has_redirect_location or "set-cookie" in response.headers:
                    response = await self._after_direct(response, content, extensions)
            else:
                request = self._build(content, extensions)
                response = await http.send(request, stream=True)
        except Exception as exc:
            if not is_transport_error(exc):
                raise
            raise transport_failure(exc, request) from exc
        finally:
            if sent is not None:
                call, sent = sent, None
                call()
        try:
            if response.status_code >= 400:
                try:
                    await response.aread()
                except Exception as exc:
                    if not is_transport_error(exc):
                        raise
                raise status_failure(self._client, response)
            yield response
        finally:
            await response.aclose()

    def _request(self, content: bytes, extensions: Mapping[str, Any] | None) -> Any:
        """The request ``build_request`` would make for ``content``, from the one it made."""
        headers = self._raw_headers.copy()
        assert self._length_at is not None
        headers[self._length_at] = (headers[self._length_at][0], b"%d" % len(content))
        request = self._request_type(
            "POST",
            self._request_url,
            headers=headers,
            stream=self._stream_type(content),
            extensions=self._extensions
            if extensions is None
            else {**self._extensions, **extensions},
        )
        request.read()  # its content, as build_request leaves it (a bytes body is read)
        return request

    async def _after_direct(
        self, response: Any, content: bytes, extensions: Mapping[str, Any] | None
    ) -> Any:
        """What the client's ``send`` does more than its transport, when it matters: keep a
        response's cookies (the next requests take ``send``, with the jar), follow a redirect
        (``send`` again, which follows it as the client is set to)."""
        self._http.cookies.extract_cookies(response)
        if not (response.has_redirect_location and self._http.follow_redirects):
            return response
        await response.aclose()
        return await self._http.send(self._build(content, extensions), stream=True)

    def _build(self, content: bytes, extensions: Mapping[str, Any] | None) -> Any:
        """The request for ``content`` as the client builds it, for its ``send`` (the path
        with its cookie jar, auth and redirects)."""
        return self._http.build_request(
            "POST",
            self._url,
            content=content,
            headers=self._headers,
            timeout=self._timeout,
            extensions=extensions,
        )


def _holds_body(data: bytes) -> bool:
    """Whether ``data`` is the whole head of an HTTP/1.1 request whose body follows (a
    ``Content-Length`` above zero)."""
    if not data.endswith(b"\r\n\r\n") or b" HTTP/1.1\r\n" not in data[:8192]:
        return False
    at = data.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return False
    value = data[at + 17 : data.index(b"\r\n", at + 2)].strip()
    return value.isdigit() and int(value) > 0


class OneWrite:
    """A network backend of the HTTP stack (httpcore's) whose connections write a request's
    head together with the first write of its body (see the module's docstring)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> _OneWriteStream:
        return _OneWriteStream(await self._backend.connect_tcp(*args, **kwargs))

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> _OneWriteStream:
        return _OneWriteStream(await self._backend.connect_unix_socket(*args, **kwargs))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _OneWriteStream:
    """One connection: holds a request's head until its body's first write (or a read)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._head: bytes | None = None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        head = self._head
        if head is not None:
            self._head = None
            buffer = head + buffer
        elif _holds_body(buffer):
            self._head = buffer
            return
        await self._stream.write(buffer, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._head is not None:  # nothing came after the head: it goes alone
            head, self._head = self._head, None
            await self._stream.write(head, timeout)
        data: bytes = await self._stream.read(max_bytes, timeout)
        return data

    async def aclose(self) -> None:
        self._head = None
        await self._stream.aclose()

    async def start_tls(self, *args: Any, **kwargs: Any) -> _OneWriteStream:
        return _OneWriteStream(await self._stream.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
