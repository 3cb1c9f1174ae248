"""Streaming scrubber: removes from a chat-model reply what must not be read aloud.

Markdown markup (headings with their closing ``#``s, emphasis, inline code markers, fenced
code, tables, block quotes, rules, images, links, list markers, footnote references ``[^3]``
and ``[^3]: ...`` definition lines with their indented lines), bare URLs (replaced by their
host name), emoji, HTML/XML tags and ``<think>`` reasoning blocks.

Math is dropped, never spoken raw and never read out: ``$...$`` (pandoc's rule: a non-space
inside each dollar, the closer not followed by a digit or letter, so ``$5 or $6`` and
``$HOME/$USER`` stay), ``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` and, outside those, common
LaTeX commands with their brace arguments (``\\frac{a}{b}``, ``\\alpha``). Whatever is removed
leaves no double space and no space before punctuation ("costs $x$." -> "costs.").

Emoji are every character of the emoji blocks, and a text symbol followed by U+FE0F (``©️``,
``ℹ️``, ``↔️``, the keycaps ``#️⃣``), also inside ZWJ sequences; the same symbols without the
selector are text and stay (``©``, ``™``, ``↔``). ``‼️``/``⁉️`` keep their terminator and a
digit keycap its digit (``1️⃣`` -> ``1``).

Text is passed on as soon as it is unambiguous:

* the start of each line is held until it is clear what the line is (at most 64
  characters, usually 1-3);
* an emphasis opener (``**``, ``*``, ``_``, ``~~``) or a link's ``[`` is held until its
  closer comes, the line ends, or 160 characters pass; unmatched ``*``/``_`` are kept
  literally (``2*3``, ``_private``), unmatched ``**`` dropped;
* a character that could start a longer marker (``!`` before ``[``, a backtick run, ``<``,
  ``$``, ``\\``, the start of ``https://``) waits for the characters that decide it (math
  waits for its closer up to 200 characters on its line, 40 after ``$`` and a digit,
  1024 for display math);
* spaces at the end of the output wait for the next character; after a footnote reference
  line breaks at the end wait too, for the next text: a reply that ends in footnote
  definitions ends with its last text, with no blank line or white space after it.

Inline code keeps its text; its backticks go (like removed markup: the spaces around them
collapse to one, "a `` b" is "a b"). A span closes on a run of as many backticks
as opened it. A run of more than 16 backticks (no model writes one) is read as a run of 16,
then the rest, again at most 16 at a time: 17 open a span with 16 and keep the 17th as code
text, and inside a span of 16 a run of 17 closes it and opens a span of one.

Inside inline code a space after ``. , ; : ! ?`` becomes a no-break space (U+00A0), which
the segmenter does not take as a clause or sentence boundary (`` `"retries": 3` ``).

Structure reaches the segmenter as text: a heading (also a line that is entirely bold,
``**Step 2: Pack**``, whatever its length), list item (also a line that starts with
a keycap or an emoji and a space: ``1️⃣ Milk``, ``✅ Done``), table row, rule or code block
is set off by a blank line (``"\\n\\n"``), a paragraph break to the segmenter, so each
ends a segment. A table row (``tables="read"``) is read as its cells, each scrubbed on its
own as in GFM (``\\|`` is a pipe in a cell), joined by commas; a cell that reads as nothing
(empty, a lone code span, an emoji, an image) is left out with its comma. Output never
starts with white space (whatever markup came before the first word), nor repeats blank
lines.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Unpack

from bridge.text._chars import is_ascii_alnum, is_punct
from bridge.text._markdown import (
    CODE_INLINE,
    EMOJI_RUN,
    FOOTNOTE_PARTIAL,
    FOOTNOTE_REF,
    HEAD_LIMIT,
    INLINE,
    LATEX_COMMANDS,
    LATEX_NAME,
    MATH_INLINE_END,
    TEXT_EMOJI,
    THINK_END,
    THINK_NAMES,
    HeadKind,
    classify_head,
    classify_tag,
    delimiter_roles,
    fence_close,
    host_of,
    table_cells,
    url_tail_start,
)
from bridge.text._output import HoldKind, Output
from bridge.text.model import ScrubberFields, ScrubberOptions, scrubber_options

__all__ = ["Scrubber"]

_TAG_LIMIT = 256  # characters looked at for the end of an HTML tag
_ROW_LIMIT = 2000  # characters of a table row held to read it
# Backticks read as one delimiter run; a longer run is read as several (16, then the rest),
# so deciding a run never needs more than 17 characters.
_CODE_RUN_LIMIT = 16
_URL_TRAIL = "?!.,:;*_~'\""
_ESCAPABLE = frozenset("\\`*_{}[]()#+-.!|~<>\"'$")
_CODE_MARKS = frozenset(".,;:!?")
_GLUE = "\u00a0"  # no-break space: the segmenter never ends a clause or sentence before it
_MATH_LIMIT = 200  # characters of "$...$" looked at for its closer
_MONEY_LIMIT = 40  # the same when a digit follows "$" (most likely an amount of money)
_BLOCK_LIMIT = 1024  # characters of "$$...$$" and "\\[...\\]" looked at for the closer


class Block(Enum):
    """The block the scrubber is in."""

    TEXT = "text"  # the reply's prose
    FENCE = "fence"  # a fenced code block (dropped)
    THINK = "think"  # a reasoning block (dropped)


class LineKind(Enum):
    """What the current line is."""

    PLAIN = "plain"
    HEADING = "heading"
    TABLE = "table"


class Scrubber:
    """Streaming markdown/emoji/tag remover for speech (one instance per turn)."""

    def __init__(
        self, options: ScrubberOptions | None = None, /, **overrides: Unpack[ScrubberFields]
    ) -> None:
        self.options = scrubber_options(options, **overrides)
        self._reset()

    def _reset(self) -> None:
        self._src = ""  # input not consumed yet
        self._prev = "\n"  # the consumed character before _src[0]
        self._out = Output()
        self._block = Block.THINK if self.options.think_open else Block.TEXT
        self._think_seen = self.options.think_open  # a think block was opened (or pre-filled)
        self._consumed = 0  # input characters consumed this turn
        self._fence = ""
        self._line_start = True
        self._line_kind = LineKind.PLAIN
        self._skip_line = False
        self._code = 0  # backtick count of the open inline code span
        self._lit_run = ""  # a run of 4+ emphasis characters continues literally
        self._link_depth = 0  # dropping a link target "(...)"
        self._in_url = False  # dropping the path of a bare URL
        self._url_depth = 0
        self._url_trail = ""
        self._wait = False  # stop the loop: the rest needs more input
        self._body = 0  # input offset where the text of the current line starts
        self._bold_line = False  # the line's text opened with "**" or "__"
        self._bold_end = False  # ... which has closed, with only spaces after it so far
        # inside a footnote definition, whose indented lines are dropped with it (a line that
        # is not indented ends it: no lazy continuation, so no text of the reply is lost)
        self._footnote = False

    # -- public API -------------------------------------------------------------------------

    def feed(self, delta: str) -> str:
        """Add text; return the scrubbed text that is final so far."""
        if not isinstance(delta, str):
            raise TypeError(f"feed() takes str, not {type(delta).__name__}")
        if not delta:
            return ""
        self._src += delta
        self._process(eof=False)
        if not self._think_seen and self._consumed < self.options.think_window:
            return ""  # a "</think>" with no opener may still come and drop all of it
        return self._out.take()

    def flush(self) -> str:
        """End of the turn: return the rest; the scrubber starts a new turn."""
        self._process(eof=True)
        self._out.resolve_all()
        out = self._out.take(final=True, trim=self._footnote)
        self._reset()
        return out

    # -- the main loop ----------------------------------------------------------------------

    def _process(self, eof: bool) -> None:
        i = 0
        while True:
            while i < len(self._src):
                r = self._step(i, eof)
                if r is None:
                    break
                i = r
                if self._wait:
                    self._wait = False
                    break
            if eof and self._in_url:
                i = self._end_url(len(self._src))
                continue
            break
        if i:
            self._prev = self._src[i - 1]
            self._src = self._src[i:]
            self._consumed += i

    def _step(self, i: int, eof: bool) -> int | None:
        if self._block == Block.THINK:
            return self._think(i, eof)
        if self._skip_line:
            return self._skip(i)
        if self._line_start:
            return self._line_head(i, eof)
        if self._link_depth:
            return self._link_target(i)
        if self._in_url:
            return self._url_path(i, eof)
        if self._code:
            return self._code_text(i, eof)
        return self._inline(i, eof)

    def _char_before(self, i: int) -> str:
        return self._src[i - 1] if i > 0 else self._prev

    def _copy(self, pattern: re.Pattern[str], i: int, eof: bool) -> tuple[int, bool]:
        """Copy plain text up to the next character ``pattern`` finds (or a possible URL
        start at the end). Returns the position and whether a special character is there."""
        src = self._src
        n = len(src)
        m = pattern.search(src, i)
        if m is not None:
            j = m.start()
        else:
            j = n if eof else url_tail_start(src, i, self._char_before(i))
            self._wait = j < n
        if j > i:
            self._out.put(src[i:j])
            return j, False  # a special character is handled in the next step
        return j, m is not None

    def _inline(self, i: int, eof: bool) -> int | None:
        if self._lit_run and self._src[i] != self._lit_run:
            self._lit_run = ""  # the long literal run has ended
        if self._bold_end:
            k = i
            while k < len(self._src) and self._src[k] in " \t\r":
                k += 1
            if k < len(self._src) and self._src[k] != "\n":
                self._bold_end = False  # text after the bold part: the line is no heading
        j, special = self._copy(INLINE, i, eof)
        if not special:
            return j
        src = self._src
        n = len(src)
        ch = src[j]
        if ch == "\n":
            return self._newline(j)
        if ch == "\r":
            # removed, with the spacing of a removed emoji: "a\rb" -> "a b", "a\r\nb" -> "a\nb"
            return self._emoji(j, eof)
        if ch in TEXT_EMOJI or ch in "#*":
            if j + 1 == n and not eof:
                return None
            if j + 1 < n and src[j + 1] == "\ufe0f":
                if ch in "‼⁉":  # the emoji form of a terminator: keep the terminator
                    self._out.put(ch)
                    return j + 2
                return self._emoji(j, eof)
            if ch == "#" and self._line_kind == LineKind.HEADING:
                return self._closing_hashes(j, eof)
            if ch != "*":
                self._out.put(ch)
                return j + 1
        if ch in "*_~":
            return self._delimiter(j, eof)
        if ch == "`":
            return self._backtick(j, eof)
        if ch == "[":
            return self._open_bracket(j, eof)
        if ch == "]":
            return self._close_bracket(j, eof)
        if ch == "!":
            if j + 1 < n:
                self._out.open(HoldKind.IMAGE, "!", "![")
                return j + 2
            if not eof:
                return None
            self._out.put("!")
            return j + 1
        if ch == "<":
            return self._angle(j, eof)
        if ch == "$":
            return self._dollar(j, eof)
        if ch == "\\":
            if j + 1 == n and not eof:
                return None
            nxt = src[j + 1] if j + 1 < n else ""
            if nxt in "([":
                r = self._math_span(j, "\\)" if nxt == "(" else "\\]", eof)
                if r != j:
                    return r
            elif nxt.isascii() and nxt.isalpha():
                return self._latex_command(j, eof)
            if nxt in _ESCAPABLE and nxt:
                self._out.put(nxt)
                return j + 2
            self._out.put("\\")
            return j + 1
        if ch in "hwHW":
            return self._url_start(j, eof)
        return self._emoji(j, eof)

    def _closing_hashes(self, i: int, eof: bool) -> int | None:
        """A heading's optional closing sequence (``## Title ##``): a run of ``#`` after a
        space with only spaces after it on the line is dropped; any other ``#`` is text."""
        src = self._src
        n = len(src)
        j = i
        while j < n and src[j] == "#" and j - i < HEAD_LIMIT:
            j += 1
        k = j
        while k < n and src[k] in " \t\r" and k - i < HEAD_LIMIT:
            k += 1
        if k == n and not eof and k - i <= HEAD_LIMIT:
            return None  # at the limit too: the next character decides, as in a whole line
        if self._char_before(i) in " \t" and (k == n or src[k] == "\n"):
            self._out.dropped()  # no space is left before the line's end
            return k
        self._out.put(src[i:j])
        return j

    # -- math -----------------------------------------------------------------------------

    def _math_span(self, i: int, closer: str, eof: bool) -> int | None:
        """``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` at ``i``: dropped whole when the closer
        comes within the limit; ``i`` when it does not (the text is not math)."""
        src = self._src
        limit = _MATH_LIMIT if closer == "\\)" else _BLOCK_LIMIT
        start = i + len(closer)
        k = src.find(closer, start, i + limit)
        if k >= 0:
            self._out.dropped()
            return k + len(closer)
        if not eof and len(src) - i < limit:
            return None
        return i

    def _dollar(self, i: int, eof: bool) -> int | None:
        """Inline math ``$x^2$`` is dropped. As in pandoc, the opener is followed and the
        closer preceded by a non-space, and the closer is not followed by a digit (nor a
        letter: ``$HOME/$USER``); the first ``$`` on the line must close it (``$5 or $6``)."""
        src = self._src
        n = len(src)
        if i + 1 == n and not eof:
            return None
        nxt = src[i + 1] if i + 1 < n else ""
        if nxt == "$":
            r = self._math_span(i, "$$", eof)
            if r is None or r != i:
                return r
            self._out.put("$$")
            return i + 2
        if not nxt or nxt.isspace() or self._char_before(i).isalnum():
            self._out.put("$")
            return i + 1
        limit = _MONEY_LIMIT if nxt.isdigit() else _MATH_LIMIT
        m = MATH_INLINE_END.search(src, i + 1, i + limit)
        if m is None:
            if not eof and n - i < limit:
                return None
            self._out.put("$")
            return i + 1
        k = m.start()
        if src[k] == "$" and not src[k - 1].isspace():
            if k + 1 == n and not eof:
                return None
            after = src[k + 1] if k + 1 < n else ""
            if not (after.isalnum() or after in ("_", "$")):  # not `in "_$"`: "" is in it
                self._out.dropped()
                return k + 1
        self._out.put("$")
        return i + 1

    def _latex_command(self, i: int, eof: bool) -> int | None:
        """A LaTeX command outside math (``\\frac{a}{b}``, ``\\alpha``) is dropped with up to
        three brace arguments; a backslash before other letters stays (``C:\\Users``)."""
        src = self._src
        n = len(src)
        m = LATEX_NAME.match(src, i + 1)
        assert m is not None
        j = m.end()
        if j == n and not eof and j - i < 32:
            return None
        before = self._char_before(i)
        # a name of 31 letters or more is no command, however the text was split
        known = j - i < 32 and (m.group() in LATEX_COMMANDS or (j < n and src[j] == "{"))
        if not known or before.isalnum() or before in ":\\/.":
            self._out.put("\\")
            return i + 1
        for _ in range(3):
            if j == n and not eof:
                return None
            if j == n or src[j] != "{":
                break
            depth = 0
            k = j
            while k < n and k - j < _MATH_LIMIT and src[k] != "\n":
                depth += (src[k] == "{") - (src[k] == "}")
                k += 1
                if depth == 0:
                    break
            if depth:
                if k == n and not eof and k - j < _MATH_LIMIT:
                    return None
                break
            j = k
        self._out.dropped()
        return j

    # -- lines ------------------------------------------------------------------------------

    def _skip(self, i: int) -> int:
        j = self._src.find("\n", i)
        if j < 0:
            return len(self._src)
        self._skip_line = False
        self._line_start = True
        return j + 1

    def _line_head(self, i: int, eof: bool) -> int | None:
        src = self._src
        nl = src.find("\n", i, i + HEAD_LIMIT)
        complete = nl >= 0 or eof
        head = src[i:nl] if nl >= 0 else src[i : i + HEAD_LIMIT]
        if self._block == Block.FENCE:
            closing = fence_close(head, self._fence)
            if not complete and (closing is None or (closing and len(head) < HEAD_LIMIT)):
                return None  # a closing fence so far may still go on: "```js" closes nothing
            if closing:
                self._block = Block.TEXT
                self._out.paragraph()
            self._line_start = False
            self._skip_line = True
            return i
        if self._footnote:
            blank = not head.strip()
            if (len(head) < 2 or blank) and not complete and len(head) < HEAD_LIMIT:
                return None
            if not (blank and complete) and (head[0] == "\t" or head.startswith("  ")):
                # an indented line of the definition (blank lines do not end it)
                self._line_start = False
                self._skip_line = True
                return i
        h = classify_head(head, complete)
        if h is None:
            return None
        if head.strip() and h.kind is not HeadKind.FOOTNOTE:
            self._footnote = False  # the definition has ended
        self._line_start = False
        self._body = self._consumed + i + h.skip
        kind = h.kind
        if kind is HeadKind.PLAIN:
            return i + h.skip
        if kind is HeadKind.HEADING:
            self._out.paragraph()
            self._line_kind = LineKind.HEADING
            return i + h.skip
        if kind is HeadKind.ITEM:
            self._out.paragraph()
            return i + h.skip
        if kind is HeadKind.RULE or kind is HeadKind.FOOTNOTE:
            if kind is HeadKind.FOOTNOTE:
                self._footnote = True
            self._out.paragraph()
            self._skip_line = True
            return i
        if kind is HeadKind.FENCE:
            self._out.paragraph()
            if self.options.code_placeholder is not None:
                self._out.put(self.options.code_placeholder)
                self._out.paragraph()
            self._block = Block.FENCE
            self._fence = h.fence
            self._skip_line = True
            return i
        if self.options.tables == "drop":  # else read the row: its cells joined by commas
            self._out.paragraph()
            self._skip_line = True
            return i
        end = src.find("\n", i, i + _ROW_LIMIT)
        if end < 0:
            if not eof and len(src) - i < _ROW_LIMIT:
                self._line_start = True
                return None
            end = min(len(src), i + _ROW_LIMIT)
        self._out.paragraph()
        self._out.put(_row_text(src[i + h.skip : end]))
        self._line_kind = LineKind.TABLE
        return end

    def _newline(self, i: int) -> int:
        self._out.resolve_all()
        self._code = 0
        if self._line_kind != LineKind.PLAIN or self._bold_end:  # a line entirely bold is a heading
            self._out.paragraph()
        elif self._out.tail() != "\n\n":
            self._out.put("\n")
        self._line_kind = LineKind.PLAIN
        self._line_start = True
        self._bold_line = self._bold_end = False
        return i + 1

    # -- emphasis, code, links --------------------------------------------------------------

    def _delimiter(self, i: int, eof: bool) -> int | None:
        src = self._src
        n = len(src)
        c = src[i]
        j = i
        if self._lit_run == c:
            while j < n and src[j] == c:
                j += 1
            self._out.put(src[i:j])
            if j < n:
                self._lit_run = ""
            return j
        while j < n and src[j] == c and j - i < 4:
            j += 1
        if j - i >= 4:
            self._lit_run = c
            self._out.put(src[i:j])
            return j
        if j == n and not eof:
            return None
        run = src[i:j]
        prev = self._char_before(i)
        nxt = src[j] if j < n else "\n"
        if c == "~" and len(run) != 2:
            self._out.put(run)
            return j
        if is_ascii_alnum(prev) and is_ascii_alnum(nxt):
            self._out.put(run)  # 2*3, snake_case
            return j
        if j + 1 >= n and not eof and is_punct(nxt):
            return None  # "__init__.py": the character after the punctuation decides
        after = src[j + 1] if j + 1 < n else "\n"
        can_open, can_close = delimiter_roles(c, prev, nxt, after)
        if can_close and self._out.close_emphasis(c):
            if self._bold_line and not self._out.holding():
                self._bold_line = False
                self._bold_end = True  # the bold text the line opened with has closed
            return j
        if can_open:
            if len(run) >= 2 and c != "~" and self._consumed + i == self._body:
                self._bold_line = True
            self._out.open(HoldKind.EMPHASIS, c, run)
            return j
        if not (can_close and c == "*" and len(run) >= 2):
            self._out.put(run)
        return j

    def _backtick(self, i: int, eof: bool) -> int | None:
        """A backtick run (at most ``_CODE_RUN_LIMIT``) opens an inline code span."""
        src = self._src
        j = i
        while j < len(src) and src[j] == "`" and j - i < _CODE_RUN_LIMIT:
            j += 1
        if j == len(src) and not eof:
            return None
        self._code = j - i  # the span opens; its text is kept as it is
        self._out.dropped()  # its backticks go: no double space where they stood
        return j

    def _code_text(self, i: int, eof: bool) -> int | None:
        """Inside an inline code span: the text is kept, URLs still become host names."""
        j, special = self._copy(CODE_INLINE, i, eof)
        if not special:
            return j
        src = self._src
        ch = src[j]
        if ch == "\n":
            return self._newline(j)
        if ch == "\r":
            return j + 1
        if ch in " \t":
            # "retries": 3 / Error: not found: a mark inside code is no clause or sentence
            # end; a no-break space after it tells the segmenter so
            self._out.put(_GLUE if self._char_before(j) in _CODE_MARKS else ch)
            return j + 1
        if ch != "`":
            return self._url_start(j, eof)
        k = j
        while k < len(src) and src[k] == "`" and k - j < _CODE_RUN_LIMIT:
            k += 1
        if k == len(src) and not eof:
            return None
        if k - j == self._code:
            self._code = 0
            self._out.dropped()
        else:
            self._out.put(src[j:k])
        return k

    def _open_bracket(self, i: int, eof: bool) -> int | None:
        """``[``: a footnote reference ``[^3]`` is dropped; anything else may open a link."""
        src = self._src
        if i + 1 == len(src) and not eof:
            return None
        if i + 1 < len(src) and src[i + 1] == "^":
            m = FOOTNOTE_REF.match(src, i)
            if m is not None:
                self._out.dropped()
                # the reply may end in footnote definitions, which leave no blank line: from
                # here on, line breaks at the end of the output wait for the next text
                self._out.hold_breaks()
                return m.end()
            if FOOTNOTE_PARTIAL.fullmatch(src, i) is not None and not eof:
                return None
        self._out.open(HoldKind.LINK, "[", "[")
        return i + 1

    def _close_bracket(self, i: int, eof: bool) -> int | None:
        src = self._src
        if not self._out.link_open():
            self._out.put("]")
            return i + 1
        if i + 1 == len(src) and not eof:
            return None
        if i + 1 < len(src) and src[i + 1] == "(":
            self._out.close_link()
            self._link_depth = 1
            return i + 2
        self._out.cancel_link()
        self._out.put("]")
        return i + 1

    def _link_target(self, i: int) -> int:
        src = self._src
        n = len(src)
        j = i
        while j < n:
            ch = src[j]
            if ch == "\n":
                self._link_depth = 0
                return j
            if ch == "(":
                self._link_depth += 1
            elif ch == ")":
                self._link_depth -= 1
                if not self._link_depth:
                    return j + 1
            j += 1
        return n

    # -- tags, think blocks, URLs, emoji ----------------------------------------------------

    def _angle(self, i: int, eof: bool) -> int | None:
        src = self._src
        n = len(src)
        if i + 1 == n and not eof:
            return None
        c2 = src[i + 1] if i + 1 < n else ""
        if not c2 or not ((c2.isascii() and c2.isalpha()) or c2 in "/!"):
            self._out.put("<")
            return i + 1
        k = src.find(">", i + 1, i + _TAG_LIMIT)
        nl = src.find("\n", i + 1, k if k >= 0 else i + _TAG_LIMIT)
        if k < 0 and nl < 0 and n - i < _TAG_LIMIT and not eof:
            return None
        if k < 0 or 0 <= nl < k:
            self._out.put("<")
            return i + 1
        kind, value = classify_tag(src[i + 1 : k], self._char_before(i))
        if kind == "text":
            self._out.put("<")
            return i + 1
        if kind == "open" and value in THINK_NAMES:
            self._block = Block.THINK
            self._think_seen = True
        elif kind == "close" and value in THINK_NAMES and not self._think_seen:
            self._think_seen = True
            if self._consumed + i < self.options.think_window:
                self._out.clear()  # reasoning whose "<think>" the chat template wrote
        if kind in ("url", "email"):
            self._out.put(value)
            return k + 1
        self._out.dropped()  # "a <b> bold</b> word": the spaces around a tag collapse to one
        if value == "br":
            self._out.put(" ")
        return k + 1

    def _think(self, i: int, eof: bool) -> int:
        src = self._src
        m = THINK_END.search(src, i)
        if m is not None:
            self._block = Block.TEXT
            return m.end()
        if eof:
            return len(src)
        keep = src.rfind("<", max(i, len(src) - 16))
        self._wait = True
        return keep if keep >= 0 else len(src)

    def _url_start(self, i: int, eof: bool) -> int | None:
        src = self._src
        n = len(src)
        before = self._char_before(i)
        if before.isalnum() or before in "/.@:-_":
            self._out.put(src[i])  # inside a word or a longer address: not a URL start
            return i + 1
        start = j = src.index("//", i) + 2 if src[i] in "hH" else i
        while j < n and (src[j].isalnum() or src[j] in ".-_") and j - start < 256:
            j += 1
        if j == n and not eof and j - start <= 256:
            return None  # at the limit too: a path after it is dropped, as in a whole text
        host_end = j
        while j > i and src[j - 1] in ".-_":
            j -= 1  # trailing punctuation ends the sentence, not the host
        path = j == host_end and host_end < n and src[host_end] in "/?#:"
        if path and src[host_end] == ":":
            if host_end + 1 == n and not eof:
                return None
            path = host_end + 1 < n and src[host_end + 1].isdigit()  # a port, not a colon
        self._out.put(host_of(src[i:j]))
        if path:
            self._in_url = True
            self._url_depth = 0
            self._url_trail = ""
            return host_end
        return j

    def _url_path(self, i: int, eof: bool) -> int:
        src = self._src
        n = len(src)
        j = i
        while j < n:
            ch = src[j]
            if ch.isspace() or ch in "<>[]`" or (ch == ")" and self._url_depth == 0):
                return self._end_url(j)
            if ch == "(":
                self._url_depth += 1
                self._url_trail = ""
            elif ch == ")":
                self._url_depth -= 1
                self._url_trail = ""
            elif ch in _URL_TRAIL:
                self._url_trail += ch
            else:
                self._url_trail = ""
            j += 1
        return n

    def _end_url(self, j: int) -> int:
        """The URL ends before ``j``; its trailing punctuation goes back to the text."""
        self._in_url = False
        trail = self._url_trail
        self._url_trail = ""
        if trail:
            self._src = self._src[:j] + trail + self._src[j:]
        return j

    def _emoji(self, i: int, eof: bool) -> int | None:
        src = self._src
        m = EMOJI_RUN.match(src, i)
        j = m.end() if m is not None else i + 1
        if j - i >= 16 and j < len(src) and EMOJI_RUN.match(src, j) is not None:
            return j  # a long run: drop this part, the rest of the run decides the spacing
        if j == len(src) and not eof:
            return None
        nxt = src[j] if j < len(src) else ""
        if nxt.isalnum():
            self._out.space()  # "Done✅Next" -> "Done Next"
        self._out.dropped()
        return j


def _row_text(row: str) -> str:
    """A table row as it is read: each cell scrubbed on its own (as in GFM, no markup spans
    two cells), the cells that read as nothing left out, the others joined by a comma and
    one space (only the space after a cell that ends with ``, ; :``).

    ``| | `x` | y |`` -> ``x, y``; ``| 🎉 | a |`` -> ``a``; a row of empty cells reads as
    nothing. Inside a cell the text is read as in the middle of a line (``# 1`` is no heading).
    """
    out = ""
    for cell in table_cells(row):
        scrubber = Scrubber()
        scrubber._line_start = False  # a cell's text is inline: no line head to classify
        text = (scrubber.feed(cell) + scrubber.flush()).strip()
        if text and out:
            out += " " if out[-1] in ",;:" else ", "
        out += text
    return out
