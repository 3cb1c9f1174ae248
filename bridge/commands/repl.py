"""The terminal side of ``bridge chat``: reading lines with editing and history, slash commands.

Reading a line blocks, so it happens in a thread: ``LineReader.read(prompt)`` starts a daemon
thread that calls ``input()`` (GNU readline: line editing, history, completion) and hands the
line back to the event loop. Why a daemon thread of our own rather than a worker of
``anyio.to_thread``: a read that is abandoned (Ctrl-C at the prompt ends the program) cannot be
cancelled, and a non-daemon worker blocked in it would keep the process from exiting. Only one
read is outstanding at a time; the thread ends with its line.

Signals: Python runs signal handlers in the main thread only, and the event loop owns SIGINT
(``anyio.open_signal_receiver``), so Ctrl-C never lands in the reading thread as an exception.
Readline switches the terminal to its own mode while it reads; ``TerminalGuard`` saves the
terminal's settings at the start and restores them at the end, so leaving in the middle of a
read does not leave the shell without echo.
"""

from __future__ import annotations

import sys
import termios
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

import anyio
import anyio.from_thread
import anyio.lowlevel

__all__ = [
    "COMMANDS",
    "LineReader",
    "Reader",
    "SlashCommand",
    "TerminalGuard",
    "help_text",
    "parse_slash",
]

HISTORY_LENGTH = 1000

# name -> (argument, what it does)
COMMANDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "voice": ("NAME", "speak with another voice of the model"),
        "voices": ("", "list the model's voices and their languages"),
        "prompt": ("[NAME|FILE]", "show the prompts, or switch the system prompt"),
        "reset": ("", "forget the conversation (keeps the prompt)"),
        "save": ("FILE.wav", "save the last reply's audio"),
        "stats": ("", "the last turn's timeline"),
        "help": ("", "this list"),
        "quit": ("", "leave (also Ctrl-D, or Ctrl-C at the prompt)"),
    }
)
_ALIASES: Mapping[str, str] = MappingProxyType(
    {"exit": "quit", "q": "quit", "?": "help", "clear": "reset"}
)


@dataclass(frozen=True, slots=True)
class SlashCommand:
    name: str  # canonical name, or what was typed when unknown
    arg: str
    known: bool


def parse_slash(line: str) -> SlashCommand | None:
    """``/name arg`` → a command; anything else (including ``//text``) is a message: ``None``."""
    text = line.strip()
    if not text.startswith("/") or text.startswith("//") or len(text) == 1:
        return None
    name, _, arg = text[1:].partition(" ")
    name = name.lower()
    name = _ALIASES.get(name, name)
    return SlashCommand(name, arg.strip(), name in COMMANDS)


def help_text() -> str:
    width = max(len(f"/{n} {a}".rstrip()) for n, (a, _) in COMMANDS.items())
    lines = [f"  {f'/{n} {a}'.rstrip():<{width}}  {what}" for n, (a, what) in COMMANDS.items()]
    lines.append("  Ctrl-C while it speaks stops the speech; the conversation goes on.")
    return "\n".join(lines)


class Completer:
    """Tab completion: command names, then voices for /voice and prompts for /prompt."""

    def __init__(self, choices: Callable[[str], Sequence[str]]) -> None:
        self._choices = choices
        self._matches: list[str] = []

    def candidates(self, buffer: str) -> list[str]:
        if not buffer.startswith("/"):
            return []
        if " " not in buffer:
            return [f"/{n}" for n in COMMANDS if f"/{n}".startswith(buffer)]
        name, _, arg = buffer[1:].partition(" ")
        return [f"/{name} {c}" for c in self._choices(name) if c.startswith(arg)]

    def __call__(self, _text: str, state: int) -> str | None:
        if state == 0:
            import readline

            buffer = readline.get_line_buffer()[: readline.get_endidx()]
            start = readline.get_begidx()
            self._matches = [c[start:] for c in self.candidates(buffer)]
        return self._matches[state] if state < len(self._matches) else None


class Reader(Protocol):
    """Where the chat's lines come from (the terminal, or a script in tests)."""

    async def read(self, prompt: str) -> str | None:
        """The next line, or ``None`` at the end of input."""
        ...


class LineReader:
    """Reads lines from the terminal with line editing and a history file."""

    def __init__(
        self,
        *,
        history: Path | None,
        choices: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        self._history = history
        self._readline: Any = None
        try:
            import readline
        except ImportError:  # pragma: no cover - Windows without pyreadline
            return
        self._readline = readline
        readline.set_history_length(HISTORY_LENGTH)
        if history is not None:
            with suppress(OSError):
                readline.read_history_file(history)
        if choices is not None:
            self.set_choices(choices)

    def set_choices(self, choices: Callable[[str], Sequence[str]]) -> None:
        """Complete slash commands, and their arguments from ``choices(command)``."""
        if self._readline is None:
            return
        self._readline.set_completer(Completer(choices))
        self._readline.set_completer_delims(" ")
        self._readline.parse_and_bind("tab: complete")

    def _remember(self, line: str) -> None:
        """Append the line to the history file at once (nothing is lost however we exit)."""
        if self._readline is None or self._history is None or not line.strip():
            return
        with suppress(OSError):
            self._history.parent.mkdir(parents=True, exist_ok=True)
            if not self._history.exists():
                self._history.touch(mode=0o600)
            self._readline.append_history_file(1, self._history)
            self._readline.set_history_length(HISTORY_LENGTH)

    async def read(self, prompt: str) -> str | None:
        """The next line, or ``None`` at end of input (Ctrl-D). Cancelling abandons the read."""
        send, receive = anyio.create_memory_object_stream[tuple[str | None, BaseException | None]](
            1
        )
        token = anyio.lowlevel.current_token()

        def work() -> None:
            result: tuple[str | None, BaseException | None]
            try:
                result = (input(prompt), None)
            except EOFError:
                result = (None, None)
            except BaseException as exc:  # handed to the event loop, raised there
                result = (None, exc)
            # The loop may be gone (the program is ending): then nobody wants the line.
            with suppress(Exception):
                anyio.from_thread.run_sync(send.send_nowait, result, token=token)

        threading.Thread(target=work, name="bridge-input", daemon=True).start()
        async with receive:
            line, error = await receive.receive()
        if error is not None:
            raise error
        if line is not None:
            self._remember(line)
        return line


class TerminalGuard:
    """Saves the terminal's settings on entry and restores them on exit (when stdin is one)."""

    def __init__(self, fd: int | None = None) -> None:
        self._fd = sys.stdin.fileno() if fd is None else fd
        self._saved: list[Any] | None = None

    def __enter__(self) -> TerminalGuard:
        with suppress(termios.error, OSError):
            self._saved = termios.tcgetattr(self._fd)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._saved is not None:
            with suppress(termios.error, OSError):
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
