"""Spoken-history bookkeeping: responses mapped to segments, heard text from played samples."""

from __future__ import annotations

import pytest

from bridge.core.heard import HeardTracker, estimate_prefix, estimate_seconds, speakable_join
from bridge.core.pace import PaceSums
from bridge.text._chars import is_spaceless, is_wide

RATE = 1000  # 1000 samples per second keeps the arithmetic readable


def test_estimate_prefix_cuts_at_word_boundaries() -> None:
    text = "The quick brown fox jumps"
    assert estimate_prefix(text, 0) == ""
    assert estimate_prefix(text, 1) == text
    assert estimate_prefix(text, 0.5) == "The quick"  # "brown" was not fully heard
    assert estimate_prefix(text, 0.05) == ""
    assert estimate_prefix("今天天气很好", 0.5) == "今天天"


@pytest.mark.parametrize(
    "text", ["", "Plain ASCII, with: punctuation!", "mixed 你好 text", "한국어 문장", "café"]
)
def test_estimate_seconds_is_the_per_character_sum(text: str) -> None:
    # ASCII takes a fast path; the figure is the same sum as character by character.
    expected = sum(0.22 if is_wide(c) else 0.065 for c in text)
    assert estimate_seconds(text) == expected
    assert estimate_seconds(text + "abc") > estimate_seconds(text)


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
    # Half of r1's audio: 12 of its 24 units, the first sentence whole (the turn's first
    # response cannot start with a joining space).
    assert t.heard_text(1000, RATE) == "Hello there."
    assert t.heard_text(950, RATE) == "Hello there"  # 11 units: the word, not its period
    assert t.undelivered() == []


def _two_responses(first_billed: int, second_billed: int | None) -> HeardTracker:
    """Segments appended as the pipeline sends them (with the joining space after each):
    "One two." (9 units), "Three four five." (17); one response each."""
    t = HeardTracker()
    for text in ("One two.", "Three four five."):
        t.appended(text, text + " ")
    t.response_started("r1")
    t.audio("r1", 800)
    t.response_done("r1", first_billed)
    t.response_started("r2")
    t.audio("r2", 1600)
    if second_billed is not None:
        t.response_done("r2", second_billed)
    return t


def test_a_response_billed_without_edge_spaces_is_mapped_by_its_billed_characters() -> None:
    # r2 billed 16 of its 17 units: its audio is "Three four five." from its first sample.
    t = _two_responses(8, 16)
    # 1000 of r2's 1600 samples: 10 of 16 characters, "Three four" whole.
    assert t.heard_text(800 + 1000, RATE) == "One two. Three four"
    assert t.heard_text(800 + 990, RATE) == "One two. Three"


def test_a_response_billed_with_a_space_may_start_with_it() -> None:
    # r2 billed all 17 units: the joining space may be its first unit, so one is held back.
    t = _two_responses(9, 17)
    # 1600 * 10.5/17 samples: 10.5 units, less the possible space: 9.5, "Three four" is
    # whole only if the space was not first; it is not claimed.
    assert t.heard_text(800 + 988, RATE) == "One two. Three"
    assert t.heard_text(800 + 1600, RATE) == "One two. Three four five."


def test_a_running_response_follows_how_the_finished_ones_were_billed() -> None:
    # r2 has not ended. Its pace is r1's: 800 samples for 8 billed characters.
    stripped = _two_responses(8, None)
    # 1000 samples of r2: 10 units at that pace, "Three four" whole (no space held back,
    # since r1 was billed without one).
    assert stripped.heard_text(800 + 1000, RATE) == "One two. Three four"
    # r1 billed its joining space: r2 may start with one. Its pace: at least as slow as its
    # own audio so far (1600 samples for at most 17 units); 1000 samples are 10.6 units, one
    # held back.
    spaced = _two_responses(9, None)
    assert spaced.heard_text(800 + 1000, RATE) == "One two. Three"


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
    t.audio("r", 200)  # only 0.2 s received; the whole text takes ~4 s
    # 0.2 s of ~4 s: only "A" was heard yet. Counting the 0.2 s as the whole response
    # would claim the sentence.
    assert t.heard_text(200, RATE) == "A"
    t.audio("r", 1800)
    heard = t.heard_text(2000, RATE)  # about half of the estimated length
    assert heard and "A rather long sentence that is still arriving".startswith(heard)
    assert len(heard) < len(t.texts[0]) - 10


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
    # r2's 100 samples were a partial "Second." repeated whole in r3: heard once.
    assert t.heard_text(1000, RATE) == "First. Second. Third."
    assert t.heard_text(300 + 100 + 300, RATE) == "First. Second."


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
    heard = t.heard_text(played, RATE)
    assert whole.startswith(heard)
    # Not only a prefix (which "" always is): nothing before any audio, each finished
    # response whole once its audio has played.
    if played == 0:
        assert heard == ""
    elif played >= 300:
        assert heard == whole
    elif played >= 150:
        assert heard.startswith("Alpha beta.")
    else:
        assert len(heard) < len("Alpha beta.")


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


