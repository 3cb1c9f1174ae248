"""bridge's version, from the installed package's metadata (never written in the source), and
the User-Agent bridge sends with it."""

from __future__ import annotations

import platform
from functools import cache

__all__ = ["header_version", "package_version", "user_agent"]

_UNKNOWN = "0+unknown"


@cache
def package_version() -> str:
    """The version of the installed ``bridge`` distribution (``0+unknown`` for a source tree
    that was never installed).

    ``importlib.metadata.version`` would parse the whole METADATA file as an e-mail (the
    README is its body, ~65 KB; several ms on the way to a command's first connection): the
    ``Version`` header is read from the header block instead, and ``version``'s own answer is
    used when that block has none."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("bridge")
    except PackageNotFoundError:
        return _UNKNOWN
    return header_version(dist.read_text("METADATA")) or dist.version


def header_version(metadata: str | None) -> str | None:
    """The ``Version`` header of a core-metadata text (its headers end at the first empty
    line), or None."""
    for line in (metadata or "").splitlines():
        if not line.strip():
            return None
        name, colon, value = line.partition(":")
        if colon and not line[0].isspace() and name.strip().lower() == "version":
            return value.strip() or None
    return None


def user_agent(*parts: str) -> str:
    """``bridge/VERSION (python X.Y.Z; PARTS...)``: what bridge calls itself to services."""
    inside = "; ".join(("python " + platform.python_version(), *parts))
    return f"bridge/{package_version()} ({inside})"
