"""Audio sinks: where a turn's audio goes. Each reports how many samples it really delivered.

A sink receives PCM s16le mono chunks with ``write``; ``stop`` is barge-in (drop whatever is
buffered and accept nothing more from this turn); ``close`` ends normally. ``samples_played``
is what the listener got: written to a file, or handed to the consumer of an iterator. The
pipeline computes the spoken history from it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bridge.adapters.wav import WavWriter
from bridge.core.errors import ConfigError
from bridge.qwen.client import AudioChunk

__all__ = ["AudioSink", "IteratorSink", "NullSink", "PcmSink", "StopsAtOnce", "WavSink"]


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
    """

    def __init__(self, max_chunks: int = 8) -> None:
        send: MemoryObjectSendStream[AudioChunk]
        receive: MemoryObjectReceiveStream[AudioChunk]
        send, receive = anyio.create_memory_object_stream[AudioChunk](max_chunks)
        self._send = send
        self._receive = receive
        self._stopped = False
        self.samples_played = 0

    async def write(self, chunk: AudioChunk) -> None:
        # After stop() the chunk is dropped on purpose (barge-in).
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await self._send.send(chunk)

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
        self._send.close()

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AudioChunk]:
        async with self._receive:
            async for chunk in self._receive:
                if self._stopped:
                    # Handed over before the stop while the consumer waited, taken after it:
                    # audio after a barge-in is never delivered.
                    break
                self.samples_played += chunk.samples
                yield chunk
