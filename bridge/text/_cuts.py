"""Where to cut a segment that has no sentence end in time (pure functions over a window).

Preference order for a cut inside ``buf[lo:hi]`` (the latest point of the best class wins):

1. ``; :`` followed by a space, ``；：—``, a newline, before an opening bracket, after a
   closing one;
2. a comma followed by a space (never between two numbers: ``3, 5``; ``1,000`` and the
   decimal comma ``3,5`` have no space), ``，、``;
3. whitespace;
4. next to a CJK character (Chinese and Japanese may be cut between any two characters);
5. ``hi`` itself.

Lookahead never reaches past ``buf[hi]``, so the result depends only on ``buf[:hi + 1]``.
"""

from __future__ import annotations

import re

from bridge.text._chars import CJK_CLASS, CLOSERS, TERMINATORS

__all__ = ["best_cut", "last_word_boundary"]

# A no-break space after a mark glues it (the scrubber writes one inside inline code).
_STRONG = re.compile(r"[;:](?=[^\S\u00a0])|[；：—\n]|\s(?=[(\[（])|[)\]）](?=\s)")
_COMMA = re.compile(r",(?=[^\S\u00a0])|[，、]")
_CJK = re.compile(f"[{CJK_CLASS}]")
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
    while end > lo + 1:
        space = max(buf.rfind(" ", lo + 1, end), buf.rfind("\t", lo + 1, end))
        space = max(space, buf.rfind("\u3000", lo + 1, end))
        if space <= lo:
            break
        if buf[space - 1] != "," or _comma_ok(buf, space - 1, hi):
            return space
        end = space  # "3, 5": not between two numbers either
    for m in _CJK.finditer(buf, lo, hi):
        pos = m.end()
        if pos <= hi and buf[pos] not in _NO_CUT_BEFORE:
            best = pos
        elif m.start() > lo:
            best = m.start()
    if best > lo:
        return best
    return hi


def last_word_boundary(buf: str, lo: int, hi: int) -> int:
    """The end of the last complete word in ``buf[lo:hi]`` (for a stall); ``lo`` if none.

    A Latin word is complete once whitespace or a clause mark follows it; CJK characters and
    punctuation are complete as soon as they arrive.
    """
    if hi <= lo:
        return lo
    last = buf[hi - 1]
    if _CJK.match(last) is not None or last in _COMPLETE:
        return hi
    space = max(buf.rfind(" ", lo, hi), buf.rfind("\n", lo, hi), buf.rfind("\t", lo, hi))
    return max(space, buf.rfind("\u3000", lo, hi), lo)
