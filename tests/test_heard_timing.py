"""Caption timing from the response mapping (``HeardTracker.timings``), pure: no emulator.

Rule (``bridge.core.heard``): a segment's audio starts and ends where its bounds fall in the
samples received, exact at confirmed response boundaries, placed by billed characters inside
a response that spoke several segments, against the response's estimated length (65 ms a
character at speech rate 1, or the pace of the turn's finished responses) while it has not
ended. A segment spoken twice (re-sent after a drop) is timed by its later copy.
"""

from __future__ import annotations

from bridge.core.heard import HeardTracker
from bridge.core.result import SegmentTiming

RATE = 1000  # samples per second: 65 samples a Latin character before any response ended


def _timing(index: int, start: int, end: int, estimated: bool) -> SegmentTiming:
    return SegmentTiming(index=index, start=start, end=end, estimated=estimated)


def test_timings_follow_the_response_mapping() -> None:
    t = HeardTracker()
    for text in ("Hello there.", "How are you?", "Fine."):
        t.appended(text)
    assert t.timings(RATE) == [None, None, None]
    t.response_started("r1")
    t.audio("r1", 2000)
    # r1 not done: its end is taken as the first segment's, the rest unknown.
    first = t.timings(RATE)
    assert first[0] is not None and first[0].start == 0 and first[0].estimated
    assert first[1] is None and first[2] is None
    t.response_done("r1", 25)  # it spoke the first two segments (12 + 12, and a space)
    t.response_started("r2")
    t.audio("r2", 500)
    t.response_done("r2", 5)
    assert t.timings(RATE) == [
        _timing(0, 0, 1000, True),
        _timing(1, 1000, 2000, True),
        _timing(2, 2000, 2500, False),
    ]


def test_commit_mode_timings_are_confirmed_by_response_done() -> None:
    t = HeardTracker(commit_mode=True)
    t.appended("One two three.")
    t.appended("Four five.")
    t.response_started("a")
    t.audio("a", 700)
    # Not done: sized by its text, 14 characters at 65 ms (910 samples, to the nearest).
    assert t.timings(RATE)[0] == _timing(0, 0, 910, True)
    t.audio("a", 300)
    t.response_done("a", None)
    t.response_started("b")
    t.audio("b", 400)
    t.response_done("b", None)
    assert t.timings(RATE) == [_timing(0, 0, 1000, False), _timing(1, 1000, 1400, False)]


def test_bounds_inside_a_merged_response_are_placed_by_billed_characters() -> None:
    # "Hi." (3 units) and "How are you today?" (18) in one response billed 22 (with the
    # space), snapped to the boundary at 21: the first segment's end is 3/21 of its audio.
    t = HeardTracker()
    for text in ("Hi.", "How are you today?", "Bye."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 2100)
    t.response_done("r1", 22)
    t.response_started("r2")
    t.audio("r2", 400)
    t.response_done("r2", 4)
    assert t.timings(RATE) == [
        _timing(0, 0, 300, True),  # its end is interpolated
        _timing(1, 300, 2100, True),  # its start is interpolated, its end confirmed
        _timing(2, 2100, 2500, False),  # a response of its own: both ends confirmed
    ]


def test_an_unfinished_response_is_sized_by_its_text_and_later_segments_are_unknown() -> None:
    t = HeardTracker()
    for text in ("One two.", "Three four.", "Five."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 100)
    # Its end is taken at the first boundary (8 units at 65 samples: 520); nothing of the
    # later segments has arrived.
    assert t.timings(RATE) == [_timing(0, 0, 520, True), None, None]
    t.audio("r1", 600)  # more audio than the estimate: the audio received is the length
    assert t.timings(RATE) == [_timing(0, 0, 700, True), None, None]


def test_the_speech_rate_scales_the_estimated_length() -> None:
    t = HeardTracker(commit_mode=True, speech_rate=2.0)
    t.appended("One two three.")
    t.response_started("a")
    t.audio("a", 100)
    # Half of 14 characters at 65 ms: 455 samples (to the nearest).
    assert t.timings(RATE) == [_timing(0, 0, 455, True)]


