"""bridge: stream a chat model's reply into Qwen-TTS Realtime speech, from its first clause."""

from __future__ import annotations

from bridge.adapters.llm import LLMClient, LLMConfig
from bridge.adapters.sinks import AudioSink, IteratorSink, NullSink, PcmSink, WavSink
from bridge.adapters.wav import WavWriter
from bridge.core.conversation import Conversation, ConversationTurn
from bridge.core.errors import (
    BridgeError,
    ConfigError,
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMServerError,
    LLMTimeoutError,
    StateError,
    TTSAuthError,
    TTSClosedError,
    TTSConnectionError,
    TTSError,
    TTSProtocolError,
    TTSServerError,
    TTSTimeoutError,
)
from bridge.core.result import SegmentRecord, TurnResult
from bridge.local import EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.pipeline import PipelineOptions, ReconnectPolicy, TTSTarget, Turn
from bridge.pipeline.assistant import Assistant
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
from bridge.text import Scrubber, Segment, Segmenter, split_speech

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "Assistant",
    "AudioChunk",
    "AudioSink",
    "BridgeError",
    "ConfigError",
    "Conversation",
    "ConversationTurn",
    "EmulatorOptions",
    "Faults",
    "IteratorSink",
    "LLMAuthError",
    "LLMClient",
    "LLMConfig",
    "LLMConnectionError",
    "LLMError",
    "LLMRateLimitError",
    "LLMServerError",
    "LLMTimeoutError",
    "LatencyModel",
    "NullSink",
    "PcmSink",
    "PipelineOptions",
    "ReconnectPolicy",
    "ResponseStats",
    "Scrubber",
    "Segment",
    "SegmentRecord",
    "Segmenter",
    "ServerEvent",
    "SessionConfig",
    "SessionState",
    "StateError",
    "TTSAuthError",
    "TTSClosedError",
    "TTSConnectionError",
    "TTSError",
    "TTSProtocolError",
    "TTSServerError",
    "TTSSession",
    "TTSTarget",
    "TTSTimeoutError",
    "Timeouts",
    "Turn",
    "TurnResult",
    "WavSink",
    "WavWriter",
    "__version__",
    "connect",
    "serve_emulator",
    "split_speech",
]
