"""Handing items between a turn's stages without an extra event-loop pass.

anyio's ``MemoryObjectSendStream.send`` and ``MemoryObjectReceiveStream.receive`` start with a
checkpoint: the task yields once to the event loop even when the item could be handed over (or
taken) at once. Under load one pass of the loop runs every ready task of every session, so each
stage boundary a segment crosses costs one whole pass (see benchmarks/relay_compare.py's
``segment ready → TTS append`` hop). ``put`` and ``take`` hand over at once when they can and
fall back to the waiting call (with its checkpoint, cancellation and backpressure) when they
cannot, and also at the end of a stream (no receiver left, no sender left), so a cancelled
task still sees its cancellation before ``BrokenResourceError`` or ``EndOfStream``; the order
of items is unchanged.
"""

from __future__ import annotations

from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["put", "take"]

T = TypeVar("T")


async def put(stream: MemoryObjectSendStream[T], item: T) -> None:
    """Send ``item``: at once when a receiver waits or the buffer has room, else wait."""
    try:
        stream.send_nowait(item)
    except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
        # Full, or no receiver left: the stream's own call (a cancelled task gets its
        # cancellation at the checkpoint first, as before; otherwise the same error).
        await stream.send(item)


async def take(stream: MemoryObjectReceiveStream[T]) -> T:
    """Receive an item: at once when one is buffered, else wait (``EndOfStream`` at the end)."""
    try:
        return stream.receive_nowait()
    except (
        anyio.WouldBlock,
        anyio.EndOfStream,
        anyio.BrokenResourceError,
        anyio.ClosedResourceError,
    ):
        # Empty, or the end: the stream's own call (cancellation first, then the same end).
        return await stream.receive()
