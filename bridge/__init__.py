"""bridge: stream a chat model's reply into Qwen-TTS Realtime speech, from its first clause.

The public names are resolved on first use (PEP 562), so ``import bridge`` stays cheap: a command
that never calls a chat model never imports openai.
"""

from __future__ import annotations

import typing as _typing

# Private aliases: every public name of this module is in __all__.
from bridge.core.lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from bridge.adapters.llm import LLMClient, LLMConfig
    from bridge.adapters.sinks import AudioSink, IteratorSink, NullSink, PcmSink, WavSink
    from bridge.adapters.wav import WavWriter
    from bridge.core.conversation import Conversation, ConversationTurn
    from bridge.core.cost import Price, PriceTable, TurnCost
    from bridge.core.errors import (
        BridgeError,
        ConfigError,
        LLMAuthError,
        LLMConnectionError,
        LLMError,
        LLMRateLimitError,
        LLMServerError,
        LLMTimeoutError,
        NothingToSpeak,
        StateError,
        TTSAuthError,
        TTSClosedError,
        TTSConnectionError,
        TTSError,
        TTSProtocolError,
        TTSServerError,
        TTSTimeoutError,
    )
    from bridge.core.pace import VoicePace
    from bridge.core.result import SegmentRecord, SegmentTiming, TurnFailure, TurnResult
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
    from bridge.text import Lexicon, Scrubber, Segment, Segmenter, split_speech

if _typing.TYPE_CHECKING:
    __version__: str  # the installed package's (its metadata), read on first access

# Public name -> the module that defines it; imported by __getattr__ on first access.
_LAZY: dict[str, str] = {
    "Assistant": "bridge.pipeline.assistant",
    "AudioChunk": "bridge.qwen",
    "AudioSink": "bridge.adapters.sinks",
    "BridgeError": "bridge.core.errors",
    "ConfigError": "bridge.core.errors",
    "Conversation": "bridge.core.conversation",
    "ConversationTurn": "bridge.core.conversation",
    "DEFAULT_MODEL": "bridge.qwen",
    "DEFAULT_VOICE": "bridge.qwen",
    "EmulatorOptions": "bridge.local",
    "Faults": "bridge.local",
    "IteratorSink": "bridge.adapters.sinks",
    "LLMAuthError": "bridge.core.errors",
    "LLMClient": "bridge.adapters.llm",
    "LLMConfig": "bridge.adapters.llm",
    "LLMConnectionError": "bridge.core.errors",
    "LLMError": "bridge.core.errors",
    "LLMRateLimitError": "bridge.core.errors",
    "LLMServerError": "bridge.core.errors",
    "LLMTimeoutError": "bridge.core.errors",
    "LatencyModel": "bridge.local",
    "Lexicon": "bridge.text",
    "NullSink": "bridge.adapters.sinks",
    "PcmSink": "bridge.adapters.sinks",
    "PipelineOptions": "bridge.pipeline",
    "Price": "bridge.core.cost",
    "PriceTable": "bridge.core.cost",
    "ReconnectPolicy": "bridge.pipeline",
    "ResponseStats": "bridge.qwen",
    "Scrubber": "bridge.text",
    "Segment": "bridge.text",
    "SegmentRecord": "bridge.core.result",
    "SegmentTiming": "bridge.core.result",
    "Segmenter": "bridge.text",
    "ServerEvent": "bridge.qwen",
    "SessionConfig": "bridge.qwen",
    "SessionState": "bridge.qwen",
    "NothingToSpeak": "bridge.core.errors",
    "StateError": "bridge.core.errors",
    "TTSAuthError": "bridge.core.errors",
    "TTSClosedError": "bridge.core.errors",
    "TTSConnectionError": "bridge.core.errors",
    "TTSError": "bridge.core.errors",
    "TTSProtocolError": "bridge.core.errors",
    "TTSServerError": "bridge.core.errors",
    "TTSSession": "bridge.qwen",
    "TTSTarget": "bridge.pipeline",
    "TTSTimeoutError": "bridge.core.errors",
    "Timeouts": "bridge.qwen",
    "Turn": "bridge.pipeline",
    "TurnCost": "bridge.core.cost",
    "TurnFailure": "bridge.core.result",
    "TurnResult": "bridge.core.result",
    "VoicePace": "bridge.core.pace",
    "WavSink": "bridge.adapters.sinks",
    "WavWriter": "bridge.adapters.wav",
    "connect": "bridge.qwen",
    "serve_emulator": "bridge.local",
    "split_speech": "bridge.text",
}

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
    "Lexicon",
    "NothingToSpeak",
    "NullSink",
    "PcmSink",
    "PipelineOptions",
    "Price",
    "PriceTable",
    "ReconnectPolicy",
    "ResponseStats",
    "Scrubber",
    "Segment",
    "SegmentRecord",
    "SegmentTiming",
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
    "TurnCost",
    "TurnFailure",
    "TurnResult",
    "VoicePace",
    "WavSink",
    "WavWriter",
    "__version__",
    "connect",
    "serve_emulator",
    "split_speech",
]


def __getattr__(name: str) -> _typing.Any:
    if name == "__version__":
        from bridge.core.version import package_version

        return package_version()
    return _lazy_getattr(name)


_lazy_getattr, __dir__ = _lazy_exports(__name__, _LAZY, globals(), __all__)
