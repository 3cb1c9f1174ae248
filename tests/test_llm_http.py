"""The raw request path (``bridge.adapters.llm_http``): taken for a client bridge built, with the
same request and the same errors as the SDK's path; the SDK's path for everything else."""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import Any

import anyio
import anyio.abc
import httpx2
import openai
import pytest
from openai.resources.chat.completions import AsyncCompletions

from bridge.adapters.llm import LLMClient, LLMConfig
from bridge.adapters.llm_http import OneWrite, RawChat
from bridge.adapters.openai_client import make_client
from bridge.core.errors import LLMAuthError, LLMConnectionError, LLMServerError
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

pytestmark = pytest.mark.anyio

HELLO = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def sdk_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records every request that goes through the SDK's ``create`` (and lets it run)."""
    calls: list[dict[str, Any]] = []
    original = AsyncCompletions.create

    def create(self: AsyncCompletions, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(AsyncCompletions, "create", create)
    return calls


async def _speak(llm: LLMClient) -> str:
    async with aclosing(llm.stream(HELLO)) as stream:
        return "".join([piece async for piece in stream])


async def test_a_client_bridge_built_sends_the_request_past_the_sdk(
    sdk_calls: list[dict[str, Any]],
) -> None:
    async with serve_fake_llm([FakeReply(tokens_for("Hello there."))], api_key="k1") as fake:
        config = LLMConfig(base_url=fake.base_url, api_key="k1", model="m", extra={"seed": 3})
        async with LLMClient(config) as llm:
            assert await _speak(llm) == "Hello there."
            assert llm.last_finish_reason == "stop"
            assert llm.last_usage is not None
    assert sdk_calls == []  # the raw path; the key went with it (the fake checks it)
    body = fake.requests[0]
    assert body["model"] == "m" and body["messages"] == HELLO and body["seed"] == 3
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "changes",
    [{"extra": {"extra_headers": {"X-Trace": "1"}}}, {"max_retries": 1}],
    ids=["per-call SDK option", "retries"],
)
async def test_sdk_options_and_retries_take_the_sdks_path(
    sdk_calls: list[dict[str, Any]], changes: dict[str, Any]
) -> None:
    async with serve_fake_llm([FakeReply(tokens_for("Hello there."))]) as fake:
        config = LLMConfig(base_url=fake.base_url, model="m", **changes)
        async with LLMClient(config) as llm:
            assert await _speak(llm) == "Hello there."
    assert len(sdk_calls) == 1


async def test_a_client_of_the_callers_own_takes_the_sdks_path(
    sdk_calls: list[dict[str, Any]],
) -> None:
    async with serve_fake_llm([FakeReply(tokens_for("Hello there."))]) as fake:
        own = openai.AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        async with own:
            llm = LLMClient(LLMConfig(base_url=fake.base_url, model="m"), client=own)
            assert await _speak(llm) == "Hello there."
    assert len(sdk_calls) == 1


async def test_errors_on_the_raw_path_read_as_on_the_sdks(
    sdk_calls: list[dict[str, Any]],
) -> None:
    async with serve_fake_llm([FakeReply(["x"], status=500)], api_key="right") as fake:
        async with LLMClient(LLMConfig(base_url=fake.base_url, api_key="wrong", model="m")) as llm:
            with pytest.raises(LLMAuthError) as auth:
                await _speak(llm)
        async with LLMClient(LLMConfig(base_url=fake.base_url, api_key="right", model="m")) as llm:
            with pytest.raises(LLMServerError) as server:
                await _speak(llm)
        url = fake.base_url
    assert auth.value.status == 401 and "wrong" not in str(auth.value)
    assert server.value.status == 500
    async with LLMClient(LLMConfig(base_url=url, model="m", connect_timeout=2)) as llm:
        with pytest.raises(LLMConnectionError, match="cannot reach the LLM endpoint"):
            await _speak(llm)  # the fake is gone: nothing listens there
    assert sdk_calls == []


