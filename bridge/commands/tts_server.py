"""``bridge tts-server``: the local Qwen-TTS-Realtime-compatible server."""

from __future__ import annotations

import argparse
import os
import signal

import anyio

from bridge.commands.common import COMMAND_HELP, announce, non_negative_int
from bridge.core.errors import ConfigError

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tts-server",
        help=COMMAND_HELP["tts-server"],
        description=(
            "Serve the Qwen-TTS Realtime WebSocket protocol locally. Prints the ws URL on the "
            "first line of stdout, then serves until interrupted."
        ),
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=non_negative_int, default=0, help="0 picks a free port")
    p.add_argument("--engine", choices=("espeak", "tone", "exact"), default="espeak")
    p.add_argument(
        "--api-key",
        default=None,
        help="require this key (Authorization: Bearer ...); default: "
        "$BRIDGE_EMULATOR_API_KEY, else any key is accepted",
    )
    p.add_argument(
        "--synthesis-workers",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="segments of a session synthesized at once, and espeak processes (default: one "
        "per CPU core)",
    )
    lat = p.add_argument_group("latency model")
    lat.add_argument("--realistic", action="store_true", help="0.5 s first packet, RTF 0.5")
    lat.add_argument("--first-packet-ms", type=non_negative_int, default=None)
    lat.add_argument("--rtf", type=float, default=None, help="pacing after the first packet")
    lat.add_argument("--delta-ms", type=non_negative_int, default=None, help="audio per delta")
    flt = p.add_argument_group("fault injection (for tests)")
    flt.add_argument("--fault-refuse", type=int, metavar="STATUS", help="refuse handshakes")
    flt.add_argument("--fault-close-after", type=non_negative_int, metavar="N")
    flt.add_argument("--fault-error-after", type=non_negative_int, metavar="N")
    flt.add_argument("--fault-error-code", default="internal_error")
    flt.add_argument("--fault-stall-after", type=non_negative_int, metavar="N")
    flt.add_argument(
        "--fault-connections", type=non_negative_int, metavar="N", help="only the first N"
    )
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    from bridge.local import EmulatorOptions, Faults, LatencyModel, serve_emulator
    from bridge.local.options import available_cores

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
    workers = args.synthesis_workers or min(64, available_cores())
    try:
        options = EmulatorOptions(
            api_key=args.api_key or os.environ.get("BRIDGE_EMULATOR_API_KEY") or None,
            engine=args.engine,
            latency=latency,
            faults=faults,
            synthesis_workers=workers,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        async with serve_emulator(options, host=args.host, port=args.port) as emulator:
            announce(emulator.url)
            await _wait_for_signal()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return 0


async def _wait_for_signal() -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return
