"""Character predicates of ``bridge.text._chars`` at their edges (empty, white space, ends)."""

from __future__ import annotations

import re

from bridge.text._chars import (
    CJK_CLASS,
    HAN_CLASS,
    HANGUL_CLASS,
    SPACELESS_PUNCT_CLASS,
    is_han,
    is_punct,
    is_spaceless,
    is_wide,
    is_word_boundary,
    join_space,
    words,
)


def test_join_space_next_to_white_space_is_empty() -> None:
    assert join_space(" ", "a") == "" and join_space("a", " ") == ""
    assert join_space("a", "b") == " "


def test_word_boundary_at_the_end() -> None:
    assert is_word_boundary("ab", 2) and is_word_boundary("ab", 0)
    assert not is_word_boundary("ab", 1)


def test_words_strip_punctuation_at_both_ends() -> None:
    assert words("(x") == ["x"]
    assert words("..ab") == ["ab"]
    assert words("...ab!") == ["ab"]
    assert words('"¡Hola!" dijo') == ["Hola", "dijo"]


def test_is_punct_unicode_categories() -> None:
    assert not is_punct("")
    assert is_punct("—") and is_punct("«") and is_punct("€") and is_punct(".")
    assert not is_punct("a") and not is_punct("中")


def test_the_class_predicates_agree_with_their_classes_as_regular_expressions() -> None:
    # is_spaceless / is_wide / is_han look code points up in range bounds instead of compiling
    # the classes (slow to compile): the same answer as the class's regex, at every range's
    # ends and around them, at a spread of other code points, and for "" or two characters.
    classes = {
        is_spaceless: CJK_CLASS + SPACELESS_PUNCT_CLASS,
        is_wide: CJK_CLASS + SPACELESS_PUNCT_CLASS + HANGUL_CLASS,
        is_han: HAN_CLASS,
    }
    for predicate, char_class in classes.items():
        pattern = re.compile(f"[{char_class}]")
        ends = {ord(ch) for ch in char_class if ch != "-"}
        points = {p + d for p in ends for d in (-2, -1, 0, 1, 2)} | set(range(0, 0x110000, 61))
        for point in sorted(p for p in points if 0 <= p < 0x110000):
            ch = chr(point)
            assert predicate(ch) == (pattern.fullmatch(ch) is not None), (predicate, hex(point))
        for text in ("", "中中", "中a", "a"):
            assert predicate(text) == (pattern.fullmatch(text) is not None), (predicate, text)
    assert is_han("中") and is_spaceless("。") and is_wide("한") and not is_wide("a")