def test_leading_space_billed_by_the_server_snaps_back_to_each_segment() -> None:
    # The pipeline appends "Yes. ", "No. ", ...; the server's responses after the first start
    # with the space and bill it (the emulator's splitter does the same). Every response must
    # still end exactly at its segment's boundary, or the error piles up response by response.
    t = HeardTracker()
    for text in ("Yes.", "No.", "Maybe.", "I am a b c d e f g h i j k."):
        t.appended(text)
    for rid, chars in (("r1", 4), ("r2", 4), ("r3", 7)):
        t.response_started(rid)
        t.audio(rid, 100)
        t.response_done(rid, chars)
    assert [r.end for r in t.responses] == [4.0, 7.0, 13.0]
    t.response_started("r4")
    t.audio("r4", 280)
    t.response_done("r4", 28)
    assert t.responses[-1].end == t.total
    assert t.heard_text(300, RATE) == "Yes. No. Maybe."
    # 7 of r4's 28 units, less the one that may be its leading space: "I am ".
    assert t.heard_text(300 + 70, RATE) == "Yes. No. Maybe. I am"


def test_responses_billed_without_the_spaces_between_appends_snap_to_each_boundary() -> None:
    # The pipeline appends "Hello there. ", "How are you? ", "Fine. "; a server that bills
    # only the words (no space) ends every response one unit short of its boundary. Within
    # the slack of one unit it is snapped there, so the shortfall does not pile up.
    t = HeardTracker()
    for text in ("Hello there.", "How are you?", "Fine."):
        t.appended(text, text + " ")
    for rid, chars in (("r1", 12), ("r2", 12), ("r3", 5)):
        t.response_started(rid)
        t.audio(rid, 100)
        t.response_done(rid, chars)
    assert [r.end for r in t.responses] == [13.0, 26.0, 32.0]
    assert t.heard_text(200, RATE) == "Hello there. How are you?"
    assert t.heard_text(300, RATE) == "Hello there. How are you? Fine."


def test_a_response_ending_two_characters_short_of_a_boundary_is_not_snapped() -> None:
    # The server cut "See Dr. Li" after "Dr.": that response does not cover "Li".
    t = HeardTracker()
    for text in ("Hello there.", "See Dr. Li", "Fine."):
        t.appended(text)
    for rid, chars in (("r1", 12), ("r2", 8), ("r3", 9)):
        t.response_started(rid)
        t.audio(rid, 100)
        t.response_done(rid, chars)
    assert t.heard_text(200, RATE) == "Hello there. See Dr."
    assert t.heard_text(300, RATE) == "Hello there. See Dr. Li Fine."


def _abandoned_second_segment() -> HeardTracker:
    t = HeardTracker()
    for text in ("First sentence here.", "Second sentence here."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 1300)  # 65 ms a character, as the estimate assumes
    t.response_done("r1", 20)
    t.response_started("r2")
    t.audio("r2", 900)  # most of r2's audio arrived, but not its response.done: then the drop
    t.forget_responses_after_drop()
    return t


def test_an_abandoned_response_counts_only_as_far_as_it_was_played() -> None:
    t = _abandoned_second_segment()
    assert t.undelivered() == [1]
    # r2's length is estimated at r1's pace (65 samples a unit): 900 of its 21 * 65 samples
    # is 66 % of its units, 13.8 characters, inside "sentence": "Second" was heard.
    assert t.heard_text(1300 + 900, RATE) == "First sentence here. Second"
    assert t.heard_text(1300 + 900, RATE) == t.heard_text(1300 + 899, RATE)
    # The re-sent segment starts again at "Second": half of it adds nothing to what r2 gave,
    # 86 % of it adds "sentence", all of it the whole segment.
    t.response_started("r3")
    t.audio("r3", 1430)
    t.response_done("r3", 22)
    assert t.heard_text(1300 + 900 + 715, RATE) == "First sentence here. Second"
    assert t.heard_text(1300 + 900 + 1230, RATE) == "First sentence here. Second sentence"
    assert t.heard_text(1300 + 900 + 1430, RATE) == "First sentence here. Second sentence here."


