"""Invariants, checked with hypothesis: any split of the input gives the same output; nothing
is lost or glued; flush returns everything pending."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.text import Scrubber, Segment, Segmenter, split_speech

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Fragments chosen to hit every decision: terminators, abbreviations, numbers, quotes,
# ellipses, list labels, bullets, clause marks, newlines, CJK text and punctuation.
TEXT_FRAGMENTS = [
    "Hello", "world", "the", " ", " ", "  ", ".", ". ", "!", "?", "...", "…", ",", ", ", ";",
    ":", "—", "\n", "\n\n", "Mr.", "U.S.", "e.g.", "a.m.", "3.14", "1,000", "$5.", '"', "'",
    ")", "(", "1.", "2.", "b.", "•", "I", "The", "He", "你好", "。", "！", "，", "、", "「",
    "」", "中文字", "こんにちは", "x" * 30, "Co.", "No.", "5", " . . . ", "[...]", "2)",
]  # fmt: skip
MARKDOWN_FRAGMENTS = [
    "**", "*", "_", "__", "~~", "`", "```", "#", "## ", "- ", "* ", "1. ", "2) ", "> ", "|",
    " | ", "---", "\n", "\n\n", " ", "word", "snake_case", "2*3", "[", "]", "(", ")", "](",
    "![", "<", ">", "<b>", "</b>", "<think>", "</think>", "http://", "https://www.",
    "example.com", "/path", ".", "!", "\\", "🎉", "✅", "\u200d", "你好", "。", "a@b.org",
    "$5.00", "~", "x", "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\frac", "{", "}", "[^1]",
    "[^", "^", ":", "a`b: c`", "</think>", "«", " »", "„", "“",
]  # fmt: skip

texts = st.lists(st.sampled_from(TEXT_FRAGMENTS), max_size=60).map("".join)
markdown = st.lists(st.sampled_from(MARKDOWN_FRAGMENTS), max_size=50).map("".join)
mixed = st.lists(st.sampled_from(TEXT_FRAGMENTS + MARKDOWN_FRAGMENTS), max_size=60).map("".join)
cut_points = st.lists(st.integers(0, 400), max_size=30)
segmenter_options = st.sampled_from(
    [
        {},
        {"first_clause": False, "min_chars": 0},
        {"max_chars": 40, "min_chars": 10, "first_max_words": 4},
    ]
)


def pieces(text: str, cuts: list[int] | range) -> list[str]:
    out = []
    prev = 0
    for c in [*sorted(set(cuts)), len(text)]:
        if prev < c <= len(text):
            out.append(text[prev:c])
            prev = c
    return out


def run_segmenter(parts: list[str], **options: Any) -> list[Segment]:
    seg = Segmenter(**options)
    out: list[Segment] = []
    for part in parts:
        out.extend(seg.feed(part))
    out.extend(seg.flush())
    assert seg.flush() == []
    return out


def run_scrubber(parts: list[str], **options: Any) -> str:
    scrubber = Scrubber(**options)
    out = "".join(scrubber.feed(p) for p in parts) + scrubber.flush()
    assert scrubber.flush() == ""
    return out


def assert_covers(text: str, segs: list[Segment]) -> None:
    """The input is the segments in order, separated only by whitespace (maybe none)."""
    pos = 0
    for s in segs:
        assert s.text
        assert s.text == s.text.strip()
        assert text[s.start : s.end] == s.text
        assert text[pos : s.start].strip() == "", (text, pos, s)
        pos = s.end
    assert text[pos:].strip() == ""


@_SETTINGS
@given(texts, cut_points, segmenter_options)
def test_segments_do_not_depend_on_the_split(text: str, cuts: list[int], opts: Any) -> None:
    whole = run_segmenter([text], **opts)
    assert run_segmenter(pieces(text, cuts), **opts) == whole
    assert run_segmenter(list(text), **opts) == whole


@_SETTINGS
@given(texts, cut_points, segmenter_options)
def test_nothing_lost_nothing_glued(text: str, cuts: list[int], opts: Any) -> None:
    segs = run_segmenter(pieces(text, cuts), **opts)
    assert_covers(text, segs)
    assert [s.index for s in segs] == list(range(len(segs)))
    max_chars = opts.get("max_chars", 300)
    assert all(len(s.text) <= max_chars + 40 for s in segs)  # bounded lookahead overshoot


@_SETTINGS
@given(texts, cut_points)
def test_flush_returns_everything_pending(text: str, cuts: list[int]) -> None:
    seg = Segmenter()
    fed = ""
    emitted: list[Segment] = []
    for part in pieces(text, cuts):
        fed += part
        emitted.extend(seg.feed(part))
    emitted.extend(seg.flush())
    assert_covers(fed, emitted)
    if fed.strip():
        assert emitted[-1].end == len(fed.rstrip())


@_SETTINGS
@given(texts, cut_points)
def test_cut_loses_nothing(text: str, cuts: list[int]) -> None:
    seg = Segmenter()
    out: list[Segment] = []
    for n, part in enumerate(pieces(text, cuts)):
        out.extend(seg.feed(part))
        if n % 2:
            out.extend(seg.cut())
    out.extend(seg.flush())
    assert_covers(text, out)


@_SETTINGS
@given(
    markdown,
    cut_points,
    st.sampled_from([None, "Code omitted."]),
    st.sampled_from(["read", "drop"]),
)
def test_scrubber_does_not_depend_on_the_split(
    text: str, cuts: list[int], placeholder: str | None, tables: str
) -> None:
    opts = {"code_placeholder": placeholder, "tables": tables}
    whole = run_scrubber([text], **opts)
    assert run_scrubber(pieces(text, cuts), **opts) == whole
    assert run_scrubber(list(text), **opts) == whole
    assert "\n\n\n" not in whole
    assert not whole.startswith("\n")


@_SETTINGS
@given(mixed, cut_points)
def test_split_speech_does_not_depend_on_the_split(text: str, cuts: list[int]) -> None:
    whole = split_speech([text])
    assert split_speech(pieces(text, cuts)) == whole
    assert split_speech(list(text)) == whole


@_SETTINGS
@given(st.text(max_size=80), cut_points)
def test_plain_text_passes_the_scrubber_words_intact(text: str, cuts: list[int]) -> None:
    """Text without markup characters loses no letters or digits."""
    plain = "".join(ch for ch in text if ch.isalnum() or ch in " .,;:?'\n")
    plain = plain.replace("http", "htp").replace("www", "ww")
    out = run_scrubber(pieces(plain, cuts))
    assert out.split() == plain.split()
