"""Scrubber behaviour: markdown, code, tables, links, URLs, emoji, tags, think blocks."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.core.errors import ConfigError
from bridge.text import Scrubber


def scrub(text: str, **options: Any) -> str:
    """Scrub ``text`` whole and one character at a time; both must agree."""
    whole = Scrubber(**options)
    a = whole.feed(text) + whole.flush()
    single = Scrubber(**options)
    b = "".join(single.feed(ch) for ch in text) + single.flush()
    assert a == b
    return a


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Here is **bold** and __strong__ text.", "Here is bold and strong text."),
        ("Here is *em* and _em_ and ***both***.", "Here is em and em and both."),
        ("This is ~~wrong~~ right.", "This is wrong right."),
        ("Run `pip install x` now.", "Run pip install x now."),
        ("Use ``a `tick` here`` ok.", "Use a `tick` here ok."),
        ("中文**粗体**测试，还有`代码`。", "中文粗体测试，还有代码。"),
        ("**Note:** it works.", "Note: it works."),
        ("Use \\*literal\\* stars.", "Use *literal* stars."),
    ],
)
def test_inline_markup(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Call my_var_name or snake_case_function() from a_b_c.py please.",
        "Compute 2*3 and 2 * 3 and a*b and 2**8 today.",
        "Prices are $5.00, $1,299.99 and 3.5% off.",
        "Open /usr/local/bin, ~/notes.md, C:\\Users\\me\\file.txt or ./run.sh now.",
        "Match *.txt and file*.txt but not _private or __init__.py files.",
        "Write to jane.doe@example.com or me@x.org today.",
        "a < b and c > d, x<y too.",
        "Single ~tilde and lone * star.",
    ],
)
def test_never_mangled(text: str) -> None:
    assert scrub(text) == text


def test_markers_split_across_deltas() -> None:
    scrubber = Scrubber()
    parts = ["Here is *", "*bo", "ld*", "* and [li", "nk](https://exa", "mple.com) done."]
    out = "".join(scrubber.feed(p) for p in parts) + scrubber.flush()
    assert out == "Here is bold and link done."


def test_headings_and_list_items_become_paragraphs() -> None:
    text = (
        "## Overview\nIntro text:\n\n1. **Install** it\n2) Configure it\n"
        "- dash\n* star\n+ plus\n• dot\n- [x] done"
    )
    assert scrub(text) == (
        "Overview\n\nIntro text:\n\nInstall it\n\nConfigure it\n\n"
        "dash\n\nstar\n\nplus\n\ndot\n\ndone"
    )


def test_not_list_or_heading() -> None:
    assert scrub("#hashtag and #1 priority\n-5 degrees\n3.5 liters") == (
        "#hashtag and #1 priority\n-5 degrees\n3.5 liters"
    )


def test_rules_quotes_and_setext() -> None:
    assert scrub("Above\n\n---\n\n> quoted **text**\n> more\n\nBelow") == (
        "Above\n\nquoted text\nmore\n\nBelow"
    )
    assert scrub("Title\n=====\nBody.") == "Title\n\nBody."
    assert scrub("***\n* * *\n___") == ""


def test_fenced_code_dropped_or_replaced() -> None:
    text = "Here is code:\n```python\nprint('**not bold**')\n```\nDone.\n~~~\nx\n~~~\nEnd."
    assert scrub(text) == "Here is code:\n\nDone.\n\nEnd."
    assert scrub(text, code_placeholder="Code omitted.") == (
        "Here is code:\n\nCode omitted.\n\nDone.\n\nCode omitted.\n\nEnd."
    )
    assert scrub("Start\n```\nnever closed") == "Start\n\n"


def test_tables_read_or_dropped() -> None:
    text = "Results:\n\n| Name | Age |\n|:---|---:|\n| **Bob** | 5 |\n| Ann | 7 |\n\nAfter."
    assert scrub(text) == "Results:\n\nName, Age\n\nBob, 5\n\nAnn, 7\n\nAfter."
    assert scrub(text, tables="drop") == "Results:\n\nAfter."


def test_links_images_and_urls() -> None:
    assert scrub("See [the docs](https://x.org/a_(b)) and ![logo](img.png) now.") == (
        "See the docs and now."
    )
    assert scrub("Cite [1] and [...] as is.") == "Cite [1] and [...] as is."
    assert scrub("Go to https://www.example.com/path?q=1#f. Or http://x.org:8080/p!") == (
        "Go to example.com. Or x.org!"
    )
    assert scrub("Try www.google.com, or <https://docs.python.org/3/> or <me@x.com>.") == (
        "Try google.com, or docs.python.org or me@x.com."
    )
    assert scrub("(see https://en.wikipedia.org/wiki/Foo_(bar)) and **https://a.io/x**.") == (
        "(see en.wikipedia.org) and a.io."
    )
    assert scrub("Open `http://localhost:8000/app` in a browser.") == (
        "Open localhost in a browser."
    )


def test_emoji_removed() -> None:
    assert scrub("Great job 🎉! Done✅Next. Family 👨‍👩‍👧 ok 👍🏽 1️⃣ 🇨🇳.") == (
        "Great job! Done Next. Family ok 1."
    )


def test_html_tags_and_think_blocks() -> None:
    assert scrub("Text <b>bold</b>, <br> <div class='x'>html</div><!-- note -->.") == (
        "Text bold, html."
    )
    assert scrub("<think>\nreasoning **here**\n```code```\n</think>\n\nThe answer is 42.") == (
        "The answer is 42."
    )
    assert scrub("A<think>hidden</THINK>B <thinking>x</thinking>C") == "AB C"
    assert scrub("<think>never closed") == ""


def test_think_block_split_across_deltas() -> None:
    scrubber = Scrubber()
    parts = ["Hi <thi", "nk>secret</th", "ink", "> there."]
    assert "".join(scrubber.feed(p) for p in parts) + scrubber.flush() == "Hi there."


def test_blank_lines_are_normalised() -> None:
    assert scrub("\n\n\nHello\n\n\n\nWorld\n") == "Hello\n\nWorld\n"


def test_unmatched_openers() -> None:
    assert scrub("A **bold start\nnext line") == "A bold start\nnext line"
    assert scrub("Use *args and **kwargs here.") == "Use *args and kwargs here."
    long_italic = "*" + "word " * 40 + "end*"
    assert scrub(long_italic).startswith("*word")


def test_flush_resets() -> None:
    scrubber = Scrubber()
    scrubber.feed("```\ncode")
    assert scrubber.flush() == ""
    assert scrubber.feed("plain **text**") + scrubber.flush() == "plain text"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"code_placeholder": ""}, "code_placeholder"),
        ({"code_placeholder": "two\nlines"}, "code_placeholder"),
        ({"code_placeholder": 5}, "code_placeholder"),
        ({"tables": "html"}, "tables"),
    ],
)
def test_invalid_options(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        Scrubber(**options)
    assert info.value.field == field


def test_angle_brackets_that_are_not_tags() -> None:
    text = "If x<y and z>w then List<String> and Vec<T> stay; a <= b >= c too."
    assert scrub(text) == text
    assert scrub("E=mc<sup>2</sup> and line<br>break <p align=center>ok</p>") == (
        "E=mc2 and line break ok"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a heading's closing run of "#" after a space, with only spaces after it, goes
        ("# Title ###\nNext", "Title\n\nNext"),
        ("## Title ## \nNext", "Title\n\nNext"),
        ("## Title ##   \nNext", "Title\n\nNext"),
        ("# " + "word " * 14 + "##  \nNext", ("word " * 14).strip() + "\n\nNext"),
        # any other "#" in a heading is text
        ("# C# and F#\nNext", "C# and F#\n\nNext"),
        ("# Issue#\nNext", "Issue#\n\nNext"),
        ("# Title X#\nNext", "Title X#\n\nNext"),
        ("# Title ## X\nNext", "Title ## X\n\nNext"),
        ("Text ## here", "Text ## here"),
        ("# A *b* c\nNext", "A b c\n\nNext"),  # other marks in a heading are no closing run
        ("# Copyright © 2024\nNext", "Copyright © 2024\n\nNext"),
    ],
)
def test_closing_hashes_of_a_heading(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_closing_hashes_at_the_end_of_the_reply() -> None:
    assert scrub("## Title ##") == "Title"
