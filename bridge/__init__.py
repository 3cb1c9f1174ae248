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

__version__ = "0.1.0"

__all__ = [
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