def test_heard_text_never_shrinks_as_more_is_played() -> None:
    # More audio played can never mean less heard: in particular not at the end of an
    # abandoned response, while the pipeline waits for its reconnect.
    t = _abandoned_second_segment()
    t.response_started("r3")
    t.audio("r3", 1430)
    t.response_done("r3", 22)
    previous = ""
    for played in range(0, 3700, 5):
        heard = t.heard_text(played, RATE)
        assert heard.startswith(previous), (played, previous, heard)
        previous = heard
    assert previous == "First sentence here. Second sentence here."


def test_resume_after_a_drop_starts_at_the_first_undelivered_segment() -> None:
    t = HeardTracker()
    for text in ("One.", "Two.", "Three.", "Four."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 40)
    t.response_done("r1", 4)
    t.response_started("r2")
    t.audio("r2", 20)
    t.forget_responses_after_drop()
    assert t.undelivered() == [1, 2, 3]
    for rid, chars in (("r3", 5), ("r4", 7), ("r5", 6)):
        t.response_started(rid)
        t.audio(rid, 50)
        t.response_done(rid, chars)
    assert [r.start for r in t.responses[2:]] == [4.0, 8.0, 14.0]
    # r1 whole, r2's 20 samples (repeated), then r3 whole: "Two." was heard, not "Three.".
    assert t.heard_text(40 + 20 + 50, RATE) == "One. Two."
    assert t.heard_text(40 + 20 + 100, RATE) == "One. Two. Three."


def test_an_unfinished_server_commit_response_may_run_past_the_next_boundary() -> None:
    # The server speaks two segments in one response whose end has not come yet: the part
    # played is converted at the pace of the finished responses, past the first boundary.
    t = HeardTracker()
    for text in ("Yes.", "We walk to the lake,", "and then we rest."):
        t.appended(text, text + " ")
    t.response_started("r1")
    t.audio("r1", 400)
    # "Yes." billed 4 in 400 samples: 100 a unit (the pace counts the billed characters, not
    # the span of 5 snapped to the boundary after the space)
    t.response_done("r1", 4)
    t.response_started("r2")
    t.audio("r2", 3000)  # still streaming: 30 units at that pace
    # 2600 of r2's samples: 26 units (none held back for a leading space: r1 was billed
    # without its joining space) of "We walk to the lake, and then we rest." reach "and th".
    assert t.heard_text(400 + 2600, RATE) == "Yes. We walk to the lake, and"
    # The end of an unconfirmed response is never claimed on an estimate: its last spoken
    # unit stays out ("rest" is whole, not its period; the service speaks no edge space).
    t.audio("r2", 2000)
    assert t.heard_text(400 + 5000, RATE) == "Yes. We walk to the lake, and then we rest"
    t.response_done("r2", 39)
    assert t.heard_text(400 + 5000, RATE) == "Yes. We walk to the lake, and then we rest."


def test_the_pace_of_finished_responses_sizes_an_unfinished_one_in_commit_mode() -> None:
    t = HeardTracker(commit_mode=True, speech_rate=2.0)
    for text in ("One two.", "Three four five six."):
        t.appended(text, text + " ")
    t.response_started("a")
    t.audio("a", 450)
    # Before any response ended: the text's estimate (65 ms a character) at speech rate 2,
    # 28.9 samples a unit, but at least as slow as the 450 samples already received for its
    # 9 units (50 a unit): 300 samples are 6 units, "two" not whole; all 450 are capped
    # below its unconfirmed end.
    assert t.heard_text(300, RATE) == "One"
    assert t.heard_text(450, RATE) == "One two."
    t.response_done("a", None)  # 9 units in 450 samples: 50 samples a unit
    t.response_started("b")
    t.audio("b", 500)  # b unfinished: its 21 units will take 1050 samples
    assert t.heard_text(450 + 500, RATE) == "One two. Three four"  # 10 units
    assert t.heard_text(450 + 449, RATE) == "One two. Three"  # 8.98 units: "four" not whole


def test_nothing_played_is_nothing_heard_even_for_a_one_character_word() -> None:
    t = HeardTracker()
    t.appended("你好。")
    t.response_started("r")
    t.audio("r", 300)
    t.response_done("r", 5)
    assert t.heard_text(0, RATE) == ""
    assert t.heard_text(200, RATE) == "你"  # 3.3 of its 5 units, less a leading space: 2


