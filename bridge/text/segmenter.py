"""Incremental segmenter: cuts a stream of text into speakable segments in linear time.

How it works. The pending text lives in one buffer with a scan position. A compiled regular
expression jumps to the next character that can matter (a terminator, a newline, a list
bullet or label, and during the first segment also clause marks, spaces and CJK
characters); everything in between is skipped in C. Each such character is decided with
bounded lookahead: a terminator waits for the next visible character, and only after an
ambiguous abbreviation for the next whole word. When the lookahead is not there yet the
scan stops and resumes from the same character on the next ``feed()``; every lookahead is
capped by a small constant, so no text is scanned more than a constant number of times.

Decisions depend only on the text, never on how it was split into deltas, so any split of
the same input gives the same segments. The segmenter reads no clock: when the model
stalls the caller calls ``cut()``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Unpack

from bridge.text._chars import (
    BULLETS,
    CJK_CLASS,
    CLAUSE_WIDE,
    CLOSERS,
    OPENERS,
    TERMINATORS,
    WIDE_TERMINATORS,
    cjk_regex,
    is_cjk,
)
from bridge.text._cuts import (
    PARTICLES,
    best_cut,
    clause_mark_after,
    ends_on_function_word,
    last_word_boundary,
)
from bridge.text._rules import (
    MONTHS,
    STARTERS,
    TokenClass,
    classify_token,
    is_list_label,
    next_label,
)
from bridge.text.model import (
    Segment,
    SegmenterFields,
    SegmenterOptions,
    SegmentKind,
    segmenter_options,
)

__all__ = ["Segmenter"]

_T = re.escape(TERMINATORS)
_B = re.escape(BULLETS)
_LATER = re.compile(f"[{_T}{_B}\\n)]")
# During the first segment, clause marks, spaces and CJK characters matter too. The CJK
# ranges make that class slow to compile (it walks every code point of them, a few ms), so
# the whole class is compiled on first use; a buffer of ASCII text (``str.isascii()``, which
# costs nothing: no CJK character in it) is scanned with the class without the CJK ranges,
# which finds the very same characters there.
_FIRST_MARKS = f"{_T}{_B}\\s),;:—{CLAUSE_WIDE}"
_FIRST_NO_CJK = re.compile(f"[{_FIRST_MARKS}]")


@cache
def _first_marks() -> re.Pattern[str]:
    return re.compile(f"[{_FIRST_MARKS}{CJK_CLASS}]")


_VISIBLE = re.compile(r"\S")
_HEAD_TEXT = re.compile(f"[^\\s{_B}]")
_STRIP_TOKEN = OPENERS + BULLETS + "-*„‚"
# After a terminator these close the sentence too: German „…“ and ‚…‘ close with the
# marks English opens with, German »…« and ›…‹ with the guillemets French opens with, and
# vertical corner brackets.
_END_CLOSERS = CLOSERS + "“‘«‹﹂﹄"
_GUILLEMETS = "»›"  # French closes « … » with a space inside: "« Viens ! » Puis…"
_THIN_SPACES = " \u00a0\u202f"

_MAX_RUN = 32  # terminators in one run
_MAX_GAP = 64  # whitespace looked through after a terminator
_MAX_TOKEN = 24  # characters looked back for the word before a period
_MAX_WORD = 16  # characters looked ahead for the word after an ambiguous abbreviation
# A line this short that ends without a terminator, followed by a line that does not start
# in lower case, is a line of a list-like block ("Ingredients / Flour / Sugar"): it ends a
# segment. Longer lines are taken as wrapped prose and read on.
_LIST_LINE = 60
# A segment at ``max_chars`` may run this much longer (at most an eighth of the limit) to
# end at a clause mark just past the limit rather than between two words.
_MAX_OVERSHOOT = 24
# A forced cut in Chinese or Japanese waits this many characters for a particle to cut after.
_PARTICLE_NEAR = 3
_CLAUSE_END = re.compile(r"[,;:，、；：—)\]）\n]\s*$")


def _clause_end(buf: str, pos: int) -> bool:
    """Whether the text before ``pos`` ends at a clause mark."""
    return _CLAUSE_END.search(buf, max(0, pos - 4), pos) is not None


class Segmenter:
    """Streaming sentence segmenter for speech (one instance per turn; reusable after flush).

    ``feed(delta)`` returns the segments that are complete, ``flush()`` the rest at the end
    of the turn, ``cut()`` cuts at the best available point now (the caller's stall timer).
    With ``first_clause=False, min_chars=0`` it is a plain streaming sentence splitter.
    """

    def __init__(
        self, options: SegmenterOptions | None = None, /, **overrides: Unpack[SegmenterFields]
    ) -> None:
        self.options = segmenter_options(options, **overrides)
        self._out: list[Segment] = []
        self._reset()

    def _reset(self) -> None:
        self._buf = ""
        self._base = 0  # stream offset of _buf[0]
        self._emit = 0  # start of the text not yet emitted (held sentences included)
        self._seg = 0  # start of the sentence being scanned (after held ones)
        self._scan = 0  # next position to examine
        self._held = False
        self._held_weight = 0
        self._index = 0
        self._first = self.options.first_clause
        self._words = 0  # first segment: words so far, a CJK character counting as one
        self._halves = 0  # the same in half words, a CJK character counting as half a word
        self._list_next: str | None = None
        self._line = 0  # stream offset where the current line starts
        self._blocked: int | None = None
        self._flushing = False

    # -- public API -------------------------------------------------------------------------

    def feed(self, delta: str) -> list[Segment]:
        """Add text; return the segments completed by it (often none)."""
        if not isinstance(delta, str):
            raise TypeError(f"feed() takes str, not {type(delta).__name__}")
        self._out = []
        if delta:
            self._buf += delta
            self._run(eof=False)
            self._compact()
        return self._out

    def flush(self) -> list[Segment]:
        """End of the turn: return everything pending; the segmenter starts a new turn."""
        out: list[Segment] = []
        self._out = out
        self._flushing = True
        self._run(eof=True)
        if _VISIBLE.search(self._buf, self._emit) is not None:
            self._emit_segment(len(self._buf), "final", ends_paragraph=False)
        self._reset()
        return out

    def cut(self) -> list[Segment]:
        """Cut now at the best available point (the model stalled).

        A terminator still waiting for its lookahead is taken as a sentence end; otherwise
        everything up to the last complete word is emitted. Held short sentences go too.
        """
        self._out = []
        buf = self._buf
        pos = -1
        kind: SegmentKind = "forced"
        if self._blocked is not None and buf[self._blocked] in TERMINATORS:
            pos = self._plausible_end(self._blocked)
            kind = "sentence"
        if pos < 0:
            pos = last_word_boundary(buf, self._seg, len(buf))
            kind = "forced"
        if pos > self._seg and _VISIBLE.search(buf, self._seg, pos) is not None:
            self._cut(pos, kind, hold=False)
        elif self._held:
            self._emit_segment(self._seg, "sentence", ends_paragraph=False)
        self._scan = max(self._scan, self._seg)
        self._blocked = None
        self._compact()
        return self._out

    # -- the scan loop ----------------------------------------------------------------------

    def _run(self, eof: bool) -> None:
        buf = self._buf
        n = len(buf)
        max_chars = self.options.max_chars
        while True:
            if not self._first:
                pattern = _LATER
            elif buf.isascii():
                pattern = _FIRST_NO_CJK
            else:
                pattern = _first_marks()
            m = pattern.search(buf, self._scan)
            s = m.start() if m is not None else n
            limit = self._emit + max_chars
            if s > limit and n > limit:
                over = limit + min(_MAX_OVERSHOOT, max_chars // 8)
                if m is None or s > over:
                    if n > over or eof:
                        seg = self._seg
                        self._force(limit, over)
                        if self._seg != seg:
                            continue
                        # no cut was made (flushing: only white space after it); flush()
                        # returns the rest as the final segment
                        self._scan = n
                        self._blocked = None
                        return
                    self._scan = n
                    self._blocked = None
                    return  # a clause mark may come just past the limit
            if m is None:
                self._scan = n
                self._blocked = None
                return
            nxt = self._handle(s, eof)
            if nxt is None:
                self._scan = s
                self._blocked = s
                return
            self._blocked = None
            self._scan = max(nxt, self._seg)

    def _handle(self, s: int, eof: bool) -> int | None:
        ch = self._buf[s]
        if ch in TERMINATORS:
            return self._terminator(s, eof)
        if ch == "\n":
            return self._newline(s, eof)
        if ch == ")":
            return self._paren(s, eof)
        if ch in BULLETS:
            if s > self._seg and self._buf[s - 1].isspace() and not self._at_head(s):
                self._cut(s, "sentence")
            return s + 1
        # Only the first segment of a turn looks at the characters below.
        if ch in ",;:—" or ch in CLAUSE_WIDE:
            return self._clause(s, eof)
        buf = self._buf
        limit = 2 * self.options.first_max_words
        if ch.isspace():
            self._count_word(s)
            if self._halves >= limit and not ends_on_function_word(buf, s, self._seg):
                self._cut(s, "forced")  # not after "the": the next word boundary will do
            return s + 1
        postpone = False
        if self._halves + 1 > limit and s > self._seg and buf[s - 1] not in PARTICLES:
            near = buf[s : s + _PARTICLE_NEAR]
            if len(near) < _PARTICLE_NEAR and not eof:
                return None
            postpone = any(c in PARTICLES for c in near)  # cut right after that particle
        self._words += 1  # a CJK character is a word for the clause minimum,
        self._halves += 1  # and half a word for the word limit
        if self._halves > limit and not postpone:
            self._cut(s, "forced")
        return s + 1

    # -- terminators ------------------------------------------------------------------------

    def _terminator(self, mark: int, eof: bool) -> int | None:
        """A terminator run starts at ``mark``: decide whether a sentence ends there.

        Returns where scanning goes on (``None``: more input is needed). The scan positions:
        ``run_end`` after the run of terminators (and spaced dots), ``end`` after the closing
        quotes and brackets that stay with the sentence, ``word`` at the next visible
        character after the white space, ``after`` that character.
        """
        buf = self._buf
        n = len(buf)
        prev = buf[mark - 1] if mark > self._emit else ""
        run_end = mark + 1
        while run_end < n and buf[run_end] in TERMINATORS and run_end - mark < _MAX_RUN:
            run_end += 1
        if run_end == n and not eof:
            return None
        run = buf[mark:run_end]
        dots = run.count(".") == len(run)
        if dots and prev in ("(", "["):
            return run_end  # an elision: "[...]"
        first_end = run_end
        ndots = len(run) if dots else 0
        spaced = False
        while dots and run_end < n and buf[run_end] == " " and ndots < 16:
            if run_end + 1 == n:
                if eof:
                    break
                return None
            if buf[run_end + 1] != ".":
                break
            dots_end = run_end + 1
            while dots_end < n and buf[dots_end] == "." and dots_end - run_end < 8:
                dots_end += 1
            if dots_end == n and not eof:
                return None
            ndots += dots_end - run_end - 1
            run_end = dots_end
            spaced = True
        end = run_end
        while end < n and end - run_end < 8:
            c = buf[end]
            if c in _END_CLOSERS:
                end += 1
            elif c in _THIN_SPACES and end + 1 < n and buf[end + 1] in _GUILLEMETS:
                if end + 2 == n and not eof:
                    return None  # a letter next would make it German's opener: ". »Gut«"
                if end + 2 < n and buf[end + 2].isalnum():
                    break
                end += 2
            elif c in _THIN_SPACES and end + 1 == n and not eof:
                return None  # a guillemet may follow
            else:
                break
        if end == n:
            if not eof:
                return None
            self._cut(end, "sentence")
            return end
        cjk = any(c in WIDE_TERMINATORS for c in run) or (prev != "" and is_cjk(prev))
        ch = buf[end]
        if ch == "\u00a0" and end == run_end:
            return run_end  # a no-break space right after the mark: inline code (see the scrubber)
        if not ch.isspace():
            if cjk and end > run_end and ch in "とっ":
                return run_end  # Japanese quotation goes on: 「そうですね。」と彼は言った
            if cjk:
                self._cut(end, "sentence")
                return end
            if ("…" in run or "‥" in run) and not (ch.islower() or ch in ",;:，、"):
                self._cut(end, "sentence")
                return end
            return run_end  # glued: a decimal, version, URL, e-mail address or file name
        word = end
        newlines = 0
        while word < n and buf[word].isspace() and word - end < _MAX_GAP:
            if buf[word] == "\n":
                newlines += 1
                if newlines == 2:
                    self._cut(end, "sentence", ends_paragraph=True)
                    return end
            word += 1
        if word == n and not eof:
            return None
        if cjk or newlines or word == n or word - end >= _MAX_GAP:
            self._cut(end, "sentence")
            return end
        after = buf[word]
        if after.islower() or after in ",;:":
            return run_end
        if spaced:
            if ndots >= 4 and prev != "" and not prev.isspace() and first_end == mark + 1:
                self._cut(mark + 1, "sentence")  # "word. . . . Next": the ellipsis opens the next
                return run_end
            if ndots >= 4:
                self._cut(end, "sentence")
                return end
            return run_end
        if run != ".":
            self._cut(end, "sentence")
            return end
        return self._period(mark, end, run_end, word, eof)

    def _token_start(self, p: int, limit: int) -> int:
        """Start of the token ending at ``p``, or -1 when it is longer than ``limit``."""
        buf = self._buf
        lo = max(self._emit, p - limit)
        ws = p
        while ws > lo and not buf[ws - 1].isspace():
            ws -= 1
        if ws == lo and lo > self._emit and not buf[lo - 1].isspace():
            return -1
        return ws

    def _period(self, p: int, e: int, r: int, w: int, eof: bool) -> int | None:
        buf = self._buf
        n = len(buf)
        v = buf[w]
        ws = self._token_start(p, _MAX_TOKEN)
        core = buf[ws:p].lstrip(_STRIP_TOKEN) if ws >= 0 else ""
        if core and is_list_label(core):
            if self._at_head(ws):
                self._list_next = next_label(core)
                return r
            if core == self._list_next and ws > self._seg:
                self._cut(ws, "sentence")  # "... first item 2. The second item"
                self._list_next = next_label(core)
                return r
        cls = classify_token(core, self._previous_token(ws)) if core else TokenClass.WORD
        if cls is TokenClass.TITLE or cls is TokenClass.NEVER:
            return r
        if cls is not TokenClass.WORD:
            if v.isdigit() or v in "([#":
                if cls is not TokenClass.NUMBER:
                    return r  # "No. 4", "Str. 12", "5 lbs. 3 oz."
            elif v.isupper():
                x = w
                while x < n and (buf[x].isalpha() or buf[x] in "'’") and x - w < _MAX_WORD:
                    x += 1
                if x == n and not eof and x - w < _MAX_WORD:
                    return None
                word = buf[w:x]
                if cls is TokenClass.CLOSING:
                    if len(word) > 1 and word.isupper():
                        return r  # a continuation: "6 p.m. EST", "etc. NASA"
                elif cls is TokenClass.NUMBER:
                    if word in MONTHS:
                        return r  # an ordinal date: "am 12. März"
                elif word not in STARTERS:
                    return r
        self._cut(e, "sentence")
        return e

    def _previous_token(self, ws: int) -> str:
        """The token before the one starting at ``ws``, within the current sentence."""
        buf = self._buf
        end = ws
        lo = max(self._seg, ws - _MAX_TOKEN)
        while end > lo and buf[end - 1] in " \u00a0":
            end -= 1
        if end == ws:
            return ""
        start = end
        while start > lo and not buf[start - 1].isspace():
            start -= 1
        if start == lo and lo > self._seg:
            return ""
        return buf[start:end].lstrip(_STRIP_TOKEN)

    def _plausible_end(self, p: int) -> int:
        """For ``cut()``: the end of the terminator run at ``p`` if it may end a sentence."""
        buf = self._buf
        n = len(buf)
        r = p + 1
        while r < n and buf[r] in TERMINATORS:
            r += 1
        if buf[p:r] == ".":
            ws = self._token_start(p, _MAX_TOKEN)
            core = buf[ws:p].lstrip(_STRIP_TOKEN) if ws >= 0 else ""
            if core and (
                classify_token(core, self._previous_token(ws))
                in (TokenClass.TITLE, TokenClass.NEVER)
                or (is_list_label(core) and self._at_head(ws))
            ):
                return -1
        while r < n and buf[r] in _END_CLOSERS:
            r += 1
        return r

    # -- newlines, lists, clauses -----------------------------------------------------------

    def _newline(self, s: int, eof: bool) -> int | None:
        buf = self._buf
        lo = max(self._seg, s - _MAX_GAP)
        j = s
        while j > lo and buf[j - 1] in " \t\r\f\v\u3000":
            j -= 1
        if j > self._seg and buf[j - 1] == "\n":
            k = j - 1
            while k > lo and buf[k - 1].isspace():
                k -= 1
            self._cut(k, "sentence", ends_paragraph=True)
            self._line = self._base + s + 1
            return s + 1
        n = len(buf)
        x = s + 1
        while x < n and buf[x] in " \t\r\f\v\u3000" and x - s < _MAX_GAP:
            x += 1
        if x == n and not eof:
            return None
        line = self._base + j - self._line  # length of the line that ends here
        self._line = self._base + s + 1
        if x < n and buf[x] == "\n":
            if self._first:
                self._count_word(s)
            return s + 1  # a paragraph break: decided at the next newline
        if (
            line <= _LIST_LINE
            and x < n
            and not buf[x].islower()
            and _VISIBLE.search(buf, self._seg, j) is not None
        ):
            self._cut(j, "sentence", hold=False)  # a line of a list-like block
            return s + 1
        if not self._first:
            return s + 1
        self._count_word(s)
        if self._words >= self.options.first_min_words:
            self._cut(s, "clause")
        return s + 1

    def _paren(self, s: int, eof: bool) -> int | None:
        """``1)`` / ``b)`` list labels, at the head of a sentence or as the expected next one."""
        buf = self._buf
        ws = self._token_start(s, 6)
        if ws < 0:
            return s + 1
        core = buf[ws:s].lstrip(_STRIP_TOKEN)
        if not core or not is_list_label(core):
            return s + 1
        if s + 1 == len(buf):
            return None if not eof else s + 1
        if not buf[s + 1].isspace():
            return s + 1
        if self._at_head(ws):
            self._list_next = next_label(core)
        elif core == self._list_next and ws > self._seg:
            self._cut(ws, "sentence")
            self._list_next = next_label(core)
        return s + 1

    def _clause(self, s: int, eof: bool) -> int | None:
        """First segment only: a clause mark ends it once it holds enough words."""
        buf = self._buf
        words = self._words
        prev = buf[s - 1] if s > self._seg else ""
        if prev.isalnum() and not is_cjk(prev):
            words += 1  # the word right before the mark is not counted yet
        ch = buf[s]
        if ch not in ",;:":
            if words >= self.options.first_min_words:
                self._cut(s + 1, "clause")
            return s + 1
        n = len(buf)
        if s + 1 == n:
            return None if not eof else s + 1
        if not buf[s + 1].isspace() or buf[s + 1] == "\u00a0":
            return s + 1  # 1,000 / 10:30 / a:b / a no-break space (inline code)
        if ch == "," and prev.isdigit():
            x = s + 1
            while x < n and buf[x].isspace() and x - s < _MAX_GAP:
                x += 1
            if x == n and not eof:
                return None
            if x < n and buf[x].isdigit():
                return s + 1  # never between two numbers
        if words >= self.options.first_min_words:
            self._cut(s + 1, "clause")
        return s + 1

    def _count_word(self, s: int) -> None:
        """First segment only: count the Latin word that ends at ``s``."""
        if s <= self._seg:
            return
        buf = self._buf
        prev = buf[s - 1]
        if prev.isspace() or is_cjk(prev):
            return
        if prev.isalnum() or (s - 2 >= self._seg and buf[s - 2].isalnum()):
            self._words += 1
            self._halves += 2

    def _at_head(self, pos: int) -> bool:
        """Nothing but whitespace and bullets between the sentence start and ``pos``."""
        return pos >= self._seg and _HEAD_TEXT.search(self._buf, self._seg, pos) is None

    # -- cutting and emitting ---------------------------------------------------------------

    def _force(self, limit: int, over: int) -> None:
        buf = self._buf
        lo = max(self._seg, self._emit + self.options.max_chars // 3)
        pos = best_cut(buf, lo, limit)
        if pos > limit - 1 or not _clause_end(buf, pos):
            beyond = clause_mark_after(buf, limit, min(over, len(buf) - 1))
            if beyond > 0:
                pos = beyond  # a small overshoot reaches a clause mark
        self._cut(pos, "forced", hold=False)
        self._scan = max(self._scan, self._seg)

    def _weight(self, start: int, end: int) -> int:
        text = self._buf[start:end].strip()
        cjk = 0 if text.isascii() else len(cjk_regex().findall(text))
        return len(text) + (self.options.cjk_weight - 1) * cjk

    def _cut(
        self, pos: int, kind: SegmentKind, *, ends_paragraph: bool = False, hold: bool = True
    ) -> None:
        buf = self._buf
        if self._flushing and _VISIBLE.search(buf, pos) is None:
            return  # only whitespace after it: flush() returns it as the final segment
        has_text = _VISIBLE.search(buf, self._seg, pos) is not None
        if not has_text and not self._held:
            self._emit = self._seg = max(self._seg, pos)
            return
        if not has_text:
            self._emit_segment(pos, "sentence", ends_paragraph)
            return
        if hold and kind == "sentence" and not ends_paragraph and self._index > 0:
            weight = self._held_weight + self._weight(self._seg, pos)
            if weight < self.options.min_chars:
                self._held = True
                self._held_weight = weight
                self._seg = pos
                return
        self._emit_segment(pos, kind, ends_paragraph)

    def _emit_segment(self, pos: int, kind: SegmentKind, ends_paragraph: bool) -> None:
        raw = self._buf[self._emit : pos]
        text = raw.strip()
        start = self._base + self._emit + (len(raw) - len(raw.lstrip()))
        self._out.append(Segment(text, kind, self._index, ends_paragraph, start, start + len(text)))
        self._index += 1
        self._emit = self._seg = pos
        self._held = False
        self._held_weight = 0
        self._first = False

    def _compact(self) -> None:
        k = self._emit
        if k and (k >= 4096 or 2 * k >= len(self._buf)):
            self._buf = self._buf[k:]
            self._base += k
            self._emit = 0
            self._seg -= k
            self._scan -= k
            if self._blocked is not None:
                self._blocked -= k
