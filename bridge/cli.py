"""The ``bridge`` command line. Entry points are the only place that reads argv and the
environment and configures logging."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import anyio

from bridge.commands import chat_parser, say, serve, speak, tts_server, voices
from bridge.commands.common import add_log_options, note, set_message_format
from bridge.commands.eventloop import backend_options
from bridge.commands.signals import until_exit_signal
from bridge.core.errors import BridgeError, ConfigError
from bridge.logs import LOG_LEVELS, configure_logging, redact

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description="Stream a chat model's reply into speech, starting after the first clause.",
    )
    parser.add_argument("--version", action=_VersionAction)
    add_log_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chat_parser.add_parser(sub)
    say.add_parser(sub)
    serve.add_parser(sub)
    speak.add_parser(sub)
    voices.add_parser(sub)
    tts_server.add_parser(sub)
    for command in sub.choices.values():
        add_log_options(command)
    return parser


def _configure_logs(args: argparse.Namespace) -> None:
    env = os.environ
    # Commands report user-facing problems themselves; servers log at INFO by default.
    default = getattr(args, "default_log_level", "error")
    level = getattr(args, "log_level", None) or env.get("BRIDGE_LOG_LEVEL") or default
    if level.lower() not in LOG_LEVELS:
        raise ConfigError(
            f"$BRIDGE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}"
        )
    log_format = getattr(args, "log_format", None) or env.get("BRIDGE_LOG_FORMAT") or "auto"
    try:
        args.log_json = configure_logging(
            debug=args.debug,
            level=level,
            log_format=log_format,
            log_text=bool(getattr(args, "log_text", False)),
        )
    except ValueError as exc:  # only $BRIDGE_LOG_FORMAT can be wrong here
        raise ConfigError(f"$BRIDGE_LOG_FORMAT: {exc}") from None
    # The command's own messages (notes, the final error line) are for a person: plain text,
    # unless JSON was asked for by name; then every line on stderr is one JSON object.
    set_message_format(as_json=args.log_json and log_format.strip().lower() == "json")


def _report(exc: BridgeError, args: argparse.Namespace) -> None:
    """The one line a failed command ends with (and its traceback with ``--debug``)."""
    if args.debug:
        if getattr(args, "log_json", False):  # the traceback inside a JSON record
            import structlog

            structlog.get_logger("bridge").error("command.failed", exc_info=exc)
        else:
            traceback.print_exc()
    note(f"error: {redact(str(exc))}", level="error")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the user's own command line, for hints that repeat it with a fix
    if args.command is None:
        parser.print_help()
        return 2
    args.debug = getattr(args, "debug", False)
    run: Command = args.run
    try:
        _configure_logs(args)
        # SIGTERM/SIGHUP unwind the command like an exception (children stopped, terminal
        # restored); SIGINT is asyncio's: the command is cancelled, then KeyboardInterrupt.
        # uvloop when installed (bridge.commands.eventloop; BRIDGE_UVLOOP=0 turns it off).
        return anyio.run(
            until_exit_signal,
            functools.partial(run, args),
            backend="asyncio",
            backend_options=backend_options(),
        )
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `bridge voices | head`): not an error worth a traceback.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit-time flush
        return 0
    except BridgeError as exc:
        _report(exc, args)
        return 2 if isinstance(exc, ConfigError) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


class _VersionAction(argparse._VersionAction):
    """``--version``, reading the installed package's version (its metadata, a scan of the
    installed distributions) only when it is asked for, not whenever the parser is built."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        from bridge.core.version import package_version

        self.version = f"bridge {package_version()}"
        super().__call__(parser, namespace, values, option_string)
