"""What is spoken for angle brackets (tags, autolinks, text), bare URLs, emphasis and link
openers that wait for their closer (160 characters), and the space left where something was
removed. Every case is fed whole, one character at a time, in random deltas and split in two
at every position."""

from __future__ import annotations

import pytest

from bridge.text import Scrubber, ScrubberOptions
from tests.test_text_scrubber_math import scrub


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a <", "a <"),
        ("a <1 b", "a <1 b"),
        ("a <3 b", "a <3 b"),
        ("a < b", "a < b"),
        ("<b>a</b>", "a"),
        ("a <!-- c --> b", "a b"),  # the spaces around a removed tag collapse to one
        ("a <!DOCTYPE html> b", "a <!DOCTYPE html> b"),  # attributes need an "="
        ("a <a href='x'>b</a> c", "a b c"),
        ("a <b\n> c", "a <b\nc"),  # a tag does not cross a line (the next is a quote)
        ("a <b", "a <b"),
        ("a <b c=\n'd'> e", "a <b c=\n'd'> e"),
        ("a <1@x.org> b", "a <1@x.org> b"),  # "<" then no letter, "/" or "!": text
        ("x" * 300 + " <b>c</b> d", "x" * 300 + " c d"),
        ("a <br> b", "a b"),  # a line break becomes one space
        ("a<br>b", "a b"),
        ("a<br/>.", "a."),
        ("<br>a", "a"),
        ("a <br>", "a"),
        ("a <https://x.org/p> b", "a x.org b"),  # an autolink is read as its host
        ("a <HTTPS://x.org> b", "a x.org b"),
        ("a <me@x.org> b", "a me@x.org b"),
        ("a <think>x</think> b", "a b"),
        ("<think>x</think>", ""),
    ],
)
def test_angle_brackets(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a tag at the edge of a word, with the space inside it: one space is spoken
        ("a <b> bold</b> word", "a bold word"),
        ("a <b>bold </b> word", "a bold word"),
        ("a <b> bold </b> word", "a bold word"),
        ("a <b> </b> word", "a word"),
        ("a <i>x</i> <u>y</u> b", "a x y b"),
        ("a <img src='x.png'> b", "a b"),
        ("a\t<b>\tb", "a\tb"),
        ("Say <b> hi </b>!", "Say hi!"),  # no space before punctuation either
        ("Hi <b>there </b>", "Hi there"),  # nor at the end
        ("<b> Hi</b>", "Hi"),  # nor at the start
        ("a<b>b</b>c", "abc"),  # glued stays glued
        ("a <b>b</b> c", "a b c"),
        ("a\n<b> b</b>", "a\nb"),
    ],
)
def test_a_removed_tag_leaves_one_space(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_a_tag_ends_within_256_characters() -> None:
    assert scrub("a <a title='" + "x" * 244 + "'> c") == "a c"
    long = "a <a title='" + "x" * 245 + "'> c"
    assert scrub(long) == long


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://x.org/a/b c", "see x.org c"),
        ("see https://x.org", "see x.org"),
        ("see https://x.org/", "see x.org"),
        ("see http://x.org:8080/p c", "see x.org c"),  # a port
        ("see http://x.org:80 d", "see x.org d"),
        ("see http://x.org:a d", "see x.org:a d"),  # a colon, not a port
        ("see http://x.org:", "see x.org:"),
        ("see www.x.org: yes", "see x.org: yes"),
        ("see http://x.org# d", "see x.org d"),
        ("see http://x.org?q d", "see x.org d"),
        ("see www.x.org.", "see x.org."),  # the sentence's full stop stays
        ("see www.x-y_.org", "see x-y_.org"),
        ("see xwww.x.org", "see xwww.x.org"),  # inside a word: no URL
        ("see a.www.x.org", "see a.www.x.org"),
        ("see w now", "see w now"),
        ("see h now", "see h now"),
        ("see ww", "see ww"),  # what might have begun a URL is text at the end
        ("see h", "see h"),
        # the path goes; its trailing punctuation and an unopened ")" stay
        ("see https://x.org/a_(b)_c) d", "see x.org) d"),
        ("see https://x.org/a((b)) d", "see x.org d"),
        ("see https://x.org/(a)) d", "see x.org) d"),
        ("see https://x.org/AXB_c d", "see x.org d"),
        ("see https://x.org/a.(. d", "see x.org. d"),  # only the punctuation after "(" stays
        ("see https://x.org/(a.). d", "see x.org. d"),
        ("see www.x.org/a?b=(c) d", "see x.org d"),
        ("see https://x.org/a. d", "see x.org. d"),
        ("see https://x.org/a?! d", "see x.org?! d"),
        ("see https://x.org/a(b. d", "see x.org. d"),
        ("see http://x.org/a' d", "see x.org' d"),
        ("see http://x.org/a'b d", "see x.org d"),
        ('see http://x.org/a"). d', 'see x.org"). d'),
        ("see [x](u) https://x.org/a]b", "see x x.org]b"),
        ("see `https://x.org/a b` d", "see x.org b d"),  # inside code too
        ("see http://x.org? d", "see x.org? d"),
        ("see https://. d", "see . d"),
        ("x" * 300 + " www.example.org/path d", "x" * 300 + " example.org d"),
        ("see https://SPACEX/launch now", "see SPACEX now"),  # only ".-_" end a host early
    ],
)
def test_bare_urls_are_read_as_their_host(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a **b *c* d** e", "a b c d e"),
        ("a *b **c** d* e", "a b c d e"),
        ("a **b _c** d_ e", "a b _c d_ e"),  # the "_" opened inside is unmatched: text
        ("a ** b ** c", "a ** b ** c"),
        ("a _b_ c", "a b c"),
        ("a _b c", "a _b c"),
        ("é_x_é", "é_x_é"),  # "_" inside a word, also a non-ASCII one, is no emphasis
        ("a **b", "a b"),  # an unmatched "**" is dropped, "*" kept
        ("a *b", "a *b"),
        ("a **b** c **d", "a b c d"),
        ("a ~~b~~ c", "a b c"),
        ("a ~~b c", "a b c"),
        ("a [b](u) [c](v) d", "a b c d"),
        ("a [b] (u) c", "a [b] (u) c"),
        ("a [b **c](u) d", "a b c d"),  # the link closes what opened inside it
        ("a ![b **c](u) d", "a d"),
        ("a [[b](u)] c", "a [b] c"),
        ("a ![b](u)! c", "a! c"),
        ("a ![b](u) , c", "a, c"),
        ("a ![b] c", "a ![b] c"),
        ("a ] b", "a ] b"),
        ("a [", "a ["),
        ("a [b]", "a [b]"),
        ("a [^1", "a [^1"),  # not a footnote reference
        ("a ***** b", "a ***** b"),  # a run of 4 or more is text
        ("a **** b", "a **** b"),
        ("a ****** b", "a ****** b"),
        ("a **** b *c* d", "a **** b c d"),  # ... and only that run
        ("a ******b** c", "a ******b c"),
        ("x ______a__", "x ______a__"),  # the literal run goes on across deltas
        ("a *", "a *"),
        ("a ~b~ c", "a ~b~ c"),  # one "~" is no strikethrough, nor are three
        ("a ~~~b c", "a ~~~b c"),
        ("a ~~~~~ b", "a ~~~~~ b"),
        ("x *a [b* c](u) d", "x *a b* c d"),  # emphasis does not close across a link
        ("x *a] b* c", "x a] b c"),  # "]" with no "[" open is text
        ("x _a **b c_ d", "x a b c d"),  # the "**" opened inside is unmatched: dropped
        ("*_[](u)_*\n# H", "H"),
        ("x *a [b](u) c* d", "x a b c d"),  # a link inside emphasis
        ("a [b](c\nd e", "a b\nd e"),  # a link target ends with its line
        ("[\nb", "[\nb"),
        # nothing spoken yet: the output does not start with a blank line
        ("*[](u)*\n# H", "H"),
        ("**[](u)**\nx", "x"),
    ],
)
def test_openers_and_closers(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_an_opener_waits_160_characters_for_its_closer() -> None:
    b159, b160 = "b" * 159, "b" * 160
    # the space before a removed emoji is not counted once it goes
    b100, b58, b59 = "b" * 100, "b" * 58, "b" * 59
    assert scrub(f"a *{b100} 🎉!{b58}* c") == f"a {b100}!{b58} c"
    assert scrub(f"a *{b100} 🎉!{b59}* c") == f"a *{b100}!{b59}* c"
    assert scrub(f"a *{b159}* c") == f"a {b159} c"
    assert scrub(f"a *{b160}* c") == f"a *{b160}* c"
    assert scrub(f"a [{b159}](u) c") == f"a {b159} c"
    assert scrub(f"a [{b160}](u) c") == f"a [{b160}](u) c"
    assert scrub(f"a ![{b160}](u) c") == f"a ![{b160}](u) c"
    assert scrub(f"a **{b160}** c") == f"a {b160} c"  # an unmatched "**" is dropped anyway


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a 🎉🎉 b", "a b"),
        ("a🎉b", "a b"),
        ("🎉 a", "a"),
        ("a 🎉, b", "a, b"),
        ("FIX 🎉! ok", "FIX! ok"),
        ("a 🎉 Xy", "a Xy"),
        ("a 🎉b", "a b"),
        ("Done ©️", "Done"),  # a text symbol with the emoji selector
        ("a\r\nb", "a\nb"),
        ("a\rb", "a b"),  # a lone carriage return does not glue two words
        ("a \r b", "a b"),
        ("a\r", "a"),
        ("a🎉(b", "a(b"),
        ("  \n# H", "H"),  # spaces alone do not start the output
        ("  Hello", "Hello"),  # an indented first line is spoken (it is no footnote)
        # a run of emoji of any length leaves one space between words
        ("Done" + "🎉" * 15 + "Next", "Done Next"),
        ("Done" + "🎉" * 16 + "Next", "Done Next"),
        ("Done" + "🎉" * 17 + "Next", "Done Next"),
        ("Done" + "🎉" * 32 + "Next", "Done Next"),
        ("Done " + "🎉" * 16, "Done"),
        # the reply ends after a removed item: no space is left at its end
        ("Done 🎉", "Done"),
        ("Done 🎉 ", "Done"),
        ("a *b* 🎉", "a b"),
        ("See ![a](b.png)", "See"),
        ("a [^1]", "a"),
        # nothing spoken yet: a removed item leaves no space at the start either
        ("![a](b.png) x", "x"),
        ("**🎉 `x`**", "x"),
        ("x \\alpha", "x"),
        ("## Title ##", "Title"),
        # ... but a space the reply itself ends with is kept
        ("Hello ", "Hello "),
        ("a **b** ", "a b "),
    ],
)
def test_the_space_around_a_removed_item(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_reasoning_closed_without_an_opener_leaves_no_trace() -> None:
    # a "</think>" early in the reply: what came before it was reasoning
    reasoning = "The user wants a greeting.\n</think>\n\nHello there."
    assert scrub(reasoning, think_window=256) == "Hello there."
    assert scrub("plan</think>🎉Hi", think_window=256) == "Hi"
    assert scrub("plan</think>\n# Hi\nthere", think_window=256) == "Hi\n\nthere"


def test_closing_hashes_wait_for_the_end_of_the_line_however_long_the_delta() -> None:
    title = "Title " + "x" * 60
    assert scrub(f"# {title} ## X\nNext") == f"{title} ## X\n\nNext"
    assert scrub(f"# {title} ##\nNext") == f"{title}\n\nNext"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a `b\nc` d", "a b\nc d"),  # a code span ends with its line
        ("a `b\r\nc` d", "a b\nc d"),
        ("see `www", "see www"),  # the end of the reply inside an open code span
        ("see `ht", "see ht"),
        ("see `www.x.org", "see x.org"),
    ],
)
def test_inline_code(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_a_closing_think_tag_with_no_opener_counts_within_the_window() -> None:
    # "</think>" starting before character 256 (think_window) drops what came before it
    assert scrub("x" * 255 + "</think>Hi", think_window=256) == "Hi"
    assert scrub("x" * 256 + "</think> Hi", think_window=256) == "x" * 256 + " Hi"
    # after a "<think>" block, a stray closing tag is only a tag
    assert scrub("<think>a</think>Hi.</think> There.", think_window=256) == "Hi. There."
    # ... and so is a second one after a closing tag with no opener
    assert scrub("plan</think>Hi.</think> There.", think_window=256) == "Hi. There."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**A**\nB", "A\n\nB"),  # a line entirely bold is a heading
        ("**A** X\nB", "A X\nB"),  # not with text after the bold part
        ("**A** and **B**\nC", "A and B\nC"),
        ("~~A~~\nB", "A\nB"),  # struck-through text is no heading
    ],
)
def test_a_bold_line_is_a_heading(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_feed_takes_only_text() -> None:
    with pytest.raises(TypeError, match=r"^feed\(\) takes str, not int$"):
        Scrubber().feed(5)  # type: ignore[arg-type]


def test_a_closing_run_of_a_heading_is_at_most_64_characters_however_it_is_split() -> None:
    # 64 "#" (or "#" and spaces) before the line's end are dropped; a 65th makes the run
    # text, also when a delta ends just after the 64th
    for run in ("#" * 64, "#" * 61 + "   "):
        assert scrub(f"## T {run}\nx") == "T\n\nx"
    for run in ("#" * 65, "#" * 62 + "   "):
        assert scrub(f"## T {run}\nx") == f"T {run}\n\nx"


def test_a_url_host_is_at_most_256_characters_however_it_is_split() -> None:
    # a path after a 256-character host is dropped, also when a delta ends just after the
    # host; after a longer one the rest is text (no scan without end)
    host256, host257 = "a" * 256, "a" * 257
    assert scrub(f"see https://{host256}/p d") == f"see {host256} d"
    assert scrub(f"see https://{host257}/p d") == f"see {host257}/p d"
    assert scrub(f"see www.{host256[4:]}/p d") == f"see {host256[4:]} d"


def test_a_line_start_still_undecided_when_the_reply_ends_is_spoken() -> None:
    # "1." might have become a list item, "[^1" a footnote: at the end they are text
    assert scrub("a\n1.") == "a\n1."
    assert scrub("a\n[^1") == "a\n[^1"


def test_a_line_that_starts_like_a_closing_fence_waits_for_its_end() -> None:
    # "```js" inside a fence closes nothing, also when a delta ends after the "```"
    assert scrub("```\ncode\n```js\nmore\n```\nafter") == "after"
    assert scrub("```\ncode\n```  \nafter") == "after"


def test_a_line_head_is_decided_as_soon_as_its_newline_is_there() -> None:
    scrubber = Scrubber()
    assert scrubber.feed("Hello.\n") == "Hello.\n"
    assert scrubber.feed("\nWorld. More") == "\nWorld. More"  # a delta starting a blank line
    assert scrubber.feed("\n# Title\nNext") == "\n\nTitle\n\nNext"
    assert scrubber.flush() == ""


def test_feed_holds_back_only_the_spaces_at_the_end() -> None:
    # the last word of a delta is final (whatever its letters); the spaces after it wait
    scrubber = Scrubber()
    assert scrubber.feed("Press X") == "Press X"
    assert scrubber.feed(" or XX \t") == " or XX"
    assert scrubber.feed("now") == " \tnow"
    assert scrubber.flush() == ""


def test_text_is_released_once_the_think_window_has_passed() -> None:
    # a "</think>" starting at character 4 or later drops nothing: "abcd" is final then
    scrubber = Scrubber(think_window=4)
    assert scrubber.feed("abc") == ""
    assert scrubber.feed("d") == "abcd"
    assert scrubber.feed("</think>e") == "e"
    assert scrubber.flush() == ""


def test_the_options_given_are_used_with_their_overrides() -> None:
    options = ScrubberOptions(code_placeholder="some code", tables="drop")
    assert Scrubber(options).feed("```\nx\n```\n| a |\nb") == "some code\n\nb"
    # an override replaces one field and keeps the others
    scrubber = Scrubber(options, code_placeholder="code")
    assert scrubber.feed("```\nx\n```\n| a |\nb") == "code\n\nb"


def test_a_line_is_classified_by_its_first_64_characters() -> None:
    # HEAD_LIMIT: 64 rule characters make the line a rule, whatever follows them and
    # however the deltas are cut (the newline is not looked for further)
    assert scrub("a\n" + "-" * 64 + "x\nb") == "a\n\nb"
    assert scrub("a\n" + "- " * 32 + "x\nb") == "a\n\nb"
    # a closing fence with many spaces after it closes the block at its 64th character,
    # without waiting for the newline (or the end of the reply)
    scrubber = Scrubber()
    assert scrubber.feed("```\ncode\n```" + " " * 70 + "\nmore text") == "more text"
    assert scrubber.flush() == ""


def test_a_footnote_line_indented_by_64_spaces_or_more_is_part_of_the_definition() -> None:
    # its first 64 characters are blank: indented, so dropped with the definition
    assert scrub("a\n\n[^1]: n\n" + " " * 70 + "x\nb") == "a\n\nb"
    assert scrub("a\n\n[^1]: n\n" + " " * 63 + "x\nb") == "a\n\nb"


def test_table_rows_at_the_end_indented_or_long() -> None:
    assert scrub("x\n| a | b |") == "x\n\na, b"  # the reply's last line
    assert scrub("x\n  | a | b |\ny") == "x\n\na, b\n\ny"  # indented
    assert scrub("x\n> | a | b |\ny") == "x\n\na, b\n\ny"  # quoted
    # a row is read up to its 2000th character (_ROW_LIMIT); the rest of the line is text
    assert scrub("x\n| " + "a" * 2100 + " |\ny") == "x\n\n" + "a" * 2100 + " |\n\ny"
    # a row starting far into a delta still waits for its end
    scrubber = Scrubber()
    text = scrubber.feed("t" * 1990 + "\n| a") + scrubber.feed(" | b |\ny") + scrubber.flush()
    assert text == "t" * 1990 + "\n\na, b\n\ny"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the markup of a quoted line is found after any white space following ">", as it
        # is on a line that is not quoted ("  # T")
        ("a\n>  # T\nb", "a\n\nT\n\nb"),
        ("a\n>  - x\nb", "a\n\nx\nb"),
        ("a\n>  ***\nb", "a\n\nb"),
        ("a\n> \t***\nb", "a\n\nb"),
        ("a\n>   ```\ncode\n```\nb", "a\n\nb"),
        ("a\n> > \t1. x\nb", "a\n\nx\nb"),
    ],
)
def test_white_space_after_a_quote_marker(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # up to 16 backticks are one delimiter run, and a span closes on a run of its length
        ("a " + "`" * 15 + "x" + "`" * 15 + " b", "a x b"),
        ("a " + "`" * 16 + "x" + "`" * 16 + " b", "a x b"),
        # a longer run is a run of 16, then the rest: 17 open a span of 16 whose text starts
        # with the 17th; of the closing 17, 16 close it and the 17th opens a span of one
        ("a " + "`" * 17 + "x" + "`" * 17 + " b", "a `x b"),
        ("a " + "`" * 17 + " b", "a ` b"),
        ("a " + "`" * 16 + "x" + "`" * 17 + " b", "a x b"),
        # inside a span of one: 16 backticks are its text; of 17, the 17th closes it
        ("a `x" + "`" * 16 + "y` b", "a x" + "`" * 16 + "y b"),
        ("a `x" + "`" * 17 + "y` b", "a x" + "`" * 16 + "y b"),
    ],
)
def test_a_backtick_run_is_read_at_most_16_at_a_time(text: str, expected: str) -> None:
    # whole, one character at a time, in random deltas and split in two at every position
    assert scrub(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Hello there", "Hello there"),  # an indented first line
        ("` a` b", "a b"),  # inline code that starts with a space
        ("`  ` x", "x"),
        ("`\t`x y", "x y"),
        ("` \u00a0`x y", "x y"),
        ("`\n` x y", "x y"),
        ("*` `* x", "x"),
        ("[ a](https://x.org) b", "a b"),  # a link whose text starts with a space
        ("- ` ` x y", "x y"),  # the markup of a list item, then blank code
        ("1. ` `x y", "x y"),
        ("> \t x", "x"),
        ("\u00a0x y", "x y"),  # white space that is no indentation
        ("\u3000你好", "你好"),
        ("<think>t</think>` a` b", "a b"),  # the reply after a reasoning block
        ("` `", ""),  # nothing but white space
        ("x` b`", "x b"),  # after the first word, white space in code stays
    ],
)
def test_a_reply_never_starts_with_white_space(text: str, expected: str) -> None:
    # whole, one character at a time, in random deltas and split in two at every position
    assert scrub(text) == expected


