"""The ``bridge`` command line. Entry points are the only place that reads argv and the
environment and configures logging."""

from __future__ import annotations

import argparse
import codecs
import json
import os
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from bridge import __version__
from bridge.errors import BridgeError, ConfigError
from bridge.logs import configure_logging, redact

if TYPE_CHECKING:
    from bridge.qwen.client import AudioChunk

__all__ = ["main"]

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _add_tts_server(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tts-server",
        help="run the local Qwen-TTS-Realtime-compatible server (espeak-ng or tone engine)",
        description=(
            "Serve the Qwen-TTS Realtime WebSocket protocol locally. Prints the ws URL on the "
            "first line of stdout, then serves until interrupted."
        ),
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_positive_int, default=0, help="0 picks a free port")
    p.add_argument("--engine", choices=("espeak", "tone"), default="espeak")
    p.add_argument(
        "--api-key",
        default=None,
        help="require this key (Authorization: Bearer ...); default: "
        "$BRIDGE_EMULATOR_API_KEY, else any key is accepted",
    )
    lat = p.add_argument_group("latency model")
    lat.add_argument("--realistic", action="store_true", help="0.5 s first packet, RTF 0.5")
    lat.add_argument("--first-packet-ms", type=_positive_int, default=None)
    lat.add_argument("--rtf", type=float, default=None, help="pacing after the first packet")
    lat.add_argument("--delta-ms", type=_positive_int, default=None, help="audio per delta")
    flt = p.add_argument_group("fault injection (for tests)")
    flt.add_argument("--fault-refuse", type=int, metavar="STATUS", help="refuse handshakes")
    flt.add_argument("--fault-close-after", type=_positive_int, metavar="N")
    flt.add_argument("--fault-error-after", type=_positive_int, metavar="N")
    flt.add_argument("--fault-error-code", default="internal_error")
    flt.add_argument("--fault-stall-after", type=_positive_int, metavar="N")
    flt.add_argument(
        "--fault-connections", type=_positive_int, metavar="N", help="only the first N"
    )
    p.set_defaults(run=_run_tts_server)


