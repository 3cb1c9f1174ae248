"""How the emulator's ``server_commit`` mode decides where a response ends.

The vendor does not document its rule; ours (a decision, written down here and in the README):
a response ends after a sentence terminator (``. ! ?`` followed by whitespace or at the end of
the buffer, ``。！？；…`` anywhere) or a newline; a buffer longer than ``max_chars`` with no
terminator is cut at its last space or comma (any character for Chinese). Text without an end
stays buffered until more text, a commit or ``session.finish`` arrives.
"""

from __future__ import annotations

__all__ = ["take_segments"]

_CJK_ENDS = frozenset("。！？；…\n")
_LATIN_ENDS = frozenset(".!?")
_CLOSERS = frozenset("\"')]}”’」』）")


def _cut_long(text: str, max_chars: int) -> int:
    window = text[:max_chars]
    for marks in (",，、;:", " \t"):
        best = max(window.rfind(m) for m in marks)
        if best > max_chars // 3:
            return best + 1
    return max_chars


def take_segments(buffer: str, *, max_chars: int) -> tuple[list[str], str]:
    """Split ``buffer`` into finished segments and the rest that stays buffered."""
    segments: list[str] = []
    start = 0
    i = 0
    n = len(buffer)
    while i < n:
        ch = buffer[i]
        end = -1
        if ch in _CJK_ENDS:
            end = i + 1
        elif ch in _LATIN_ENDS:
            j = i + 1
            while j < n and (buffer[j] in _LATIN_ENDS or buffer[j] in _CLOSERS):
                j += 1
            if j == n or buffer[j].isspace():
                end = j
        if end > 0:
            while end < n and buffer[end] in _CLOSERS:
                end += 1
            piece = buffer[start:end]
            if piece.strip():
                segments.append(piece)
            start = end
            i = end
            continue
        if i - start + 1 >= max_chars:
            cut = start + _cut_long(buffer[start : i + 1], max_chars)
            segments.append(buffer[start:cut])
            start = cut
        i += 1
    rest = buffer[start:]
    if not rest.strip():
        rest = ""
    return segments, rest
