"""``bridge chat``: a spoken conversation in the terminal.

Type a message; the reply is spoken as the model writes it, and its text appears sentence by
sentence as each one starts to play. Ctrl-C while it speaks is a barge-in (``Turn.interrupt``):
the speech stops at once, and the conversation keeps what was heard. Ctrl-C or Ctrl-D at the
prompt leaves. Slash commands are listed by ``/help`` (``bridge.commands.repl``).

One event loop in the main thread owns SIGINT (``anyio.open_signal_receiver``); lines are read
in a helper thread (see ``repl.LineReader``). Before the first prompt the speech service and
the chat endpoint are checked, so a wrong key, region or URL is one line and an exit, not a
surprise after the first message.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import anyio

from bridge.adapters.prompts import list_prompts, load_prompt
from bridge.adapters.wav import WavWriter
from bridge.commands.chat_view import Captions, Playback, RecordingSink, format_stats, quiet_summary
from bridge.commands.common import (
    check_speech_settings,
    load_settings,
    nothing_spoken,
    pipeline_options,
    resolve_tts,
)
from bridge.commands.repl import (
    LineReader,
    Reader,
    SlashCommand,
    TerminalGuard,
    help_text,
    parse_slash,
)
from bridge.commands.say import resolve_llm, uses_embedded_llm
from bridge.commands.settings import history_path
from bridge.commands.voices import format_voices, voices_of
from bridge.core.errors import (
    BridgeError,
    ConfigError,
    LLMAuthError,
    LLMConnectionError,
    TTSAuthError,
    TTSConnectionError,
)
from bridge.logs import redact, safe_url
from bridge.qwen.models import model_info

if TYPE_CHECKING:
    from bridge.adapters.llm import LLMConfig
    from bridge.core.result import TurnResult
    from bridge.pipeline import TTSTarget, Turn
    from bridge.pipeline.assistant import Assistant

__all__ = ["ChatSession", "check_llm", "check_tts", "run"]

_SLOW_NOTICE_S = 1.5
NO_SPEAKER = (
    "no speaker playback on this machine, so replies are not played (it needs a sound device "
    "and the audio extra: uv sync --extra audio); /save FILE.wav keeps the last one"
)


class Console:
    """Output of the chat: reply text, quiet status lines, one-line errors."""

    def __init__(self, *, color: bool, out: TextIO | None = None) -> None:
        self.color = color
        self._out = out if out is not None else sys.stdout

    def _style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def text(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    def line(self, text: str = "") -> None:
        self.text(text + "\n")

    def quiet(self, text: str) -> None:
        self.line(self._style(f"  {text}", "2"))

    def error(self, text: str) -> None:
        self.line(self._style(f"bridge: {redact(text)}", "31"))

    def prompt(self) -> str:
        # \001 ... \002 tell readline that the escape codes take no room on the screen.
        return "\001\033[1m\002you>\001\033[0m\002 " if self.color else "you> "


class ChatSession:
    """The conversation loop: prompt, slash commands, spoken replies, barge-in."""

    def __init__(
        self,
        *,
        assistant: Assistant,
        reader: Reader,
        console: Console,
        playback: Playback,
        prompt_name: str,
    ) -> None:
        self.assistant = assistant
        self.reader = reader
        self.console = console
        self.playback = playback
        self.prompt_name = prompt_name
        self.last: tuple[TurnResult, RecordingSink] | None = None
        self.captions: Captions | None = None  # the current (or last) reply's text
        self._turn: Turn | None = None
        self._read_scope: anyio.CancelScope | None = None
        self._quit = False

    @property
    def model(self) -> str:
        return self.assistant.tts.model

    @property
    def voice(self) -> str:
        return self.assistant.tts.config.voice

    def choices(self, command: str) -> Sequence[str]:
        """Completions for a command's argument."""
        if command == "voice":
            info = model_info(self.model)
            return info.voice_names if info is not None else ()
        if command == "prompt":
            return list_prompts()
        return ()

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> int:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._on_signals, signals)
                await self._loop()
                tg.cancel_scope.cancel()
        return 0

    async def _on_signals(self, signals: AsyncIterator[int]) -> None:
        async for _ in signals:
            if self._turn is not None:
                self._turn.interrupt()  # barge-in; the loop goes on
                continue
            self._quit = True  # Ctrl-C at the prompt: leave
            if self._read_scope is not None:
                self._read_scope.cancel()

    async def _loop(self) -> None:
        while not self._quit:
            with anyio.CancelScope() as scope:
                self._read_scope = scope
                line = await self.reader.read(self.console.prompt())
            self._read_scope = None
            if scope.cancelled_caught or self._quit or line is None:
                self.console.line()  # end the prompt's line before the shell's prompt
                return
            text = line.strip()
            if not text:
                continue
            command = parse_slash(text)
            if command is None:
                await self.reply(text.removeprefix("/") if text.startswith("//") else text)
                continue
            try:
                if not await self.command(command):
                    return
            except ConfigError as exc:
                self.console.error(str(exc))

    # --- a spoken reply ------------------------------------------------------------------

    async def reply(self, text: str) -> TurnResult:
        rate = self.assistant.tts.config.sample_rate
        sink = RecordingSink(self.playback.sink(), rate)
        captions = self.captions = Captions(self.console.text)
        raw: list[str] = []
        turn = self.assistant.reply(
            text, sink, on_segment=lambda seg: captions.add(seg.text), on_text=raw.append
        )
        self._turn = turn
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._follow, captions, sink)
                result = await turn.run()
                tg.cancel_scope.cancel()
        finally:
            self._turn = None
        captions.finish(complete=not result.interrupted and result.error is None)
        if captions.shown or result.interrupted:
            self.console.line()
        if result.error is not None:
            self.console.error(f"error: {result.error.message}")
        elif (silent := nothing_spoken(result, "the reply")).error is not None:
            # e.g. only a code block: show it, and say why nothing was heard.
            if "".join(raw).strip():
                self.console.line("".join(raw).strip())
            self.console.quiet(silent.error.message)
            self.last = (result, sink)
            return result
        self.console.quiet(quiet_summary(result))
        self.last = (result, sink)
        return result

    async def _follow(self, captions: Captions, sink: RecordingSink) -> None:
        """Show each sentence when its audio starts to play."""
        while True:
            captions.update(sink.response_starts, sink.samples_played)
            await anyio.sleep(0.05)

    # --- slash commands ------------------------------------------------------------------

    async def command(self, cmd: SlashCommand) -> bool:
        """Run a slash command; ``False`` ends the session."""
        handlers: dict[str, Callable[[str], None]] = {
            "voice": self._voice,
            "voices": lambda _arg: self.console.line(
                format_voices(voices_of(self.model), current=self.voice)
            ),
            "prompt": self._prompt,
            "reset": self._reset,
            "save": self._save,
            "stats": self._stats,
            "help": lambda _arg: self.console.line(help_text()),
        }
        if not cmd.known:
            raise ConfigError(f"unknown command /{cmd.name}; /help lists the commands")
        if cmd.name == "quit":
            return False
        handlers[cmd.name](cmd.arg)
        return True

    def _voice(self, name: str) -> None:
        if not name:
            self.console.line(f"voice: {self.voice} ({self.model}); /voices lists the others")
            return
        target = self.assistant.tts
        config = target.config.with_changes(voice=name).validate(target.model)
        self.assistant.tts = replace(target, config=config)
        self.console.quiet(f"voice: {name}")

    def _prompt(self, name: str) -> None:
        if not name:
            names = [f"{n} (current)" if n == self.prompt_name else n for n in list_prompts()]
            self.console.line("prompts: " + ", ".join(names) + "; or the path of a text file")
            return
        self.assistant.conversation.system_prompt = load_prompt(name)
        self.prompt_name = name
        self.console.quiet(f"prompt: {name} (the conversation so far is kept; /reset forgets it)")

    def _reset(self, _arg: str) -> None:
        self.assistant.conversation.reset()
        self.console.quiet("conversation forgotten; the prompt stays")

    def _save(self, arg: str) -> None:
        if not arg:
            raise ConfigError("usage: /save FILE.wav")
        if self.last is None or not self.last[1].pcm():
            raise ConfigError("nothing to save yet: no reply has been spoken")
        result, sink = self.last
        path = Path(arg).expanduser()
        if path.suffix.lower() != ".wav":
            path = path.with_name(path.name + ".wav")
        pcm = sink.pcm()
        try:
            with WavWriter(path, sink.sample_rate) as writer:
                writer.write(pcm)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
        what = "heard part of the" if result.interrupted else "last"
        self.console.quiet(
            f"saved the {what} reply, {len(pcm) / 2 / sink.sample_rate:.1f} s, to {path}"
        )

    def _stats(self, _arg: str) -> None:
        if self.last is None:
            raise ConfigError("no turn yet: /stats shows the last turn's timeline")
        self.console.line(format_stats(self.last[0]))


