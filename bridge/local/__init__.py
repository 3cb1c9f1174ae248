"""Local Qwen-TTS-Realtime-compatible emulator and its speech engines.

The public names are resolved on first use (PEP 562): importing a submodule (an engine, or the
espeak worker process's entry point) does not import the server and websockets.
"""

from __future__ import annotations

# Private aliases: every public name of this module is in __all__.
import importlib as _importlib
import typing as _typing

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


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bridge.local' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
