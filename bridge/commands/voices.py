"""``bridge voices``: the system voices of a Qwen-TTS Realtime model and their languages."""

from __future__ import annotations

import argparse
import json
import os
import sys

from bridge.commands.common import COMMAND_HELP, load_settings
from bridge.core.errors import ConfigError
from bridge.qwen.models import DEFAULT_MODEL, ModelInfo, known_models, model_info

__all__ = ["add_parser", "format_voices", "run", "voices_of"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "voices",
        help=COMMAND_HELP["voices"],
        description="List the system voices a Qwen-TTS Realtime model accepts, with languages.",
    )
    p.add_argument(
        "--model",
        "--tts-model",
        dest="tts_model",
        help=f"the TTS model ($BRIDGE_TTS_MODEL; default {DEFAULT_MODEL})",
    )
    p.add_argument("--json", action="store_true", help="print the voices as JSON")
    p.set_defaults(run=run)


def voices_of(model: str) -> ModelInfo:
    """The model's family and voices; ``ConfigError`` naming the known models otherwise."""
    info = model_info(model)
    if info is None:
        raise ConfigError(
            f"unknown TTS model {model!r}; known models: {', '.join(known_models())}",
            field="model",
        )
    return info


def format_voices(info: ModelInfo, *, current: str | None = None) -> str:
    """A two-column table of voice names and languages (``*`` marks ``current``)."""
    if info.takes_custom_voices:
        return (
            f"{info.name} takes custom voice ids only (voices cloned or designed with DashScope's "
            "voice enrollment API); it has no system voices."
        )
    width = max(len(v.name) for v in info.voices)
    lines = [f"Voices of {info.name} ({len(info.voices)}):"]
    for voice in info.voices:
        mark = "*" if voice.name == current else " "
        lines.append(f" {mark}{voice.name:<{width}}  {voice.languages}")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    settings = load_settings(args, os.environ)
    info = voices_of(settings.tts_model or DEFAULT_MODEL)
    if args.json:
        out = {
            "model": info.name,
            "family": info.family.value,
            "custom_voices": info.takes_custom_voices,
            "voices": [{"name": v.name, "languages": v.languages} for v in info.voices],
        }
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(format_voices(info, current=settings.voice))
    if info.voices:
        print(
            'choose one with --voice NAME, BRIDGE_VOICE, voice = "NAME" in the configuration '
            "file, or /voice NAME in bridge chat",
            file=sys.stderr,
        )
    return 0
