"""The text of one speak response: what a client appends with ``text.append``, as the async
iterable of pieces a ``Turn`` reads (the client's own text instead of a chat model's).

Pieces are sanitised together as they arrive (``TextSanitizer``: a surrogate pair split over
two pieces comes out whole, control characters are removed), counted against the response's
character limit, and handed to the turn in order. The piece that would pass the limit is
refused (one ``message_too_large`` error) and so is every later piece of the response, so the
text is cut at the limit rather than losing a piece in its middle. ``close()`` (``text.done``,
a cancel, the end of the response) ends the iteration once the pieces before it have been
read; a piece appended after the turn has stopped reading is dropped with the turn (it was
cancelled).

The buffer is bounded by the limit: at most ``max_chars`` characters per response.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import suppress

import anyio

from bridge.core.sanitize import TextSanitizer
from bridge.server.protocol import ClientProtocolError, ErrorCode

__all__ = ["SpeakInput"]


class SpeakInput:
    """The pieces of one speak response's text, appended by the session's reader."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self._sanitizer = TextSanitizer()
        self._send, self._receive = anyio.create_memory_object_stream[str](math.inf)
        self._closed = False
        self.full = False  # a piece passed the limit: the rest of the text is refused

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, piece: str) -> None:
        """Queue ``piece``. The piece that would pass the response's limit raises
        ``ClientProtocolError(message_too_large)``; it and the later pieces are dropped, the
        response keeps what it had."""
        if self._closed or self.full:
            return
        if self.chars + len(piece) > self.max_chars:
            self.full = True
            raise ClientProtocolError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"text.append: a speak response is limited to {self.max_chars} characters; "
                "send text.done and start another",
            )
        self.chars += len(piece)
        self._put(self._sanitizer.feed(piece))

    def close(self) -> None:
        """No more pieces: the turn reads what was appended, then its text ends."""
        if self._closed:
            return
        self._put(self._sanitizer.flush())
        self._closed = True
        self._send.close()

    def _put(self, text: str) -> None:
        if text:
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._send.send_nowait(text)

    async def __aiter__(self) -> AsyncIterator[str]:
        async with self._receive:
            async for piece in self._receive:
                yield piece
