"""bridge's version, from the installed package's metadata (never written in the source), and
the User-Agent bridge sends with it."""

from __future__ import annotations

import platform
from functools import cache

__all__ = ["package_version", "user_agent"]

_UNKNOWN = "0+unknown"


@cache
def package_version() -> str:
    """The version of the installed ``bridge`` distribution (``0+unknown`` for a source tree
    that was never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bridge")
    except PackageNotFoundError:
        return _UNKNOWN


def user_agent(*parts: str) -> str:
    """``bridge/VERSION (python X.Y.Z; PARTS...)``: what bridge calls itself to services."""
    inside = "; ".join(("python " + platform.python_version(), *parts))
    return f"bridge/{package_version()} ({inside})"
