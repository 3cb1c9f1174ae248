"""``bridge speak``: speak text as it arrives on stdin or from a file."""

from __future__ import annotations

import argparse
import json
import os

import anyio

from bridge.commands.common import (
    COMMAND_HELP,
    add_output_options,
    add_tts_options,
    check_output,
    exit_code,
    make_sink,
    note,
    nothing_spoken,
    pipeline_options,
    plural,
    report_failure,
    resolve_tts,
    text_source,
)
from bridge.core.errors import ConfigError

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "speak",
        help=COMMAND_HELP["speak"],
        description=(
            "Speak text as it arrives on stdin (or from FILE): markdown, emoji and code are "
            "removed, and each sentence goes to Qwen-TTS Realtime as soon as it ends."
        ),
    )
    p.add_argument("source", nargs="?", default="-", help="a text file, or - for stdin")
    add_output_options(p)
    add_tts_options(p)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    from bridge.pipeline import Turn

    check_output(args.out)
    if args.source != "-" and not await anyio.Path(args.source).is_file():
        raise ConfigError(f"cannot read {args.source}: no such file")
    options = pipeline_options(args, os.environ)
    # Text from a file or a pipe is spoken as fast as it can be made: the embedded emulator
    # sends up to 2 s of audio per delta, its most (the same audio, a twentieth of the
    # per-delta work of its default 100 ms: framing, base64 and JSON on both sides). A
    # segment's audio is whole before its first delta is sent, so this delays nothing.
    async with resolve_tts(args, os.environ, local_delta_ms=2000) as target:
        sink = make_sink(args, target.config.sample_rate, note)
        result = await Turn(text_source(args.source), sink, target=target, options=options).run()
    result = nothing_spoken(result, "the input")
    report_failure(result, sink)
    if args.json and args.out != "-":
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.error is None:
        first = result.first_audio_ms
        shown = "n/a" if first is None else f"at {first:.0f} ms"
        note(
            f"spoke {plural(len(result.segments), 'segment')}, "
            f"{result.audio_ms / 1000:.1f} s of audio; first audio {shown}"
            + (f"; wrote {args.out}" if args.out not in (None, "-") else "")
        )
    return exit_code(result)
