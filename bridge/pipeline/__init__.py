"""Orchestration: a turn (text in, speech out, one anyio task group) and the assistant that
runs turns over a conversation."""

from __future__ import annotations

from bridge.pipeline.options import PipelineOptions, ReconnectPolicy, TTSTarget
from bridge.pipeline.turn import Turn

__all__ = ["PipelineOptions", "ReconnectPolicy", "TTSTarget", "Turn"]
