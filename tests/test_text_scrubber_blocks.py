"""What is read for table rows whose cells are empty or read as nothing, and what a footnote
definition leaves. Every case is fed whole, one character at a time, in random deltas and
split in two at every position (``scrub`` of ``test_text_scrubber_math``)."""

from __future__ import annotations

import pytest

from bridge.text import Scrubber
from tests.test_text_scrubber_math import scrub


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # a cell that is empty, or reads as nothing once scrubbed, is left out with its comma:
        # no leading comma, no ",," and single spaces, wherever it stands in the row
        ("| | `x` | y |", "x, y"),
        ("| ` ` | x | y |", "x, y"),  # a code span of one space
        ("| `` | x | y |", "x, y"),  # a lone backtick run
        ("| a | 🎉 | c |", "a, c"),
        ("| a | ![logo](u.png) | c |", "a, c"),
        ("| <br> | a |", "a"),
        ("| a | $x$ |", "a"),
        ("| a | [^1] | <!-- c --> |", "a"),
        ("| 🎉 | ✅ |", ""),  # a row that reads as nothing
        ("| a 🎉 | b |", "a, b"),  # no space left before the comma
        ("| a | 🎉 b |", "a, b"),  # nor after it
        # the comma is not doubled after a cell that ends with one
        ("| https://x.org/a, | b |", "x.org, b"),
        ("| a; | b |", "a; b"),
        # cells are scrubbed one by one (in GFM no markup spans two cells) ...
        ("| `a | b` | c |", "a, b, c"),
        ("| *a | b* |", "*a, b*"),
        ("| # 1 | - x |", "# 1, - x"),  # a cell's text is inline: no heading, no list item
        # ... and an escaped pipe is text in its cell
        ("| a \\| b | c |", "a | b, c"),
        ("| `x \\| y` | c |", "x | y, c"),
    ],
)
def test_a_table_row_reads_its_cells_that_have_text(row: str, expected: str) -> None:
    assert scrub(row) == expected
    assert scrub(f"Before\n{row}\n|---|---|\nAfter") == f"Before\n\n{expected}\n\nAfter".replace(
        "\n\n\n\n", "\n\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a reply that refers to a footnote and ends in its definitions ends with its last
        # text: the definitions leave no blank line and no white space
        ("Text.[^1]\n\n[^1]: A source.", "Text."),
        ("Text.[^1]\n[^1]: A source.\n", "Text."),
        ("Text.[^1]  \n\n[^1]: A source.\n  More of it.\n\n[^2]: Two.\n\n", "Text."),
        ("One[^1].\n\nTwo.\n\n[^1]: A source.", "One.\n\nTwo."),
        ("- One[^a]\n- Two\n\n[^a]: Note.", "One\n\nTwo"),
        # text after the definitions is set off by one blank line, as before
        ("Text.[^1]\n\n[^1]: A source.\n\nMore.", "Text.\n\nMore."),
        ("Text.[^1]\n[^1]: A source.\nMore.", "Text.\n\nMore."),
        ("Text.[^1]\n[^1]: A source.\n## Next\nMore.", "Text.\n\nNext\n\nMore."),
        # the reply's own line breaks at its end stay when it does not end in a definition
        ("Text.[^1]\n", "Text.\n"),
        ("Text.[^1]\n\n", "Text.\n\n"),
        ("Text.[^1]\n\n[^1]: A source.\n---\n", "Text.\n\n"),  # a rule ends it
        # line breaks output before the first reference was read were returned at once
        ("Text.\n\n[^1]\n\n[^1]: A source.", "Text.\n\n"),
    ],
)
def test_footnote_definitions_at_the_end_leave_no_white_space(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_line_breaks_after_a_footnote_reference_come_with_the_next_text() -> None:
    # held back only until text follows them (no other text waits)
    scrubber = Scrubber()
    assert scrubber.feed("One.[^1]\n\n") == "One."
    assert scrubber.feed("T") == "\n\nT"
    assert scrubber.feed("wo.\n\n[^1]: A source.\n") == "wo."
    assert scrubber.flush() == ""
    # before any footnote reference line breaks are returned at once, as they always were
    scrubber = Scrubber()
    assert scrubber.feed("One.\n\n") == "One.\n\n"
    assert scrubber.feed("Two[^1].\n\n[^1]: A source.") == "Two."
    assert scrubber.flush() == ""
