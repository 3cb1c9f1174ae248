"""``split_speech``: scrubber + segmenter over a whole stream of deltas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Unpack

from bridge.text.lexicon import Lexicon
from bridge.text.model import ScrubberOptions, SegmenterFields, SegmenterOptions
from bridge.text.scrubber import Scrubber
from bridge.text.segmenter import Segmenter

__all__ = ["split_speech"]


def split_speech(
    deltas: Iterable[str],
    *,
    segmenter: SegmenterOptions | None = None,
    scrubber: ScrubberOptions | None = None,
    lexicon: Lexicon | None = None,
    **overrides: Unpack[SegmenterFields],
) -> list[str]:
    """Scrub and segment a reply given as deltas; return the segment texts in order.

    ``segmenter`` and ``scrubber`` are the options objects (defaults: theirs); keyword
    ``overrides`` change single fields of the segmenter's options. ``lexicon`` replaces words
    in the scrubbed text before it is segmented.
    """
    segments = Segmenter(segmenter, **overrides)
    scrub = Scrubber(scrubber)
    words = (lexicon or Lexicon.build()).stream()
    texts: list[str] = []
    for delta in deltas:
        texts.extend(s.text for s in segments.feed(words.feed(scrub.feed(delta))))
    texts.extend(s.text for s in segments.feed(words.feed(scrub.flush()) + words.flush()))
    texts.extend(s.text for s in segments.flush())
    return texts
