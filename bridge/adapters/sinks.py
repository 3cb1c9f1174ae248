"""Audio sinks: where a turn's audio goes. Each reports how many samples it really delivered.

A sink receives PCM s16le mono chunks with ``write``; ``stop`` is barge-in (drop whatever is
buffered and accept nothing more from this turn); ``close`` ends normally. ``samples_played``
is what the listener got: written to a file, or handed to the consumer of an iterator. The
pipeline computes the spoken history from it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bridge.adapters.wav import WavWriter
from bridge.core.errors import ConfigError
from bridge.qwen.client import AudioChunk

__all__ = [
    "AudioSink",
    "IteratorSink",
    "LeavesEarly",
    "NullSink",
    "PcmSink",
    "StopsAtOnce",
    "TakesAtOnce",
    "WavSink",
]


@runtime_checkable
class AudioSink(Protocol):
    """What the pipeline needs from a place that plays or stores audio."""

    @property
    def samples_played(self) -> int: ...

    async def write(self, chunk: AudioChunk) -> None: ...

    async def stop(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class StopsAtOnce(Protocol):
    """A sink that can also stop synchronously: ``Turn.interrupt()`` (not async) calls
    ``stop_now`` so that no audio reaches the listener once it returns; ``stop`` still
    follows. For sinks whose listener takes audio in another task (``IteratorSink``)."""

    def stop_now(self) -> None: ...


@runtime_checkable
class LeavesEarly(Protocol):
    """A sink whose listener can go away before the turn ends (the consumer of an
    ``IteratorSink`` that stops iterating). ``listener_left`` then turns true, and the turn
    ends as at a barge-in: the speech stops and the history is cut at ``samples_played``."""

    @property
    def listener_left(self) -> bool: ...


@runtime_checkable
class TakesAtOnce(Protocol):
    """A sink that can tell whether a ``write`` now would return without waiting for its
    listener (to pace it, or for room in a queue), a wait on the network aside. While it does,
    the speech stage writes a chunk from the task that received it instead of waking its
    player task for it (one event-loop wake-up less per chunk); the order of chunks is kept."""

    def ready(self) -> bool: ...


class NullSink:
    """Counts samples and keeps nothing (for benchmarks and tests)."""

    def __init__(self) -> None:
        self.samples_played = 0
        self.stopped = False

    async def write(self, chunk: AudioChunk) -> None:
        if not self.stopped:
            self.samples_played += chunk.samples

    async def stop(self) -> None:
        self.stopped = True

    async def close(self) -> None:
        pass


class WavSink:
    """Writes a WAV file as audio arrives (header patched on close).

    The file is created when the first audio arrives, not before: a turn that ends with no
    audio (an error, nothing to speak) leaves no empty file behind, and an existing file at
    ``path`` is untouched. ``written`` says whether the file was created.
    """

    def __init__(self, path: str | Path, sample_rate: int) -> None:
        self._path = Path(path)
        self._rate = sample_rate
        self._writer: WavWriter | None = None
        self._stopped = False

    @property
    def samples_played(self) -> int:
        return 0 if self._writer is None else self._writer.samples

    @property
    def path(self) -> Path:
        return self._path

    @property
    def written(self) -> bool:
        return self._writer is not None

    async def write(self, chunk: AudioChunk) -> None:
        if self._stopped or not chunk.data:
            return
        if self._writer is None:
            try:
                self._writer = WavWriter(self._path, self._rate)
            except OSError as exc:
                self._stopped = True
                raise ConfigError(f"cannot write {self._path}: {exc.strerror}") from None
        self._writer.write(chunk.data)

    async def stop(self) -> None:
        self._stopped = True
        if self._writer is not None:
            self._writer.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class PcmSink:
    """Raw PCM s16le mono to a binary file object (stdout by default), flushed per chunk."""

    def __init__(self, out: BinaryIO | None = None) -> None:
        self._out = out if out is not None else sys.stdout.buffer
        self.samples_played = 0
        self._stopped = False

    async def write(self, chunk: AudioChunk) -> None:
        if self._stopped:
            return
        self._out.write(chunk.data)
        self._out.flush()
        self.samples_played += chunk.samples

    async def stop(self) -> None:
        self._stopped = True

    async def close(self) -> None:
        self._out.flush()


class IteratorSink:
    """Hands chunks to an ``async for`` consumer through a small bounded buffer.

    ``samples_played`` counts the samples the consumer has taken. ``stop`` (or ``stop_now``,
    the same without awaiting, which ``Turn.interrupt()`` calls) drops what is buffered (those
    samples were never heard) and ends the iteration: from then on not one chunk reaches the
    consumer, not even one handed to it just before while it waited.

    A consumer that stops iterating early (``break``, an error, or one that has not taken
    what is buffered when the turn ends, see ``close``) has left: ``listener_left`` (see
    ``LeavesEarly``) turns true and the turn stops as at a barge-in, recording as heard only
    what the consumer took.
    """

    def __init__(self, max_chunks: int = 8) -> None:
        send: MemoryObjectSendStream[AudioChunk]
        receive: MemoryObjectReceiveStream[AudioChunk]
        send, receive = anyio.create_memory_object_stream[AudioChunk](max_chunks)
        self._send = send
        self._receive = receive
        self._stopped = False
        self._closed = False
        self._left = False
        self._written = 0  # samples handed to the buffer
        self._ended = anyio.Event()  # the iteration is over (the end, a stop, or left)
        self.samples_played = 0

    @property
    def listener_left(self) -> bool:
        """The consumer went away with audio untaken (not by ``stop``): it did not hear it."""
        if self._stopped:
            return False
        return self._left or (self._closed and self.samples_played < self._written)

    async def write(self, chunk: AudioChunk) -> None:
        # Counted before it is handed over, so never less than the consumer has taken;
        # taken back when it was not (a stop, a consumer gone, a cancelled write).
        self._written += chunk.samples
        handed = False
        try:
            await self._send.send(chunk)
            handed = True
        except anyio.ClosedResourceError:
            pass  # after stop() the chunk is dropped on purpose (barge-in)
        except anyio.BrokenResourceError:
            self._left = True  # nobody iterates any more
        finally:
            if not handed:
                self._written -= chunk.samples

    def stop_now(self) -> None:
        """Barge-in, at once (see ``StopsAtOnce``)."""
        self._stopped = True
        self._send.close()
        while True:
            try:
                self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break

    async def stop(self) -> None:
        self.stop_now()

    async def close(self) -> None:
        """The end of the audio: waits until the consumer has taken what is buffered (like a
        speaker playing out its queue; a turn bounds the wait) or has stopped iterating."""
        self._send.close()
        self._closed = True
        if self.samples_played < self._written:
            await self._ended.wait()

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AudioChunk]:
        try:
            async with self._receive:
                async for chunk in self._receive:
                    if self._stopped:
                        # Handed over before the stop while the consumer waited, taken after
                        # it: audio after a barge-in is never delivered.
                        break
                    self.samples_played += chunk.samples
                    yield chunk
        finally:
            if self.samples_played < self._written:
                self._left = True  # it stopped with audio buffered for it
            self._ended.set()
