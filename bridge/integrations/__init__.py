"""Plugins for voice frameworks (each an optional extra): ``bridge.integrations.pipecat``."""
