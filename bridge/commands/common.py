"""Option groups and endpoint resolution shared by the commands.

Precedence: flags > environment variables > defaults. Only this layer reads the environment.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from bridge.errors import ConfigError
from bridge.qwen.config import SAMPLE_RATES, SessionConfig
from bridge.qwen.models import DEFAULT_MODEL, DEFAULT_VOICE, REGION_URLS

if TYPE_CHECKING:
    from bridge.pipeline import TTSTarget
    from bridge.sinks import AudioSink

__all__ = [
    "add_output_options",
    "add_tts_options",
    "make_sink",
    "resolve_tts",
    "text_source",
]

Env = Mapping[str, str]


def add_tts_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech service (Qwen-TTS Realtime)")
    g.add_argument(
        "--local",
        action="store_true",
        help="use the embedded defaults: the local TTS server with espeak-ng (and, for "
        "commands that need a model, the embedded LLM when none is configured)",
    )
    g.add_argument(
        "--tts-url",
        "--url",
        dest="tts_url",
        help="a ws(s):// Qwen-TTS Realtime URL ($BRIDGE_TTS_URL)",
    )
    g.add_argument("--tts-api-key", help="DashScope API key ($DASHSCOPE_API_KEY)")
    g.add_argument("--region", help="beijing or singapore ($BRIDGE_TTS_REGION; default beijing)")
    g.add_argument("--tts-model", help=f"TTS model ($BRIDGE_TTS_MODEL; default {DEFAULT_MODEL})")
    g.add_argument("--voice", help=f"voice name ($BRIDGE_VOICE; default {DEFAULT_VOICE})")
    g.add_argument("--language", help="language_type, e.g. English or Chinese (default Auto)")
    g.add_argument(
        "--sample-rate", type=int, default=24000, choices=SAMPLE_RATES, help="Hz (default 24000)"
    )


def add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="write the audio here: FILE.wav, or - for raw PCM on stdout")
    p.add_argument("--json", action="store_true", help="print the turn result as JSON on stdout")


def _pick(flag: str | None, env: Env, name: str) -> str | None:
    value = flag if flag else env.get(name)
    return value or None


@asynccontextmanager
async def resolve_tts(args: argparse.Namespace, env: Env) -> AsyncIterator[TTSTarget]:
    """Where speech goes: the embedded emulator (``--local``), a URL, or DashScope by region."""
    from bridge.pipeline import TTSTarget

    model = _pick(args.tts_model, env, "BRIDGE_TTS_MODEL") or DEFAULT_MODEL
    config = SessionConfig(
        voice=_pick(args.voice, env, "BRIDGE_VOICE") or DEFAULT_VOICE,
        language_type=args.language,
        sample_rate=args.sample_rate,
    )
    config.validate(model)
    key = _pick(args.tts_api_key, env, "DASHSCOPE_API_KEY")
    url = _pick(args.tts_url, env, "BRIDGE_TTS_URL")
    region = (_pick(args.region, env, "BRIDGE_TTS_REGION") or "beijing").lower()
    if region not in REGION_URLS:
        raise ConfigError(f"unknown region {region!r}: choose beijing or singapore", field="region")
    if args.local and not args.tts_url:
        from bridge.local import EmulatorOptions, serve_emulator

        async with serve_emulator(EmulatorOptions(engine="espeak")) as emu:
            yield TTSTarget(url=emu.url, model=model, config=config)
        return
    if url is None and key is None:
        raise ConfigError(
            "no speech service configured.\n"
            "  set DASHSCOPE_API_KEY (and BRIDGE_TTS_REGION=beijing|singapore) for Qwen-TTS "
            "Realtime,\n  or try --local for the embedded offline engine"
        )
    yield TTSTarget(url=url, region=region, model=model, api_key=key, config=config)


def make_sink(args: argparse.Namespace, sample_rate: int, note: Callable[[str], None]) -> AudioSink:
    from bridge.sinks import NullSink, PcmSink, WavSink

    if args.out == "-":
        return PcmSink()
    if args.out:
        return WavSink(Path(args.out), sample_rate)
    note("no speaker playback on this machine yet: the audio is not played (use --out FILE.wav)")
    return NullSink()


async def text_source(source: str) -> AsyncIterator[str]:
    """Text from stdin (``-``) or a file as it arrives, decoded incrementally as UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    if source == "-":
        fd = sys.stdin.fileno()
        close = False
    else:
        try:
            fd = os.open(source, os.O_RDONLY)
        except OSError as exc:
            raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
        close = True
    try:
        while True:
            data = await anyio.to_thread.run_sync(os.read, fd, 4096, abandon_on_cancel=True)
            if not data:
                break
            text = decoder.decode(data)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail
    finally:
        if close:
            os.close(fd)