def test_a_fence_is_as_long_as_its_whole_run_however_it_is_split() -> None:
    # "````" is closed only by four backticks or more, also when a delta ends after the third
    assert scrub("````\ncode\n```\nmore\n````\nafter") == "after"
    assert scrub("a\n````\ncode\n```\n z") == "a\n\n"  # the block goes on to the end
    assert scrub("~~~~\ncode\n~~~\n~~~~\nafter") == "after"


@pytest.mark.parametrize(
    "text", ["[🎉 x] y", "_<br>Hello", "*🎉 x", "![🎉 x", "[<b> x", "(🎉 x) y"]
)
def test_the_start_of_a_reply_is_spaced_as_its_middle(text: str) -> None:
    # only white space before the first character is dropped: an opener kept as text, then
    # a removed item, keep the space after it there as anywhere else
    assert "a " + scrub(text) == scrub("a " + text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # an opener still open is no text yet: the spaces around an item removed right after
        # it collapse as after the text before it
        ("a **🎉 Party** y", "a Party y"),
        ("a [🎉 Party](https://x.org) y", "a Party y"),
        ("a ~~🎉 x~~ y", "a x y"),
        ("a *🎉 x* y", "a x y"),
        ("a **<br> x** y", "a x y"),
        ("I like **🎉 parties**, really.", "I like parties, really."),
        # a "**" or "~~" still open goes in any case: no space is left before punctuation
        ("a ~~**🎉**, x~~ z", "a, x z"),
        ("a [🎉 x y", "a [ x y"),  # "[" kept as text: spaced as text
    ],
)
def test_the_spaces_around_an_item_removed_right_after_an_opener(text: str, expected: str) -> None:
    assert scrub(text) == expected


