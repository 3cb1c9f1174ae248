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

import pytest

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


@pytest.mark.parametrize(
    ("argv", "command", "named", "hint"),
    [
        (["speak", "--local", "-o", "a.wav"], "speak", "-o", "--out"),  # one long flag with o
        (["speak", "--loccal"], "speak", "--loccal", "--local"),
        (["speak", "--voise=Cherry"], "speak", "--voise=Cherry", "--voice"),
        (["serve", "--prot", "9"], "serve", "--prot 9", "--port"),  # a swap: not --prompt
        (["--debug", "voices", "--jsno"], "voices", "--jsno", "--json"),
        (["speak", "a.txt", "b.txt"], "speak", "b.txt", None),  # a word: no guess
        (["speak", "--zzzzzz"], "speak", "--zzzzzz", None),  # nothing close
    ],
)
def test_an_unknown_option_is_refused_by_its_command_with_a_guess(
    argv: list[str], command: str, named: str, hint: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"usage: bridge {command} " in err  # the command's usage, not bridge's
    assert f"bridge {command}: error: unrecognized arguments: {named}" in err
    if hint is None:
        assert "did you mean" not in err
    else:
        assert err.rstrip().endswith(f"(did you mean {hint}?)")


def test_edits_count_a_swap_of_neighbours_as_one() -> None:
    from bridge.cli import _edits

    assert [_edits(a, b) for a, b in [("ab", "ba"), ("--prot", "--port"), ("", "ab")]] == [1, 1, 2]
    assert [_edits(a, b) for a, b in [("kitten", "sitting"), ("same", "same"), ("abc", "")]] == [
        3,
        0,
        3,
    ]