def test_a_segment_cut_across_responses_ends_in_the_next_one() -> None:
    # The server cut "See Dr. Li" after "Dr.": r2 ends inside the segment, r3 finishes it.
    t = HeardTracker()
    for text in ("Hello there.", "See Dr. Li", "Fine."):
        t.appended(text)
    for rid, chars in (("r1", 12), ("r2", 8)):
        t.response_started(rid)
        t.audio(rid, 100)
        t.response_done(rid, chars)
    # Before r3: the segment's end is estimated from the turn's pace (200 samples for 20
    # billed units: 10 a unit, 10 units), the next segment's audio has not arrived.
    assert t.timings(RATE) == [_timing(0, 0, 100, False), _timing(1, 100, 200, True), None]
    t.response_started("r3")  # started, but no audio yet: nothing changes
    assert t.timings(RATE) == [_timing(0, 0, 100, False), _timing(1, 100, 200, True), None]
    # Its first sample: r3 is taken to end at the next boundary (2 units at the turn's pace
    # of 10 samples), and "Li" ends there.
    t.audio("r3", 1)
    assert t.timings(RATE) == [_timing(0, 0, 100, False), _timing(1, 100, 220, True), None]
    t.audio("r3", 99)
    t.response_done("r3", 9)  # " Li Fine.", snapped to the end at 27
    # "Li" and its space are 2 of r3's 7 units: 29 of its 100 samples.
    assert t.timings(RATE) == [
        _timing(0, 0, 100, False),
        _timing(1, 100, 229, True),
        _timing(2, 229, 300, True),
    ]
    assert t.response_text("r2") == "See Dr."
    assert t.response_text("r3") == "Li Fine."


def test_a_segment_spoken_again_after_a_drop_is_timed_by_its_later_copy() -> None:
    t = HeardTracker()
    for text in ("First sentence here.", "Second sentence here."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 1300)
    t.response_done("r1", 20)  # 65 samples a unit
    t.response_started("r2")
    t.audio("r2", 900)
    t.forget_responses_after_drop()
    # The abandoned copy: it starts where its audio starts; its end never arrived, so it is
    # estimated at the turn's pace (21 units at 65: 1365 samples).
    assert t.timings(RATE) == [_timing(0, 0, 1300, False), _timing(1, 1300, 2665, True)]
    t.response_started("r3")
    t.audio("r3", 1430)
    t.response_done("r3", 22)
    assert t.timings(RATE) == [_timing(0, 0, 1300, False), _timing(1, 2200, 3630, False)]


def test_response_text_is_what_a_finished_response_spoke() -> None:
    t = HeardTracker()
    for text in ("Hello there.", "How are you?", "Fine."):
        t.appended(text)
    assert t.response_text("r1") == ""  # not known
    t.response_started("r1")
    t.audio("r1", 100)
    assert t.response_text("r1") == ""  # not done
    t.response_done("r1", 25)
    t.response_started("r2")
    t.response_done("r2", 5)
    assert t.response_text("r1") == "Hello there. How are you?"
    assert t.response_text("r2") == "Fine."


def test_a_one_character_segment_ends_with_its_response() -> None:
    # "I" is one unit: its response's audio is all of it (not an estimate at the turn's
    # pace, 900 samples for 5 units here).
    t = HeardTracker(commit_mode=True)
    t.appended("I")
    t.appended("Yes.")
    for rid, samples in (("a", 100), ("b", 800)):
        t.response_started(rid)
        t.audio(rid, samples)
        t.response_done(rid, None)
    assert t.timings(RATE) == [_timing(0, 0, 100, False), _timing(1, 100, 900, False)]


def test_an_abandoned_response_longer_than_its_estimate_ends_where_its_audio_ends() -> None:
    t = HeardTracker()
    for text in ("First sentence here.", "Second sentence here."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 1300)
    t.response_done("r1", 20)
    t.response_started("r2")
    t.audio("r2", 1400)  # more than the 1365 samples its 21 units take at the turn's pace
    t.forget_responses_after_drop()
    assert t.timings(RATE) == [_timing(0, 0, 1300, False), _timing(1, 1300, 2700, True)]


def test_a_drop_in_the_first_response_sizes_its_segment_by_the_text() -> None:
    t = HeardTracker()
    t.appended("First sentence here.")
    t.response_started("r1")
    t.audio("r1", 900)
    t.forget_responses_after_drop()
    # No response finished: 20 characters at 65 ms (1300 samples, to the nearest).
    assert t.timings(RATE) == [_timing(0, 0, 1300, True)]


def test_a_resent_copy_cut_short_is_not_ended_by_the_abandoned_one() -> None:
    # "See Dr. Li" was abandoned after 700 samples, re-sent, and the server cut the copy
    # after "Dr." (8 of its 10 units): its end is estimated from the copy's start, not
    # taken from the abandoned copy's audio.
    t = HeardTracker()
    for text in ("First sentence here.", "See Dr. Li"):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 1300)
    t.response_done("r1", 20)
    t.response_started("r2")
    t.audio("r2", 700)
    t.forget_responses_after_drop()
    assert t.timings(RATE) == [_timing(0, 0, 1300, False), _timing(1, 1300, 2000, True)]
    t.response_started("r3")
    t.audio("r3", 520)
    t.response_done("r3", 8)
    # 10 units at the turn's pace (1820 samples for 28 billed units: 65) from r3's start.
    assert t.timings(RATE) == [_timing(0, 0, 1300, False), _timing(1, 2000, 2650, True)]


