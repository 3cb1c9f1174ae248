"""bridge: stream a chat model's reply into Qwen-TTS Realtime speech, starting after the first clause."""

from __future__ import annotations

from bridge.errors import (
    BridgeError,
    ConfigError,
    LLMError,
    StateError,
    TTSAuthError,
    TTSClosedError,
    TTSConnectionError,
    TTSError,
    TTSProtocolError,
    TTSServerError,
    TTSTimeoutError,
)

from bridge.local import EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.qwen import (
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    AudioChunk,
    ResponseStats,
    ServerEvent,
    SessionConfig,
    SessionState,
    Timeouts,
    TTSSession,
    connect,
)
from bridge.speak import SpeakResult, speak_text_stream
from bridge.wav import WavWriter

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "AudioChunk",
    "EmulatorOptions",
    "Faults",
    "LatencyModel",
    "ResponseStats",
    "ServerEvent",
    "SessionConfig",
    "SessionState",
    "SpeakResult",
    "TTSSession",
    "Timeouts",
    "WavWriter",
    "connect",
    "serve_emulator",
    "speak_text_stream",
    "BridgeError",
    "ConfigError",
    "LLMError",
    "StateError",
    "TTSAuthError",
    "TTSClosedError",
    "TTSConnectionError",
    "TTSError",
    "TTSProtocolError",
    "TTSServerError",
    "TTSTimeoutError",
    "__version__",
]
