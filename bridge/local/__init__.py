"""Local Qwen-TTS-Realtime-compatible emulator and its speech engines."""

from __future__ import annotations

from bridge.local.options import EmulatorOptions, Faults, LatencyModel
from bridge.local.server import REALTIME_PATH, Emulator, serve_emulator

__all__ = [
    "REALTIME_PATH",
    "Emulator",
    "EmulatorOptions",
    "Faults",
    "LatencyModel",
    "serve_emulator",
]
