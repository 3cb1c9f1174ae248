"""``split_speech``: scrubber + segmenter over a whole stream of deltas."""

from __future__ import annotations

from collections.abc import Iterable

from bridge.text.lexicon import Lexicon
from bridge.text.model import ScrubberOptions
from bridge.text.scrubber import Scrubber
from bridge.text.segmenter import Segmenter

__all__ = ["split_speech"]


def split_speech(
    deltas: Iterable[str],
    *,
    scrubber: ScrubberOptions | None = None,
    first_clause: bool = True,
    min_chars: int = 16,
    max_chars: int = 300,
    first_min_words: int = 3,
    first_max_words: int = 12,
    cjk_weight: int = 4,
    lexicon: Lexicon | None = None,
) -> list[str]:
    """Scrub and segment a reply given as deltas; return the segment texts in order.

    The keyword options are those of ``Segmenter``; ``scrubber`` optionally sets the
    scrubber's options (defaults: code dropped, tables read); ``lexicon`` replaces words in
    the scrubbed text before it is segmented.
    """
    segmenter = Segmenter(
        first_clause=first_clause,
        min_chars=min_chars,
        max_chars=max_chars,
        first_min_words=first_min_words,
        first_max_words=first_max_words,
        cjk_weight=cjk_weight,
    )
    opts = scrubber if scrubber is not None else ScrubberOptions()
    scrub = Scrubber(
        code_placeholder=opts.code_placeholder,
        tables=opts.tables,
        think_open=opts.think_open,
        think_window=opts.think_window,
    )
    words = (lexicon or Lexicon.build()).stream()
    texts: list[str] = []
    for delta in deltas:
        texts.extend(s.text for s in segmenter.feed(words.feed(scrub.feed(delta))))
    texts.extend(s.text for s in segmenter.feed(words.feed(scrub.flush()) + words.flush()))
    texts.extend(s.text for s in segmenter.flush())
    return texts
