"""The ``bridge chat`` parser, apart from the command (``bridge.commands.chat``), so that building
the CLI's parser does not import the chat's terminal, speaker and TTS client modules."""

from __future__ import annotations

import argparse

from bridge.commands.common import COMMAND_HELP, add_tts_options
from bridge.commands.say import add_llm_options

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "chat",
        help=COMMAND_HELP["chat"],
        description=(
            "A spoken conversation: type a message, hear the reply from its first clause on. "
            "Ctrl-C while it speaks stops the speech (the conversation goes on); Ctrl-C or "
            "Ctrl-D at the prompt leaves; /help lists the slash commands."
        ),
    )
    add_llm_options(p)
    add_tts_options(p)
    p.set_defaults(run=_run)


async def _run(args: argparse.Namespace) -> int:
    from bridge.commands.chat import run  # the command's modules, only when it runs

    return await run(args)
