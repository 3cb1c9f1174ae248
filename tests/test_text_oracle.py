"""markdown-it-py as an oracle: for whole documents, the text the streaming scrubber keeps is
the text a real CommonMark parser renders, modulo the differences written down below.

The oracle walks markdown-it-py's token stream and keeps the inline text of every block
(``text`` and ``code_inline`` tokens; soft and hard breaks as spaces). Each difference
between it and the scrubber is an explicit normalisation with its reason:

* layout: the scrubber sets blocks off with blank lines (a paragraph break for the
  segmenter) and keeps soft line breaks, the oracle joins blocks; both are compared as
  sequences of words (any run of white space is one space);
* code blocks (fenced) are not read aloud: the oracle drops ``fence`` and ``code_block``
  tokens;
* images are not read aloud, alt text included: the oracle drops ``image`` tokens; and a
  removed item never leaves a space before punctuation (``grow ![x](u).`` -> ``grow.``),
  so a space before ``. , ; : ! ?`` is not compared;
* inside inline code a space after ``. , ; : ! ?`` is a no-break space (so the segmenter
  does not cut there): no-break spaces count as spaces;
* a bare URL is spoken as its host name, also inside inline code
  (``http://localhost:8000/x`` -> ``localhost``): so it is in the oracle's text;
* raw HTML is not read: the oracle drops ``html_inline`` and ``html_block`` tokens.
"""

from __future__ import annotations

import random
import re

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bridge.text import Scrubber

_MD = MarkdownIt("commonmark").enable("strikethrough")

_URL = re.compile(r"https?://(?:www\.)?([^\s/:?#]+)[^\s]*?(?=[.,;:!?]*(?:\s|$))")
_SPACE_BEFORE_MARK = re.compile(r" ([.,;:!?])")
_DROPPED_BLOCKS = frozenset({"fence", "code_block", "html_block"})
_DROPPED_INLINE = frozenset({"image", "html_inline"})


def _inline_text(children: list[Token]) -> list[str]:
    out: list[str] = []
    for tok in children:
        if tok.type in ("text", "code_inline"):
            out.append(_URL.sub(r"\1", tok.content))
        elif tok.type in ("softbreak", "hardbreak") or tok.type in _DROPPED_INLINE:
            out.append(" ")
        # *_open / *_close (emphasis, strong, links, strikethrough) are markup: nothing
    return out


def oracle(document: str) -> str:
    """The document's text as markdown-it-py renders it, blocks joined by spaces."""
    parts: list[str] = []
    for tok in _MD.parse(document):
        if tok.type in _DROPPED_BLOCKS:
            parts.append(" ")
        elif tok.type == "inline" and tok.children is not None:
            parts.extend(_inline_text(tok.children))
            parts.append(" ")
    return _words("".join(parts))


def _words(text: str) -> str:
    return _SPACE_BEFORE_MARK.sub(r"\1", " ".join(text.replace("\u00a0", " ").split()))


def scrubbed(document: str, seed: int) -> str:
    """What the scrubber keeps, fed whole and in random deltas (both must agree)."""
    whole = Scrubber()
    expected = whole.feed(document) + whole.flush()
    rng = random.Random(seed)
    scrubber = Scrubber()
    out, i = [], 0
    while i < len(document):
        k = rng.randint(1, 12)
        out.append(scrubber.feed(document[i : i + k]))
        i += k
    assert "".join(out) + scrubber.flush() == expected
    return _words(expected)


# -- a seeded generator of chat-model-like markdown ----------------------------------------

_WORDS = (
    "the model writes a short answer about trains and rivers in spring while we wait for "
    "tea at noon every day new plans start small then grow into something people use"
).split()
_CODE = ["npm install", "x = 1", "retries: 3", "ls -la", "GET /api", "a.b()", "k8s"]
_URLS = ["https://example.com/a", "http://docs.example.org/x?y=1", "https://x.io"]


def _words_run(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi)))


