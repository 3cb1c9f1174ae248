"""Which writing system a text uses: enough to pick a voice and a syllable length (pure)."""

from __future__ import annotations

import re
from functools import cache

from bridge.text._chars import HAN_CLASS, HANGUL_CLASS, KANA_CLASS, is_wide

__all__ = ["guess_language", "has_han", "has_hangul", "has_kana", "is_wide"]


# The classes of ``bridge.text._chars`` (the project's one script-aware classification), as
# regexes compiled on the first text that is not ASCII: none of them has an ASCII character,
# and compiling one walks every code point of its ranges (a few ms each, which English text
# on its way to the first audio never needs).
@cache
def _class_regex(char_class: str) -> re.Pattern[str]:
    return re.compile(f"[{char_class}]")


def _has(char_class: str, text: str) -> bool:
    return not text.isascii() and _class_regex(char_class).search(text) is not None


def has_han(text: str) -> bool:
    return _has(HAN_CLASS, text)


def has_kana(text: str) -> bool:
    return _has(KANA_CLASS, text)


def has_hangul(text: str) -> bool:
    return _has(HANGUL_CLASS, text)


def guess_language(text: str) -> str:
    """A Qwen ``language_type`` guessed from the script alone.

    Kana means Japanese (Japanese text mixes kana and kanji), Hangul means Korean, any other
    Han ideograph means Chinese; everything else is read as English.
    """
    if has_kana(text):
        return "Japanese"
    if has_hangul(text):
        return "Korean"
    if has_han(text):
        return "Chinese"
    return "English"
