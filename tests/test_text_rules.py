"""Issue 12 rules (footnotes, math, reasoning without an opener, quote styles, marks in inline
code, emoji and spacing), each fed in random delta sizes: the result never depends on the split."""

from __future__ import annotations

import random
from typing import Any

from bridge.text import Scrubber, Segmenter

SEEDS = range(12)


def random_parts(text: str, seed: int) -> list[str]:
    """``text`` cut into deltas of random sizes (1 to 9 characters)."""
    rng = random.Random(seed)
    parts = []
    i = 0
    while i < len(text):
        k = rng.randint(1, 9)
        parts.append(text[i : i + k])
        i += k
    return parts


def scrub(text: str, **options: Any) -> str:
    """Scrub ``text`` whole, one character at a time and in random deltas; all must agree."""
    whole = Scrubber(**options)
    expected = whole.feed(text) + whole.flush()
    for parts in [list(text), *(random_parts(text, seed) for seed in SEEDS)]:
        scrubber = Scrubber(**options)
        assert "".join(scrubber.feed(p) for p in parts) + scrubber.flush() == expected
    return expected


def speak(text: str, **options: Any) -> list[str]:
    """Scrub and segment as plain sentences, in random deltas; all splits must agree."""
    results = []
    for parts in [[text], list(text), *(random_parts(text, seed) for seed in SEEDS)]:
        scrubber = Scrubber(**options)
        seg = Segmenter(first_clause=False, min_chars=0)
        out = []
        for p in parts:
            out.extend(seg.feed(scrubber.feed(p)))
        out.extend(seg.feed(scrubber.flush()))
        out.extend(seg.flush())
        results.append([s.text for s in out])
    assert all(r == results[0] for r in results)
    return results[0]


# -- (5) footnotes -----------------------------------------------------------------------------


def test_footnote_references_are_not_spoken_and_do_not_block_a_sentence_end() -> None:
    text = "The sky is blue.[^1] Water is wet[^note-2]. Fire is hot [^3], mostly."
    assert speak(text) == ["The sky is blue.", "Water is wet.", "Fire is hot, mostly."]


def test_footnote_definition_lines_are_dropped() -> None:
    text = "Claim one[^1] and two[^b].\n\n[^1]: A source, https://x.org/a.\n  [^b]: Another.\nEnd."
    assert scrub(text) == "Claim one and two.\n\nEnd."


def test_brackets_that_are_not_footnotes_stay() -> None:
    assert scrub("Cite [1], [^ spaced] and [^] as is.") == "Cite [1], [^ spaced] and [^] as is."