def _inline(rng: random.Random) -> str:
    kind = rng.randrange(13)
    text = _words_run(rng, 1, 3)
    if kind == 0:
        return f"**{text}**"
    if kind == 1:
        return f"*{text}*"
    if kind == 2:
        return f"_{text}_"
    if kind == 3:
        return f"`{rng.choice(_CODE)}`"
    if kind == 4:
        return f"[{text}]({rng.choice(_URLS)})"
    if kind == 5:
        return f"~~{text}~~"
    if kind == 6:
        return f"**{text} *{_words_run(rng, 1, 2)}* {_words_run(rng, 1, 2)}**"
    if kind == 7:
        return f"![{text}]({rng.choice(_URLS)})"
    if kind == 8:
        return f"[**{text}**]({rng.choice(_URLS)})"
    if kind == 9:
        return f"``{rng.choice(_CODE)} `x` ``"
    if kind == 10:
        return f"<{rng.choice(_URLS)}>"
    if kind == 11:
        return f"__{text}__"
    return text


def _sentence(rng: random.Random) -> str:
    pieces = [_words_run(rng, 1, 4)]
    for _ in range(rng.randint(0, 3)):
        pieces.append(_inline(rng))
        pieces.append(_words_run(rng, 0, 3))
    text = " ".join(p for p in pieces if p)
    return text[0].upper() + text[1:] + rng.choice([".", ".", "!", "?", ":"])


def _paragraph(rng: random.Random) -> str:
    lines = [" ".join(_sentence(rng) for _ in range(rng.randint(1, 3)))]
    if rng.random() < 0.3:
        lines.append(_sentence(rng))  # a soft line break
    if rng.random() < 0.2:
        lines[-1] += "  "  # a hard line break
        lines.append(_sentence(rng))
    return "\n".join(lines)


def _block(rng: random.Random) -> str:
    kind = rng.randrange(10)
    if kind == 0:
        return "#" * rng.randint(1, 4) + " " + _words_run(rng, 1, 5).capitalize()
    if kind == 7:
        return "## " + _words_run(rng, 1, 4).capitalize() + " ##"  # closing hashes
    if kind == 8:
        title = _words_run(rng, 1, 4).capitalize()
        return title + "\n" + rng.choice(["===", "---"])  # a setext heading
    if kind == 9:
        return "\n".join(f"{n}) {_sentence(rng)}" for n in range(1, 4))
    if kind == 1:
        marker = rng.choice(["-", "*", "+"])
        return "\n".join(f"{marker} {_sentence(rng)}" for _ in range(rng.randint(2, 4)))
    if kind == 2:
        return "\n".join(f"{n}. {_sentence(rng)}" for n in range(1, rng.randint(3, 5)))
    if kind == 3:
        return "\n".join(f"> {_sentence(rng)}" for _ in range(rng.randint(1, 3)))
    if kind == 4:
        lang = rng.choice(["", "python", "bash"])
        return f"```{lang}\nprint('hi')  # not spoken\nx = [1, 2]\n```"
    if kind == 5:
        return "**" + _words_run(rng, 2, 6).capitalize() + "**"
    return _paragraph(rng)


def generated(seed: int) -> str:
    rng = random.Random(seed)
    return "\n\n".join(_block(rng) for _ in range(rng.randint(2, 7))) + "\n"


HANDWRITTEN = [
    "# Trip plan\n\nHere is the **short** version:\n\n1. Pack *light*.\n2. Take the `7:15` "
    "train.\n\n> Note: the [timetable](https://example.com/t) changes in May.\n",
    "Sure! Run this:\n\n```bash\npip install bridge\n```\n\nThen open `http://localhost:8000`"
    " in a browser. ~~Old way~~ is gone.\n",
    "## Steps\n\n- **First**, check the _oil_.\n- Then the tyres.\n\n---\n\nDone? Good.\n",
    "A paragraph that wraps\nonto a second line, with an ![icon](i.png) image and "
    "**bold *nested* text**.\n",
    "Escaped \\*stars\\* and a literal 2*3 and snake_case_name stay.\n",
]


@pytest.mark.parametrize("seed", range(150))
def test_generated_documents_keep_what_a_markdown_parser_renders(seed: int) -> None:
    document = generated(seed)
    assert scrubbed(document, seed) == oracle(document), document


@pytest.mark.parametrize("document", HANDWRITTEN)
def test_handwritten_documents_keep_what_a_markdown_parser_renders(document: str) -> None:
    assert scrubbed(document, 0) == oracle(document), document


def test_the_oracle_sees_markup_the_scrubber_would_have_to_remove() -> None:
    # the comparison can fail: markup left in the text is not what the parser renders
    document = "# Title\n\nSome **bold** and a [link](https://example.com).\n"
    assert oracle(document) == "Title Some bold and a link."
    assert _words(document) != oracle(document)
