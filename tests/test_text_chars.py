"""Character predicates of ``bridge.text._chars`` at their edges (empty, white space, ends)."""

from __future__ import annotations

from bridge.text._chars import is_punct, is_word_boundary, join_space, words


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
