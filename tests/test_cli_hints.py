"""Every command-line flag that a message names is a real flag, by the name `--help` shows.

Messages are the prose string literals of the package (docstrings and bare argv elements such
as llama.cpp's ``"--model"`` are not hints). A flag is real when it is the first (shown) option
string of some argument of some ``bridge`` command; an alias such as ``--url`` for ``--tts-url``
works but is not what a hint should teach.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import bridge
from bridge.cli import build_parser

PACKAGE = Path(bridge.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# Flags of other programs that hints legitimately name (uv's, as in `uv sync --extra audio`).
FOREIGN = re.compile(r"\buv (?:sync|run)(?: --[a-z-]+ [\w.-]+)*")


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out.extend(_parsers(sub))
    return out


def shown_flags() -> set[str]:
    return {
        action.option_strings[0]
        for p in _parsers(build_parser())
        for action in p._actions
        if action.option_strings
    }


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            ids.add(id(first.value))
    return ids


def hint_flags() -> list[tuple[str, str]]:
    """(where, flag) for every flag named in a message of the package."""
    found: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if id(node) in skip or " " not in text.strip():
                continue  # a docstring, or one argv element / one word
            text = FOREIGN.sub("", text)
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            found.extend((where, flag) for flag in FLAG.findall(text))
    return found


def test_the_scan_sees_the_hints() -> None:
    flags = {flag for _where, flag in hint_flags()}
    assert {"--tts-url", "--llm-model", "--local"} <= flags


def test_every_flag_named_in_a_message_is_a_shown_flag() -> None:
    real = shown_flags()
    wrong = [f"{where}: {flag}" for where, flag in hint_flags() if flag not in real]
    assert not wrong, "messages name flags that --help does not show:\n" + "\n".join(wrong)
