"""Option groups and endpoint resolution shared by the commands.

Precedence: flags > environment variables > the configuration file (``bridge.commands.settings``) >
defaults. Only this layer reads the environment and finds the configuration file.
"""

from __future__ import annotations

import argparse
import codecs
import datetime
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import anyio

from bridge.core.errors import ConfigError, NothingToSpeak
from bridge.core.sanitize import TextSanitizer
from bridge.qwen.config import SAMPLE_RATES, SessionConfig
from bridge.qwen.models import DEFAULT_MODEL, DEFAULT_VOICE
from bridge.qwen.regions import (
    DEFAULT_REGION,
    REGIONS,
    check_workspace,
    region_names,
    resolve_region,
)

if TYPE_CHECKING:
    from bridge.adapters.sinks import AudioSink
    from bridge.commands.settings import Settings
    from bridge.core.result import TurnResult
    from bridge.pipeline import PipelineOptions, TTSTarget
    from bridge.qwen.client import AudioChunk, Timeouts

__all__ = [
    "COMMAND_HELP",
    "NO_PLAYBACK",
    "add_log_options",
    "add_output_options",
    "add_tts_options",
    "announce",
    "check_output",
    "check_speech_settings",
    "exit_code",
    "lexicon_path",
    "load_settings",
    "log_level",
    "make_sink",
    "non_negative_int",
    "note",
    "nothing_spoken",
    "pipeline_options",
    "plural",
    "positive_float",
    "positive_int",
    "report_failure",
    "resolve_tts",
    "set_message_format",
    "shown_path",
    "text_source",
]

# The one-line help of each command (`bridge --help` lists them without importing the commands).
COMMAND_HELP: Final[Mapping[str, str]] = MappingProxyType(
    {
        "chat": "a spoken conversation with the chat model in the terminal",
        "say": "ask the chat model a question and speak the reply as it streams",
        "serve": "run the voice-assistant backend: WebSocket protocol and a browser demo page",
        "speak": "speak text from stdin or a file as it arrives (pipe-friendly)",
        "voices": "list the voices of a TTS model and their languages",
        "tts-server": (
            "run the local Qwen-TTS-Realtime-compatible server (espeak-ng, tone or exact engine)"
        ),
    }
)


def log_level(text: str) -> str:
    """argparse type of ``--log-level``: a level name, any case."""
    from bridge.logs import LOG_LEVELS

    name = text.strip().lower()
    if name not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(LOG_LEVELS)}")
    return name


def add_log_options(p: argparse.ArgumentParser) -> None:
    """``--log-level``, ``--log-format`` and ``--debug``, on the top level and on every command
    (``bridge --log-level info serve`` and ``bridge serve --log-level info`` both work)."""
    from bridge.logs import LOG_FORMATS

    g = p.add_argument_group("logging")
    g.add_argument(
        "--log-level",
        type=log_level,
        default=argparse.SUPPRESS,
        metavar="LEVEL",
        help="debug, info, warning, error or critical ($BRIDGE_LOG_LEVEL; default error, "
        "info for serve); the user's and the model's text are logged only at debug (or with "
        "serve --log-text)",
    )
    g.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=argparse.SUPPRESS,
        help="json (one object a line), console, or auto: console on a terminal, else json "
        "($BRIDGE_LOG_FORMAT)",
    )
    g.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="debug logs and tracebacks"
    )


# How note() writes: plain text, or JSON objects like the log lines' (set by the CLI).
_MESSAGES = {"json": False}


def set_message_format(*, as_json: bool) -> None:
    """Make :func:`note` write JSON objects (a run whose stderr is a JSON log stream)."""
    _MESSAGES["json"] = as_json