_REMOVED = ["🎉", "✅", "``", "<b>", "<br>", "<!-- c -->", "![i](u)", "$x$", "[^1]", "\\alpha"]


@pytest.mark.parametrize("opener", ["[", "_", "*", "!["])
@pytest.mark.parametrize("item", _REMOVED)
@pytest.mark.parametrize("form", ["a {o}{i} b", "a {o}{i}b", "{o}{i} b", "a {o}{i}, b", "a {o}{i}"])
def test_an_opener_kept_as_text_is_spaced_as_text(opener: str, item: str, form: str) -> None:
    """An opener that is never closed is text, and the spaces around an item removed right
    after it are those after any text ("a [🎉 b" -> "a [ b", as "a %🎉 b" -> "a % b"): the
    space that is left out while the opener might still be markup goes back."""
    text = form.format(o=opener, i=item)
    assert scrub(text) == scrub(text.replace(opener, "%", 1)).replace("%", opener, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a [🎉 b](u) c", "a b c"),  # the opener was markup: the space stays out
        ("a *🎉 b* c", "a b c"),
        ("a **[🎉 b** c", "a [ b c"),  # "[" text inside bold
        ("a [**🎉 b** c", "a [ b c"),  # bold inside "[" text
        ("a [*🎉 b c", "a [* b c"),  # two openers, both text
        ("a [🎉 ]", "a []"),  # no space before a closing bracket
        ("a [🎉 <b>, x", "a [, x"),  # nor before punctuation
        ("a [🎉 [x](u) y", "a [ x y"),
        ("a [🎉", "a ["),
        ("a [🎉 ", "a ["),
    ],
)
def test_the_space_after_an_opener_goes_back_only_if_it_is_text(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_the_openers_inside_a_closed_one_are_resolved_with_it() -> None:
    # "~~" left open inside closed bold, or a link's text, goes; "_" stays as text
    assert scrub("a **x ~~y _z** w") == "a x y _z w"
    assert scrub("a [x ~~y _z](https://x.org) w") == "a x y _z w"


def test_only_the_spaces_right_after_a_removed_item_collapse() -> None:
    # inline code after a removed item keeps its white space as written
    assert scrub("Run 🎉 `x  =  1` now") == "Run x  =  1 now"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("say ` a` now", "say a now"),  # padding inside the span
        ("say `a ` now", "say a now"),
        ("a `` b", "a b"),  # an empty span
        ("a ` b", "a b"),  # a span never closed
        ("x " + "`" * 32 + " y", "x y"),  # two runs of the 16-backtick cap
        ("Use `ls` , then", "Use ls, then"),  # no space left before punctuation
        ("Run `make`.", "Run make."),
        ("`x` y", "x y"),
        ("a `b` c", "a b c"),  # nothing else moves
    ],
)
def test_backticks_that_go_leave_no_double_space(text: str, expected: str) -> None:
    """A code span's backticks go like any removed markup: the spaces around them, in or
    out of the span, collapse to one, whatever the delta split."""
    for cut in range(len(text) + 1):
        s = Scrubber()
        assert s.feed(text[:cut]) + s.feed(text[cut:]) + s.flush() == expected, cut
    assert scrub(text) == expected
