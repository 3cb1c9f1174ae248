"""Local Qwen-TTS-Realtime-compatible emulator and its speech engines.

The public names are resolved on first use (PEP 562): importing a submodule (an engine, or the
espeak worker process's entry point) does not import the server and websockets.
"""

from __future__ import annotations

# Private aliases: every public name of this module is in __all__.
import typing as _typing

from bridge.core.lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from bridge.local.options import EmulatorOptions, Faults, LatencyModel
    from bridge.local.server import REALTIME_PATH, Emulator, serve_emulator

# Public name -> the module that defines it; imported by __getattr__ on first access.
_LAZY: dict[str, str] = {
    "REALTIME_PATH": "bridge.local.server",
    "Emulator": "bridge.local.server",
    "EmulatorOptions": "bridge.local.options",
    "Faults": "bridge.local.options",
    "LatencyModel": "bridge.local.options",
    "serve_emulator": "bridge.local.server",
}

__all__ = [
    "REALTIME_PATH",
    "Emulator",
    "EmulatorOptions",
    "Faults",
    "LatencyModel",
    "serve_emulator",
]


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, globals(), __all__)
