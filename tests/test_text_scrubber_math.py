"""What is spoken for math and LaTeX: ``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` and
LaTeX commands outside them, with the limits the scrubber documents (200 characters for the
closer of inline math, 40 after ``$`` and a digit, 1024 for display math, 200 for a brace
argument). Every case is fed whole, one character at a time, in random deltas and (up to 400
characters) split in two at every position."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bridge.text import Scrubber


def scrub(text: str, **options: Any) -> str:
    whole = Scrubber(**options)
    expected = whole.feed(text) + whole.flush()
    rng = random.Random(len(text))
    cuts = sorted(rng.sample(range(1, len(text)), min(5, len(text) - 1))) if text else []
    splits = [list(text), [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]]
    if len(text) <= 400:  # and every split in two: a long first delta, then the rest
        splits += [[text[:k], text[k:]] for k in range(1, len(text))]
    for parts in splits:
        scrubber = Scrubber(**options)
        assert "".join(scrubber.feed(p) for p in parts) + scrubber.flush() == expected, parts
    return expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # dropped: a non-space after the opener and before the closer, nothing glued after it
        ("Is $2+2$ four?", "Is four?"),
        ("Is $x^2$, ok", "Is, ok"),
        ("It costs $x$", "It costs"),  # the closer is the reply's last character
        ("$x$", ""),
        ("a $x$) b", "a) b"),
        # kept: not math
        ("Pay $", "Pay $"),
        ("Pay $ now", "Pay $ now"),
        ("a$x$ b", "a$x$ b"),  # glued to a word before it
        ("a $ x$ b", "a $ x$ b"),  # a space after the opener
        ("a $x $ b", "a $x $ b"),  # a space before the closer
        ("a $x$5 b", "a $x$5 b"),  # a digit after the closer
        ("a $x$y b", "a $x$y b"),  # a letter after the closer
        ("a $x$_b c", "a $x$_b c"),
        ("a $x$$ c", "a $x$$ c"),
        ("a $x\ny$ c", "a $x\ny$ c"),  # the closer must be on the same line
        ("a $x", "a $x"),
        # the decision waits for the closer however long the text before it
        ("x" * 150 + " $y$ z", "x" * 150 + " z"),
    ],
)
def test_inline_dollar_math(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_inline_math_closer_limits() -> None:
    # the closer is looked for within 200 characters of "$" (40 when a digit follows it)
    assert scrub("a $" + "x" * 198 + "$ b") == "a b"
    long = "a $" + "x" * 199 + "$ b"
    assert scrub(long) == long
    assert scrub("a $1" + "x" * 37 + "$ b") == "a b"
    money = "a $1" + "x" * 38 + "$ b"
    assert scrub(money) == money


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a $$x^2$$ b", "a b"),
        ("a $$$$ b", "a b"),  # empty display math
        ("a $$ b", "a $$ b"),  # no closer
        ("a $$", "a $$"),
        ("a \\(x\\) b", "a b"),
        ("a \\(x\\) b \\(y\\) c", "a b c"),  # each span ends at its first closer
        ("a $$x$$ b $$y$$ c", "a b c"),
        ("a \\(\\) b", "a b"),
        ("a \\[x\\] b", "a b"),
        ("a \\[x\n\\] b", "a b"),  # display math spans lines
        ("a \\(x b", "a (x b"),  # no closer: the escaped bracket stays
        ("a \\[x b", "a [x b"),
        ("a \\", "a \\"),
    ],
)
def test_display_and_bracket_math(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_display_math_closer_limits() -> None:
    # "\\(...\\)": the closer ends within 200 characters; "$$" and "\\[": within 1024
    assert scrub("a \\(" + "x" * 196 + "\\) b") == "a b"
    assert scrub("a \\(" + "x" * 197 + "\\) b") == "a (" + "x" * 197 + ") b"
    assert scrub("a $$" + "x" * 1020 + "$$ b") == "a b"
    long = "a $$" + "x" * 1021 + "$$ b"
    assert scrub(long) == long
    assert scrub("a \\[" + "x" * 1020 + "\\] b") == "a b"
    assert scrub("a \\[" + "x" * 1021 + "\\] b") == "a [" + "x" * 1021 + "] b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a \\alpha b", "a b"),
        ("a \\alpha", "a"),
        ("a \\sqrt b", "a b"),
        ("a \\foo b", "a \\foo b"),  # unknown, without an argument: text
        ("a \\foo", "a \\foo"),
        ("a \\foo{x} b", "a b"),  # any command with a brace argument
        ("a\\alpha b", "a\\alpha b"),  # glued to a word: text
        ("C:\\alpha b", "C:\\alpha b"),  # a path
        ("x/\\alpha b", "x/\\alpha b"),
        ("x.\\alpha b", "x.\\alpha b"),
        ("\\\\alpha b", "\\alpha b"),  # an escaped backslash
        ("a \\*", "a *"),  # an escape that ends the reply
        ("a \\1 b", "a \\1 b"),  # a backslash before what is no markdown mark stays
        ("a \\Xi b", "a b"),  # a capital command name
        # up to three brace arguments go with the command
        ("a \\frac{a}{b} c", "a c"),
        ("a \\frac{a}{b}{c}{d} e", "a {d} e"),
        ("a \\sqrt{a{b}c} e", "a e"),  # nested braces
        ("a \\frac{a}{b", "a {b"),  # an argument never closed stays
        ("a \\sqrt{abc", "a {abc"),
        ("a \\sqrt{a\nb} c", "a {a\nb} c"),  # nor one that crosses a line
        ("a \\sqrt{a}\n{b} c", "a\n{b} c"),
    ],
)
def test_latex_commands(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_latex_argument_limit() -> None:
    # a brace argument closes within 200 characters, or it is not taken as one
    assert scrub("a \\textbf{" + "x" * 198 + "} b") == "a b"
    assert scrub("a \\textbf{" + "x" * 199 + "} b") == "a {" + "x" * 199 + "} b"


def test_the_text_after_a_latex_command_is_not_held_back() -> None:
    # once the character after the command (or its last argument) is there, it is decided
    scrubber = Scrubber()
    assert scrubber.feed("Let \\alpha be small, \\frac{a}{b} too. Then") == (
        "Let be small, too. Then"
    )
    assert scrubber.flush() == ""


def test_a_latex_command_name_has_at_most_30_letters_however_it_is_split() -> None:
    # the name is looked at for 31 letters at most: a longer one is text, even when a delta
    # ends just after its 31st letter and "{" comes in the next
    name30, name31 = "a" * 30, "a" * 31
    assert scrub(f"x \\{name30}{{y}} z") == "x z"
    assert scrub(f"x \\{name31}{{y}} z") == f"x \\{name31}{{y}} z"
    assert scrub(f"x \\{name31}a{{y}} z") == f"x \\{name31}a{{y}} z"
