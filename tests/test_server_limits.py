"""`bridge serve` limits that span connections and the idle rule: turn rates per session, per
client address and for the whole server, concurrent sessions per address, the proxy's
forwarded address when (and only when) it is trusted, and idle meaning "starts no turn"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import anyio
import pytest
from _serve import SHORT, client, running
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bridge.core.errors import ConfigError
from bridge.server import ServerLimits, ServerOptions
from bridge.server.clients import ProxyTrust, client_key, parse_ip
from bridge.server.quotas import BucketTable, ServerQuotas
from bridge.testing.fake_llm import FakeReply, tokens_for

pytestmark = pytest.mark.anyio


# --- idle: a session that starts no turn is closed, whatever else it sends -------------------


async def test_a_client_sending_only_non_turn_messages_is_closed_as_idle() -> None:
    limits = ServerLimits(idle_timeout=0.3)
    options = ServerOptions(port=0, limits=limits, audio_lead=None)
    noise: list[str | bytes] = [
        json.dumps({"type": "playback.ack", "samples": 0}),
        json.dumps({"type": "response.cancel"}),
        "{not json",
        json.dumps({"type": "dance"}),
        b"\x00",
    ]
    async with running(options=options) as stack, client(stack.url) as c:
        voice = c.events[0]["voice"]
        noise.append(json.dumps({"type": "session.configure", "voice": voice}))
        closed_with: int | None = None
        # Far longer than the timeout (bounded): on the old rule every frame reset the timer.
        for i in range(300):
            try:
                await c.ws.send(noise[i % len(noise)])
                await c.ws.ping()
                with anyio.move_on_after(0.03):
                    while True:
                        await c.recv()
            except ConnectionClosed as exc:
                closed_with = exc.rcvd.code if exc.rcvd is not None else None
                break
    assert closed_with == 4000
    assert c.of("error")[-1]["code"] == "idle_timeout"
    assert not c.of("response.started")


async def test_a_client_that_keeps_starting_turns_is_not_idle() -> None:
    limits = ServerLimits(idle_timeout=0.5, turn_burst=50, turns_per_minute=600)
    options = ServerOptions(port=0, limits=limits, audio_lead=None)
    async with running(options=options) as stack, client(stack.url) as c:
        for _ in range(6):
            await c.send(type="user.message", text="Hi")
            done = await c.until("response.done")
            assert done["result"]["text"] == SHORT
        assert not [e for e in c.of("error") if e["code"] == "idle_timeout"]
        # Once it stops starting turns, it is idle.
        code, _reason = await c.closed(timeout=10)
    assert code == 4000


async def test_idle_counts_from_the_end_of_a_response_longer_than_the_timeout() -> None:
    # The reply takes about 1.2 s (slower than the 0.4 s timeout): the session is not idle
    # while it runs, and after it the timeout counts from its end, not from its start.
    slow = FakeReply(tokens_for("One, two, three, four, five, six."), delay=0.1)
    limits = ServerLimits(idle_timeout=0.4)
    options = ServerOptions(port=0, limits=limits, audio_lead=None)
    async with running([slow], options=options) as stack, client(stack.url) as c:
        started = anyio.current_time()
        await c.send(type="user.message", text="Count")
        done = await c.until("response.done")
        ended = anyio.current_time()
        assert done["result"]["text"] == "One, two, three, four, five, six."
        assert ended - started > 0.8  # the turn outlasted the timeout twice over
        code, _reason = await c.closed(timeout=10)
        closed = anyio.current_time()
    assert code == 4000
    assert closed - ended >= 0.35  # a full timeout after the response's end (less the ack)


# --- turn rates across connections, per address and per server -----------------------------


def _limits(**changes: float) -> ServerLimits:
    base: dict[str, float] = {
        "turn_burst": 50,
        "turns_per_minute": 600,
        "address_turn_burst": 50,
        "address_turns_per_minute": 600,
        "server_turn_burst": 50,
        "server_turns_per_minute": 600,
    }
    return ServerLimits(**{**base, **changes})  # type: ignore[arg-type]


async def _one_turn(url: str, source: str = "127.0.0.1", **headers: str) -> dict[str, Any]:
    """Connect from ``source`` (any 127/8 address is this machine), start one turn and return
    its answer: ``response.done`` or the ``error`` refusing it."""
    async with client(url, local_addr=(source, 0), additional_headers=headers) as c:
        await c.send(type="user.message", text="Hi")
        with anyio.fail_after(20):
            while True:
                event = await c.recv()
                if isinstance(event, dict) and event["type"] in ("response.done", "error"):
                    return event


def _refused(event: dict[str, Any]) -> str | None:
    """Which limit refused the turn, or ``None`` when it was answered."""
    if event["type"] == "response.done":
        return None
    assert event["code"] == "rate_limited", event
    assert event["retry_after"] > 0
    assert " turns per minute" in event["message"]  # turns are limited, not messages
    return str(event["limit"])


async def test_reconnecting_does_not_reset_the_address_budget() -> None:
    limits = _limits(address_turn_burst=3, address_turns_per_minute=1)
    options = ServerOptions(port=0, limits=limits, audio_lead=None)
    async with running(options=options) as stack:
        # Every turn on a new connection: the per-session limit alone would allow them all.
        outcomes = [_refused(await _one_turn(stack.url)) for _ in range(6)]
        metrics = stack.server.metrics.render().decode()
    assert outcomes == [None, None, None, "address", "address", "address"]
    assert 'bridge_rate_limited_total{limit="turns_address"} 3.0' in metrics


async def test_two_client_addresses_have_separate_budgets() -> None:
    options = ServerOptions(
        port=0, limits=_limits(address_turn_burst=2, address_turns_per_minute=1), audio_lead=None
    )
    async with running(options=options) as stack:
        a = [_refused(await _one_turn(stack.url, "127.0.0.2")) for _ in range(3)]
        b = [_refused(await _one_turn(stack.url, "127.0.0.3")) for _ in range(3)]
    assert a == b == [None, None, "address"]


async def test_the_forwarded_address_counts_only_when_the_proxy_is_trusted() -> None:
    limits = _limits(address_turn_burst=1, address_turns_per_minute=1)
    first, second = {"X-Forwarded-For": "203.0.113.1"}, {"X-Forwarded-For": "203.0.113.2"}
    trusted = ServerOptions(port=0, limits=limits, audio_lead=None, trust_proxy=("127.0.0.1",))
    async with running(options=trusted) as stack:
        via_proxy = [
            _refused(await _one_turn(stack.url, **first)),
            _refused(await _one_turn(stack.url, **second)),  # another client behind it
            _refused(await _one_turn(stack.url, **first)),
        ]
        # A peer that is not the trusted proxy cannot pick its address with the header.
        spoofed = [
            _refused(await _one_turn(stack.url, "127.0.0.5", **first)),
            _refused(await _one_turn(stack.url, "127.0.0.5", **second)),
        ]
    untrusted = ServerOptions(port=0, limits=limits, audio_lead=None)
    async with running(options=untrusted) as stack:
        ignored = [
            _refused(await _one_turn(stack.url, **first)),
            _refused(await _one_turn(stack.url, **second)),
        ]
    assert via_proxy == [None, None, "address"]
    assert spoofed == [None, "address"]
    assert ignored == [None, "address"]


async def test_the_server_wide_turn_limit_spans_addresses() -> None:
    options = ServerOptions(
        port=0, limits=_limits(server_turn_burst=2, server_turns_per_minute=1), audio_lead=None
    )
    async with running(options=options) as stack:
        outcomes = [_refused(await _one_turn(stack.url, f"127.0.0.{i}")) for i in range(2, 6)]
    assert outcomes == [None, None, "server", "server"]


# --- concurrent sessions per address ----------------------------------------------------


async def _refusal(url: str, source: str) -> tuple[str, int | None]:
    """Connect from ``source`` to a server that refuses it: its error code and close code."""
    async with connect(url, open_timeout=5, local_addr=(source, 0)) as ws:
        with anyio.fail_after(5):
            error = json.loads(await ws.recv())
            await ws.wait_closed()
    return error["code"], ws.close_code


async def test_one_address_cannot_take_every_session_slot() -> None:
    limits = ServerLimits(max_sessions=4, max_sessions_per_address=2)
    options = ServerOptions(port=0, limits=limits, audio_lead=None)
    async with running(options=options) as stack:
        url = stack.url
        async with (
            client(url, local_addr=("127.0.0.2", 0)),
            client(url, local_addr=("127.0.0.2", 0)),
        ):
            assert await _refusal(url, "127.0.0.2") == ("too_many_sessions", 1013)
            async with client(url, local_addr=("127.0.0.3", 0)) as other:
                await other.send(type="user.message", text="Hi")
                await other.until("response.done")
        # Room again for that address once its sessions have ended (bounded wait).
        with anyio.fail_after(10):
            while stack.server.quotas.sessions_of("127.0.0.2"):
                await anyio.sleep(0.01)
        async with client(url, local_addr=("127.0.0.2", 0)):
            pass
        metrics = stack.server.metrics.render().decode()
    assert 'bridge_connections_refused_total{reason="too_many_sessions"} 1.0' in metrics


# --- pure: client addresses, bounded bucket tables, turns taken from all limits or none ----


def test_the_forwarded_address_counts_only_from_a_trusted_proxy() -> None:
    nobody = ProxyTrust.parse([])
    nginx = ProxyTrust.parse(["127.0.0.1", "10.0.0.0/8"])
    xff = ["203.0.113.7"]
    assert str(nobody.client_address("127.0.0.1", xff)) == "127.0.0.1"
    assert str(nginx.client_address("192.0.2.1", xff)) == "192.0.2.1"  # not the proxy
    assert str(nginx.client_address("127.0.0.1", xff)) == "203.0.113.7"
    # A client's own header is further left: the hop the proxy added is used.
    assert str(nginx.client_address("127.0.0.1", ["6.6.6.6, 203.0.113.7"])) == "203.0.113.7"
    assert str(nginx.client_address("127.0.0.1", ["6.6.6.6", "203.0.113.7"])) == "203.0.113.7"
    # Chains of trusted proxies are walked through; garbage stops at the proxy that wrote it.
    assert str(nginx.client_address("127.0.0.1", ["198.51.100.2, 10.1.2.3"])) == "198.51.100.2"
    assert str(nginx.client_address("127.0.0.1", ["1.2.3.4, nonsense"])) == "127.0.0.1"
    assert str(nginx.client_address("127.0.0.1", [])) == "127.0.0.1"
    assert str(nginx.client_address("::ffff:127.0.0.1", ["[2001:db8::5]:4711"])) == "2001:db8::5"
    # RFC 7239: only when configured, since a proxy passes the other header through.
    forwarded = ProxyTrust.parse(["127.0.0.1"], "forwarded")
    header = ['for=6.6.6.6, for="[2001:db8::9]:80";proto=https;by=10.0.0.1']
    assert str(forwarded.client_address("127.0.0.1", header)) == "2001:db8::9"
    assert str(forwarded.client_address("127.0.0.1", ["for=unknown"])) == "127.0.0.1"
    with pytest.raises(ConfigError, match="not an IP"):
        ProxyTrust.parse(["nginx.local"])
    with pytest.raises(ConfigError, match="trust_proxy"):
        ServerOptions(trust_proxy=("10.0.0.0/33",))


def test_client_keys_group_an_ipv6_host_by_its_64() -> None:
    assert client_key(parse_ip("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64"
    assert client_key(parse_ip("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::/64"
    assert client_key(parse_ip("::ffff:192.0.2.4")) == "192.0.2.4"
    assert client_key(None) == "unknown"


def test_bucket_tables_forget_refilled_and_least_recent_addresses() -> None:
    table = BucketTable(capacity=2, rate=1.0, max_keys=3)
    for i in range(10):
        assert table.get(f"10.0.0.{i}", now=0.0).take(0.0)
    assert len(table) == 3  # bounded however many addresses come
    table.get("10.0.0.9", now=0.5).take(0.5)
    table.get("10.0.0.9", now=5.0)  # everything else has refilled completely by now
    assert len(table) == 1


def test_a_turn_is_taken_from_session_address_and_server_or_from_none() -> None:
    limits = ServerLimits(
        turn_burst=3,
        turns_per_minute=60,
        address_turn_burst=2,
        address_turns_per_minute=60,
        server_turn_burst=3,
        server_turns_per_minute=60,
    )
    quotas = ServerQuotas(limits)
    a1, a2, b = quotas.session_bucket(), quotas.session_bucket(), quotas.session_bucket()
    assert quotas.take_turn(a1, "a", 0.0) is None
    assert quotas.take_turn(a2, "a", 0.0) is None  # a new session of the same address...
    again = quotas.session_bucket()
    refused = quotas.take_turn(again, "a", 0.0)  # ...and a reconnection: the address's budget
    assert refused is not None and refused.scope == "address"
    assert refused.retry_after == pytest.approx(1.0)
    assert again.tokens == 3  # a refused turn spends nothing
    assert quotas.take_turn(b, "b", 0.0) is None  # another address has its own budget
    c = quotas.session_bucket()
    refused = quotas.take_turn(c, "c", 0.0)
    assert refused is not None and refused.scope == "server"
    assert c.tokens == 3 and quotas.addresses.get("c", 0.0).tokens == 2
    # One second later the address and the server have one turn each again.
    assert quotas.take_turn(a1, "a", 1.0) is None
    assert quotas.take_turn(b, "b", 1.0) is not None  # the server's one turn is spent


def test_sessions_are_counted_per_address() -> None:
    quotas = ServerQuotas(ServerLimits(max_sessions_per_address=2))
    assert quotas.open_session("a") and quotas.open_session("a")
    assert not quotas.open_session("a")
    assert quotas.open_session("b")
    quotas.close_session("a")
    assert quotas.open_session("a")
    for _ in range(3):
        quotas.close_session("a")
    assert quotas.sessions_of("a") == 0 and quotas.sessions_of("b") == 1


def test_serve_refuses_a_trusted_proxy_that_is_not_an_address() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "OPENAI_"))}
    env["BRIDGE_SERVE_TRUST_PROXY"] = "10.0.0.0/8, nginx.internal"
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "serve", "--llm-api-key", "k", "--tts-url", "ws://x"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("bridge: error:") and "nginx.internal" in proc.stderr
    assert "Traceback" not in proc.stderr
