"""`bridge serve` security and limits: token, origin, Host, sizes, sessions, rates, idle time,
and no secret reaching a client."""

from __future__ import annotations

import json

import anyio
import pytest
from _serve import SHORT, client, running
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bridge.adapters.llm import LLMConfig
from bridge.core.errors import ConfigError
from bridge.server import ServerLimits, ServerOptions
from bridge.testing.fake_llm import FakeReply, tokens_for

pytestmark = pytest.mark.anyio

TOKEN = "tok-7d1c9e2f"


async def _status(url: str, **kwargs: object) -> int:
    """The HTTP status of a refused handshake, or 101 when it is accepted."""
    try:
        async with connect(url, open_timeout=5, **kwargs):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def _raw_handshake(port: int, host: str) -> int:
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", port) as sock:
            await sock.send(request.encode())
            head = await sock.receive()
    return int(head.split(b" ", 2)[1])


async def test_a_token_is_required_as_bearer_header_or_query_parameter() -> None:
    options = ServerOptions(port=0, token=TOKEN, audio_lead=None)
    async with running(options=options) as stack:
        url = stack.url
        assert await _status(url) == 401
        assert await _status(url + "?token=wrong") == 401
        assert await _status(url, additional_headers={"Authorization": "Bearer nope"}) == 401
        assert await _status(url + "?token=" + TOKEN) == 101
        assert await _status(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) == 101


def test_binding_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="token"):
        ServerOptions(host="0.0.0.0")
    with pytest.raises(ConfigError, match="token"):
        ServerOptions(host="192.168.1.20")
    assert ServerOptions(host="0.0.0.0", token=TOKEN).token == TOKEN
    assert ServerOptions(host="::1").token is None


async def test_browser_origins_must_be_the_page_itself_or_allowed() -> None:
    options = ServerOptions(port=0, origins=("https://app.example",), audio_lead=None)
    async with running(options=options) as stack:
        url, port = stack.url, stack.server.port
        assert await _status(url, origin=f"http://127.0.0.1:{port}") == 101
        assert await _status(url, origin="https://app.example") == 101
        assert await _status(url, origin="https://evil.example") == 403
        assert await _status(url, origin=f"http://127.0.0.1:{port + 1}") == 403
        assert await _status(url, origin="null") == 403
        assert await _status(url) == 101  # not a browser: no Origin
    async with running(options=ServerOptions(port=0, origins=("*",))) as stack:
        assert await _status(stack.url, origin="https://anything.example") == 101


async def test_without_a_token_only_loopback_host_names_are_served() -> None:
    async with running() as stack:
        port = stack.server.port
        assert await _raw_handshake(port, f"127.0.0.1:{port}") == 101
        assert await _raw_handshake(port, f"localhost:{port}") == 101
        # A page whose DNS name was rebound to 127.0.0.1 still sends its own Host name.
        assert await _raw_handshake(port, f"rebound.example:{port}") == 403


async def test_oversized_message_is_an_error_and_an_oversized_frame_closes_1009() -> None:
    limits = ServerLimits(max_message_bytes=2048, max_frame_bytes=8192)
    options = ServerOptions(port=0, limits=limits)
    async with running(options=options) as stack, client(stack.url) as c:
        await c.ws.send(json.dumps({"type": "user.message", "text": "x" * 3000}))
        error = await c.until("error")
        assert error["code"] == "message_too_large"
        await c.send(type="session.configure", voice=c.events[0]["voice"])
        await c.until("session.ready")  # still open
        await c.ws.send("y" * 9000)
        code, _reason = await c.closed()
    assert code == 1009


async def test_max_sessions_refuses_more_with_1013() -> None:
    options = ServerOptions(port=0, limits=ServerLimits(max_sessions=2))
    async with running(options=options) as stack:
        async with client(stack.url), client(stack.url):
            async with connect(stack.url, open_timeout=5) as ws:
                with anyio.fail_after(5):
                    error = json.loads(await ws.recv())
                    await ws.wait_closed()
            assert error["code"] == "server_full"
            assert ws.close_code == 1013
        async with client(stack.url):  # room again once they left
            pass


async def test_turns_are_rate_limited_per_session() -> None:
    limits = ServerLimits(turn_burst=2, turns_per_minute=6)
    options = ServerOptions(port=0, limits=limits, audio_lead=None)
    async with running(options=options) as stack, client(stack.url) as c:
        for _ in range(3):
            await c.send(type="user.message", text="Hi")
        error = await c.until("error")
        assert error["code"] == "rate_limited"
        assert 5 < error["retry_after"] <= 10
        await c.until("response.done")
        assert len(c.of("response.started")) <= 2


async def test_a_message_flood_is_closed_with_1008() -> None:
    limits = ServerLimits(message_burst=20, messages_per_second=10)
    async with running(options=ServerOptions(port=0, limits=limits)) as stack:
        async with client(stack.url) as c:
            for _ in range(60):
                await c.send(type="playback.ack", samples=0)
            code, reason = await c.closed()
            assert code == 1008 and "too many" in reason
            assert c.of("error")[-1]["code"] == "too_many_messages"
        async with client(stack.url):  # the server itself is fine
            pass


async def test_an_idle_connection_is_closed_with_4000() -> None:
    limits = ServerLimits(idle_timeout=0.4)
    options = ServerOptions(port=0, limits=limits)
    async with running(options=options) as stack, client(stack.url) as c:
        start = anyio.current_time()
        code, _reason = await c.closed(timeout=5)
        took = anyio.current_time() - start
    # Not before the idle timeout (the server counts from the greeting, a little earlier);
    # the upper bound is closed()'s own 5 s wait, not a timing assertion on a shared machine.
    assert code == 4000 and took > 0.3
    assert c.of("error")[-1]["code"] == "idle_timeout"


async def test_protocol_errors_keep_the_connection_open() -> None:
    async with running() as stack, client(stack.url) as c:
        cases: list[tuple[str | bytes, str]] = [
            ("{not json", "invalid_json"),
            ("[1, 2]", "invalid_json"),
            ('{"type": "dance"}', "unknown_type"),
            ('{"text": "no type"}', "invalid_message"),
            ('{"type": "user.message", "text": "   "}', "invalid_message"),
            ('{"type": "playback.ack", "samples": -5}', "invalid_message"),
            (b"\x00\x01", "unexpected_binary"),
        ]
        for frame, code in cases:
            await c.ws.send(frame)
            error = await c.until("error")
            assert error["code"] == code, frame
        await c.send(type="response.cancel")  # nothing running: ignored
        await c.send(type="user.message", text="Still there?")
        done = await c.until("response.done")
    assert done["result"]["text"] == SHORT


async def test_no_secret_or_upstream_address_reaches_the_client() -> None:
    secret = "sk-secret-0123456789abcdef"
    async with running(llm_key="sk-the-right-one") as stack:
        wrong = LLMConfig(base_url=stack.fake.base_url, api_key=secret, model="m")
        async with (
            running([FakeReply(tokens_for(SHORT))], llm_key="sk-the-right-one", llm=wrong) as bad,
            client(bad.url) as c,
        ):
            await c.send(type="user.message", text="Hi")
            done = await c.until("response.done")
        seen = json.dumps(c.events)
    error = next(e for e in c.events if e["type"] == "error")
    assert error["code"] == "llm_error" and error["response_id"] == done["response_id"]
    assert done["result"]["error"] == {
        "type": "LLMAuthError",
        "code": "llm_error",
        "message": "the chat model refused the server's credentials",
    }
    assert secret not in seen and "sk-the-right" not in seen
    assert stack.fake.base_url not in seen and "127.0.0.1" not in seen