def test_commit_mode_ends_each_response_at_its_segment_whatever_it_was_billed() -> None:
    t = HeardTracker(commit_mode=True)
    t.appended("One two.", "One two. ")
    t.appended("Three.", "Three. ")
    t.response_started("a")
    t.audio("a", 100)
    t.response_done("a", 40)  # a billing figure far from the segment's 9 units
    t.response_started("b")
    assert [r.start for r in t.responses] == [0.0, 9.0]
    assert t.heard_text(100, RATE) == "One two."


def test_a_response_crossing_a_boundary_is_snapped_only_within_one_unit_per_boundary() -> None:
    # r1 spans "One." and ends 3 units short of the end of the next segment: more than the
    # slack (one unit, plus one per boundary crossed), so it is not snapped there.
    t = HeardTracker()
    for text in ("One.", "Two three four.", "Five."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 160)
    t.response_done("r1", 16)
    assert t.responses[0].end == 16.0
    assert t.heard_text(160, RATE) == "One. Two three"


def test_a_drop_after_everything_arrived_leaves_nothing_to_resend() -> None:
    t = HeardTracker()
    t.appended("Only one.")
    t.response_started("r1")
    t.audio("r1", 90)
    t.response_done("r1", 9)
    t.forget_responses_after_drop()
    assert t.undelivered() == []
    t.response_started("late")
    assert t.responses[-1].start == t.total == 9.0
    assert t.heard_text(90, RATE) == "Only one."


def test_segments_are_numbered_from_zero_in_the_order_appended() -> None:
    t = HeardTracker()
    assert [t.appended(text) for text in ("One.", "Two.", "Three.")] == [0, 1, 2]


def test_a_response_without_audio_claims_nothing() -> None:
    # A response that ended without a sample (a blank piece) was not heard, however done.
    t = HeardTracker()
    t.appended("Hello.")
    t.response_started("r")
    t.response_done("r", 6)
    assert t.heard_text(0, RATE) == ""
    assert t.heard_text(1000, RATE) == ""


def test_an_unconfirmed_one_unit_segment_is_not_claimed() -> None:
    t = HeardTracker(commit_mode=True)
    t.appended("I")
    t.response_started("r")
    t.audio("r", 1000)  # far more than one character's worth, but its end never came
    assert t.heard_text(1000, RATE) == ""
    t.response_done("r", None)
    assert t.heard_text(1000, RATE) == "I"


def test_a_response_ending_inside_a_segment_follows_the_turns_billing() -> None:
    # The server split the second segment: r2 ended inside it (its span is its billed
    # characters, which say nothing of spaces). r1 ended at a boundary and was billed without
    # its joining space, so the service speaks no edge space: r2's first unit is a letter.
    t = HeardTracker()
    for text in ("Yes.", "Cook green bread. Then rest."):
        t.appended(text, text + " ")
    t.response_started("r1")
    t.audio("r1", 400)
    t.response_done("r1", 4)  # "Yes." (its span, 5, ends after the joining space)
    t.response_started("r2")
    t.audio("r2", 1700)
    t.response_done("r2", 17)  # "Cook green bread." ends inside the segment
    # 450 of r2's 1700 samples: 4.5 characters, "Cook" whole.
    assert t.heard_text(400 + 450, RATE) == "Yes. Cook"
    # Had r1 been billed with its space (5), r2 might start with it: one unit held back.
    spaced = HeardTracker()
    for text in ("Yes.", "Cook green bread. Then rest."):
        spaced.appended(text, text + " ")
    spaced.response_started("r1")
    spaced.audio("r1", 500)
    spaced.response_done("r1", 5)
    spaced.response_started("r2")
    spaced.audio("r2", 1700)
    spaced.response_done("r2", 17)
    assert spaced.heard_text(500 + 450, RATE) == "Yes."


def test_unsettled_names_the_running_response_where_playback_stopped() -> None:
    t = HeardTracker(commit_mode=True)
    for text in ("One.", "Two."):
        t.appended(text, text + " ")
    assert t.unsettled(0) is None  # nothing played, nothing to settle
    t.response_started("a")
    t.audio("a", 400)
    assert t.unsettled(0) is None
    assert t.unsettled(200) == "a"  # inside "a", whose end has not arrived
    assert t.unsettled(400) == "a"  # at the end of its audio so far: it may go on
    t.response_done("a", 5)
    assert t.unsettled(200) is None  # finished: its length is known
    t.response_started("b")
    t.audio("b", 300)
    assert t.unsettled(400) is None  # stopped exactly at the end of "a"
    assert t.unsettled(401) == "b"
    t.forget_responses_after_drop()  # "b" abandoned: it will never end
    assert t.unsettled(401) is None


