"""`bridge serve` and malformed HTTP requests: a request target, ``Host`` or ``Origin`` that does
not parse is a client error (400, a short plain body, one short log line without the path or a
token, no traceback), decided before authentication; good requests are unaffected."""

from __future__ import annotations

import logging
import random
from typing import Any

import anyio
import pytest
import structlog
from _serve import SHORT, client, running

from bridge.server import ServerOptions
from bridge.server.request import BadRequestError, parse_request

pytestmark = pytest.mark.anyio

TOKEN = "tok-5e0b8a41c3"
_BAD_CHARS = ["[", "]", "{", "}", "|", "\\", "^", "`", '"', "<", ">", "#", "\x7f", "\t"]
_BAD_ESCAPES = ["%", "%z", "%0z", "%%", "%g1"]
_PATHS = ["/ws", "/", "/healthz", "/metrics", "/readyz", "/static/demo.js", f"/ws?token={TOKEN}"]


def _insert(rng: random.Random, text: str, bad: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + bad + text[at:]


def _bad_targets(rng: random.Random) -> list[str]:
    fixed = ["//[x", "//[::1", "http://[x/ws", "ws://a:99999/ws", "*", "ws", "?x", "", "//x]/ws"]
    made = [_insert(rng, rng.choice(_PATHS), rng.choice(_BAD_CHARS)) for _ in range(25)]
    made += [rng.choice(_PATHS) + rng.choice(_BAD_ESCAPES) for _ in range(8)]
    return fixed + made


def _bad_authorities(rng: random.Random) -> list[str]:
    names = ["127.0.0.1", "localhost", "[::1]", "app.example"]
    fixed = ["[::1", "::1]", "[::1]x", "[zz]", "[127.0.0.1]", "[", "]", "a b", "a@localhost"]
    fixed += ["localhost/x", "lo\xe9calhost", "127.0.0.1:80:80", "127.0.0.1:-1", "localhost:a"]
    made = [f"{rng.choice(names)}:{rng.randrange(65536, 10**7)}" for _ in range(8)]
    # (no control characters here: websockets drops such header lines itself, see below)
    chars = [c for c in _BAD_CHARS if c.isprintable()] + ["/", "?"]
    made += [_insert(rng, rng.choice(names), rng.choice(chars)) for _ in range(8)]
    return fixed + made


def _request(target: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"GET {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _upgrade(host: str = "127.0.0.1") -> list[tuple[str, str]]:
    return [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Authorization", f"Bearer {TOKEN}"),
    ]


def malformed_requests(seed: int) -> list[bytes]:
    """Requests that websockets parses as HTTP but whose target or headers are malformed."""
    rng = random.Random(seed)
    out = [_request(t, _upgrade()) for t in _bad_targets(rng)]
    for value in _bad_authorities(rng):
        out.append(_request("/ws", _upgrade(host=value)))
        scheme = rng.choice(["http", "https", "ws"])
        out.append(_request("/ws", [*_upgrade(), ("Origin", f"{scheme}://{value}")]))
    for origin in ["http://", "http:/x", "://x", "http//x", "http://a/b", "1http://a", "http"]:
        out.append(_request("/ws", [*_upgrade(), ("Origin", origin)]))
    out.append(_request("/ws", [h for h in _upgrade() if h[0] != "Host"]))  # no Host
    out.append(_request("/ws", [*_upgrade(), ("Host", "127.0.0.1")]))  # two Hosts
    out.append(_request("/ws", [*_upgrade(), ("Origin", "null"), ("Origin", "null")]))
    out.append(_request("/ws", [*_upgrade(), ("Authorization", f"Bearer {TOKEN}")]))
    rng.shuffle(out)
    return out


# Not HTTP at all: websockets closes these without a response (and without a log line above
# DEBUG) before bridge sees them.
NOT_HTTP = [
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://a\x7f\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: local\x00host\r\n\r\n",
    b"GET /w\xc3\xa9 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /ws HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nBad Header: x\r\nHost: 127.0.0.1\r\n\r\n",
]


async def _send_raw(port: int, request: bytes) -> tuple[int | None, bytes]:
    """Send one request; return its status (``None`` when closed without an answer) and
    everything the server wrote until it closed."""
    data = b""
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", port) as sock:
            await sock.send(request)
            try:
                while True:
                    data += await sock.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
    return (int(data.split(b" ", 2)[1]) if data else None), data


async def test_every_malformed_request_gets_400_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    requests = malformed_requests(seed=10)
    assert len(requests) > 100
    options = ServerOptions(port=0, token=TOKEN, audio_lead=None)
    async with running(options=options) as stack:
        port = stack.server.port
        with structlog.testing.capture_logs() as logs:
            for request in requests:
                status, answer = await _send_raw(port, request)
                assert status == 400, request
                head, _, body = answer.partition(b"\r\n\r\n")
                assert b"text/plain" in head and body.startswith(b"bad request: ")
                assert len(body) < 80 and TOKEN.encode() not in body
            for request in NOT_HTTP:
                assert (await _send_raw(port, request))[0] in (None, 400), request
        # A good connection still works afterwards.
        async with client(stack.url + "?token=" + TOKEN) as c:
            await c.send(type="user.message", text="hi")
            done = await c.until("response.done")
            assert done["result"]["text"] == SHORT
    bad = [e for e in logs if e["event"] == "request.bad"]
    assert len(bad) == len(requests)
    for entry in bad:
        assert entry["log_level"] == "info"
        assert set(entry) <= {"event", "log_level", "reason", "error"}
        assert TOKEN not in str(entry) and "/ws" not in str(entry)
    assert not [e for e in logs if e["log_level"] in ("error", "critical") or "exc_info" in e]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text and TOKEN not in caplog.text


def test_good_targets_hosts_and_origins_parse() -> None:
    base = [("Host", "127.0.0.1:8765")]
    assert parse_request("/ws?token=a%20b", base).target == "/ws?token=a%20b"
    assert parse_request("http://127.0.0.1:8765/ws?x=1", base).target == "/ws?x=1"
    assert parse_request("//x/ws", base).path == "//x/ws"  # not routed to /ws
    hosts = {
        "[::1]:80": ("::1", 80),
        "[::1]": ("::1", None),
        "LocalHost:": ("localhost", None),
        "app.example:443": ("app.example", 443),
        "": ("", None),
    }
    for value, expected in hosts.items():
        assert parse_request("/", [("Host", value)]).host == expected
    for origin in ["null", "http://127.0.0.1:8765", "https://[::1]", "chrome-extension://abc"]:
        parse_request("/ws", [*base, ("Origin", origin)])


@pytest.mark.parametrize("seed", [1, 2])
def test_the_parser_raises_only_bad_request(seed: int) -> None:
    # Random printable junk in every field: either it parses, or it is BadRequestError.
    rng = random.Random(seed)
    alphabet = [chr(c) for c in range(32, 256)]
    outcomes: dict[str, int] = {}
    for _ in range(2000):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        field = rng.choice(["target", "host", "origin"])
        headers: list[tuple[str, Any]] = [("Host", junk if field == "host" else "localhost")]
        if field == "origin":
            headers.append(("Origin", "http://" + junk))
        try:
            parse_request("/" + junk if field == "target" else "/ws", headers)
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        except BadRequestError:
            outcomes["bad"] = outcomes.get("bad", 0) + 1
    assert outcomes.get("bad", 0) > 0


async def test_any_parse_failure_while_checking_a_request_is_a_400(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not only the parser's own BadRequestError: a ValueError from any check of the client's input
    # (here the access rules) is the client's error, logged without its message.
    def broken(**_: Any) -> None:
        raise ValueError(f"bad input /ws?token={TOKEN}")

    monkeypatch.setattr("bridge.server.app.check_access", broken)
    async with running() as stack:
        with structlog.testing.capture_logs() as logs:
            status, _ = await _send_raw(stack.server.port, _request("/ws", _upgrade()))
        assert status == 400
        healthz = await _send_raw(stack.server.port, _request("/healthz", _upgrade()))
        assert healthz[0] == 200
    assert [e["event"] for e in logs] == ["request.bad"] and TOKEN not in str(logs)
