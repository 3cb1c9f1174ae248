"""Text from clients and models made safe to speak, log, encode and send (pure, no I/O).

Applied once, where text enters: the server's client-message parser and the chat-model
adapter's stream. After it, a string always encodes to UTF-8 and holds no control character
but newline and tab:

- a surrogate pair written as two code units (``"\\ud83d\\ude00"``) becomes its code point;
- a lone surrogate becomes U+FFFD (the replacement character);
- ``\\r\\n`` and a lone ``\\r`` become ``\\n``;
- every other control character (C0 but tab and newline, DEL, C1) is removed.

``TextSanitizer`` does the same for text that arrives in pieces: a high surrogate or a ``\\r``
at the end of a piece is held back until the next piece, so an emoji a model streams as two
separate surrogate escapes in two chunks comes out whole, and any split of a text into pieces
gives the same output as ``sanitize`` of the whole.
"""

from __future__ import annotations

import re

__all__ = ["TextSanitizer", "sanitize"]

# Everything that needs work: C0 controls but \t and \n (so \r too), DEL, C1, surrogates.
_SUSPECT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def sanitize(text: str) -> str:
    """``text`` with surrogates repaired or replaced and control characters removed."""
    if _SUSPECT.search(text) is None:
        return text
    if _SURROGATE.search(text) is not None:
        # UTF-16 joins valid pairs; what cannot be decoded (a lone half) becomes U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


class TextSanitizer:
    """``sanitize`` for text in pieces: ``feed(piece)`` returns what is safe so far,
    ``flush()`` what was held back at the end."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        text, self._held = self._held + piece, ""
        if text and ("\ud800" <= text[-1] <= "\udbff" or text[-1] == "\r"):
            text, self._held = text[:-1], text[-1]
        return sanitize(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return sanitize(text)
