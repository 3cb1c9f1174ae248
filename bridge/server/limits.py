"""Limits and access control of ``bridge serve`` as pure code (no I/O, the clock passed in).

- ``ServerLimits``: message and frame sizes, sessions, turn and message rates, idle timeout;
- ``TokenBucket``: the rate limiter behind the turn and message limits;
- ``check_access``: the decision for one WebSocket handshake (token, Origin, Host).

Access rules (documented in docs/protocol.md):
- with a token configured, every WebSocket handshake must carry it, as
  ``Authorization: Bearer <token>`` or ``?token=<token>`` (browsers cannot set headers);
  the comparison takes constant time;
- a server bound to anything but loopback must have a token (checked at start-up);
- without a token (loopback only) the ``Host`` header must name a loopback address, so a web
  page that rebinds its own DNS name to 127.0.0.1 cannot reach the server;
- browsers send ``Origin``: it must be the page's own origin (same host and port as ``Host``),
  one of the allowed origins, or anything when ``*`` is allowed. Clients that send no
  ``Origin`` (not browsers) are not checked against it.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from bridge.core.errors import ConfigError

__all__ = [
    "AccessDenied",
    "ServerLimits",
    "TokenBucket",
    "check_access",
    "is_loopback_host",
    "token_from_request",
]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    """Per-server and per-session limits. Times in seconds, sizes in bytes.

    - ``max_message_bytes``: a larger text message gets ``error message_too_large`` (kept open);
    - ``max_frame_bytes``: a larger frame closes the connection with 1009 (websockets does it);
    - ``max_text_chars``: the longest ``user.message`` text, and ``text.append`` piece;
    - ``max_speak_chars``: the text of one speak response, all its ``text.append`` together;
    - ``turns_per_minute``/``turn_burst``: ``user.message`` rate per session
      (``error rate_limited`` past it, kept open);
    - ``address_turns_per_minute``/``address_turn_burst``: the same for all sessions of one
      client address together, across reconnections (see ``bridge.server.clients``);
    - ``server_turns_per_minute``/``server_turn_burst``: the same for the whole server;
    - ``max_sessions_per_address``: open sessions of one client address (``error
      too_many_sessions``, closed with 1013, past it);
    - ``max_addresses``: client addresses whose turn budget is remembered (memory bound;
      an address's budget is forgotten anyway once it has refilled completely);
    - ``messages_per_second``/``message_burst``: all frames from a client; past it the server
      sends ``error too_many_messages`` and closes with 1008;
    - ``idle_timeout``: no turn started (no ``user.message`` accepted) and no response
      running for this long closes the connection with 4000; other messages (acks, cancels,
      ``session.configure``, bad frames) and pings do not keep a session alive.
    """

    max_sessions: int = 100
    max_message_bytes: int = 16 * 1024
    max_frame_bytes: int = 64 * 1024
    max_text_chars: int = 4000
    max_speak_chars: int = 20_000
    turns_per_minute: float = 20.0
    turn_burst: int = 5
    address_turns_per_minute: float = 60.0
    address_turn_burst: int = 20
    server_turns_per_minute: float = 600.0
    server_turn_burst: int = 100
    max_sessions_per_address: int = 10
    max_addresses: int = 10_000
    messages_per_second: float = 50.0
    message_burst: int = 100
    idle_timeout: float = 300.0

    def __post_init__(self) -> None:
        for name in (
            "max_sessions",
            "max_message_bytes",
            "max_text_chars",
            "max_speak_chars",
            "turn_burst",
            "address_turn_burst",
            "server_turn_burst",
            "max_sessions_per_address",
            "max_addresses",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1", field=name)
        if self.message_burst < 1:
            raise ConfigError("message_burst must be at least 1", field="message_burst")
        if self.max_frame_bytes < self.max_message_bytes:
            raise ConfigError(
                "max_frame_bytes must be at least max_message_bytes", field="max_frame_bytes"
            )
        for name in (
            "turns_per_minute",
            "address_turns_per_minute",
            "server_turns_per_minute",
            "messages_per_second",
            "idle_timeout",
        ):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be a positive number", field=name)

    def to_public(self) -> dict[str, float | int]:
        """What a client may know (sent in ``session.ready``)."""
        return {
            "max_message_bytes": self.max_message_bytes,
            "max_text_chars": self.max_text_chars,
            "max_speak_chars": self.max_speak_chars,
            "turns_per_minute": self.turns_per_minute,
            "address_turns_per_minute": self.address_turns_per_minute,
            "server_turns_per_minute": self.server_turns_per_minute,
            "messages_per_second": self.messages_per_second,
            "idle_timeout": self.idle_timeout,
        }


@dataclass(slots=True)
class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; ``take(now)`` spends one."""

    capacity: float
    rate: float
    tokens: float = field(default=-1.0)
    updated: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        if self.updated is None or now > self.updated:
            self.updated = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after(self, now: float) -> float:
        """Seconds until the next ``take`` can succeed."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name) is a loopback address."""
    name = host.strip().lower().strip("[]")
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class AccessDenied:
    """Why a handshake is refused: the HTTP status and a short text for the response body."""

    status: int
    reason: str


def token_from_request(path: str, headers: Mapping[str, str]) -> str | None:
    """The token a client presented: the Bearer header first, else ``?token=``."""
    auth = headers.get("authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def _host_and_port(value: str) -> tuple[str, str]:
    """Split a Host header value (``name:port``, ``[::1]:port``) into name and port."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest.removeprefix(":")
    name, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return name, port


def _same_origin(origin: str, host_header: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    default = "443" if parts.scheme == "https" else "80"
    host, port = _host_and_port(host_header)
    return parts.hostname == host and str(parts.port or default) == (port or default)


def check_access(
    *,
    path: str,
    headers: Mapping[str, str],
    token: str | None,
    origins: Sequence[str],
) -> AccessDenied | None:
    """Decide one WebSocket handshake; ``None`` lets it through. ``headers`` keys are
    lower-case. Messages never repeat what the client sent."""
    if token is not None:
        given = token_from_request(path, headers)
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            return AccessDenied(401, "missing or wrong token")
    else:
        host, _port = _host_and_port(headers.get("host", ""))
        if not is_loopback_host(host):
            return AccessDenied(403, "this server only accepts loopback Host names")
    origin = headers.get("origin")
    if origin is not None and "*" not in origins:
        allowed = origin in origins or _same_origin(origin, headers.get("host", ""))
        if not allowed:
            return AccessDenied(403, "origin not allowed")
    return None
