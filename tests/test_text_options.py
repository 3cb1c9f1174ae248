"""The text layer's option objects: each bound is inclusive, each error names its field."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.core.errors import ConfigError
from bridge.text.model import (
    ScrubberOptions,
    SegmenterOptions,
    scrubber_options,
    segmenter_options,
)

# (field, lowest valid, highest valid) with the other fields at their defaults; min_chars is
# bounded by max_chars // 2 and first_max_words by first_min_words, given with their partner.
_SEGMENTER_BOUNDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("max_chars", 20, 100_000, {"min_chars": 10}),
    ("min_chars", 0, 150, {"max_chars": 300}),
    ("min_chars", 0, 20, {"max_chars": 41}),  # 41 // 2, not 41 / 2 nor 41 // 3
    ("first_min_words", 1, 1000, {"first_max_words": 1000}),
    ("first_max_words", 3, 1000, {"first_min_words": 3}),
    ("cjk_weight", 1, 10, {}),
]


@pytest.mark.parametrize(("name", "low", "high", "others"), _SEGMENTER_BOUNDS)
def test_segmenter_bounds_are_inclusive(
    name: str, low: int, high: int, others: dict[str, int]
) -> None:
    for value in (low, high):
        assert getattr(SegmenterOptions(**{name: value}, **others), name) == value
    for value, bound in ((low - 1, f"between {low} and {high}"), (high + 1, str(high))):
        with pytest.raises(ConfigError) as info:
            SegmenterOptions(**{name: value}, **others)
        assert info.value.field == name
        assert str(info.value) == f"{name} must be between {low} and {high}, got {value}"
        assert bound in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("first_clause", "yes", "first_clause must be a bool"),
        ("first_clause", 1, "first_clause must be a bool"),
        ("max_chars", 300.0, "max_chars must be an integer, not float"),
        ("min_chars", True, "min_chars must be an integer, not bool"),
        ("cjk_weight", "4", "cjk_weight must be an integer, not str"),
    ],
)
def test_segmenter_types_are_checked(name: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        SegmenterOptions(**{name: value})
    assert info.value.field == name
    assert str(info.value) == message


def test_scrubber_think_window_bounds() -> None:
    assert ScrubberOptions(think_window=0).think_window == 0
    assert ScrubberOptions(think_window=100_000).think_window == 100_000
    for value in (-1, 100_001):
        with pytest.raises(ConfigError) as info:
            ScrubberOptions(think_window=value)
        assert info.value.field == "think_window"
        assert str(info.value) == f"think_window must be between 0 and 100000, got {value}"


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"code_placeholder": 3}, "code_placeholder", "code_placeholder must be a string or None"),
        ({"code_placeholder": " "}, "code_placeholder", "code_placeholder must be one short"),
        ({"code_placeholder": "a\nb"}, "code_placeholder", "code_placeholder must be one short"),
        ({"code_placeholder": "x" * 201}, "code_placeholder", "code_placeholder must be one short"),
        ({"think_open": "no"}, "think_open", "think_open must be a bool"),
        ({"think_window": 2.0}, "think_window", "think_window must be an integer, not float"),
        ({"tables": "skip"}, "tables", "tables must be 'read' or 'drop', got 'skip'"),
    ],
)
def test_bad_scrubber_options(options: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ScrubberOptions(**options)
    assert info.value.field == field
    assert str(info.value).startswith(message)


def test_good_scrubber_options() -> None:
    longest = "x" * 200
    assert ScrubberOptions(code_placeholder=longest).code_placeholder == longest
    assert ScrubberOptions(tables="drop").tables == "drop"
    assert ScrubberOptions(tables="read", think_open=True).think_open is True


def test_an_options_object_is_used_as_given_and_overrides_are_applied_to_it() -> None:
    base = SegmenterOptions(max_chars=40)
    assert segmenter_options(base) is base
    assert segmenter_options(base, min_chars=10) == SegmenterOptions(max_chars=40, min_chars=10)
    assert segmenter_options() == SegmenterOptions()
    scrub = ScrubberOptions(tables="drop")
    assert scrubber_options(scrub) is scrub
    assert scrubber_options(scrub, think_window=5) == ScrubberOptions(tables="drop", think_window=5)
    assert scrubber_options() == ScrubberOptions()
    with pytest.raises(ConfigError, match="min_chars"):
        segmenter_options(base, min_chars=30)  # validated with the override: at most 40 // 2


def test_split_speech_uses_the_segmenter_options_it_is_given() -> None:
    from bridge.text import split_speech

    text = "Hello there my friend, how are you today? Fine."
    assert split_speech([text]) == ["Hello there my friend,", "how are you today?", "Fine."]
    off = SegmenterOptions(first_clause=False)  # no fast first clause: the sentence is whole
    assert split_speech([text], segmenter=off) == [
        "Hello there my friend, how are you today?",
        "Fine.",
    ]
