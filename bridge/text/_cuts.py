"""Where to cut a segment that has no sentence end in time (pure functions over a window).

Preference order for a cut inside ``buf[lo:hi]`` (the latest point of the best class wins):

1. ``; :`` followed by a space, ``；：—``, a newline, before an opening bracket, after a
   closing one;
2. a comma followed by a space (never between two numbers: ``3, 5``; ``1,000`` and the
   decimal comma ``3,5`` have no space), ``，、``;
3. whitespace, but not right after a function word ("the", "of", "and"; "de", "und", "et"…)
   while an earlier space is not after one: a segment never ends on "the";
4. next to a CJK character (Chinese and Japanese may be cut between any two characters),
   preferably right after a particle (的 了 是 在, は が を に で と も へ);
5. ``hi`` itself.

``clause_mark_after`` finds a clause mark (class 1 or 2) just past a limit, for the small
overshoot the segmenter allows to reach one.

Lookahead never reaches past ``buf[hi]``, so the result depends only on ``buf[:hi + 1]``.
"""

from __future__ import annotations

import re

from bridge.text._chars import CLOSERS, TERMINATORS, cjk_regex, is_cjk

__all__ = [
    "PARTICLES",
    "best_cut",
    "clause_mark_after",
    "ends_on_function_word",
    "last_word_boundary",
]

# Words a segment should not end on, in the supported languages (lower case).
FUNCTION_WORDS = frozenset(
    (
        # English
        "a an the of to and or but nor in on at for with by from as into onto than that "
        "if so is are was were be been my your his her its our their this these those "
        "about over under between through "
        # Spanish
        "el la los las un una unos unas de del al y e o u en con por para que se su sus "
        "mi tu lo "
        # German
        "der die das den dem des ein eine einen einem einer und oder zu zum zur von vom "
        "mit im am für auf an aus bei nach über unter "
        # French
        "le les une des du et ou à au aux pour par avec sur dans ce cette ces son sa ses "
        "mon ma mes"
    ).split()
)
# Chinese and Japanese particles after which a forced cut sounds natural.
PARTICLES = frozenset("的了是在着过和与也就都把被给对从向吗呢吧啊はがをにでともへやのからまで")
_WORD_LOOKBACK = 16

# A no-break space after a mark glues it (the scrubber writes one inside inline code).
_STRONG = re.compile(r"[;:](?=[^\S\u00a0])|[；：—\n]|\s(?=[(\[（])|[)\]）](?=\s)")
_COMMA = re.compile(r",(?=[^\S\u00a0])|[，、]")
_NO_CUT_BEFORE = CLOSERS + TERMINATORS + "，、；：,;:"
_COMPLETE = CLOSERS.replace("'", "").replace("’", "") + "!?…。！？，、；：,;:—"


def _strong_pos(m: re.Match[str]) -> int:
    ch = m.group()
    if ch == "\n" or ch.isspace():
        return m.start()
    return m.end()


def _comma_ok(buf: str, i: int, hi: int) -> bool:
    """A comma at ``i`` is a cut point unless it separates two numbers (``3, 5``)."""
    if buf[i] != "," or i == 0 or not buf[i - 1].isdigit():
        return True
    j = i + 1
    while j <= hi and buf[j].isspace():
        j += 1
    return not (j <= hi and buf[j].isdigit())


def best_cut(buf: str, lo: int, hi: int) -> int:
    """The best cut position in ``(lo, hi]``; ``buf[hi]`` must exist."""
    best = -1
    for m in _STRONG.finditer(buf, lo, hi + 1):
        pos = _strong_pos(m)
        if lo < pos <= hi:
            best = pos
    if best > 0:
        return best
    for m in _COMMA.finditer(buf, lo, hi):
        if m.end() <= hi and _comma_ok(buf, m.start(), hi):
            best = m.end()
    if best > 0:
        return best
    end = hi + 1
    fallback = -1
    while end > lo + 1:
        space = max(buf.rfind(" ", lo + 1, end), buf.rfind("\t", lo + 1, end))
        space = max(space, buf.rfind("\u3000", lo + 1, end))
        if space <= lo:
            break
        end = space
        if buf[space - 1] == "," and not _comma_ok(buf, space - 1, hi):
            continue  # "3, 5": not between two numbers either
        if not ends_on_function_word(buf, space, lo):
            return space
        if fallback < 0:
            fallback = space
    if fallback > 0:
        return fallback
    particle = -1
    for m in () if buf.isascii() else cjk_regex().finditer(buf, lo, hi):
        pos = m.end()
        if pos <= hi and buf[pos] not in _NO_CUT_BEFORE:
            best = pos
            if m.group() in PARTICLES:
                particle = pos
        elif m.start() > lo:
            best = m.start()
    if particle > lo:
        return particle
    if best > lo:
        return best
    return hi


def ends_on_function_word(buf: str, pos: int, lo: int) -> bool:
    """Whether the word right before ``pos`` (after trailing spaces) is a function word."""
    end = pos
    while end > lo and buf[end - 1] in " \t\u3000":
        end -= 1
    start = end
    while start > lo and end - start < _WORD_LOOKBACK and buf[start - 1].isalpha():
        start -= 1
    return start < end and buf[start:end].lower() in FUNCTION_WORDS


def clause_mark_after(buf: str, lo: int, hi: int) -> int:
    """The first clause cut (``; :``, a comma, a dash…) in ``(lo, hi]``, or -1."""
    m = _STRONG.search(buf, lo, hi + 1)
    best = _strong_pos(m) if m is not None else -1
    if not lo < best <= hi:
        best = -1
    for c in _COMMA.finditer(buf, lo, hi):
        if c.end() <= hi and _comma_ok(buf, c.start(), hi):
            if best < 0 or c.end() < best:
                best = c.end()
            break
    return best


def last_word_boundary(buf: str, lo: int, hi: int) -> int:
    """The end of the last complete word in ``buf[lo:hi]`` (for a stall); ``lo`` if none.

    A Latin word is complete once whitespace or a clause mark follows it; CJK characters and
    punctuation are complete as soon as they arrive.
    """
    if hi <= lo:
        return lo
    last = buf[hi - 1]
    if is_cjk(last) or last in _COMPLETE:
        return hi
    space = max(buf.rfind(" ", lo, hi), buf.rfind("\n", lo, hi), buf.rfind("\t", lo, hi))
    return max(space, buf.rfind("\u3000", lo, hi), lo)
