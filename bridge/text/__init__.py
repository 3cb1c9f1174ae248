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

# Private aliases: every public name of this module is in __all__.
import typing as _typing

from bridge.core.lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
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

# Public name -> the submodule that defines it, imported on first access (PEP 562): a module
# that needs one helper (``bridge.text._chars``) does not compile every scrubber pattern.
_LAZY: dict[str, str] = {
    "Lexicon": "bridge.text.lexicon",
    "LexiconStream": "bridge.text.lexicon",
    "ScrubberOptions": "bridge.text.model",
    "Segment": "bridge.text.model",
    "SegmentKind": "bridge.text.model",
    "Segmenter": "bridge.text.segmenter",
    "SegmenterOptions": "bridge.text.model",
    "Scrubber": "bridge.text.scrubber",
    "TablesMode": "bridge.text.model",
    "split_speech": "bridge.text.speech",
}

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


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, globals(), __all__)
