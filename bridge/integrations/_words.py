"""Estimated word timing for a stretch of speech whose audio length is known (pure).

Qwen-TTS Realtime sends no word timestamps. For a finished response bridge knows the text it
spoke (``HeardTracker.response_text``) and how long its audio is; the words are placed in that
span by their estimated speaking length (``bridge.core.heard.estimate_seconds``: a Chinese or
Japanese character takes longer than a Latin letter).
"""

from __future__ import annotations

from bridge.core.heard import estimate_seconds
from bridge.text._chars import is_spaceless

__all__ = ["speech_words", "word_times"]


def speech_words(text: str) -> list[str]:
    """``text`` as spoken words, each carrying the space that follows it (none after Chinese
    or Japanese, which is written without spaces), so joining them gives the text back.

    A Chinese or Japanese character is a word of its own; punctuation stays with its word.
    """
    words: list[str] = []
    current = ""
    for ch in text.strip():
        if ch.isspace():
            if current:
                words.append(current + " ")
                current = ""
            continue
        if current and not _punctuation(ch) and (is_spaceless(ch) or is_spaceless(current[-1])):
            words.append(current if is_spaceless(current[-1]) else current + " ")
            current = ""
        current += ch
    if current:
        words.append(current if is_spaceless(current[-1]) else current + " ")
    return words


def _punctuation(ch: str) -> bool:
    return not ch.isalnum()


def word_times(text: str, start: float, duration: float) -> list[tuple[str, float]]:
    """The words of ``text`` with the second each starts at, spread over ``duration``
    seconds from ``start`` by their estimated speaking length."""
    words = speech_words(text)
    total = sum(estimate_seconds(w.strip()) for w in words)
    out: list[tuple[str, float]] = []
    spoken = 0.0
    for word in words:
        out.append((word, start + (duration * spoken / total if total else 0.0)))
        spoken += estimate_seconds(word.strip())
    return out
