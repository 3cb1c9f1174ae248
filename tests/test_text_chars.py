"""Character predicates of ``bridge.text._chars`` at their edges (empty, white space, ends)."""

from __future__ import annotations

import re

from bridge.text._chars import (
    CJK_CLASS,
    HAN_CLASS,
    HANGUL_CLASS,
    SPACELESS_PUNCT_CLASS,
    _class_bounds,
    _in_bounds,
    is_cjk,
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
    # is_cjk / is_spaceless / is_wide / is_han look code points up in range bounds instead of
    # compiling the classes (slow to compile): the same answer as the class's regex, at every
    # range's ends and around them, at a spread of other code points, and for "" or two
    # characters.
    classes = {
        is_cjk: CJK_CLASS,
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


def test_class_bounds_are_the_sorted_merged_spans_of_the_class() -> None:
    # single characters and a-b ranges, in any order, as (start, end + 1) pairs; overlapping,
    # contained and adjacent spans merge into one
    assert _class_bounds("") == ()
    assert _class_bounds("a") == (97, 98)
    assert _class_bounds("a-c") == (97, 100)
    assert _class_bounds("xa-c") == (97, 100, 120, 121)
    assert _class_bounds("x-za-c") == (97, 100, 120, 123)
    assert _class_bounds("a-cd") == (97, 101)  # adjacent
    assert _class_bounds("a-eb-c") == (97, 102)  # contained
    assert _class_bounds("a-db-fp") == (97, 103, 112, 113)  # overlapping
    assert _class_bounds("ba") == (97, 99)
    # a "-" that does not stand between two characters is itself, as in a regex class
    assert _class_bounds("a-") == (45, 46, 97, 98)
    assert _class_bounds("-a") == (45, 46, 97, 98)
    assert _class_bounds("a-c-e") == (45, 46, 97, 100, 101, 102)


def test_class_bounds_look_up_like_the_class_as_a_regular_expression() -> None:
    # the bounds computed now (the predicates' own are computed at import), for the project's
    # classes and small ones built of ranges and single characters in every order
    classes = [CJK_CLASS + SPACELESS_PUNCT_CLASS, CJK_CLASS + SPACELESS_PUNCT_CLASS + HANGUL_CLASS]
    classes += [HAN_CLASS, "a-cd", "d-fa-c", "c-ea-d", "a-zm", "0-9a-f-", "b-b", "z-za"]
    for char_class in classes:
        pattern = re.compile(f"[{char_class}]")
        bounds = _class_bounds(char_class)
        assert list(bounds) == sorted(set(bounds)), char_class  # strictly increasing
        ends = {ord(ch) for ch in char_class}
        points = {p + d for p in ends for d in (-1, 0, 1)} | set(range(0, 0x30000, 97))
        for point in sorted(p for p in points if 0 <= p < 0x110000):
            ch = chr(point)
            assert _in_bounds(ch, bounds) == (pattern.fullmatch(ch) is not None), (
                char_class,
                hex(point),
            )