# --- start-up checks --------------------------------------------------------------------


async def check_tts(target: TTSTarget) -> None:
    """Open and close one session: a wrong key, region, URL or model fails here."""
    try:
        async with target.connect():
            pass
    except TTSAuthError:
        raise  # says which key and region to check
    except TTSConnectionError as exc:
        where = "--tts-url / BRIDGE_TTS_URL" if target.url else "the network and --region"
        raise TTSConnectionError(
            f"cannot reach the speech service ({exc}); check {where} and that it is running"
        ) from exc


async def check_llm(config: LLMConfig) -> None:
    """Ask the endpoint for its models: unreachable or refusing the key fails here. Any other
    answer (some servers have no model list) passes; the first reply will tell."""
    import openai  # only the commands that call a model import the SDK

    from bridge.adapters.openai_client import Endpoint, chain, make_client

    async with make_client(
        base_url=config.base_url, api_key=config.api_key, connect_timeout=config.connect_timeout
    ) as client:
        try:
            await client.models.list()
        except openai.APIError as exc:
            endpoint = Endpoint.of(
                client,
                model=config.model,
                api_key=config.api_key,
                connect_timeout=config.connect_timeout,
            )
            error = endpoint.error(exc)
            if isinstance(error, LLMConnectionError | LLMAuthError):
                raise error from chain(error, exc)


