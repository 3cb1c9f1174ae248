"""`bridge.server.limits` as pure code: the limits' validation and what clients are told, the
token bucket, and the access decision for one handshake (token, Host, Origin).

The rules tested are those of the module's docstring and docs/protocol.md ("Connecting"):
a token as ``Authorization: Bearer`` or ``?token=``; without a token only loopback ``Host``
names; an ``Origin`` must be the page's own (same host and port), listed, or ``*`` allowed.
The callers hand ``check_access`` a parsed request (``bridge.server.request``): a ``Host``
is always present and well formed, header names are lower-case. The denial's reason is the body
of the 401/403 response, so its text is part of the behaviour.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from bridge.core.errors import ConfigError
from bridge.server.limits import (
    AccessDenied,
    ServerLimits,
    TokenBucket,
    check_access,
    is_loopback_host,
    token_from_request,
)

# --- ServerLimits ------------------------------------------------------------------------------

_AT_LEAST_ONE = (
    "max_sessions",
    "max_message_bytes",
    "max_text_chars",
    "max_speak_chars",
    "turn_burst",
    "address_turn_burst",
    "server_turn_burst",
    "max_sessions_per_address",
    "max_addresses",
    "message_burst",
)
_POSITIVE = (
    "turns_per_minute",
    "address_turns_per_minute",
    "server_turns_per_minute",
    "messages_per_second",
    "idle_timeout",
)


@pytest.mark.parametrize("name", _AT_LEAST_ONE)
def test_counts_and_sizes_must_be_at_least_one(name: str) -> None:
    frame = {"max_frame_bytes": 10**9}  # so that only `name` is out of range
    ServerLimits(**{name: 1, **frame})  # 1 is allowed
    for bad in (0, -1):
        with pytest.raises(ConfigError) as info:
            ServerLimits(**{name: bad, **frame})
        assert info.value.field == name
        assert str(info.value) == f"{name} must be at least 1"


@pytest.mark.parametrize("name", _POSITIVE)
def test_rates_and_the_idle_timeout_must_be_positive_and_finite(name: str) -> None:
    ServerLimits(**{name: 0.001})  # type: ignore[arg-type]
    for bad in (0.0, -1.0, -0.5, float("inf"), float("-inf"), float("nan")):
        with pytest.raises(ConfigError) as info:
            ServerLimits(**{name: bad})  # type: ignore[arg-type]
        assert info.value.field == name
        assert str(info.value) == f"{name} must be a positive number"


def test_a_frame_may_be_as_large_as_a_message_but_not_smaller() -> None:
    ServerLimits(max_message_bytes=2048, max_frame_bytes=2048)
    with pytest.raises(ConfigError) as info:
        ServerLimits(max_message_bytes=2048, max_frame_bytes=2047)
    assert info.value.field == "max_frame_bytes"
    assert str(info.value) == "max_frame_bytes must be at least max_message_bytes"


def test_clients_are_told_the_documented_limits_and_nothing_else() -> None:
    # docs/protocol.md, session.ready: `limits` has exactly these fields.
    limits = ServerLimits(
        max_message_bytes=1000,
        max_frame_bytes=2000,
        max_text_chars=300,
        max_speak_chars=4000,
        turns_per_minute=7.0,
        address_turns_per_minute=8.0,
        server_turns_per_minute=9.0,
        messages_per_second=11.0,
        idle_timeout=12.0,
        max_sessions=3,
        max_addresses=5,
    )
    assert limits.to_public() == {
        "max_message_bytes": 1000,
        "max_text_chars": 300,
        "max_speak_chars": 4000,
        "turns_per_minute": 7.0,
        "address_turns_per_minute": 8.0,
        "server_turns_per_minute": 9.0,
        "messages_per_second": 11.0,
        "idle_timeout": 12.0,
    }


# --- TokenBucket -------------------------------------------------------------------------------


def test_a_new_bucket_is_full_unless_given_its_level() -> None:
    assert TokenBucket(3, 1.0).tokens == 3
    empty = TokenBucket(3, 1.0, tokens=0.0)
    assert empty.tokens == 0.0 and not empty.take(0.0)
    half = TokenBucket(3, 1.0, tokens=0.5)
    assert half.tokens == 0.5 and not half.take(0.0)
    assert half.retry_after(0.0) == pytest.approx(0.5)


def test_an_empty_bucket_refuses_and_spends_nothing() -> None:
    bucket = TokenBucket(1, 0.25)
    assert bucket.take(10.0)
    assert [bucket.take(10.0) for _ in range(3)] == [False, False, False]
    assert bucket.tokens == 0.0
    assert bucket.take(14.0)  # one token after 1 / 0.25 seconds


def test_retry_after_is_the_time_to_the_next_whole_token() -> None:
    bucket = TokenBucket(2, 0.5)
    assert bucket.retry_after(0.0) == 0.0  # full
    assert bucket.take(0.0)
    assert bucket.retry_after(0.0) == 0.0  # one token left
    bucket = TokenBucket(4, 2.0, tokens=1.5)
    assert bucket.retry_after(0.0) == 0.0  # a token and a half: one take succeeds now
    assert bucket.take(0.0)
    assert bucket.retry_after(0.0) == pytest.approx(0.25)  # 0.5 missing at 2 per second
    assert not bucket.take(0.2)
    assert bucket.take(0.25)


def test_retry_after_refills_first_and_never_exceeds_the_cap() -> None:
    bucket = TokenBucket(2, 1.0)
    assert bucket.take(0.0) and bucket.take(0.0)
    assert bucket.retry_after(0.4) == pytest.approx(0.6)
    assert bucket.retry_after(1e6) == 0.0
    assert bucket.tokens == 2


# --- loopback names ----------------------------------------------------------------------------


def test_loopback_names_ignore_case_brackets_and_surrounding_space() -> None:
    names = ("localhost", "LocalHost", " localhost ", "localhost.", "ip6-localhost")
    addresses = ("127.0.0.1", "127.255.0.9", "::1", "[::1]", " [::1] ", "[0:0:0:0:0:0:0:1]")
    loopback = names + addresses
    for host in loopback:
        assert is_loopback_host(host), host
    for host in ("example.com", "127.0.0.1.example", "local", "[::2]", "0.0.0.0", "[]", ""):
        assert not is_loopback_host(host), host


# --- the token a client presents ---------------------------------------------------------------


def test_the_token_comes_from_a_bearer_header_first_else_the_query() -> None:
    assert token_from_request("/ws", {"authorization": "Bearer abc"}) == "abc"
    assert token_from_request("/ws", {"authorization": "bearer abc"}) == "abc"
    assert token_from_request("/ws", {"authorization": "BEARER abc"}) == "abc"
    assert token_from_request("/ws", {"authorization": "Bearer  abc "}) == "abc"
    assert token_from_request("/ws?token=q", {"authorization": "Bearer h"}) == "h"
    assert token_from_request("/ws?token=q", {}) == "q"
    assert token_from_request("/ws?a=1&token=q%2Fr", {}) == "q/r"
    assert token_from_request("/ws?token=first&token=second", {}) == "first"
    assert token_from_request("/ws", {}) is None
    assert token_from_request("/ws?other=1", {}) is None
    assert token_from_request("/ws?TOKEN=q", {}) is None  # the parameter's name is `token`


def test_a_header_that_is_not_a_bearer_token_gives_way_to_the_query() -> None:
    for header in ("Basic abc", "Bearer", "Bearer   ", "Token abc", "abc", ""):
        assert token_from_request("/ws", {"authorization": header}) is None, header
        assert token_from_request("/ws?token=q", {"authorization": header}) == "q", header


# --- the access decision -----------------------------------------------------------------------

NO_TOKEN = AccessDenied(401, "missing or wrong token")
NOT_LOOPBACK = AccessDenied(403, "this server only accepts loopback Host names")
BAD_ORIGIN = AccessDenied(403, "origin not allowed")


def decide(
    headers: dict[str, str],
    *,
    path: str = "/ws",
    token: str | None = None,
    origins: tuple[str, ...] = (),
) -> AccessDenied | None:
    return check_access(path=path, headers=headers, token=token, origins=origins)


def test_with_a_token_the_handshake_must_carry_it() -> None:
    host = {"host": "bridge.example"}
    assert decide(host, path="/ws?token=s3cret", token="s3cret") is None
    assert decide({**host, "authorization": "Bearer s3cret"}, token="s3cret") is None
    assert decide(host, token="s3cret") == NO_TOKEN
    for wrong in ("s3cre", "s3crett", "S3CRET", "other"):
        assert decide(host, path=f"/ws?token={wrong}", token="s3cret") == NO_TOKEN, wrong
        assert decide({**host, "authorization": f"Bearer {wrong}"}, token="s3cret") == NO_TOKEN
    # The header is read first: a wrong header is not rescued by a right query.
    assert (
        decide({**host, "authorization": "Bearer wrong"}, path="/ws?token=s3cret", token="s3cret")
        == NO_TOKEN
    )
    # Non-ASCII tokens are compared as bytes.
    assert decide(host, path="/ws?token=%C3%A9t%C3%A9", token="été") is None


def test_a_token_replaces_the_loopback_rule() -> None:
    assert decide({"host": "127.0.0.1:8765"}) is None
    assert decide({"host": "bridge.example:8765"}) == NOT_LOOPBACK
    assert decide({"host": "bridge.example:8765"}, path="/ws?token=t", token="t") is None
    # ... but not the token: loopback Hosts need it too when one is configured.
    assert decide({"host": "127.0.0.1:8765"}, token="t") == NO_TOKEN


def test_without_a_token_only_loopback_host_names_pass() -> None:
    for host in ("127.0.0.1", "127.0.0.1:8765", "localhost", "LOCALHOST:80", "[::1]", "[::1]:9"):
        assert decide({"host": host}) is None, host
    for host in ("evil.example", "evil.example:8765", "10.0.0.1:8765", "[::2]:8765", "0.0.0.0"):
        assert decide({"host": host}) == NOT_LOOPBACK, host


def test_clients_without_an_origin_are_not_checked_against_it() -> None:
    assert decide({"host": "localhost:8765"}, origins=("https://ok.example",)) is None


def test_an_origin_must_be_the_pages_own_listed_or_star_allowed() -> None:
    host = {"host": "127.0.0.1:8765"}
    assert decide({**host, "origin": "http://127.0.0.1:8765"}) is None
    assert decide({**host, "origin": "https://127.0.0.1:8765"}) is None  # behind a TLS proxy
    assert decide({**host, "origin": "http://127.0.0.1:8766"}) == BAD_ORIGIN
    assert decide({**host, "origin": "http://localhost:8765"}) == BAD_ORIGIN  # another name
    assert decide({**host, "origin": "https://evil.example"}) == BAD_ORIGIN
    listed = ("https://ok.example",)
    assert decide({**host, "origin": "https://ok.example"}, origins=listed) is None
    assert decide({**host, "origin": "https://ok.example:444"}, origins=listed) == BAD_ORIGIN
    # The page's own origin passes whatever else is listed.
    assert decide({**host, "origin": "http://127.0.0.1:8765"}, origins=listed) is None
    for origin in ("https://evil.example", "null", "http://127.0.0.1:1"):
        assert decide({**host, "origin": origin}, origins=("*",)) is None, origin
        assert decide({**host, "origin": origin}, origins=("https://a", "*")) is None, origin
        assert decide({**host, "origin": origin}, origins=listed) == BAD_ORIGIN, origin


def test_the_origin_rule_also_applies_with_a_token() -> None:
    host = {"host": "a.example", "authorization": "Bearer t"}
    assert decide({**host, "origin": "https://a.example"}, token="t") is None
    assert decide({**host, "origin": "https://b.example"}, token="t") == BAD_ORIGIN
    # A wrong token is reported as such, whatever the origin.
    assert decide({**host, "origin": "https://b.example"}, token="u") == NO_TOKEN


def _to_localhost(value: str) -> str:
    return re.sub(r"(?i)a\.example", "LocalHost", value)


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        # Default ports: 80 for http, 443 for https, on either side.
        ("http://a.example", "a.example", True),
        ("http://a.example", "a.example:80", True),
        ("http://a.example:80", "a.example", True),
        ("https://a.example", "a.example:443", True),
        ("https://a.example:443", "a.example", True),
        ("http://a.example", "a.example:443", False),
        ("https://a.example", "a.example:80", False),
        ("http://a.example:443", "a.example", False),
        ("https://a.example:80", "a.example", False),
        ("http://a.example:8080", "a.example:8080", True),
        ("http://a.example:8080", "a.example:8081", False),
        ("http://a.example:8080", "a.example", False),
        ("http://a.example", "a.example:8080", False),
        # Names compare without case; IPv6 literals keep their brackets out of the name.
        ("http://A.Example:8080", "a.EXAMPLE:8080", True),
        ("http://[::1]:8765", "[::1]:8765", True),
        ("http://[::1]", "[::1]", True),
        ("https://[::1]", "[::1]:443", True),
        ("http://[::1]:8765", "[::1]:8766", False),
        ("http://[::2]:8765", "[::1]:8765", False),
        ("http://b.example", "a.example", False),
        # Only web origins are anyone's own; an opaque one ("null") never is.
        ("null", "a.example", False),
        ("ws://a.example", "a.example", False),
        ("file://a.example", "a.example", False),
        ("http://", "a.example", False),
    ],
)
def test_same_origin_means_same_host_and_port(origin: str, host: str, same: bool) -> None:
    headers = {"host": host, "origin": origin, "authorization": "Bearer t"}
    assert (decide(headers, token="t") is None) is same
    # The loopback rule and the origin rule together, without a token.
    denied = decide({"host": _to_localhost(host), "origin": _to_localhost(origin)})
    assert (denied is None) is same
    if not same:
        assert denied == BAD_ORIGIN


def test_denials_never_repeat_what_the_client_sent() -> None:
    sent = "<script>x</script>"
    for denied in (
        decide({"host": sent}),
        decide({"host": "localhost", "origin": f"http://{sent}"}),
        decide({"host": "x", "authorization": f"Bearer {sent}"}, token="t"),
    ):
        assert denied is not None
        assert sent not in denied.reason
        assert dataclasses.astuple(denied) in {
            (401, "missing or wrong token"),
            (403, "this server only accepts loopback Host names"),
            (403, "origin not allowed"),
        }


def test_a_request_without_a_host_is_refused_not_crashed_on() -> None:
    # The server's parser already answers 400 to such a request; check_access stays total.
    assert decide({}) == NOT_LOOPBACK
    assert decide({"origin": "http://localhost"}) == NOT_LOOPBACK
    assert decide({"authorization": "Bearer t"}, token="t") is None
    assert decide({"authorization": "Bearer t", "origin": "http://a.example"}, token="t") == (
        BAD_ORIGIN
    )
