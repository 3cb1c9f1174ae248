"""Which writing system a text uses: enough to pick a voice and a syllable length (pure)."""

from __future__ import annotations

import re
from typing import Final

from bridge.text._chars import HAN_CLASS, HANGUL_CLASS, KANA_CLASS, is_wide

__all__ = ["guess_language", "has_han", "has_hangul", "has_kana", "is_wide"]

# The classes of ``bridge.text._chars`` (the project's one script-aware classification).
_HAN: Final = re.compile(f"[{HAN_CLASS}]")
_KANA: Final = re.compile(f"[{KANA_CLASS}]")
_HANGUL: Final = re.compile(f"[{HANGUL_CLASS}]")


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def has_kana(text: str) -> bool:
    return _KANA.search(text) is not None


def has_hangul(text: str) -> bool:
    return _HANGUL.search(text) is not None


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