async def _run_tts_server(args: argparse.Namespace) -> int:
    from bridge.local import EmulatorOptions, Faults, LatencyModel, serve_emulator

    base = LatencyModel.realistic() if args.realistic else LatencyModel()
    try:
        latency = LatencyModel(
            first_packet=(
                args.first_packet_ms / 1000
                if args.first_packet_ms is not None
                else base.first_packet
            ),
            rtf=args.rtf if args.rtf is not None else base.rtf,
            delta_ms=args.delta_ms if args.delta_ms is not None else base.delta_ms,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    faults = Faults(
        refuse_handshake=args.fault_refuse,
        close_after_deltas=args.fault_close_after,
        error_after_deltas=args.fault_error_after,
        error_code=args.fault_error_code,
        stall_after_deltas=args.fault_stall_after,
        connections=args.fault_connections,
    )
    options = EmulatorOptions(
        api_key=args.api_key or os.environ.get("BRIDGE_EMULATOR_API_KEY") or None,
        engine=args.engine,
        latency=latency,
        faults=faults,
    )
    try:
        async with serve_emulator(options, host=args.host, port=args.port) as emulator:
            print(emulator.url, flush=True)
            await _wait_for_signal()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return 0


async def _wait_for_signal() -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


def _add_speak(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "speak",
        help="speak text from stdin or a file as it arrives (pipe-friendly)",
        description=(
            "Speak text as it arrives on stdin (or from FILE): markdown, emoji and code are "
            "removed, sentences are sent to Qwen-TTS Realtime as soon as they end."
        ),
    )
    p.add_argument("source", nargs="?", default="-", help="a text file, or - for stdin")
    p.add_argument("--out", help="write the audio here: FILE.wav, or - for raw PCM on stdout")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    _add_tts_options(p)
    p.set_defaults(run=_run_speak)


def _add_tts_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech service")
    g.add_argument(
        "--local",
        action="store_true",
        help="use the embedded local TTS server (espeak-ng); no key or internet needed",
    )
    g.add_argument("--url", help="a Qwen-TTS Realtime ws(s):// URL (e.g. a running tts-server)")
    g.add_argument("--region", default=None, help="beijing or singapore (default: beijing)")
    g.add_argument("--model", default=None, help="TTS model (default: qwen3-tts-flash-realtime)")
    g.add_argument("--voice", default=None, help="voice name (default: Cherry)")
    g.add_argument("--language", default=None, help="language_type, e.g. English, Chinese")
    g.add_argument("--sample-rate", type=int, default=24000, choices=(8000, 16000, 24000, 48000))


async def _text_source(source: str) -> AsyncIterator[str]:
    """Text as it arrives: a blocking read in a worker thread, decoded incrementally."""
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


@asynccontextmanager
async def _tts_endpoint(args: argparse.Namespace) -> AsyncIterator[tuple[str, str | None]]:
    """The TTS URL and key to use: the embedded emulator, a given URL, or DashScope."""
    from bridge.qwen.models import REGION_URLS

    key = os.environ.get("DASHSCOPE_API_KEY") or None
    if args.local:
        from bridge.local import EmulatorOptions, serve_emulator

        async with serve_emulator(EmulatorOptions(engine="espeak")) as emu:
            yield emu.url, None
        return
    if args.url:
        yield args.url, key
        return
    if key is None:
        raise ConfigError(
            "no speech service configured.\n"
            "  set DASHSCOPE_API_KEY (and --region beijing|singapore) to use Qwen-TTS Realtime,\n"
            "  or try --local for the embedded offline engine"
        )
    region = (args.region or "beijing").lower()
    if region not in REGION_URLS:
        raise ConfigError(f"unknown region {region!r}: choose beijing or singapore")
    yield REGION_URLS[region], key


async def _run_speak(args: argparse.Namespace) -> int:
    from bridge.qwen import DEFAULT_MODEL, DEFAULT_VOICE, SessionConfig, connect
    from bridge.speak import speak_text_stream
    from bridge.wav import WavWriter

    if not args.out:
        raise ConfigError(
            "no audio output: speaker playback is not available yet; "
            "pass --out FILE.wav (or --out - for raw PCM on stdout)"
        )
    model = args.model or DEFAULT_MODEL
    config = SessionConfig(
        voice=args.voice or DEFAULT_VOICE,
        language_type=args.language,
        sample_rate=args.sample_rate,
    )
    config.validate(model)
    writer: WavWriter | None = None
    raw_out = sys.stdout.buffer if args.out == "-" else None
    if raw_out is None:
        try:
            writer = WavWriter(args.out, args.sample_rate)
        except OSError as exc:
            raise ConfigError(f"cannot write {args.out}: {exc.strerror}") from None

    def on_audio(chunk: AudioChunk) -> None:
        if writer is not None:
            writer.write(chunk.data)
        elif raw_out is not None:
            raw_out.write(chunk.data)
            raw_out.flush()

    try:
        async with _tts_endpoint(args) as (url, key), connect(
            url=url, model=model, api_key=key, config=config
        ) as tts:
            result = await speak_text_stream(_text_source(args.source), tts, on_audio)
    finally:
        if writer is not None:
            writer.close()
    summary = {
        "segments": list(result.segments),
        "audio_seconds": round(result.audio_seconds, 3),
        "first_audio_latency": (
            None if result.first_audio_latency is None else round(result.first_audio_latency, 3)
        ),
        "responses": result.responses,
        "out": args.out,
    }
    if args.json and raw_out is None:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        latency = summary["first_audio_latency"]
        shown = "n/a" if latency is None else f"{latency * 1000:.0f} ms"
        print(
            f"spoke {len(result.segments)} segments, {result.audio_seconds:.1f} s of audio; "
            f"first audio after {shown}" + (f"; wrote {args.out}" if writer else ""),
            file=sys.stderr,
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description="Stream a chat model's reply into speech, starting after the first clause.",
    )
    parser.add_argument("--version", action="version", version=f"bridge {__version__}")
    parser.add_argument("--debug", action="store_true", help="debug logs and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_speak(sub)
    _add_tts_server(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    configure_logging(debug=args.debug)
    run: Command = args.run
    try:
        return anyio.run(run, args, backend="asyncio")
    except KeyboardInterrupt:
        return 130
    except BridgeError as exc:
        if args.debug:
            traceback.print_exc()
        code = 2 if isinstance(exc, ConfigError) else 1
        print(f"bridge: error: {redact(str(exc))}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