def announce(url: str) -> None:
    """Print a server's URL as the first line of stdout. A stdout nobody reads any more (the
    pipe's reader is gone) is not a reason to stop serving: it is pointed at /dev/null and the
    server goes on; the URL is told on stderr instead."""
    try:
        print(url, flush=True)
    except (BrokenPipeError, ValueError, OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        finally:
            os.close(devnull)
        note(f"stdout is closed; serving at {url}", level="warning")


def note(text: str, *, level: str = "info") -> None:
    """One line for the user on stderr (stdout stays free for text, audio and JSON); a JSON
    object like the log lines' when the run's stderr is a JSON log stream."""
    if _MESSAGES["json"]:
        stamp = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        line = json.dumps(
            {"event": text, "level": level, "logger": "bridge", "timestamp": stamp},
            ensure_ascii=False,
        )
        print(line, file=sys.stderr, flush=True)
        return
    print(f"bridge: {text}", file=sys.stderr, flush=True)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 segment``, ``2 segments``, ``0 segments``."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


NO_PLAYBACK = (
    "no speaker playback on this machine: the audio is not played (it needs a sound device "
    "and the audio extra: uv sync --extra audio); --out FILE.wav writes it"
)

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
    g.add_argument(
        "--region",
        type=str.lower,
        choices=region_names(),
        metavar="REGION",
        help="DashScope region of the key: "
        + ", ".join(r.alias for r in REGIONS)
        + ", or its id: "
        + ", ".join(r.id for r in REGIONS)
        + " ($BRIDGE_TTS_REGION; default beijing)",
    )
    g.add_argument(
        "--workspace",
        help="Model Studio workspace id: connect to the region's workspace endpoint "
        "wss://ID.REGION.maas.aliyuncs.com ($DASHSCOPE_WORKSPACE)",
    )
    g.add_argument("--tts-model", help=f"TTS model ($BRIDGE_TTS_MODEL; default {DEFAULT_MODEL})")
    g.add_argument("--voice", help=f"voice name ($BRIDGE_VOICE; default {DEFAULT_VOICE})")
    g.add_argument(
        "--language",
        help="language_type, e.g. English or Chinese ($BRIDGE_LANGUAGE; default Auto)",
    )
    g.add_argument(
        "--sample-rate",
        type=int,
        choices=SAMPLE_RATES,
        help="Hz ($BRIDGE_SAMPLE_RATE; default 24000)",
    )
    g.add_argument(
        "--tts-stall-ms",
        type=int,
        metavar="MS",
        help="silence of the speech service while it owes audio after which the connection "
        "counts as dropped: reconnect and re-send ($BRIDGE_TTS_STALL_MS; default 3000)",
    )
    g.add_argument(
        "--lexicon",
        metavar="FILE",
        help="word replacements for the speech, a TOML file with [exact] and [any_case] "
        'tables of word = "spoken as" ($BRIDGE_LEXICON)',
    )


def add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="write the audio here: FILE.wav, or - for raw PCM on stdout")
    p.add_argument("--json", action="store_true", help="print the turn result as JSON on stdout")


def load_settings(args: argparse.Namespace, env: Env) -> Settings:
    """The command's settings: its flags, then ``env``, then the configuration file."""
    # Imported here: a command that reads no settings (bridge tts-server) builds none of them.
    from bridge.commands.settings import KEYS, config_path, merge_settings, read_config

    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    path, explicit = config_path(env, home)
    file_values = read_config(path, explicit=explicit)
    flags = {key.name: getattr(args, key.name, None) for key in KEYS}
    return merge_settings(flags, env, file_values, config_path=path)


def lexicon_path(s: Settings) -> Path | None:
    """The lexicon file the settings name: a relative path in the configuration file is
    relative to that file's folder, elsewhere to the working directory."""
    if not s.lexicon:
        return None
    path = Path(s.lexicon).expanduser()
    if s.source("lexicon") == "file" and not path.is_absolute() and s.config_file is not None:
        path = s.config_file.parent / path
    return path


def pipeline_options(args: argparse.Namespace, env: Env) -> PipelineOptions:
    """The turn options the user's settings give (the lexicon, read now; the prices)."""
    from bridge.pipeline import PipelineOptions

    s = load_settings(args, env)
    path = lexicon_path(s)
    if path is None:  # no lexicon: its file reader (and its regex) is not imported
        return PipelineOptions(prices=s.prices)
    from bridge.adapters.lexicon_file import read_lexicon

    return PipelineOptions(lexicon=read_lexicon(path), prices=s.prices)


