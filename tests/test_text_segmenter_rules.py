"""Segmenter edge cases, one per rule boundary (from mutation testing, docs/mutation/segmenter.md).

Each case is fed in the given pieces (``None``: a ``cut()`` call) and then flushed; the
expected value lists, for every call, the segments it returned as ``(text, kind, start)``
(``True`` appended when the segment ends a paragraph). The inputs were found by comparing
the segmenter with each surviving mutant and shrinking the input that told them apart; every
expected value was read and is the rule the module documents. Splitting the text into other
pieces may move a segment to another call, never change it (``test_text_invariants.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.text import Segment, Segmenter
from bridge.text.model import SegmentKind

PLAIN: dict[str, Any] = {"first_clause": False, "min_chars": 0}

Expected = tuple[str, SegmentKind, int] | tuple[str, SegmentKind, int, bool]

CASES: list[tuple[dict[str, Any], list[str | None], list[list[Expected]]]] = [
    # -- cut(): the stall cut and held sentences
    (
        {"min_chars": 0, "max_chars": 20},
        [" \n\n", None, "SA … a)The . . . と"],
        [[], [], [], [("SA … a)The . . .", "forced", 3), ("と", "final", 20)]],
    ),
    (
        {"min_chars": 0, "max_chars": 20},
        [" \n\n«", None, "A … a)The . . . と"],
        [[], [], [], [("«A … a)The . . .", "forced", 3), ("と", "final", 20)]],
    ),
    ({}, ["」\n? “", None], [[("」", "sentence", 0)], [("?", "sentence", 2)], [("“", "final", 4)]]),
    # -- terminator runs, closers, guillemets
    ({}, ["!你"], [[], [("!你", "final", 0)]]),
    ({}, [". ... “"], [[(". ...", "sentence", 0)], [("“", "final", 6)]]),
    (
        {"min_chars": 0, "max_chars": 24},
        ["•' \u202f 2.:«\u202f 2.:   . . . . "],
        [[], [("•' \u202f 2.:«\u202f 2.:", "forced", 0), (". . . .", "final", 17)]],
    ),
    ({}, ["。 »["], [[("。 »", "sentence", 0)], [("[", "final", 3)]]),
    ({}, ["。\xa0", None], [[], [("。", "sentence", 0)], []]),
    # -- a single period: list labels and abbreviation classes
    ({}, ["1. 2. ，"], [[("1.", "sentence", 0)], [("2. ，", "final", 3)]]),
    ({}, ["eg. 」"], [[], [("eg. 」", "final", 0)]]),
    ({}, ["pp. No"], [[], [("pp.", "sentence", 0), ("No", "final", 4)]]),
    # -- cut(): is the waiting terminator a sentence end
    ({}, ["?!", None], [[], [("?!", "sentence", 0)], []]),
    ({}, ["..", None, "!"], [[], [("..", "sentence", 0)], [], [("!", "final", 2)]]),
    ({}, ["「1.", None], [[], [], [("「1.", "final", 0)]]),
    ({}, ["?“", None], [[], [("?“", "sentence", 0)], []]),
    ({}, ["…”", None, "「"], [[], [("…”", "sentence", 0)], [], [("「", "final", 2)]]),
    # -- newlines: paragraphs and list-like lines
    ({}, ["' \n\n"], [[("'", "sentence", 0, True)], []]),
    ({}, ["\n\n…S"], [[("…", "sentence", 2)], [("S", "final", 3)]]),
    (
        {},
        ["   ; Str  a)IncU.S. 1) そうそう and \n "],
        [[("; Str  a)IncU.S.", "sentence", 3)], [("1) そうそう and", "final", 20)]],
    ),
    ({}, [".  .\nM"], [[(".", "sentence", 0)], [(".\nM", "final", 3)]]),
    ({}, ["的, b\na"], [[("的, b", "clause", 0)], [("a", "final", 5)]]),
    ({"first_clause": False}, ["\n.", None], [[], [(".", "sentence", 1)], []]),
    # -- 1) / b) list labels
    ({"first_min_words": 1, "first_max_words": 2}, ["です) "], [[("です)", "forced", 0)], []]),
    (
        {"min_chars": 0, "max_chars": 24},
        ["mですe.g.)• world」 」März 1)"],
        [[], [("mですe.g.)• world」 」März", "forced", 0), ("1)", "final", 23)]],
    ),
    ({}, ["2)。", None], [[], [("2)。", "sentence", 0)], []]),
    ({}, [") a) "], [[], [(") a)", "final", 0)]]),
    ({"first_max_words": 3}, ["b) 2 r "], [[("b) 2 r", "forced", 0)], []]),
    # -- first clause: clause marks
    ({"first_min_words": 2}, ["t—"], [[], [("t—", "final", 0)]]),
    ({"first_min_words": 2}, ["我们—"], [[("我们—", "clause", 0)], []]),
    ({}, ["—.", None], [[], [("—.", "sentence", 0)], []]),
    ({}, ["す: d;", "\n"], [[], [("す: d;", "clause", 0)], []]),
    ({}, ["c r m;r"], [[], [("c r m;r", "final", 0)]]),
    ({}, ["们” e\xa0: "], [[("们” e\xa0:", "clause", 0)], []]),
    ({}, [",そう- —"], [[(",そう- —", "clause", 0)], []]),
    ({}, ["的d p, "], [[("的d p,", "clause", 0)], []]),
    # -- first clause: word counting
    ({}, [" E", " T; "], [[], [], [("E T;", "final", 1)]]),
    ({}, ["そう , "], [[], [("そう ,", "final", 0)]]),
    ({"first_min_words": 2, "first_max_words": 2}, ["o , "], [[], [("o ,", "final", 0)]]),
    ({"first_min_words": 1, "first_max_words": 2}, [": d m"], [[], [(": d m", "final", 0)]]),
    # -- max_chars: forced cuts and the overshoot
    (
        {"min_chars": 0, "max_chars": 20},
        ["2024 、1. p.m ...2024 "],
        [[], [("2024 、1. p.m ...2024", "final", 0)]],
    ),
    (
        {"max_chars": 64},
        [
            "你好- —    \u202f你好-  —• )   \u202f你好-  —• )   \u202f你好- "
            + " —• )   \u202f你好-  —• )   \u202f你好-  —)— "
        ],
        [
            [("你好- —", "clause", 0)],
            [
                (
                    "你好-  —• )   \u202f你好-  —• )   \u202f你好-  —• )   \u202f你"
                    + "好-  —• )   \u202f你好-  —",
                    "forced",
                    10,
                ),
                (")—", "final", 68),
            ],
        ],
    ),
    (
        {"max_chars": 20, "min_chars": 10},
        [" ] \u202fHello); ]Hello); ]\u202f"],
        [[("] \u202fHello); ]Hello); ]", "forced", 1)], []],
    ),
    # -- named rules at their limits
    # cut(): z. B. is never a sentence end, the stall cuts at the last word
    (PLAIN, ["Das ist z. B.", None], [[], [("Das ist z.", "forced", 0)], [("B.", "final", 11)]]),
    # first clause: a comma after a number with only spaces after it, at the end
    ({}, ["It is 12, "], [[], [("It is 12,", "final", 0)]]),
    # first clause: a no-break space after a comma glues it (inline code)
    (
        {},
        ["One two three,\xa0four five six."],
        [[], [("One two three,\xa0four five six.", "final", 0)]],
    ),
    # max_chars: a dash that is the last character is not reached by the overshoot
    (
        {"first_clause": False, "min_chars": 0, "max_chars": 20},
        ["aaaa bbbb cccc dddd e—"],
        [[], [("aaaa bbbb cccc dddd", "forced", 0), ("e—", "final", 20)]],
    ),
    # max_chars: the overshoot reaches a clause mark just past the limit
    (
        {"first_clause": False, "min_chars": 0, "max_chars": 20},
        [" ]  Hello); ]Hello); ] "],
        [[("]  Hello); ]Hello); ]", "forced", 1)], []],
    ),
    # at most 32 terminators in one run
    (
        PLAIN,
        ["Wow" + "!" * 40 + " Next one."],
        [[("Wow" + "!" * 40, "sentence", 0)], [("Next one.", "final", 44)]],
    ),
    # at most 16 spaced dots in one ellipsis
    (
        PLAIN,
        ["Hm. . . . . . . . . . . . . . . . . Next" + " one."],
        [
            [("Hm.", "sentence", 0), (". . . . . . . . . . . . . . . .", "sentence", 4)],
            [("Next one.", "final", 36)],
        ],
    ),
    # a long dot run after a space
    (
        PLAIN,
        ["Hm " + "." * 10 + " Next one."],
        [[("Hm " + "." * 10, "sentence", 0)], [("Next one.", "final", 14)]],
    ),
    # at most 8 dots in one group of a spaced ellipsis
    (
        PLAIN,
        ["Hm. " + "." * 8 + " Next one."],
        [[("Hm. " + "." * 8, "sentence", 0)], [("Next one.", "final", 13)]],
    ),
    # at most 8 closing quotes after a terminator: the ninth glues
    (
        PLAIN,
        ["Stop!" + "”" * 9 + " Next one."],
        [[], [("Stop!" + "”" * 9 + " Next one.", "final", 0)]],
    ),
    # 8 closing quotes stay with the sentence
    (
        PLAIN,
        ["Stop!" + "”" * 8 + " Next one."],
        [[("Stop!" + "”" * 8, "sentence", 0)], [("Next one.", "final", 14)]],
    ),
    # French: a guillemet closing after a thin space at the very end
    (PLAIN, ["Il a dit « Viens ! »"], [[], [("Il a dit « Viens ! »", "final", 0)]]),
    # a 24-character token is read whole (a street name: ambiguous)
    (
        PLAIN,
        ["Ich wohne in der Friedrichwilhelmplatzst" + "r. Berlin ist weit."],
        [[], [("Ich wohne in der Friedrichwilhelmplatzst" + "r. Berlin ist weit.", "final", 0)]],
    ),
    # a 25-character token is too long to be an abbreviation
    (
        PLAIN,
        ["Ab Xfriedrichwilhelmplatzstr. Berlin ist" + " weit."],
        [[("Ab Xfriedrichwilhelmplatzstr.", "sentence", 0)], [("Berlin ist weit.", "final", 30)]],
    ),
    # a closing abbreviation before a capitalised word ends the sentence
    (
        PLAIN,
        ["We met at 5 p.m. Xavier was late."],
        [[("We met at 5 p.m.", "sentence", 0)], [("Xavier was late.", "final", 17)]],
    ),
    # a 16-letter word after an abbreviation is decided without waiting
    (
        PLAIN,
        ["It is 5 p.m. Abcdefghijklmnop", " is late."],
        [[("It is 5 p.m.", "sentence", 0)], [], [("Abcdefghijklmnop is late.", "final", 13)]],
    ),
    # p.m. before I ends the sentence
    (
        PLAIN,
        ["We met at 5 p.m. I was late."],
        [[("We met at 5 p.m.", "sentence", 0)], [("I was late.", "final", 17)]],
    ),
    # etc. before a two-letter acronym goes on
    (
        PLAIN,
        ["We sell tea etc. UK shops too."],
        [[], [("We sell tea etc. UK shops too.", "final", 0)]],
    ),
    # X is not white space before a unit
    (
        PLAIN,
        ["It takes 5X h. Berlin is far."],
        [[], [("It takes 5X h. Berlin is far.", "final", 0)]],
    ),
    # z. B. at the start of the buffer is never an end
    (PLAIN, ["z. B. Das ist gut."], [[], [("z. B. Das ist gut.", "final", 0)]]),
    # e. g. in a long sentence (the previous token within reach)
    (
        PLAIN,
        ["Bring a snack, e. g. An apple or a pear."],
        [[], [("Bring a snack, e. g. An apple or a pear.", "final", 0)]],
    ),
    # e. g. at the sentence start
    (PLAIN, ["e. g. An apple."], [[], [("e. g. An apple.", "final", 0)]]),
    # e. g. after an opening bracket
    (
        PLAIN,
        ["Bring a snack (e. g. An apple) now."],
        [[], [("Bring a snack (e. g. An apple) now.", "final", 0)]],
    ),
    # more than 64 blank characters between two newlines are no paragraph break
    (
        PLAIN,
        ["Line one\n" + " " * 65 + "\nLine two"],
        [[("Line one", "sentence", 0)], [("Line two", "final", 75)]],
    ),
    # a one-letter line of a list
    (
        PLAIN,
        ["Item A\nX\nItem B"],
        [[("Item A", "sentence", 0), ("X", "sentence", 7)], [("Item B", "final", 9)]],
    ),
    # 64 spaces after a newline: the next visible character is too far
    (
        PLAIN,
        ["Flour\n" + " " * 64 + "sugar"],
        [[("Flour", "sentence", 0)], [("sugar", "final", 70)]],
    ),
    # a no-break space after a list line
    (PLAIN, ["Flour\n\xa0"], [[("Flour", "sentence", 0)], []]),
    # a bullet after a long first line
    (
        {},
        [
            "This first line is a rather long one and"
            + " it has more than sixty chars\n• an item "
            + "here"
        ],
        [
            [
                ("This first line is a rather long one and" + " it has more", "forced", 0),
                ("than sixty chars", "sentence", 53),
            ],
            [("• an item here", "final", 70)],
        ],
    ),
    # (a) (b) (c) labels with brackets
    (
        PLAIN,
        ["(a) red (b) green (c) blue"],
        [[("(a) red", "sentence", 0), ("(b) green", "sentence", 8)], [("(c) blue", "final", 18)]],
    ),
    # a) b) labels are sentences
    (PLAIN, ["a) red b) green"], [[("a) red", "sentence", 0)], [("b) green", "final", 7)]]),
    # a label token is at most 6 characters
    (
        PLAIN,
        ["******1) Item one 2) Item two"],
        [[], [("******1) Item one 2) Item two", "final", 0)]],
    ),
    # first clause: a year before a comma is a number, the next word is not
    (
        {},
        ["It was in 2024, and we went there."],
        [[("It was in 2024,", "clause", 0)], [("and we went there.", "final", 16)]],
    ),
    # first clause: decided as soon as the next word is there
    (
        {},
        ["It was in 2024, and we"],
        [[("It was in 2024,", "clause", 0)], [("and we", "final", 16)]],
    ),
    # first clause: no cut between two numbers far into the text
    (
        {},
        ["x" * 70 + " 3, 5 and more, words"],
        [[("x" * 70 + " 3, 5 and more,", "clause", 0)], [("words", "final", 86)]],
    ),
    # first clause: 64 spaces between two numbers
    (
        {},
        ["We got 3," + " " * 64 + "5 and more, words"],
        [[("We got 3,", "clause", 0)], [("5 and more, words", "final", 73)]],
    ),
    # first clause: the number before a comma counts as a word
    (
        {},
        ["Numbers 1, 2, 3, 4, done, ok"],
        [[("Numbers 1, 2, 3, 4,", "clause", 0)], [("done, ok", "final", 20)]],
    ),
    # first clause: one word and a number
    (
        {},
        ["One 1, two, three four."],
        [[("One 1, two,", "clause", 0)], [("three four.", "final", 12)]],
    ),
    # the line after a clause cut at a newline is measured from its own start
    (
        {},
        ["Yes, I know,\n" + "w" * 50 + "\nNext"],
        [[("Yes, I know,", "clause", 0), ("w" * 50, "sentence", 13)], [("Next", "final", 64)]],
    ),
    # a no-break space after a sentence end at a newline, at flush
    (PLAIN, ["Done!\n\xa0"], [[], [("Done!", "final", 0)]]),
    # more than 64 spaces between two newlines after a long line
    (
        PLAIN,
        ["w" * 61 + "\n" + " " * 65 + "\nNext"],
        [[("w" * 61, "sentence", 0)], [("Next", "final", 128)]],
    ),
    # an elision of 33 dots in brackets
    (
        PLAIN,
        ["See (" + "." * 33 + ") Next one."],
        [[("See (" + "." * 33 + ")", "sentence", 0)], [("Next one.", "final", 40)]],
    ),
    # 33 dots
    (
        PLAIN,
        ["Wait" + "." * 33 + " Next one."],
        [[("Wait" + "." * 33, "sentence", 0)], [("Next one.", "final", 38)]],
    ),
    # 33 ellipsis characters glued to a word
    (
        PLAIN,
        ["Wait" + "…" * 33 + "x"],
        [[("Wait" + "…" * 32, "sentence", 0)], [("…x", "final", 36)]],
    ),  # first clause: the character right after an empty first line is read (here: counted)
    (
        {"first_min_words": 2},
        ["\n你好，我们走吧。"],
        [[("你好，", "clause", 1)], [("我们走吧。", "final", 4)]],
    ),
    # max_chars: four spaces after a comma between numbers do not make the cut a clause end,
    # so the cut runs on to the semicolon past the limit
    (
        {"first_clause": False, "min_chars": 0, "max_chars": 200},
        ["a" * 190 + " 3," + " " * 5 + "5" + "b" * 10 + "; rest of it."],
        [
            [],
            [
                ("a" * 190 + " 3," + " " * 5 + "5" + "b" * 10 + ";", "forced", 0),
                ("rest of it.", "final", 211),
            ],
        ],
    ),  # a short sentence held for the minimum is sent when a blank line follows it
    (
        {"first_clause": False},
        ["A long first sentence here. Ok." + " " * 64 + "\n\nNext one."],
        [
            [("A long first sentence here.", "sentence", 0), ("Ok.", "sentence", 28, True)],
            [("Next one.", "final", 97)],
        ],
    ),
    # Japanese: a Latin letter after the closing quote starts a new sentence (only と/っ go on)
    (
        PLAIN,
        ["「はい。」Xさんは言った。"],
        [[("「はい。」", "sentence", 0)], [("Xさんは言った。", "final", 5)]],
    ),
    # 64 blanks after a terminator end the sentence without reading the next word (a title)
    (
        PLAIN,
        ["Ask Dr." + " " * 64 + "Smith now."],
        [[("Ask Dr.", "sentence", 0)], [("Smith now.", "final", 71)]],
    ),
    # ... and do not wait for more input
    (PLAIN, ["Hi." + " " * 65], [[("Hi.", "sentence", 0)], []]),
    # e. g. far into a sentence: the previous token is still read
    (
        PLAIN,
        ["Please bring a small snack, e. g. An apple or a pear."],
        [[], [("Please bring a small snack, e. g. An apple or a pear.", "final", 0)]],
    ),
    # first clause: never between two numbers, also far into the text
    (
        {},
        ["x" * 70 + " a b 3, 5 and more, words"],
        [[("x" * 70 + " a b 3, 5 and more,", "clause", 0)], [("words", "final", 90)]],
    ),
    # cut(): the sentence taken ends at its terminator; the next text starts right after it
    (
        {},
        ["Is it?", None, "Next one."],
        [[], [("Is it?", "sentence", 0)], [], [("Next one.", "final", 6)]],
    ),  # max_chars=40 runs on max_chars // 8 = 5 characters to a sentence end
    (
        {"first_clause": False, "min_chars": 0, "max_chars": 40},
        ["aaaa bbbb cccc dddd eeee ffff gggg hhhh iiiii. More words here"],
        [
            [("aaaa bbbb cccc dddd eeee ffff gggg hhhh iiiii.", "sentence", 0)],
            [("More words here", "final", 47)],
        ],
    ),
    # cut() while the scan waits just past the limit for a clause mark
    (
        {"first_clause": False, "min_chars": 0, "max_chars": 40},
        ["aaaa bbbb cccc dddd eeee ffff gggg hhhh iii", None],
        [[], [("aaaa bbbb cccc dddd eeee ffff gggg hhhh", "forced", 0)], [("iii", "final", 40)]],
    ),
    # first clause: the character right after a bullet is read (here: counted)
    (
        {"first_min_words": 2},
        ["•你好，我们走吧。"],
        [[("•你好，", "clause", 0)], [("我们走吧。", "final", 4)]],
    ),
    # first clause, word limit in Chinese: right after a particle, without waiting for a later one
    (
        {"first_max_words": 4},
        ["一二三四五六七的八九了十百千"],
        [[("一二三四五六七的", "forced", 0)], [("八九了十百千", "final", 8)]],
    ),
    # ... and decided in the same feed() once the three characters after it are there
    (
        {"first_max_words": 4},
        ["一二三四五六七八九十百"],
        [[("一二三四五六七八", "forced", 0)], [("九十百", "final", 8)]],
    ),
    # ... and waits for them in feed() (a particle may come: here 的, so the cut moves after it)
    (
        {"first_max_words": 4},
        ["一二三四五六七八九", "的十百"],
        [[], [("一二三四五六七八九的", "forced", 0)], [("十百", "final", 10)]],
    ),
    # cut() before anything was fed
    ({}, [None], [[], []]),
]


def _run(options: dict[str, Any], calls: list[str | None]) -> list[list[Segment]]:
    seg = Segmenter(**options)
    out = [seg.cut() if call is None else seg.feed(call) for call in calls]
    out.append(seg.flush())
    return out


@pytest.mark.parametrize(("options", "calls", "expected"), CASES)
def test_segmenter_edge_case(
    options: dict[str, Any], calls: list[str | None], expected: list[list[Expected]]
) -> None:
    index = iter(range(1000))
    want = [
        [Segment(e[0], e[1], next(index), len(e) == 4, e[2], e[2] + len(e[0])) for e in call]
        for call in expected
    ]
    assert _run(options, calls) == want