def test_unsettled_skips_a_blank_response_and_sees_a_one_sample_one() -> None:
    t = HeardTracker()
    for text in ("Oh.", "Yes."):
        t.appended(text, text + " ")
    t.response_started("blank")  # a response that spoke nothing
    t.response_done("blank", 3)
    t.response_started("r")
    t.audio("r", 1)  # one sample so far
    assert t.unsettled(1) == "r"


def test_a_response_billed_one_character_is_mapped_by_it() -> None:
    # "A" sent with its joining space (2 units), billed 1: its audio is the letter alone.
    t = HeardTracker()
    for text in ("A", "Bee sings."):
        t.appended(text, text + " ")
    t.response_started("r1")
    t.audio("r1", 100)
    t.response_done("r1", 1)
    t.response_started("r2")
    t.audio("r2", 1000)
    # 60 of r1's 100 samples: 0.6 of its one letter, not yet the word.
    assert t.heard_text(60, RATE) == ""
    assert t.heard_text(100, RATE) == "A"


def test_a_response_after_a_one_unit_segment_may_start_with_a_space() -> None:
    # Segments appended without their joining space: "I" is 1 unit, billed with nothing to
    # spare (so nothing shows the service drops edge spaces); the response after it starts
    # at unit 1, not at the start of the turn, and may open with the space.
    t = HeardTracker()
    for text in ("I", "do it now."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 100)
    t.response_done("r1", 1)
    t.response_started("r2")
    t.audio("r2", 1000)
    t.response_done("r2", 10)
    # 250 of r2's 1000 samples: 2.5 of its 10 units, one held back: 1.5, not yet "do"
    # (which the turn's first response would have claimed); 450: 3.5, "do".
    assert t.heard_text(100 + 250, RATE) == "I"
    assert t.heard_text(100 + 450, RATE) == "I do"


def test_a_responses_own_billing_outweighs_the_turns() -> None:
    # r1 billed its joining space (the turn's evidence says spaces may be spoken), but r2,
    # at a boundary, was billed without its own: r2 speaks no edge space, none held back.
    t = HeardTracker()
    for text in ("One two.", "Three four five."):
        t.appended(text, text + " ")
    t.response_started("r1")
    t.audio("r1", 900)
    t.response_done("r1", 9)
    t.response_started("r2")
    t.audio("r2", 1600)
    t.response_done("r2", 16)
    assert t.heard_text(900 + 1000, RATE) == "One two. Three four"


def test_a_segment_boundary_one_unit_after_another_is_found() -> None:
    # Bounds 0, 3, 4 (a one-unit segment "I" between): a response ending at 4 ended at a
    # boundary, so its billing (4 of 4: it spoke a space) is evidence for the next one.
    t = HeardTracker()
    for text in ("Ok.", "I", "run fast."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 400)
    t.response_done("r1", 4)  # "Ok." and "I": 4 units, at the boundary after "I"
    t.response_started("r2")
    t.audio("r2", 900)  # running: r2 may start with a space, one unit held back
    # r2 at r1's pace (100 a unit): 400 samples are 4 units, less the possible space: 3, "run"
    assert t.heard_text(400 + 400, RATE) == "Ok. I run"
    assert t.heard_text(400 + 350, RATE) == "Ok. I"


@pytest.mark.parametrize("commit_mode", [True, False])
@pytest.mark.parametrize("finished", [True, False])
def test_a_response_without_audio_is_not_heard_until_audio_after_it_plays(
    commit_mode: bool, finished: bool
) -> None:
    """r2 spoke nothing (a voice silent for "Hmm."): stopping after r1, or inside r3 before
    any of its audio played, "Hmm." was not heard; once r3's audio plays it was passed."""
    t = HeardTracker(commit_mode=commit_mode)
    for text in ("One two three.", "Hmm.", "Four five six."):
        t.appended(text, text + " ")
    for rid, billed, samples in (("r1", 15, 1500), ("r2", 5, 0)):
        t.response_started(rid)
        t.audio(rid, samples)
        t.response_done(rid, billed)
    t.response_started("r3")
    t.audio("r3", 700 if finished else 600)
    if finished:
        t.response_done("r3", 15)
    assert t.heard_text(0, RATE) == ""
    assert t.heard_text(1500, RATE) == "One two three."
    assert t.heard_text(1500 + 500, RATE).startswith("One two three. Hmm. Four")
    # Nothing played at all after a silent first response: nothing heard.
    t = HeardTracker(commit_mode=commit_mode)
    for text in ("Hmm.", "Four five six."):
        t.appended(text, text + " ")
    t.response_started("a")
    t.response_done("a", 5)
    t.response_started("b")
    t.audio("b", 700)
    if finished:
        t.response_done("b", 15)
    assert t.heard_text(0, RATE) == ""


