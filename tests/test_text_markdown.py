"""The scrubber's markdown helpers, by their documented results (tags, fences, hosts, rows)."""

from __future__ import annotations

import pytest

from bridge.text._markdown import (
    HeadKind,
    classify_head,
    classify_tag,
    delimiter_roles,
    fence_close,
    host_of,
    table_cells,
    url_tail_start,
)


@pytest.mark.parametrize(
    ("inner", "prev", "expected"),
    [
        ("!-- a note --", " ", ("comment", "")),
        ("!-- not closed", " ", ("text", "")),
        ("b --", " ", ("text", "")),  # attributes need an "=": not a tag, not a comment
        ("a href", " ", ("text", "")),
        ('a href="x"', " ", ("open", "a")),
        ("img src=x /", " ", ("self", "img")),
        ("br/", "d", ("self", "br")),  # common inline HTML, also glued to a word
        ("/B", " ", ("close", "b")),
        ("String", "t", ("text", "")),  # List<String>: a generic type, not a tag
        ("String", " ", ("open", "string")),
        ("mailto:ann@example.org", " ", ("email", "ann@example.org")),
        ("MAILTO:ann@example.org", " ", ("email", "ann@example.org")),
        ("ann@example.org", " ", ("email", "ann@example.org")),
        ("https://www.example.org/a", " ", ("url", "example.org")),
        ("= 2", " ", ("text", "")),
    ],
)
def test_classify_tag(inner: str, prev: str, expected: tuple[str, str]) -> None:
    assert classify_tag(inner, prev) == expected


def test_fence_close() -> None:
    assert fence_close("```", "```") is True
    assert fence_close("  ```` ", "```") is True  # indented, longer, spaces after
    assert fence_close("``` ", "```") is True
    assert fence_close("X```", "```") is False
    assert fence_close("\u3000```", "```") is False  # only spaces and tabs indent a fence
    assert fence_close("```js", "```") is False
    assert fence_close("``", "```") is None  # may still become the fence
    assert fence_close(" " * 62 + "``", "```") is False  # the line is looked at: too long
    assert fence_close(" " * 70 + "``", "```") is False


def test_host_of() -> None:
    assert host_of("https://www.example.org/a?b") == "example.org"
    assert host_of("example.com.") == "example.com"
    assert host_of("http://intranet.REDBOX/x") == "intranet.REDBOX"
    assert host_of("https://www.x/") == "x"
    assert host_of("WWW.Example.org") == "Example.org"


def test_table_cells() -> None:
    assert table_cells("| a | **b** |") == ["", "a", "**b**", ""]
    assert table_cells("|X|b") == ["", "X", "b"]
    assert table_cells("| a |  | c |") == ["", "a", "", "c", ""]
    # GFM: an escaped pipe is no cell boundary and is a literal pipe, also inside code
    assert table_cells("| a \\| b | `x \\| y` |") == ["", "a | b", "`x | y`", ""]
    assert table_cells("| a \\\\| b |") == ["", "a \\\\", "b", ""]  # an escaped backslash


@pytest.mark.parametrize(
    ("char", "prev", "nxt", "after", "expected"),
    [
        ("*", " ", "b", "x", (True, False)),  # "a *b": opens
        ("*", "b", " ", "x", (False, True)),  # "b* c": closes
        ("*", "é", "b", "x", (True, True)),  # inside a (non-ASCII) word: either
        ("_", "é", "b", "x", (False, False)),  # "_" inside a word: neither
        ("_", " ", "b", "x", (True, False)),
        ("_", "b", " ", "x", (False, True)),
        ("*", "b", "X", "y", (True, True)),  # only ".", "/", "-" then a letter stop a closer
        ("*", " ", "X", "y", (True, False)),  # only ".", "/", "\\" stop an opener
        ("*", "b", ".", "t", (False, False)),  # "file*.txt"
        ("*", " ", ".", "t", (False, False)),  # "*.txt"
        ("*", " ", "/", "t", (False, False)),
        ("*", "b", "-", "t", (False, False)),
        ("*", "b", ".", " ", (False, True)),  # "*b*." ends a sentence: closes
    ],
)
def test_delimiter_roles(
    char: str, prev: str, nxt: str, after: str, expected: tuple[bool, bool]
) -> None:
    assert delimiter_roles(char, prev, nxt, after) == expected


