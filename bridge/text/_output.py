"""The scrubber's output buffer: text pieces, some of them openers still waiting for a closer.

Output is a list of pieces. An opener (``**``, ``_``, ``[``, ``![``) is its own piece and
is recorded as a hold; ``take()`` returns only the pieces before the oldest open hold. When
the closer comes the opener piece is emptied (for an image, everything after it too); when
it does not come in time the opener is kept literally or dropped (``unmatched``).

While an opener waits it is no text: an item removed right after it is spaced as after the
text before it. A space left out for that reason is recorded (a "gap") and goes back if the
opener is kept as text, so a literal opener is spaced like any other text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = ["HOLD_LIMIT", "HoldKind", "Output"]

HOLD_LIMIT = 160  # output characters an opener may wait for its closer
# After a removed item, a space before one of these goes too ("done 🎉!" -> "done!").
_NO_SPACE_BEFORE = frozenset(".,;:!?…)]}”’»›。，、；：！？）」』\n")


class HoldKind(Enum):
    """What an open hold waits for."""

    EMPHASIS = "emphasis"
    LINK = "link"
    IMAGE = "image"


@dataclass(slots=True)
class _Hold:
    kind: HoldKind
    char: str
    piece: int  # index of the opener in the pieces
    at: int  # output length when it opened
    # empty pieces where a space goes if this opener is kept as text: the spacing around an
    # item removed right after it is decided as if it were markup (it is no text yet)
    gaps: list[int] = field(default_factory=list)


class Output:
    """Scrubbed text not returned yet, with the openers that hold it back."""

    def __init__(self) -> None:
        self._pieces: list[str] = []
        self._holds: list[_Hold] = []
        self._length = 0
        self._last = ""  # the last two characters returned
        self._dropped = False  # something was just removed: spacing around it is tidied
        # pieces from this index on keep line breaks at the end of the output back (-1: none)
        self._hold_breaks = -1

    def put(self, text: str) -> None:
        if self._dropped:
            text = self._after_drop(text)
            if not text:
                return
        self._pieces.append(text)
        self._length += len(text)
        holds = self._holds
        while holds and self._length - holds[0].at > HOLD_LIMIT:
            self._unmatched(holds.pop(0))

    def clear(self) -> None:
        """Forget everything not returned yet (it was reasoning, not the reply)."""
        self._pieces.clear()
        self._holds.clear()
        self._length = 0
        self._last = ""
        self._dropped = False
        self._hold_breaks = min(self._hold_breaks, 0)

    def dropped(self) -> None:
        """Something (emoji, image, footnote, math) was removed here: the next text does not
        repeat a space before it, nor leave one before punctuation."""
        self._dropped = True

    def _after_drop(self, text: str) -> str:
        """The spaces after a removed item collapse to at most one, however they arrive."""
        rest = text.lstrip(" \t")
        tail = self.tail()[-1:]
        if not rest:
            if not tail or tail.isspace():
                self._gap()
                return ""
            return text[:1]
        self._dropped = False
        if rest[0] in _NO_SPACE_BEFORE:
            self._trim_spaces()
            return rest
        if not tail or tail.isspace():
            if len(rest) < len(text):
                self._gap()
            return rest
        return text[:1] + rest if len(rest) < len(text) else text

    def space(self) -> None:
        """A space between two words an item was removed from (``Done✅Next``), unless the
        output is empty or ends with white space."""
        tail = self.tail()[-1:]
        if tail and not tail.isspace():
            self.put(" ")
        else:
            self._gap()

    def _gap(self) -> None:
        """A space is left out here because the output ends with white space or nothing, not
        counting the openers still open at its end: should one of those be kept as text, the
        space goes here after all ("a [🎉 b" -> "a [ b", "a [🎉 b](u)" -> "a b")."""
        pieces = self._pieces
        end = len(pieces)
        if any(h.gaps[-1:] == [end - 1] for h in self._holds):
            return  # there is one here already
        last = end - 1  # the last piece of text
        while last >= 0 and (not pieces[last] or any(h.piece == last for h in self._holds)):
            last -= 1
        openers = [h for h in self._holds if h.piece > last]
        if not openers:
            return
        for h in openers:
            h.gaps.append(len(pieces))
        pieces.append("")

    def _trim_spaces(self) -> None:
        """Remove the spaces at the end of the output (they are never returned yet), also
        before a ``**`` or ``~~`` still open: it goes whether it is closed or not."""
        going = {h.piece for h in self._holds if self._goes(h)}
        p = len(self._pieces) - 1
        while p >= 0:
            if p not in going:
                piece = self._pieces[p]
                kept = piece.rstrip(" \t")
                self._pieces[p] = kept
                self._length -= len(piece) - len(kept)
                if kept:
                    break
            p -= 1
        for h in self._holds:  # nor is a space put back there if an opener is kept as text
            h.gaps = [g for g in h.gaps if g <= p]

    def hold_breaks(self) -> None:
        """From here on, line breaks at the end of the output are kept back, with its spaces,
        until text follows them: ``take(final=True, trim=True)`` can still drop them. (What
        was output before this call is returned as before, whatever the split.)"""
        if self._hold_breaks < 0:
            self._hold_breaks = len(self._pieces)

    def take(self, *, final: bool = False, trim: bool = False) -> str:
        """Return (and forget) the text before the oldest open hold.

        Spaces at the very end are kept back until the next text shows whether they stay
        (a removed emoji or image must not leave a space before punctuation); ``final``
        returns them, unless an item was removed after them ("Done 🎉" -> "Done"). After
        ``hold_breaks()`` line breaks at the end are kept back as spaces are, and ``trim``
        drops them with the spaces at the end (the reply ended in a footnote definition).

        The text of a reply never starts with white space, whatever markup came before it
        (``"` a` b"`` -> ``"a b"``): until something is returned, it is stripped."""
        if final and self._dropped:
            self._trim_spaces()  # the reply ends after a removed item: no space before it
        k = self._holds[0].piece if self._holds else len(self._pieces)
        out = "".join(self._pieces[:k])
        kept = out if final and not trim else out.rstrip(" \t")
        held = self._hold_breaks
        if held >= 0 and (trim or not final):
            sealed = len("".join(self._pieces[: min(held, k)]))  # output before hold_breaks()
            kept = kept[: max(sealed, len(out.rstrip(" \t\n")))]
        spaces = out[len(kept) :]
        out = kept if self._last else kept.lstrip()
        del self._pieces[:k]
        shift = k
        if spaces:
            self._pieces.insert(0, spaces)
            shift -= 1
        for h in self._holds:
            h.piece -= shift
            h.gaps = [g - shift for g in h.gaps]
        if held >= 0:
            self._hold_breaks = max(0, held - shift)
        if out:
            self._last = (self._last + out)[-2:]
        return out

    def tail(self) -> str:
        """The last two characters output so far (returned or not), without the openers
        still waiting for their closer: an opener is no text yet, so a removed item right
        after one spaces as after the text before it ("a **🎉 b**" -> "a b")."""
        tail = ""
        held = {h.piece for h in self._holds}
        for p in range(len(self._pieces) - 1, -1, -1):
            if p in held:
                continue
            tail = self._pieces[p] + tail
            if len(tail) >= 2:
                break
        return (self._last + tail)[-2:]

    def paragraph(self) -> None:
        """End the current segment: make the output end with one blank line (at the start
        of a reply ``take`` strips it)."""
        tail = self.tail()
        if tail != "\n\n":
            self.put("\n" if tail.endswith("\n") else "\n\n")

    def open(self, kind: HoldKind, char: str, text: str) -> None:
        self._holds.append(_Hold(kind, char, len(self._pieces), self._length))
        self.put(text)

    def close_emphasis(self, char: str) -> bool:
        """A closer for ``char``: drop the nearest matching opener (not across a link)."""
        for k in range(len(self._holds) - 1, -1, -1):
            hold = self._holds[k]
            if hold.kind is not HoldKind.EMPHASIS:
                return False
            if hold.char == char:
                self._pieces[hold.piece] = ""
                self._resolve_from(k + 1)
                del self._holds[k:]
                return True
        return False

    def holding(self) -> bool:
        """Whether an opener is still waiting for its closer."""
        return bool(self._holds)

    def _link_index(self) -> int:
        k = len(self._holds) - 1
        while k >= 0 and self._holds[k].kind is HoldKind.EMPHASIS:
            k -= 1
        return k

    def link_open(self) -> bool:
        return self._link_index() >= 0

    def close_link(self) -> None:
        """``](``: the nearest ``[`` was a link (keep its text) or image (drop it all)."""
        k = self._link_index()
        hold = self._holds[k]
        self._resolve_from(k + 1)
        del self._holds[k:]
        last = len(self._pieces) if hold.kind is HoldKind.IMAGE else hold.piece + 1
        for p in range(hold.piece, last):
            self._pieces[p] = ""
        if hold.kind is HoldKind.IMAGE:
            self._dropped = True

    def cancel_link(self) -> None:
        """``]`` not followed by ``(``: the nearest ``[`` stays as text."""
        self._kept(self._holds.pop(self._link_index()))

    def resolve_all(self) -> None:
        """The line ended: no opener can be closed any more."""
        self._resolve_from(0)
        self._holds.clear()

    def _resolve_from(self, k: int) -> None:
        for hold in self._holds[k:]:
            self._unmatched(hold)

    def _unmatched(self, hold: _Hold) -> None:
        """An opener whose closer never came: ``**``/``~~`` go, others stay literally."""
        if self._goes(hold):
            self._pieces[hold.piece] = ""
        else:
            self._kept(hold)

    def _kept(self, hold: _Hold) -> None:
        """An opener is kept as text: the spaces left out after it because it might have been
        markup go back."""
        for g in hold.gaps:
            self._pieces[g] = " "
            self._length += 1

    def _goes(self, hold: _Hold) -> bool:
        """Whether an opener is dropped even if its closer never comes (``**``, ``~~``)."""
        if hold.kind is not HoldKind.EMPHASIS or hold.char not in "*~":
            return False
        return len(self._pieces[hold.piece]) >= 2
