"""The parts of an HTTP request ``bridge serve`` acts on, parsed strictly and once (pure code).

websockets hands ``process_request`` a request whose target and header values it has not
checked. Everything the server reads from them is parsed here first, before routing and the
access rules, so a malformed request is a client error (``BadRequestError``, answered 400) and
never reaches code that would raise on it:

- the request target: origin-form ``/path?query`` (RFC 9112 section 3.2), or absolute-form
  ``http://host/path?query``; only the characters RFC 3986 allows, valid percent escapes;
- ``Host`` (required, exactly one): ``name``, ``IPv4`` or ``[IPv6]``, an optional port 0-65535;
- ``Origin`` (optional, at most one): ``null`` or ``scheme://host[:port]`` with the same rules;
- ``Authorization`` (optional, at most one).

``BadRequestError.reason`` is a fixed text that never repeats what the client sent, so it may be
logged and returned.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["BadRequestError", "ParsedRequest", "parse_authority", "parse_request"]

# RFC 3986: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; query adds "/" and "?".
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = r"[A-Za-z0-9\-._~!$&'()*+,;=:@]"
_PATH = re.compile(rf"(?:/(?:{_PCHAR}|{_PCT})*)+")
_QUERY = re.compile(rf"(?:{_PCHAR}|{_PCT}|[/?])*")
_REG_NAME = re.compile(rf"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|{_PCT})*")
_PORT = re.compile(r"[0-9]*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_SINGLE = ("host", "origin", "authorization")
_MAX_PORT = 65535


class BadRequestError(ValueError):
    """A request that cannot be parsed; ``reason`` is fixed text, safe to log and return."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A request's path, query and headers (lower-case names, the single-valued ones checked).

    ``target`` is ``path`` plus ``?query`` when there is one (the absolute-form's scheme and
    authority removed)."""

    path: str
    query: str
    headers: Mapping[str, str]
    host: tuple[str, int | None]

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


def parse_authority(value: str, what: str) -> tuple[str, int | None]:
    """``host[:port]`` (RFC 3986 authority without userinfo) as the lower-case host name (an
    IPv6 address without brackets) and the port (``None`` when absent or empty)."""
    if value.startswith("["):
        literal, bracket, rest = value[1:].partition("]")
        if not bracket:
            raise BadRequestError(f"malformed {what}")
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise BadRequestError(f"malformed {what}") from None
        name = literal
        if rest and not rest.startswith(":"):
            raise BadRequestError(f"malformed {what}")
        port = rest[1:]
    else:
        name, _, port = value.partition(":")
        if _REG_NAME.fullmatch(name) is None:
            raise BadRequestError(f"malformed {what}")
    if _PORT.fullmatch(port) is None or (port and int(port) > _MAX_PORT):
        raise BadRequestError(f"malformed {what}")
    return name.lower(), int(port) if port else None


def _origin(value: str) -> None:
    if value == "null":  # an opaque origin (sandboxed frames, files): valid, never same-origin
        return
    scheme, sep, authority = value.partition("://")
    if not sep or _SCHEME.fullmatch(scheme) is None or not authority:
        raise BadRequestError("malformed Origin header")
    parse_authority(authority, "Origin header")


def _target(target: str) -> tuple[str, str]:
    if not target.startswith("/"):
        # absolute-form (RFC 9112 3.2.2): scheme://authority/path?query
        scheme, sep, rest = target.partition("://")
        if not sep or scheme.lower() not in ("http", "https", "ws", "wss"):
            raise BadRequestError("malformed request target")
        authority, slash, tail = rest.partition("/")
        parse_authority(authority, "request target")
        target = slash + tail if slash else "/"
    path, _, query = target.partition("?")
    if _PATH.fullmatch(path) is None or _QUERY.fullmatch(query) is None:
        raise BadRequestError("malformed request target")
    return path, query


def parse_request(target: str, headers: Iterable[tuple[str, str]]) -> ParsedRequest:
    """Parse a request's target and headers (as received, in order); raise ``BadRequestError``."""
    path, query = _target(target)
    seen: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in seen and key in _SINGLE:
            raise BadRequestError(f"more than one {name.title()} header")
        seen[key] = value
    if "host" not in seen:
        raise BadRequestError("missing Host header")
    host = parse_authority(seen["host"].strip(), "Host header")
    if "origin" in seen:
        _origin(seen["origin"].strip())
    return ParsedRequest(path, query, MappingProxyType(seen), host)
