"""Qwen-TTS Realtime: the sans-I/O protocol core and the async client."""

from __future__ import annotations

from bridge.qwen.client import AudioChunk, ResponseStats, Timeouts, TTSSession, build_url, connect
from bridge.qwen.config import SessionConfig
from bridge.qwen.events import ServerEvent, parse_server_event
from bridge.qwen.models import DEFAULT_MODEL, DEFAULT_VOICE, ModelFamily, known_models, model_info
from bridge.qwen.protocol import Connection, SessionMachine, SessionState

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
