"""Estimated word timing for a stretch of speech whose audio length is known (pure).

Qwen-TTS Realtime sends no word timestamps. For a finished response bridge knows the text it
spoke (``HeardTracker.response_text``) and how long its audio is; the words are placed in that
span by their estimated speaking length (``bridge.core.heard.estimate_seconds``: a Chinese or
Japanese character takes longer than a Latin letter).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.core.heard import HeardTracker, estimate_seconds
from bridge.text._chars import is_spaceless

__all__ = ["ReplyTiming", "speech_words", "word_times"]


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


@dataclass(slots=True)
class ReplyTiming:
    """Word timing of one reply spoken over one Qwen-TTS session (pure bookkeeping).

    Feed it what the session does (segments appended, responses started, audio received,
    responses done); each finished response gives its words with their start and end, in
    seconds from the reply's first audio. Which text a response spoke is ``HeardTracker``'s
    reckoning (``server_commit``: the server's billed characters, snapped to segments).
    """

    sample_rate: int
    heard: HeardTracker = field(default_factory=HeardTracker)
    seconds: float = 0.0  # of the reply's audio so far
    _starts: dict[str, float] = field(default_factory=dict)

    def appended(self, text: str) -> None:
        self.heard.appended(text.strip())

    def response_started(self, rid: str) -> None:
        self.heard.response_started(rid)
        self._starts[rid] = self.seconds

    def audio(self, rid: str, pcm: bytes) -> None:
        samples = len(pcm) // 2
        self.heard.audio(rid, samples)
        self.seconds += samples / self.sample_rate

    def response_done(self, rid: str, characters: int | None) -> list[tuple[str, float, float]]:
        """The response's words as ``(word, start, end)``."""
        self.heard.response_done(rid, characters)
        start = self._starts.pop(rid, self.seconds)
        text = self.heard.response_text(rid)
        if not text:
            return []
        timed = word_times(text, start, self.seconds - start)
        ends = [t for _, t in timed[1:]] + [self.seconds]
        return [(word, begin, end) for (word, begin), end in zip(timed, ends, strict=True)]
