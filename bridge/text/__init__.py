"""Pure speech-text core: a streaming markdown scrubber and an incremental segmenter.

No I/O, no async, no clock: feed strings in, get strings and ``Segment`` values out.

    from bridge.text import Scrubber, Segmenter

    scrubber, segmenter = Scrubber(), Segmenter()
    for delta in reply_deltas:
        for segment in segmenter.feed(scrubber.feed(delta)):
            speak(segment.text)
    for segment in segmenter.feed(scrubber.flush()) + segmenter.flush():
        speak(segment.text)
"""

from __future__ import annotations

from bridge.text.lexicon import Lexicon, LexiconStream
from bridge.text.model import (
    ScrubberOptions,
    Segment,
    SegmenterOptions,
    SegmentKind,
    TablesMode,
)
from bridge.text.scrubber import Scrubber
from bridge.text.segmenter import Segmenter
from bridge.text.speech import split_speech

__all__ = [
    "Lexicon",
    "LexiconStream",
    "Scrubber",
    "ScrubberOptions",
    "Segment",
    "SegmentKind",
    "Segmenter",
    "SegmenterOptions",
    "TablesMode",
    "split_speech",
]
