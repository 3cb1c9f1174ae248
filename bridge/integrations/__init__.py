"""Plugins for voice frameworks, each an optional extra: ``bridge.integrations.pipecat``
(extra ``pipecat``) and ``bridge.integrations.livekit`` (extra ``livekit``)."""