async def _with_notice(work: Awaitable[None], notice: str, console: Console) -> None:
    """Await ``work``; if it takes a while, say what we are waiting for."""

    async def tell() -> None:
        await anyio.sleep(_SLOW_NOTICE_S)
        console.quiet(notice)

    failure: list[BridgeError] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(tell)
        try:
            await work
        except BridgeError as exc:  # raised below as it is, not inside an exception group
            failure.append(exc)
        tg.cancel_scope.cancel()
    if failure:
        raise failure[0]


# --- the command ------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    from bridge.adapters.llm import LLMClient
    from bridge.core.conversation import HISTORY_MAX_CHARS, HISTORY_MAX_TURNS, Conversation
    from bridge.pipeline.assistant import Assistant

    env = os.environ
    settings = load_settings(args, env)
    prompt_name = settings.prompt or "assistant"
    prompt = load_prompt(prompt_name)
    options = pipeline_options(args, env)
    console = Console(color=sys.stdout.isatty() and "NO_COLOR" not in env)
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    check_speech_settings(args, env)  # a bad voice or URL is refused before the model starts
    async with resolve_llm(args, env) as llm_config, resolve_tts(args, env) as target:
        where = safe_url(target.url) if target.url else f"DashScope ({target.region})"
        await _with_notice(
            check_tts(target), f"connecting to the speech service at {where} ...", console
        )
        llm_where = safe_url(llm_config.base_url) if llm_config.base_url else "OpenAI"
        # The embedded model was checked as it started; asking it again would wait for its
        # warm-up (llama.cpp answers one request at a time), which the prompt need not.
        if not uses_embedded_llm(settings):
            await _with_notice(
                check_llm(llm_config), f"connecting to the chat model at {llm_where} ...", console
            )
        playback = Playback(target.config.sample_rate)
        async with LLMClient(llm_config) as llm:
            history = Conversation(prompt, max_turns=HISTORY_MAX_TURNS, max_chars=HISTORY_MAX_CHARS)
            assistant = Assistant(llm=llm, tts=target, conversation=history, options=options)
            reader = LineReader(history=history_path(env, home))
            session = ChatSession(
                assistant=assistant,
                reader=reader,
                console=console,
                playback=playback,
                prompt_name=prompt_name,
            )
            reader.set_choices(session.choices)
            console.quiet(
                f"bridge chat · model {llm_config.model} · voice {target.config.voice} "
                f"({target.model}) · prompt {prompt_name}"
            )
            if not playback.available:
                console.quiet(NO_SPEAKER)
            console.quiet("Ctrl-C stops the speech, Ctrl-D leaves, /help lists the commands")
            with TerminalGuard():
                return await session.run()