def test_url_tail_start() -> None:
    # where a bare URL may begin at the end of what has arrived; len(src) when nowhere
    assert url_tail_start("see ww", 0, " ") == 4
    assert url_tail_start("see https:/", 0, " ") == 4
    assert url_tail_start("see h", 0, " ") == 4
    assert url_tail_start("ww", 0, " ") == 0  # at the start: the character before decides
    assert url_tail_start("ww", 0, "x") == 2
    assert url_tail_start("see now", 0, " ") == 7  # "w" ends a word here
    assert url_tail_start("a while now", 0, " ") == 11
    assert url_tail_start("xwww", 0, " ") == 4  # inside a word
    assert url_tail_start("a/www", 0, " ") == 5  # inside an address
    assert url_tail_start("see ", 4, " ") == 4


@pytest.mark.parametrize(
    ("head", "complete", "expected"),
    [
        # (kind, characters of markup dropped, fence); None: more characters are needed
        ("", True, ("PLAIN", 0, "")),  # a blank line
        ("", False, None),
        ("  ", True, ("PLAIN", 2, "")),
        ("> ", False, None),
        ("X", False, ("PLAIN", 0, "")),  # nothing else starts with "X": decided at once
        ("`a", False, ("PLAIN", 0, "")),  # no fence can follow
        ("``", True, ("PLAIN", 0, "")),
        ("``", False, None),  # a third backtick would make a fence
        ("~", False, None),
        ("```js", False, ("FENCE", 0, "```")),
        ("```", False, None),  # a fourth backtick would make a longer fence
        ("````", True, ("FENCE", 0, "````")),
        ("~~~", True, ("FENCE", 0, "~~~")),
        ("#a", False, ("PLAIN", 0, "")),  # "#" glued to a word: no heading
        ("##", True, ("HEADING", 2, "")),  # an empty heading at the end
        ("##", False, None),
        ("## T", False, ("HEADING", 3, "")),
        ("#######", False, ("PLAIN", 0, "")),  # 7 "#": never a heading
        ("####### x", True, ("PLAIN", 0, "")),
        ("-" * 64, False, ("RULE", 0, "")),  # HEAD_LIMIT characters decide the line
        ("-" * 63, False, None),
        ("---", True, ("RULE", 0, "")),
        ("- - -", True, ("RULE", 0, "")),
        ("===", True, ("RULE", 0, "")),  # a setext underline
        ("=", False, None),
        ("|---|:-:|", True, ("RULE", 0, "")),  # a table separator
        ("| a |", False, ("TABLE", 0, "")),
        ("[^1]: n", False, ("FOOTNOTE", 0, "")),
        ("[^1", False, None),
        ("[x", False, ("PLAIN", 0, "")),
        ("1.", False, None),
        ("1. x", False, ("ITEM", 3, "")),
        ("-", False, None),
        ("- x", False, ("ITEM", 2, "")),
        ("-- x", True, ("PLAIN", 0, "")),
        ("- -", True, ("ITEM", 2, "")),  # neither a rule nor a table separator
        ("***x", True, ("PLAIN", 0, "")),
        ("* [x] done", False, ("ITEM", 6, "")),
        ("✅", False, None),
        ("✅ Done", False, ("ITEM", 2, "")),
        ("1\ufe0f", False, None),
        ("1\ufe0f\u20e3 A", False, ("ITEM", 4, "")),
        ("> > - x", True, ("ITEM", 6, "")),
        ("  * x", True, ("ITEM", 4, "")),
    ],
)
def test_classify_head(head: str, complete: bool, expected: tuple[str, int, str] | None) -> None:
    h = classify_head(head, complete)
    assert (None if h is None else (h.kind, h.skip, h.fence)) == (
        None if expected is None else (HeadKind[expected[0]], *expected[1:])
    )
