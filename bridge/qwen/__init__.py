"""Qwen-TTS Realtime: the sans-I/O protocol core and the async client.

The names are resolved on first use (PEP 562): importing a pure submodule (``bridge.qwen.config``,
``bridge.qwen.models``, ``bridge.qwen.regions``) does not import the client, websockets or
structlog, so a command can build its parser without them.
"""

from __future__ import annotations

# Private aliases: every public name of this module is in __all__.
import typing as _typing

from bridge.core.lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from bridge.qwen.client import (
        AudioChunk,
        Timeouts,
        TTSSession,
        build_url,
        connect,
    )
    from bridge.qwen.config import SessionConfig
    from bridge.qwen.events import ServerEvent, parse_server_event
    from bridge.qwen.models import (
        DEFAULT_MODEL,
        DEFAULT_VOICE,
        ModelFamily,
        known_models,
        model_info,
    )
    from bridge.qwen.protocol import Connection, ResponseStats, SessionMachine, SessionState

# Public name -> the submodule that defines it; imported by __getattr__ on first access.
_LAZY: dict[str, str] = {
    "AudioChunk": "bridge.qwen.client",
    "Connection": "bridge.qwen.protocol",
    "DEFAULT_MODEL": "bridge.qwen.models",
    "DEFAULT_VOICE": "bridge.qwen.models",
    "ModelFamily": "bridge.qwen.models",
    "ResponseStats": "bridge.qwen.protocol",
    "ServerEvent": "bridge.qwen.events",
    "SessionConfig": "bridge.qwen.config",
    "SessionMachine": "bridge.qwen.protocol",
    "SessionState": "bridge.qwen.protocol",
    "TTSSession": "bridge.qwen.client",
    "Timeouts": "bridge.qwen.client",
    "build_url": "bridge.qwen.client",
    "connect": "bridge.qwen.client",
    "known_models": "bridge.qwen.models",
    "model_info": "bridge.qwen.models",
    "parse_server_event": "bridge.qwen.events",
}

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "AudioChunk",
    "Connection",
    "ModelFamily",
    "ResponseStats",
    "ServerEvent",
    "SessionConfig",
    "SessionMachine",
    "SessionState",
    "TTSSession",
    "Timeouts",
    "build_url",
    "connect",
    "known_models",
    "model_info",
    "parse_server_event",
]


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, globals(), __all__)
