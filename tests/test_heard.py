"""Spoken-history bookkeeping: responses mapped to segments, heard text from played samples."""

from __future__ import annotations

import pytest

from bridge.core.heard import HeardTracker, estimate_prefix, speakable_join
from bridge.text._chars import is_spaceless, is_wide

RATE = 1000  # 1000 samples per second keeps the arithmetic readable


def test_estimate_prefix_cuts_at_word_boundaries() -> None:
    text = "The quick brown fox jumps"
    assert estimate_prefix(text, 0) == ""
    assert estimate_prefix(text, 1) == text
    assert estimate_prefix(text, 0.5) == "The quick"  # "brown" was not fully heard
    assert estimate_prefix(text, 0.05) == ""
    assert estimate_prefix("今天天气很好", 0.5) == "今天天"


def test_server_commit_maps_responses_by_billed_characters() -> None:
    t = HeardTracker()
    for text in ("Hello there.", "How are you?", "Fine."):
        t.appended(text)
    # The server merged the first two segments into one response (12 + 1 + 12 characters).
    t.response_started("r1")
    t.audio("r1", 2000)
    t.response_done("r1", 25)
    t.response_started("r2")
    t.audio("r2", 500)
    t.response_done("r2", 5)
    assert t.heard_text(2500, RATE) == "Hello there. How are you? Fine."
    assert t.heard_text(2000, RATE) == "Hello there. How are you?"
    assert t.heard_text(1000, RATE) == "Hello there."  # half of r1's 25 characters
    assert t.undelivered() == []


def test_commit_mode_is_exact_per_segment() -> None:
    t = HeardTracker(commit_mode=True)
    t.appended("One two three.")
    t.appended("Four five.")
    t.response_started("a")
    t.audio("a", 1000)
    t.response_done("a", None)
    t.response_started("b")
    t.audio("b", 1000)
    assert t.heard_text(1000, RATE) == "One two three."
    assert t.heard_text(1300, RATE) == "One two three."  # "Four" not finished at 30 % of b
    assert t.heard_text(1500, RATE) == "One two three. Four"
    assert t.undelivered() == [1]


def test_unfinished_response_estimates_from_text_length() -> None:
    t = HeardTracker()
    t.appended("A rather long sentence that is still arriving from the server")
    t.response_started("r")
    t.audio("r", 100)  # only 0.1 s received; the whole text takes ~4 s
    heard = t.heard_text(100, RATE)
    assert heard == "" or "A rather long sentence".startswith(heard)


def test_undelivered_and_forget_after_drop() -> None:
    t = HeardTracker()
    for text in ("First.", "Second.", "Third."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 300)
    t.response_done("r1", 6)
    t.response_started("r2")
    t.audio("r2", 100)  # connection drops here
    assert t.undelivered() == [1, 2]
    t.forget_responses_after_drop()
    t.response_started("r3")
    t.audio("r3", 300)
    t.response_done("r3", 7)
    t.response_started("r4")
    t.audio("r4", 300)
    t.response_done("r4", 6)
    assert t.undelivered() == []
    # r2's 100 samples were heard as a partial "Second." before it repeated in r3.
    assert t.heard_text(1000, RATE).startswith("First.")


@pytest.mark.parametrize("played", [0, 1, 50, 299, 300, 301, 10_000])
def test_heard_text_is_always_a_prefix_of_the_whole(played: int) -> None:
    t = HeardTracker()
    t.appended("Alpha beta.")
    t.appended("Gamma delta.")
    t.response_started("x")
    t.audio("x", 150)
    t.response_done("x", 11)
    t.response_started("y")
    t.audio("y", 150)
    t.response_done("y", 12)
    whole = "Alpha beta. Gamma delta."
    assert whole.startswith(t.heard_text(played, RATE))


def test_a_segment_split_across_two_responses_is_not_repeated() -> None:
    t = HeardTracker()
    t.appended("Sure, here is the plan.")  # 23 units
    t.appended("First we visit Dr. Smith")  # the server cuts after "Dr."
    for rid, chars, samples in (("a", 23, 1000), ("b", 18, 800), ("c", 6, 200)):
        t.response_started(rid)
        t.audio(rid, samples)
        t.response_done(rid, chars)
    assert t.heard_text(2000, RATE) == "Sure, here is the plan. First we visit Dr. Smith"
    assert t.heard_text(1800, RATE) == "Sure, here is the plan. First we visit Dr."
    assert t.heard_text(1400, RATE) == "Sure, here is the plan. First we"
    assert t.undelivered() == []


def test_korean_is_joined_with_a_space_chinese_and_japanese_are_not() -> None:
    assert speakable_join(["안녕하세요.", "반갑습니다."]) == "안녕하세요. 반갑습니다."
    assert speakable_join(["你好。", "很高兴见到你。"]) == "你好。很高兴见到你。"
    assert speakable_join(["こんにちは。", "元気？"]) == "こんにちは。元気？"
    assert speakable_join(["Hello there.", "How are you?"]) == "Hello there. How are you?"
    # Between Chinese and English: no space on either side of the Chinese text.
    assert speakable_join(["我用Python。", "It works."]) == "我用Python。It works."
    assert speakable_join(["It works.", "我很高兴。"]) == "It works.我很高兴。"
    assert speakable_join(["  ", "One.", "", "Two."]) == "One. Two."


def test_korean_prefix_is_cut_at_a_space_not_inside_a_word() -> None:
    text = "오늘 날씨가 정말 좋네요"
    # 65 % of the 13 characters ends inside "정말": back off to the space before it.
    assert estimate_prefix(text, 0.65) == "오늘 날씨가"
    assert estimate_prefix("今天天气很好", 0.5) == "今天天"


def test_one_script_aware_predicate() -> None:
    for ch in "中日あアㄅ。，「」！？ｈ":
        assert is_spaceless(ch), ch
    for ch in "한글aZ1 .,ไ😀é":
        assert not is_spaceless(ch), ch
    assert is_wide("한") and is_wide("中") and not is_wide("a") and not is_wide("😀")
    assert not is_spaceless("") and not is_wide("")
