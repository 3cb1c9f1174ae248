"""The event loop the commands run on: uvloop when it is installed, else asyncio's own.

uvloop (the ``fast`` extra; not on Windows) is a drop-in asyncio loop on libuv with cheaper
I/O, timers and task switches, which is most of ``bridge serve``'s own CPU time per session.
It is chosen through anyio's asyncio backend option ``use_uvloop``; ``BRIDGE_UVLOOP=0`` (or
``false``/``no``/``off``) keeps asyncio's default loop, e.g. to compare the two.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

__all__ = ["backend_options", "uses_uvloop"]

_OFF = ("0", "false", "no", "off")


def uses_uvloop() -> bool:
    """Whether the commands run on uvloop here (installed, and not turned off)."""
    if os.environ.get("BRIDGE_UVLOOP", "").strip().lower() in _OFF:
        return False
    try:
        return importlib.util.find_spec("uvloop") is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        return False


def backend_options() -> dict[str, Any]:
    """``backend_options`` for ``anyio.run(..., backend="asyncio")``."""
    return {"use_uvloop": True} if uses_uvloop() else {}
