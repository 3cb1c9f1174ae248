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

``Channel`` is the queue of the model's deltas on their way to the segmenter and of received
audio on its way to the sink (one producer, one consumer each): a ``get`` that finds the queue
empty waits for the next item without the checkpoint anyio's ``receive`` takes first, so an
item that arrives while its consumer waits costs the consumer one wake-up, not two
(``benchmarks/relay_compare.py``'s CPU per audio-second). Waits are cancellation points as
usual; an item that is there is taken without yielding; the end comes after a checkpoint.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["Channel", "consuming", "put", "take"]

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


class Channel(Generic[T]):
    """A bounded queue from one producer to one consumer (see the module's docstring)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._items: deque[T] = deque()
        self._size = size
        self._closed = False  # the producer is done: get() ends once the queue is empty
        self._stopped = False  # the consumer is gone: put() refuses
        self._getter: anyio.Event | None = None
        self._putter: anyio.Event | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def waiting(self) -> bool:
        """The consumer waits in ``get`` (so nothing is queued: an item wakes it and clears
        this; so do ``close`` and ``stop``)."""
        return self._getter is not None

    def put_nowait(self, item: T) -> None:
        """Queue ``item``; ``WouldBlock`` when full, ``BrokenResourceError`` once the consumer
        stopped, ``ClosedResourceError`` after ``close``."""
        if self._stopped:
            raise anyio.BrokenResourceError
        if self._closed:
            raise anyio.ClosedResourceError
        if len(self._items) >= self._size:
            raise anyio.WouldBlock
        self._items.append(item)
        getter = self._getter
        if getter is not None:
            self._getter = None
            getter.set()

    async def put(self, item: T) -> None:
        """Queue ``item``: at once (no checkpoint) while there is room, else wait for room;
        refused (after a checkpoint: a cancelled producer sees its cancellation first) once
        stopped or closed."""
        while len(self._items) >= self._size and not (self._stopped or self._closed):
            event = self._putter = anyio.Event()
            await event.wait()
        if self._stopped or self._closed:
            await anyio.lowlevel.checkpoint()
        self.put_nowait(item)

    def get_nowait(self) -> T:
        """The next item; ``WouldBlock`` when there is none yet, ``EndOfStream`` once closed
        and empty."""
        if not self._items:
            if self._closed or self._stopped:
                raise anyio.EndOfStream
            raise anyio.WouldBlock
        item = self._items.popleft()
        putter = self._putter
        if putter is not None:
            self._putter = None
            putter.set()
        return item

    async def get(self) -> T:
        """The next item, waiting for one; ``EndOfStream`` once closed and empty (after a
        checkpoint: a cancelled consumer sees its cancellation first, as with anyio's)."""
        while not self._items:
            if self._closed or self._stopped:
                await anyio.lowlevel.checkpoint()
                raise anyio.EndOfStream
            event = self._getter = anyio.Event()
            try:
                await event.wait()
            finally:
                if self._getter is event:
                    self._getter = None  # cancelled: no longer waiting (``waiting``)
        return self.get_nowait()

    def __aiter__(self) -> Channel[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.get()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """The producer is done: the consumer gets what is queued, then ``EndOfStream``."""
        self._closed = True
        self._wake()

    def stop(self) -> None:
        """The consumer is gone: what is queued is dropped, and ``put`` refuses from now on."""
        self._stopped = True
        self._items.clear()
        self._wake()

    def _wake(self) -> None:
        for event in (self._getter, self._putter):
            if event is not None:
                event.set()
        self._getter = self._putter = None


@asynccontextmanager
async def consuming(channel: Channel[T]) -> AsyncIterator[Channel[T]]:
    """The consumer's block: leaving it (done, failed or cancelled) stops ``channel``, so its
    producer is refused instead of waiting for room that will never come."""
    try:
        yield channel
    finally:
        channel.stop()
