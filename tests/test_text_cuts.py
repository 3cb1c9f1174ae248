"""Cut points for a forced cut (``bridge.text._cuts``): each preference class, its window
``(lo, hi]`` and the rule that lookahead never reaches past ``buf[hi]``."""

from __future__ import annotations

import pytest

from bridge.text._cuts import (
    best_cut,
    clause_mark_after,
    ends_on_function_word,
    last_word_boundary,
)


@pytest.mark.parametrize(
    ("buf", "lo", "hi", "expected"),
    [
        # class 1: "; :" with a space, a newline, before an opening bracket, after a closer
        ("one two; x", 0, 8, 8),  # the mark's space is buf[hi] itself: still seen
        ("ab cd\nef", 0, 5, 5),  # a newline at hi
        (": ab cd", 0, 5, 1),  # a mark right at the start of the window
        (": ab, cd ef", 0, 9, 1),  # ... wins over a later comma
        ("one two (x)", 0, 8, 7),  # before the bracket: at the space, not after it
        ("x\nab cd", 1, 6, 4),  # a newline at lo is outside (lo, hi]
        ("one the (x)", 0, 7, 3),  # the bracket is past buf[hi]: not seen, and not after "the"
        # class 2: commas
        ("a, bb cc, d", 0, 10, 9),  # the latest comma wins
        # a comma whose space is buf[hi] is not taken: what follows may be a number ("3, 5")
        ("a, bb cc, d", 0, 9, 2),
        ("你好，世界", 0, 3, 3),  # a full-width comma needs no space
        (", ab cd", 0, 5, 1),
        (", 5 ab 7", 0, 6, 1),  # a comma at the very start separates no two numbers
        ("ab, 5 cd", 0, 7, 3),  # a word, then a number: a cut point
        ("3, ab cd", 0, 6, 2),  # a number, then a word: a cut point
        ("第3，5个", 0, 4, 3),  # the number rule is for the ASCII comma only
        ("ab 3, 5 cd", 0, 6, 2),  # "3, 5" (the 5 is buf[hi]): neither after the comma nor its space
        ("3, 5 and 6, 7", 0, 12, 4),
        # class 3: white space, not after a function word
        ("aa bb cc dd", 0, 10, 8),
        ("aa bb cc\tdd", 0, 10, 8),
        ("aa bb cc\u3000dd", 0, 10, 8),
        ("a\tbb\tcc", 0, 6, 4),  # the last tab, not the first
        ("a\u3000bb\u3000cc", 0, 6, 4),
        ("aa bb\tcc", 0, 4, 2),  # a tab past hi is not in the window
        ("aa bb\u3000cc", 0, 4, 2),
        ("x yy", 0, 3, 1),  # a space right after lo
        ("x\tyy", 0, 3, 1),
        ("x\u3000yy", 0, 3, 1),
        ("ab cd ef", 2, 7, 5),
        ("in the of x", 0, 10, 9),  # all after function words: the latest space
        ("xy of z", 0, 6, 2),  # not after "of": the earlier space after "xy"
        ("a of", 0, 3, 1),  # only spaces after function words: the latest of them
        ("ab 3, 5", 0, 6, 2),  # the space of "3, 5" is skipped, an earlier one is taken
        ("aa bb, cc", 0, 6, 6),  # the space after an ordinary comma is a cut point
        # class 4: next to a CJK character, after a particle if there is one
        ("我们的朋友来了", 0, 6, 3),  # after 的
        ("我们去北京", 0, 4, 4),  # no particle: the latest boundary
        ("我们去北京", 0, 3, 3),
        ("我们去北京", 0, 2, 2),  # never past hi
        ("我们。好", 0, 2, 1),  # never right before a terminator
        # class 5: hi itself
        ("abcdef", 0, 4, 4),
    ],
)
def test_best_cut(buf: str, lo: int, hi: int, expected: int) -> None:
    assert best_cut(buf, lo, hi) == expected


@pytest.mark.parametrize(
    ("buf", "lo", "hi", "expected"),
    [
        ("one two; three, four", 3, 19, 8),  # the first mark, strong or comma
        ("one two, three; four", 3, 19, 8),
        ("ab; cd", 0, 3, 3),  # a mark whose space is buf[hi]
        ("abc, def", 0, 5, 4),
        ("abc, def", 0, 4, -1),  # a comma whose space is buf[hi]: the next may be a number
        ("ab cd, ef", 3, 7, 6),
        ("你好，世界", 0, 3, 3),
        ("ab cd (x)", 2, 5, -1),  # the bracket after buf[hi] is not looked at
        ("ab\ncd", 2, 4, -1),  # a newline at lo is outside (lo, hi]
        ("abc def", 0, 6, -1),
        ("ab 3, 5 cd", 0, 6, -1),
    ],
)
def test_clause_mark_after(buf: str, lo: int, hi: int, expected: int) -> None:
    assert clause_mark_after(buf, lo, hi) == expected


@pytest.mark.parametrize(
    ("buf", "pos", "lo", "expected"),
    [
        ("in the ", 7, 0, True),  # one trailing space
        ("in the  ", 8, 0, True),
        ("in the", 6, 0, True),
        ("an OX", 5, 0, False),  # "OX" is a word, not "o"
        ("Xthe y", 4, 1, True),  # the word is read only from lo on
        ("in cat ", 7, 0, False),
        ("", 0, 0, False),
    ],
)
def test_ends_on_function_word(buf: str, pos: int, lo: int, expected: bool) -> None:
    assert ends_on_function_word(buf, pos, lo) is expected


@pytest.mark.parametrize(
    ("buf", "lo", "hi", "expected"),
    [
        ("hello wor", 0, 9, 5),
        ("hello\nwor", 0, 9, 5),
        ("hello\twor", 0, 9, 5),
        ("hello\u3000wor", 0, 9, 5),
        ("a b c", 0, 5, 3),  # the last space, not the first
        ("a\nb\nc", 0, 5, 3),
        ("a\tb\tc", 0, 5, 3),
        ("a\u3000b\u3000c", 0, 5, 3),
        ("ab cd ef", 0, 4, 2),  # white space past hi does not count
        ("ab\ncd\nef", 0, 4, 2),
        ("ab\tcd\tef", 0, 4, 2),
        ("ab\u3000cd\u3000ef", 0, 4, 2),
        ("ab cd ef", 4, 8, 5),
        ("ab cd", 3, 5, 3),  # no boundary inside: lo
        ("abc", 0, 3, 0),
        ("ab", 2, 2, 2),
        ("", 0, 0, 0),
        ("你好", 0, 2, 2),  # a CJK character is complete as it arrives
        ("ok,", 0, 3, 3),  # so is punctuation
    ],
)
def test_last_word_boundary(buf: str, lo: int, hi: int, expected: int) -> None:
    assert last_word_boundary(buf, lo, hi) == expected
