"""Values of the text layer: the ``Segment`` it produces and the option objects it takes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, TypedDict, Unpack

from bridge.core.errors import ConfigError

__all__ = [
    "ScrubberFields",
    "ScrubberOptions",
    "Segment",
    "SegmentKind",
    "SegmenterFields",
    "SegmenterOptions",
    "TablesMode",
    "scrubber_options",
    "segmenter_options",
]

SegmentKind = Literal["clause", "sentence", "forced", "final"]
TablesMode = Literal["read", "drop"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of speech text, ready to be sent to the speech engine.

    ``kind`` says why it ended:

    * ``"clause"``: the first-clause fast path cut it at ``, ; : —`` (``，、；：``) or a newline;
    * ``"sentence"``: a sentence end, a paragraph break or a list item (short sentences may
      have been merged into one segment);
    * ``"forced"``: no boundary came in time: the length limit, the first-segment word limit,
      or ``Segmenter.cut()``;
    * ``"final"``: the rest of the turn, returned by ``Segmenter.flush()``.

    ``index`` counts the segments of a turn from 0. ``ends_paragraph`` is true when a blank
    line (a paragraph break, a heading or list item from the scrubber) followed the text.
    ``start``/``end`` locate ``text`` in everything fed to the segmenter this turn, so
    ``fed[start:end] == text``.
    """

    text: str
    kind: SegmentKind
    index: int = 0
    ends_paragraph: bool = False
    start: int = 0
    end: int = 0


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer, not {type(value).__name__}", field=name)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name} must be {bound}, got {value}", field=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmenterOptions:
    """Options of ``Segmenter`` (validated on creation; invalid values raise ``ConfigError``).

    * ``first_clause``: the first segment of a turn may end at a clause boundary once it
      holds ``first_min_words`` words, and is forced at a word boundary after
      ``first_max_words`` words. A CJK character counts as one word for the minimum and as
      half a word for the limit (Chinese words are one or two characters).
    * ``min_chars``: later sentences shorter than this are merged with the next one (not
      across a paragraph break). Measured in Latin-character equivalents: a CJK character
      counts ``cjk_weight`` characters, about one short English word. 0 turns merging off.
    * ``max_chars``: a longer segment is cut at the best point inside the limit.
    """

    first_clause: bool = True
    min_chars: int = 16
    max_chars: int = 300
    first_min_words: int = 3
    first_max_words: int = 12
    cjk_weight: int = 4

    def __post_init__(self) -> None:
        if not isinstance(self.first_clause, bool):
            raise ConfigError("first_clause must be a bool", field="first_clause")
        _check_int("max_chars", self.max_chars, 20, 100_000)
        _check_int("min_chars", self.min_chars, 0, self.max_chars // 2)
        _check_int("first_min_words", self.first_min_words, 1, 1000)
        _check_int("first_max_words", self.first_max_words, self.first_min_words, 1000)
        _check_int("cjk_weight", self.cjk_weight, 1, 10)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScrubberOptions:
    """Options of ``Scrubber``.

    * ``code_placeholder``: fenced code blocks are dropped; when this is a string, it is
      spoken in their place (as its own paragraph), e.g. ``"Here is the code."``.
    * ``tables``: ``"read"`` speaks each table row as its cells joined by commas, one
      segment per row; ``"drop"`` removes tables.
    * ``think_open``: the reply starts inside a reasoning block (the chat template pre-fills
      ``<think>``): nothing is spoken before the first ``</think>``, and nothing at all if
      none comes.
    * ``think_window``: a ``</think>`` with no opener within the first ``think_window``
      characters of a reply drops everything before it. To make that possible, nothing is
      returned until that many characters have come (or a ``<think>`` opener, or the end);
      0 (the default) turns the detection off and adds no delay.
    """

    code_placeholder: str | None = None
    tables: TablesMode = "read"
    think_open: bool = False
    think_window: int = 0

    def __post_init__(self) -> None:
        placeholder = self.code_placeholder
        if placeholder is not None:
            if not isinstance(placeholder, str):
                raise ConfigError(
                    "code_placeholder must be a string or None", field="code_placeholder"
                )
            if not placeholder.strip() or "\n" in placeholder or len(placeholder) > 200:
                raise ConfigError(
                    "code_placeholder must be one short non-blank line", field="code_placeholder"
                )
        if not isinstance(self.think_open, bool):
            raise ConfigError("think_open must be a bool", field="think_open")
        _check_int("think_window", self.think_window, 0, 100_000)
        if self.tables not in ("read", "drop"):
            raise ConfigError(
                f"tables must be 'read' or 'drop', got {self.tables!r}", field="tables"
            )


# One form for options: the frozen objects above hold the only defaults. Segmenter, Scrubber
# and split_speech take an options object, and keyword overrides typed by these (no defaults
# of their own), applied with ``dataclasses.replace``.


class SegmenterFields(TypedDict, total=False):
    first_clause: bool
    min_chars: int
    max_chars: int
    first_min_words: int
    first_max_words: int
    cjk_weight: int


class ScrubberFields(TypedDict, total=False):
    code_placeholder: str | None
    tables: TablesMode
    think_open: bool
    think_window: int


def segmenter_options(
    options: SegmenterOptions | None = None, /, **overrides: Unpack[SegmenterFields]
) -> SegmenterOptions:
    """``options`` (default: ``SegmenterOptions()``) with ``overrides`` applied, validated."""
    base = options if options is not None else SegmenterOptions()
    return replace(base, **overrides) if overrides else base


def scrubber_options(
    options: ScrubberOptions | None = None, /, **overrides: Unpack[ScrubberFields]
) -> ScrubberOptions:
    """``options`` (default: ``ScrubberOptions()``) with ``overrides`` applied, validated."""
    base = options if options is not None else ScrubberOptions()
    return replace(base, **overrides) if overrides else base