def shown_path(path: Path | None, env: Env) -> str:
    """``path`` for a message, with the home directory written as ``~``."""
    if path is None:
        return "the configuration file"
    home = env.get("HOME")
    if home and path.is_relative_to(home):
        return "~/" + str(path.relative_to(home))
    return str(path)


def _timeouts(s: Settings) -> Timeouts:
    from bridge.qwen.client import Timeouts

    if s.tts_stall_ms is None:
        return Timeouts()
    if s.tts_stall_ms < 1:
        raise ConfigError(
            f"tts_stall_ms must be at least 1, got {s.tts_stall_ms} "
            f"(from {s.source('tts_stall_ms')})",
            field="tts_stall_ms",
        )
    return Timeouts(stall=s.tts_stall_ms / 1000)


def _speech_settings(s: Settings) -> tuple[str, SessionConfig, str, str | None]:
    model = s.tts_model or DEFAULT_MODEL
    config = SessionConfig(
        voice=s.voice or DEFAULT_VOICE,
        language_type=s.language,
        sample_rate=s.sample_rate or 24000,
    )
    config.validate(model)
    region = resolve_region(s.region or DEFAULT_REGION).id
    workspace = check_workspace(s.workspace) if s.workspace else None
    _timeouts(s)
    if s.tts_url is not None:
        from bridge.qwen.client import build_url

        build_url(s.tts_url, region, model, workspace)
    return model, config, region, workspace


def check_speech_settings(args: argparse.Namespace, env: Env) -> None:
    """Refuse bad speech settings (voice, language, rate, URL, workspace) before anything
    starts, so a mistake is not reported only after the embedded chat model has loaded."""
    _speech_settings(load_settings(args, env))


@asynccontextmanager
async def resolve_tts(
    args: argparse.Namespace, env: Env, *, local_delta_ms: int | None = None
) -> AsyncIterator[TTSTarget]:
    """Where speech goes: the embedded emulator (``--local``), a URL, or DashScope by region.
    ``local_delta_ms``: audio per delta of the embedded emulator (default: its 100 ms)."""
    from bridge.pipeline import TTSTarget

    s = load_settings(args, env)
    model, config, region, workspace = _speech_settings(s)
    key = s.tts_api_key
    url = s.tts_url
    # --local starts the embedded server unless a URL was given with at least its precedence.
    if s.local and not (url and s.outranks("tts_url", "local")):
        from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
        from bridge.local.options import available_cores

        # Segments are synthesized ahead, in parallel: one espeak process per core.
        latency = (
            LatencyModel() if local_delta_ms is None else LatencyModel(delta_ms=local_delta_ms)
        )
        options = EmulatorOptions(
            engine="espeak", synthesis_workers=min(64, available_cores()), latency=latency
        )
        async with serve_emulator(options) as emu:
            yield TTSTarget(url=emu.url, model=model, config=config, timeouts=_timeouts(s))
        return
    if url is None and key is None:
        raise ConfigError(
            "no speech service configured.\n"
            "  set DASHSCOPE_API_KEY (and BRIDGE_TTS_REGION, e.g. singapore) for Qwen-TTS "
            f"Realtime, or tts_api_key in {shown_path(s.config_path, env)},\n"
            "  or try --local for the embedded offline engine"
        )
    yield TTSTarget(
        url=url,
        region=region,
        model=model,
        api_key=key,
        workspace=workspace,
        config=config,
        timeouts=_timeouts(s),
    )


def check_output(out: str | None) -> None:
    """Refuse an ``--out`` that cannot be written, before anything is started. (The file
    itself is created when the first audio arrives; see ``WavSink``.)"""
    if out is None or out == "-":
        return
    path = Path(out)
    parent = path.parent
    if path.is_dir():
        raise ConfigError(f"cannot write {out}: it is a directory", field="out")
    if not parent.is_dir():
        raise ConfigError(f"cannot write {out}: there is no directory {parent}", field="out")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(parent, os.W_OK)
    if not writable:
        raise ConfigError(f"cannot write {out}: permission denied", field="out")


