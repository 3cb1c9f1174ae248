"""What is read for table rows whose cells are empty or read as nothing, and what a footnote
definition leaves. Every case is fed whole, one character at a time, in random deltas and
split in two at every position (``scrub`` of ``test_text_scrubber_math``)."""

from __future__ import annotations

import pytest

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
