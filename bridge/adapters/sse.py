"""Server-sent events, decoded from raw bytes (no I/O): only the ``data`` of each event.

``SSEDecoder.feed(data)`` takes the bytes of a streamed response as they arrive, in pieces of
any size, and returns the ``data`` of every event that the pieces completed. The LLM adapter
reads the chat-completion stream with it instead of letting the SDK build an object per chunk.

Follows the WHATWG event-stream rules that OpenAI-compatible servers use: lines end in LF, CRLF
or CR; a line that starts with ``:`` is a comment; ``data:`` lines (one optional space after the
colon) of one event are joined with LF; a blank line ends the event, and an event with no data is
not returned. Other fields (``event``, ``id``, ``retry``) are ignored: bridge does not use them.
"""

from __future__ import annotations

__all__ = ["SSEDecoder"]


class SSEDecoder:
    """Bytes in, the data of complete events out."""

    __slots__ = ("_data", "_rest")

    def __init__(self) -> None:
        self._rest = b""  # an incomplete last line
        self._data: list[bytes] = []  # data lines of the event being read

    def feed(self, data: bytes) -> list[bytes]:
        """The data of each event that ``data`` completes, in order."""
        buf = self._rest + data if self._rest else data
        if b"\r" in buf:
            # A CR at the very end may be the first half of a CRLF: keep it for the next piece.
            held = buf.endswith(b"\r")
            if held:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = buf.split(b"\n")
            self._rest = lines.pop() + (b"\r" if held else b"")
        else:
            lines = buf.split(b"\n")
            self._rest = lines.pop()
        return self._lines(lines)

    def flush(self) -> list[bytes]:
        """End of stream: the data of an event that was not ended by a blank line."""
        rest, self._rest = self._rest.rstrip(b"\r"), b""
        return self._lines([rest, b""] if rest else [b""])

    def _lines(self, lines: list[bytes]) -> list[bytes]:
        events: list[bytes] = []
        pending = self._data
        for line in lines:
            if not line:
                if pending:
                    events.append(pending[0] if len(pending) == 1 else b"\n".join(pending))
                    pending = self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                pending.append(value[1:] if value.startswith(b" ") else value)
            elif line == b"data":
                pending.append(b"")
        return events