def test_silent_when_some_text_got_no_audio() -> None:
    t = HeardTracker()
    assert not t.silent()  # nothing appended
    t.appended("One two.")
    assert t.silent()  # appended, no audio at all (no response either)
    t.appended("Three.")
    t.response_started("r1")
    t.audio("r1", 300)
    assert not t.silent() and t.samples_received == 300
    t.response_done("r1", 8)
    t.response_started("r2")
    assert not t.silent()  # running: its audio may come yet
    t.forget_responses_after_drop()
    assert not t.silent()  # abandoned without audio: re-sent, not silent
    t.response_started("r3")
    t.response_done("r3", 6)
    assert t.silent() and t.samples_received == 300
    assert t.heard_text(t.samples_received, RATE) == "One two."


def test_the_pace_learned_in_latin_text_does_not_size_a_korean_response() -> None:
    """A voice that spoke "One two. " at the estimate's 65 ms a character takes about 220 ms
    for a Hangul syllable: 300 samples into the Korean response are not yet "오늘" (two
    syllables), though at the English pace they would be four units of it."""
    t = HeardTracker(commit_mode=True)
    for text in ("One two.", "오늘 날씨가 좋네요."):
        t.appended(text, text + " ")
    t.response_started("a")
    t.audio("a", 585)  # 9 units, 65 samples each
    t.response_done("a", None)
    t.response_started("b")
    t.audio("b", 300)  # its end has not arrived
    assert t.heard_text(585 + 300, RATE) == "One two."
    t.audio("b", 300)
    # 510 samples: past the two syllables and the space (about 168 samples a unit, the
    # span's average) though not yet the next syllable.
    assert t.heard_text(585 + 2 * 220 + 70, RATE) == "One two. 오늘"


def test_a_prior_pace_sizes_the_first_response_of_a_turn() -> None:
    """Before a response of this turn has finished, the voice's pace from earlier turns
    (here: 20% slower than the text estimate) sizes the one playing; without it, the text's
    estimate alone, which here would claim a word the listener had not heard whole."""
    text = "Three four five six."
    played = int(14.5 * 78)  # 14.5 units at 65 ms x 1.2: "five" not whole
    prior = PaceSums().add(1.2, 1 / 0.065, 1.0)  # Latin text estimated at 1 s took 1.2 s
    with_prior = HeardTracker(commit_mode=True, prior=prior)
    without = HeardTracker(commit_mode=True)
    for t in (with_prior, without):
        t.appended(text, text + " ")
        t.response_started("a")
        t.audio("a", 15 * 78)
    assert with_prior.heard_text(played, RATE) == "Three four"
    assert with_prior.heard_text(15 * 78, RATE) == "Three four five"
    assert without.heard_text(played, RATE) == "Three four five"  # 17.4 units at 65 ms


def test_the_pace_learned_in_korean_does_not_size_an_english_response() -> None:
    """The other way round: a voice much faster than the estimate in Korean (as the exact
    engine: 60 ms for any character) is not taken to be that much faster in English: at no
    point of the English response is more claimed than was played (here exactly what was)."""
    t = HeardTracker(commit_mode=True)
    first, second = "오늘 날씨가 좋네요.", "Three four five six."
    for text in (first, second):
        t.appended(text, text + " ")
    t.response_started("a")
    t.audio("a", 12 * 60)  # 12 units at 60 ms, against 8 x 220 + 4 x 65 estimated
    t.response_done("a", None)
    t.response_started("b")
    t.audio("b", 21 * 60)  # all of it arrived, its end has not
    for played in range(0, 20 * 60, 7):
        heard = estimate_prefix(second, (played // 60) / len(second))  # whole characters
        assert t.heard_text(12 * 60 + played, RATE) == speakable_join([first, heard])