def test_audio_after_all_the_text_is_mapped_claims_nothing_more() -> None:
    # A response the server starts after every appended segment was accounted for has no
    # text of its own: it neither extends what was heard nor moves any segment's timing.
    t = HeardTracker()
    t.appended("Hello.")
    t.response_started("r1")
    t.audio("r1", 60)
    t.response_done("r1", 6)
    t.response_started("late")
    t.audio("late", 100)
    assert t.heard_text(160, RATE) == "Hello."
    assert t.timings(RATE) == [_timing(0, 0, 60, False)]
    t.response_done("late", 3)
    assert t.responses[-1].start == t.responses[-1].end == t.total
    assert t.heard_text(160, RATE) == "Hello."
    # The same after a blank response (no audio, so no pace to go by): "Hello." has no audio.
    t = HeardTracker()
    t.appended("Hello.")
    t.response_started("r1")
    t.response_done("r1", 6)
    t.response_started("late")
    t.audio("late", 100)
    assert t.timings(RATE) == [None]


def test_a_response_is_snapped_to_the_nearest_boundary_within_the_slack() -> None:
    # Billed 7 from 0 over "One." and "Two." (8 units with the space the server did not
    # bill): 1 short of the boundary at 8, 3 past the one at 4.
    t = HeardTracker()
    for text in ("One.", "Two.", "Three."):
        t.appended(text)
    t.response_started("r1")
    t.audio("r1", 200)
    t.response_done("r1", 7)
    assert t.responses[0].end == 8.0
    assert t.heard_text(200, RATE) == "One. Two."


def test_a_response_billed_one_character_advances_by_it() -> None:
    # Its own start is not a boundary to snap back to.
    t = HeardTracker()
    t.appended("Hello there, my friend.")
    t.response_started("r1")
    t.audio("r1", 10)
    t.response_done("r1", 1)
    t.response_started("r2")
    assert [r.start for r in t.responses] == [0.0, 1.0]


def test_a_one_character_segment_left_undelivered_is_resent() -> None:
    t = HeardTracker()
    t.appended("Yes.")
    t.appended("I")
    t.response_started("r1")
    t.audio("r1", 40)
    t.response_done("r1", 4)
    t.response_started("r2")
    t.audio("r2", 5)
    assert t.undelivered() == [1]


def test_the_pace_is_the_finished_responses_samples_over_their_units() -> None:
    # Commit mode (no billing figures): each finished response's units are its span.
    t = HeardTracker(commit_mode=True)
    for text in ("One.", "Two.", "Three."):
        t.appended(text)
    for rid in ("a", "b"):
        t.response_started(rid)
        t.audio(rid, 400)
        t.response_done(rid, None)
    t.response_started("c")
    t.audio("c", 100)
    # 800 samples for 8 units: "Three." (6 units) will take 600.
    assert t.timings(RATE)[2] == _timing(2, 800, 1400, True)


def test_a_one_sample_one_unit_response_sets_the_pace() -> None:
    t = HeardTracker(commit_mode=True)
    t.appended("I")
    t.appended("Yes.")
    t.response_started("a")
    t.audio("a", 1)
    t.response_done("a", None)
    t.response_started("b")
    t.audio("b", 1)
    assert t.heard_text(1, RATE) == "I"
    # One sample a unit: "Yes." is expected to take 4 (not its text's 260 at 65 ms).
    assert t.timings(RATE) == [_timing(0, 0, 1, False), _timing(1, 1, 5, True)]


def test_a_blank_response_sets_no_pace_and_does_not_stop_the_count() -> None:
    t = HeardTracker()
    t.appended("Hi.")
    t.appended("How are you?")
    t.response_started("r1")
    t.response_done("r1", 3)  # no audio
    t.response_started("r2")
    t.audio("r2", 100)
    # No finished response with audio: r2 is sized by its text, "How are you?" (its 12
    # units, 12 characters at 65 ms: 780 samples).
    assert t.timings(RATE) == [None, _timing(1, 0, 780, True)]
    t.audio("r2", 680)
    t.response_done("r2", 13)
    assert t.timings(RATE) == [None, _timing(1, 0, 780, False)]
    assert t.heard_text(780, RATE) == "Hi. How are you?"


def test_a_pace_below_one_sample_a_unit_still_counts() -> None:
    t = HeardTracker(commit_mode=True)
    t.appended("One two three four.")
    t.appended("Five six seven eight.")
    t.response_started("a")
    t.audio("a", 10)
    t.response_done("a", None)
    t.response_started("b")
    t.audio("b", 15)  # 15 samples for 21 units so far: 0.71 a unit
    # 10 samples of b at 0.71 a unit: 14 units, "Five six seven".
    assert t.heard_text(20, RATE) == "One two three four. Five six seven"
