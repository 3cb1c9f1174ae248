"""The ``bridge`` command line. Entry points are the only place that reads argv and the
environment and configures logging."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import anyio

from bridge.commands.common import COMMAND_HELP, add_log_options, note, set_message_format
from bridge.commands.eventloop import backend_options
from bridge.commands.signals import until_exit_signal
from bridge.core.errors import BridgeError, ConfigError
from bridge.logs import LOG_LEVELS, configure_logging, redact

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

# Every command: the module whose ``add_parser`` defines its options (and whose ``run`` it runs).
# ``bridge COMMAND`` imports only that command's module; the others appear in ``bridge --help``
# by name and one-line help (``COMMAND_HELP``), without their modules.
COMMANDS: dict[str, str] = {
    "chat": "bridge.commands.chat_parser",
    "say": "bridge.commands.say",
    "serve": "bridge.commands.serve",
    "speak": "bridge.commands.speak",
    "voices": "bridge.commands.voices",
    "tts-server": "bridge.commands.tts_server",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser: every command's options, or (``command`` given) that command's only,
    the others listed by name and help."""
    parser = argparse.ArgumentParser(
        prog="bridge",
        description="Stream a chat model's reply into speech, starting after the first clause.",
    )
    parser.add_argument("--version", action=_VersionAction)
    add_log_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=COMMAND_HELP[name])
    for each in sub.choices.values():
        add_log_options(each)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is a command's name. (Nothing before
    the command can be one: the options before it take a log level or format as value.)"""
    for word in argv:
        if word == "--":
            return None
        if word in COMMANDS:
            return word
    return None


def _refuse_unknown(
    parser: argparse.ArgumentParser, args: argparse.Namespace, extra: Sequence[str]
) -> None:
    """Exit (status 2, as argparse does) naming the words that are no option of the command,
    with its own usage and, for an option close to one of its options, that one."""
    command = getattr(args, "command", None)
    target = parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            target = action.choices[command]
    known = [o for a in target._actions for o in a.option_strings if o.startswith("--")]
    message = f"unrecognized arguments: {' '.join(extra)}"
    for word in extra:
        if guess := _close_option(word.split("=", 1)[0], known):
            message += f" (did you mean {guess}?)"
            break
    target.error(message)


def _close_option(word: str, known: Sequence[str]) -> str | None:
    """The option ``word`` was probably meant as: a short ``-x`` for the one long option that
    starts with that letter, else the closest spelling."""
    import difflib

    if not word.startswith("-"):
        return None
    if len(word) == 2 and word[1].isalpha():
        starting = [o for o in known if o[2:3] == word[1]]
        return starting[0] if len(starting) == 1 else None
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.7)
    # difflib ranks "--prompt" over "--port" for "--prot": prefer the fewest edits, a swap of
    # two neighbours counting as one
    return min(close, key=lambda option: _edits(word, option), default=None)


def _edits(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) from ``a`` to ``b``."""
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, row = row, current
    return row[len(b)]


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


# numpy (the emulator's resampler, soxr, needs it) loads OpenBLAS, which starts a thread per
# core as it loads, and those threads spin for a while waiting for work (~80 ms of CPU on the
# second core while a command starts, measured). bridge never does linear algebra: one thread.
# Set before numpy can be imported (so also in the espeak workers); a value of the user's wins.
_BLAS_DEFAULTS: dict[str, str] = {"OPENBLAS_NUM_THREADS": "1"}


def main(argv: Sequence[str] | None = None) -> int:
    for name, value in _BLAS_DEFAULTS.items():
        os.environ.setdefault(name, value)
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(argv))
    args, extra = parser.parse_known_args(argv)
    if extra:
        _refuse_unknown(parser, args, extra)
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
