"""The one sanitiser for text from clients and models: surrogates and control characters."""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.sanitize import TextSanitizer, sanitize

EMOJI = "\U0001f600"
HIGH, LOW = "\ud83d", "\ude00"  # EMOJI as two UTF-16 code units


def test_lone_surrogates_are_replaced_and_pairs_joined() -> None:
    assert sanitize("a\ud800b") == "a\ufffdb"
    assert sanitize("\udfff") == "\ufffd"
    assert sanitize(HIGH + LOW) == EMOJI
    assert sanitize(LOW + HIGH) == "\ufffd\ufffd"
    assert sanitize(json.loads('"x\\ud800"')).encode() == "x\ufffd".encode()


def test_control_characters_but_newline_and_tab_are_removed() -> None:
    assert sanitize("a\x00b\x07c\x1bd\x7fe\x85f\x9fg") == "abcdefg"
    assert sanitize("one\ttwo\nthree") == "one\ttwo\nthree"
    assert sanitize("a\r\nb\rc") == "a\nb\nc"
    assert sanitize("plain text, 中文, café " + EMOJI) == "plain text, 中文, café " + EMOJI


def test_an_emoji_split_into_two_surrogate_pieces_comes_out_whole() -> None:
    s = TextSanitizer()
    assert s.feed("Hi " + HIGH) == "Hi "
    assert s.feed(LOW + " there") == EMOJI + " there"
    assert s.flush() == ""


def test_a_high_surrogate_left_at_the_end_is_replaced() -> None:
    s = TextSanitizer()
    assert s.feed("end" + HIGH) == "end"
    assert s.flush() == "\ufffd"
    assert s.feed("again") == "again"  # flushed: nothing is held any more


texts = st.lists(
    st.sampled_from(["a", " ", "\n", "\r", "\t", "\x00", "\x85", HIGH, LOW, EMOJI, "中"]),
    max_size=30,
).map("".join)


@given(texts, st.lists(st.integers(0, 30), max_size=6))
def test_any_split_gives_the_same_safe_text(text: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    s = TextSanitizer()
    out = "".join(s.feed(text[a:b]) for a, b in itertools.pairwise(bounds))
    out += s.flush()
    assert out == sanitize(text)
    out.encode("utf-8")  # never raises
    assert all(c in "\n\t" or not (ord(c) < 32 or 0x7F <= ord(c) <= 0x9F) for c in out)