class _Unplayed:
    """No speaker: counts the audio, and says once, when the first audio arrives, that it is
    not played (not before: a command that fails first has nothing to say about playback)."""

    def __init__(self, note: Callable[[str], None]) -> None:
        from bridge.adapters.sinks import NullSink

        self._sink = NullSink()
        self._note = note
        self._told = False

    @property
    def samples_played(self) -> int:
        return self._sink.samples_played

    async def write(self, chunk: AudioChunk) -> None:
        if not self._told and chunk.samples and not self._sink.stopped:
            self._told = True
            self._note(NO_PLAYBACK)
        await self._sink.write(chunk)

    async def stop(self) -> None:
        await self._sink.stop()

    async def close(self) -> None:
        await self._sink.close()


def make_sink(args: argparse.Namespace, sample_rate: int, note: Callable[[str], None]) -> AudioSink:
    from bridge.adapters.sinks import PcmSink, WavSink

    if args.out == "-":
        return PcmSink()
    if args.out:
        return WavSink(Path(args.out), sample_rate)
    from bridge.adapters.speaker import open_speaker

    speaker = open_speaker(sample_rate)
    if speaker is not None:
        return speaker
    return _Unplayed(note)


def nothing_spoken(result: TurnResult, what: str) -> TurnResult:
    """``result``, with an error when the turn ended normally but had nothing to speak:
    ``what`` (``"the reply"``, ``"the input"``) was empty, or only code or markup (which is
    not read aloud). Otherwise ``result`` as it is."""
    if result.error is not None or result.interrupted or result.segments:
        return result
    if result.ttft_ms is None:
        message = f"{what} was empty; nothing was spoken"
    else:
        message = (
            f"{what} had no speakable text (only code, markup or symbols, which are not "
            "read aloud); nothing was spoken"
        )
    from bridge.core.result import TurnFailure

    return replace(result, error=TurnFailure.of(NothingToSpeak(message)))


def report_failure(result: TurnResult, sink: AudioSink) -> None:
    """The error of a failed turn, and where the audio spoken before it went (if anywhere)."""
    if result.error is None:
        return
    note(f"error: {result.error.message}")
    path = getattr(sink, "path", None)
    if getattr(sink, "written", False) and path is not None:
        note(f"{result.audio_ms / 1000:.1f} s spoken before the error are in {path}")


def exit_code(result: TurnResult) -> int:
    """0 for a turn without error; 2 when the input was refused; 1 for any other failure."""
    if result.error is None:
        return 0
    return 2 if isinstance(result.error.exception, ConfigError) else 1


# A read is refused as binary when it holds a NUL byte, or when more than this share of its
# characters are undecodable bytes (U+FFFD) or control characters other than white space.
_BINARY_SHARE = 0.1
# Undecodable bytes (U+FFFD) and control characters (C0, DEL, C1) other than \t \n \v \f \r.
_ODD = re.compile("[\ufffd\x00-\x08\x0e-\x1f\x7f-\x9f]")


def binary_reason(data: bytes, text: str) -> str | None:
    """Why a read from a text source looks binary (``None`` when it looks like text)."""
    if b"\x00" in data:
        return "it holds NUL bytes"
    odd = len(_ODD.findall(text))
    if text and odd > _BINARY_SHARE * len(text):
        return "it is not UTF-8 text"
    return None


async def text_source(source: str) -> AsyncIterator[str]:
    """Text from stdin (``-``) or a file as it arrives, decoded incrementally as UTF-8 and
    sanitised (``bridge.core.sanitize``: control characters removed, surrogates repaired).
    Binary data (see ``binary_reason``) is refused with a ``ConfigError``, never spoken."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    clean = TextSanitizer()
    name = "stdin" if source == "-" else source
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
            reason = binary_reason(data, text)
            if reason is not None:
                raise ConfigError(
                    f"cannot speak {name}: {reason}, it looks like binary data; "
                    "bridge speak reads UTF-8 text",
                    field="input",
                )
            text = clean.feed(text)
            if text:
                yield text
        tail = clean.feed(decoder.decode(b"", final=True)) + clean.flush()
        if tail:
            yield tail
    finally:
        if close:
            os.close(fd)
