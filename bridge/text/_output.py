"""The scrubber's output buffer: text pieces, some of them openers still waiting for a closer.

Output is a list of pieces. An opener (``**``, ``_``, ``[``, ``![``) is its own piece and
is recorded as a hold; ``take()`` returns only the pieces before the oldest open hold. When
the closer comes the opener piece is emptied (for an image, everything after it too); when
it does not come in time the opener is kept literally or dropped (``unmatched``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["HOLD_LIMIT", "HoldKind", "Output"]

HOLD_LIMIT = 160  # output characters an opener may wait for its closer


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


class Output:
    """Scrubbed text not returned yet, with the openers that hold it back."""

    def __init__(self) -> None:
        self._pieces: list[str] = []
        self._holds: list[_Hold] = []
        self._length = 0
        self._last = ""  # the last two characters returned
        self.visible = False  # any visible character output yet

    def put(self, text: str, *, opener: bool = False) -> None:
        self._pieces.append(text)
        self._length += len(text)
        if not self.visible and not opener and text.strip():
            self.visible = True
        holds = self._holds
        while holds and self._length - holds[0].at > HOLD_LIMIT:
            self._unmatched(holds.pop(0))

    def take(self) -> str:
        """Return (and forget) the text before the oldest open hold."""
        k = self._holds[0].piece if self._holds else len(self._pieces)
        out = "".join(self._pieces[:k])
        del self._pieces[:k]
        for h in self._holds:
            h.piece -= k
        if out:
            self._last = (self._last + out)[-2:]
        return out

    def tail(self) -> str:
        """The last two characters output so far (returned or not)."""
        tail = ""
        for piece in reversed(self._pieces):
            tail = piece + tail
            if len(tail) >= 2:
                break
        return (self._last + tail)[-2:]

    def paragraph(self) -> None:
        """End the current segment: make the output end with one blank line."""
        if not self.visible:
            return
        tail = self.tail()
        if tail != "\n\n":
            self.put("\n" if tail.endswith("\n") else "\n\n")

    def open(self, kind: HoldKind, char: str, text: str) -> None:
        self._holds.append(_Hold(kind, char, len(self._pieces), self._length))
        self.put(text, opener=True)  # visible only once it is known to stay

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

    def cancel_link(self) -> None:
        """``]`` not followed by ``(``: the nearest ``[`` stays as text."""
        del self._holds[self._link_index()]

    def resolve_all(self) -> None:
        """The line ended: no opener can be closed any more."""
        self._resolve_from(0)
        self._holds.clear()

    def _resolve_from(self, k: int) -> None:
        for hold in self._holds[k:]:
            self._unmatched(hold)

    def _unmatched(self, hold: _Hold) -> None:
        """An opener whose closer never came: ``**``/``~~`` go, others stay literally."""
        text = self._pieces[hold.piece]
        if hold.kind is HoldKind.EMPHASIS and hold.char in "*~" and len(text) >= 2:
            self._pieces[hold.piece] = ""
        else:
            self.visible = True
