"""Who a connection comes from, as pure code: the client address the per-address limits count.

The client address is the TCP peer's address, unless the peer is a trusted proxy
(``--trust-proxy``: addresses or networks). Then the proxy's forwarded header is read
(``X-Forwarded-For``, or RFC 7239 ``Forwarded`` with ``--forwarded-header forwarded``; only
the configured one, since a proxy passes the other through from the client unchanged). Its
hops are walked from the last (the one the proxy itself added) towards the first, skipping
trusted proxies; the first hop that is not a trusted proxy is the client. Hops a client wrote
itself sit further left and are never reached past an untrusted hop, so they cannot be
spoofed. A hop that is not an IP address stops the walk at the proxy that wrote it.

``client_key`` turns an address into the key the limits count: IPv4 addresses as they are
(IPv4-mapped IPv6 included), IPv6 addresses by their /64 network, since one host commonly
holds a whole /64.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from bridge.core.errors import ConfigError

__all__ = ["FORWARDED_HEADERS", "ForwardedHeader", "ProxyTrust", "client_key", "parse_ip"]

ForwardedHeader = Literal["x-forwarded-for", "forwarded"]
FORWARDED_HEADERS: tuple[ForwardedHeader, ...] = ("x-forwarded-for", "forwarded")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_UNKNOWN = "unknown"


def parse_ip(text: str) -> IPAddress | None:
    """An address as a proxy writes it (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``,
    quoted), IPv4-mapped IPv6 as IPv4; ``None`` when it is not an address."""
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    value = value.partition("%")[0]  # a zone index (fe80::1%eth0) names no other host
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(address: IPAddress | None) -> str:
    """The key the per-address limits count for ``address`` (IPv6: its /64)."""
    if address is None:
        return _UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _forwarded_for(values: Iterable[str]) -> list[str]:
    """The ``for=`` values of RFC 7239 ``Forwarded`` header values, in order."""
    hops: list[str] = []
    for value in values:
        for element in value.split(","):
            found = _UNKNOWN
            for pair in element.split(";"):
                key, _, item = pair.partition("=")
                if key.strip().lower() == "for":
                    found = item
            hops.append(found)
    return hops


@dataclass(frozen=True, slots=True)
class ProxyTrust:
    """Which peers are trusted proxies, and which header they write."""

    networks: tuple[IPNetwork, ...] = ()
    header: ForwardedHeader = "x-forwarded-for"

    @classmethod
    def parse(cls, entries: Sequence[str], header: str = "x-forwarded-for") -> ProxyTrust:
        """From addresses or networks (``10.0.0.0/8``, ``127.0.0.1``, ``::1``); a bad entry is a
        ``ConfigError`` naming it."""
        if header not in FORWARDED_HEADERS:
            raise ConfigError(
                f"forwarded_header must be one of: {', '.join(FORWARDED_HEADERS)}",
                field="forwarded_header",
            )
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    f"trust_proxy: {entry!r} is not an IP address or network", field="trust_proxy"
                ) from None
        return cls(tuple(networks), header if header == "forwarded" else "x-forwarded-for")

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def client_address(self, peer: str | None, header_values: Sequence[str]) -> IPAddress | None:
        """The client's address: ``peer`` (the TCP peer's host), or when it is a trusted proxy
        the nearest untrusted hop of ``header_values`` (every value of the configured forwarded
        header, in the order received). ``None`` when the peer has no IP address."""
        address = parse_ip(peer) if peer is not None else None
        if address is None or not self.networks or not self.trusts(address):
            return address
        if self.header == "forwarded":
            hops = _forwarded_for(header_values)
        else:
            hops = [hop for value in header_values for hop in value.split(",")]
        for hop in reversed(hops):
            hop_address = parse_ip(hop)
            if hop_address is None:
                return address  # the proxy that wrote it is as far as we can tell
            address = hop_address
            if not self.trusts(address):
                return address
        return address