@pytest.mark.parametrize("path", ["transport", "send"])
@pytest.mark.parametrize(
    ("failure", "expected"),
    [("ConnectTimeout", openai.APITimeoutError), ("ConnectError", openai.APIConnectionError)],
)
async def test_transport_failures_become_the_sdks_exceptions(
    failure: str, expected: type[openai.APIError], path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the SDK raises for them, which Endpoint.error reads (a timeout says which timeout),
    # on the direct path (the client's transport) and through the client's send.
    client = make_client(base_url="http://127.0.0.1:9/v1", api_key=None, connect_timeout=1)
    raw = RawChat.of(client, {})
    assert raw is not None and raw._transport is not None  # bridge's client: direct
    error = getattr(httpx2, failure)

    async def fail(request: httpx2.Request, **_: Any) -> httpx2.Response:
        raise error("no", request=request)

    if path == "transport":
        raw._transport = type("Failing", (), {"handle_async_request": staticmethod(fail)})()
    else:
        raw._transport = None
        monkeypatch.setattr(client._client, "send", fail)
    with pytest.raises(openai.APIConnectionError) as info:
        async with raw.open({"model": "m"}):
            pass
    assert type(info.value) is expected
    await client.close()


def test_the_direct_request_is_the_one_the_client_builds() -> None:
    client = make_client(base_url="http://127.0.0.1:9/v1", api_key="k", connect_timeout=1)
    raw = RawChat.of(client, {})
    assert raw is not None
    content = '{"model":"m","messages":[{"role":"user","content":"été"}]}'.encode()
    trace = {"trace": object()}
    mine = raw._request(content, trace)
    built = client._client.build_request(
        "POST",
        str(client.base_url) + "chat/completions",
        content=content,
        headers=raw._headers,
        timeout=client.timeout,
        extensions=trace,
    )
    assert (mine.method, mine.url, mine.content) == (built.method, built.url, built.content)
    assert mine.headers.raw == built.headers.raw
    assert mine.extensions == built.extensions


_SSE = b'data: {"choices":[{"index":0,"delta":{"content":"Hi."}}]}\n\ndata: [DONE]\n\n'


async def test_cookies_and_redirects_are_kept_as_the_clients_send_keeps_them() -> None:
    # The direct path skips the client's send: a cookie the endpoint sets is still sent with
    # the next requests, and a redirect is still followed.
    seen: list[tuple[str, str | None]] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append((request.url.path, request.headers.get("cookie")))
        if request.url.path.endswith("/moved/chat/completions"):
            return httpx2.Response(200, content=_SSE)
        if len(seen) == 2:
            return httpx2.Response(307, headers={"location": "/v1/moved/chat/completions"})
        return httpx2.Response(200, headers={"set-cookie": "sticky=a1; Path=/"}, content=_SSE)

    client = make_client(base_url="http://llm.test/v1", api_key=None, connect_timeout=1)
    client._client._transport = httpx2.MockTransport(answer)
    llm = LLMClient(LLMConfig(base_url="http://llm.test/v1", model="m"), client=client)
    for _ in range(2):
        assert await _speak(llm) == "Hi."
    assert seen == [
        ("/v1/chat/completions", None),
        ("/v1/chat/completions", "sticky=a1"),
        ("/v1/moved/chat/completions", "sticky=a1"),
    ]
    await client.close()


@pytest.mark.parametrize(
    "anyio_backend",
    [("asyncio", {}), ("asyncio", {"use_uvloop": True})],
    ids=["asyncio", "uvloop"],
)
async def test_a_requests_head_and_body_leave_in_one_write() -> None:
    # httpcore writes the head, then the body after a pass of the event loop: the server's
    # first read (here, in the same loop) must see the whole request all the same, for the
    # first request and for the next one on the kept-alive connection.
    firsts: list[bytes] = []
    sse = b'data: {"choices":[{"index":0,"delta":{"content":"Hi."}}]}\n\ndata: [DONE]\n\n'
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    answer += b"content-length: %d\r\n\r\n%s" % (len(sse), sse)

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            while True:
                buffer = await stream.receive()
                firsts.append(buffer)
                while b"\r\n\r\n" not in buffer:
                    buffer += await stream.receive()
                head, _, body = buffer.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(body) < length:
                    body += await stream.receive()
                await stream.send(answer)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        async with LLMClient(LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m")) as llm:
            for _ in range(2):
                with anyio.fail_after(10):
                    assert await _speak(llm) == "Hi."
        tg.cancel_scope.cancel()
    assert len(firsts) == 2
    for first in firsts:
        head, _, body = first.partition(b"\r\n\r\n")
        assert head.startswith(b"POST /v1/chat/completions HTTP/1.1")
        assert json.loads(body)["messages"] == HELLO  # the whole body came with the head


async def test_one_write_holds_only_a_head_whose_body_follows() -> None:
    writes: list[bytes] = []

    class Stream:
        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            writes.append(buffer)

        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return b"HTTP/1.1 200 OK\r\n"

    class Backend:
        async def connect_tcp(self, *args: Any, **kwargs: Any) -> Stream:
            return Stream()

    stream = await OneWrite(Backend()).connect_tcp("h", 80)
    post = b"POST /v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n"
    get = b"GET /v1/models HTTP/1.1\r\nHost: h\r\n\r\n"
    empty = b"POST /v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
    await stream.write(post)
    await stream.write(b"{}")
    await stream.write(get)
    await stream.write(empty)
    await stream.write(post)
    assert await stream.read(100) == b"HTTP/1.1 200 OK\r\n"  # a read sends a held head first
    assert writes == [post + b"{}", get, empty, post]


async def test_on_sent_comes_when_the_request_is_out_not_when_the_answer_comes() -> None:
    # A loopback HTTP/1.1 server that answers the first request and never the second: the
    # second stream's on_sent must come all the same (its request is written on the kept-alive
    # connection), before any answer, once per stream; a request that cannot connect calls it
    # too.
    got: list[bytes] = []
    connections = 0
    second = anyio.Event()
    sse = b'data: {"choices":[{"index":0,"delta":{"content":"Hi."}}]}\n\ndata: [DONE]\n\n'
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    answer += b"content-length: %d\r\n\r\n%s" % (len(sse), sse)

    async def serve(stream: anyio.abc.SocketStream) -> None:
        nonlocal connections
        connections += 1
        buffer = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffer:
                    buffer += await stream.receive()
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(buffer) < length:
                    buffer += await stream.receive()
                got.append(buffer[:length])
                buffer = buffer[length:]
                if len(got) == 1:
                    await stream.send(answer)
                else:
                    second.set()
                    await anyio.sleep_forever()

    calls: list[int] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        config = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m")
        async with LLMClient(config) as llm:
            async with aclosing(llm.stream(HELLO, on_sent=lambda: calls.append(1))) as stream:
                assert "".join([piece async for piece in stream]) == "Hi."
            assert calls == [1]
            sent = anyio.Event()
            spoken: list[str] = []

            async def speak() -> None:
                def on_sent() -> None:
                    calls.append(2)
                    sent.set()

                async with aclosing(llm.stream(HELLO, on_sent=on_sent)) as stream:
                    spoken.extend([piece async for piece in stream])

            async with anyio.create_task_group() as inner:
                inner.start_soon(speak)
                with anyio.fail_after(10):
                    await sent.wait()
                    await second.wait()
                assert spoken == [] and calls == [1, 2]
                inner.cancel_scope.cancel()
        tg.cancel_scope.cancel()
    assert connections == 1 and len(got) == 2  # the second went on the kept-alive connection
    config = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m")
    async with LLMClient(config) as llm:  # nothing listens there now
        with pytest.raises(LLMConnectionError):
            await _speak_calling(llm, lambda: calls.append(3))
    assert calls == [1, 2, 3]


async def _speak_calling(llm: LLMClient, on_sent: Any) -> str:
    async with aclosing(llm.stream(HELLO, on_sent=on_sent)) as stream:
        return "".join([piece async for piece in stream])
