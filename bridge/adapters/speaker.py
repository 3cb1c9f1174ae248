"""A local speaker sink (optional extra ``audio``: sounddevice + PortAudio).

Audio chunks are queued in a small jitter buffer; playback starts once ``prebuffer_ms`` of
audio is queued (or the turn ends), so network jitter between deltas does not cause gaps.
The device callback pulls from the buffer on PortAudio's thread; an underrun plays silence.
``samples_played`` counts the samples the device actually consumed. ``stop`` (barge-in) keeps
only a short fade-out of what was queued, so speech ends without a click, and drops the rest.
"""

from __future__ import annotations

import array
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

import anyio

from bridge.qwen.client import AudioChunk

__all__ = ["OutputStream", "SpeakerSink", "open_speaker"]


class OutputStream(Protocol):
    """The part of ``sounddevice.RawOutputStream`` we use (a fake in tests)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


StreamFactory = Callable[[int, Callable[[Any, int, Any, Any], None]], OutputStream]


def _sounddevice_factory(
    sample_rate: int, callback: Callable[[Any, int, Any, Any], None]
) -> OutputStream:
    import sounddevice  # type: ignore[import-not-found,import-untyped,unused-ignore]

    stream: OutputStream = sounddevice.RawOutputStream(
        samplerate=sample_rate, channels=1, dtype="int16", callback=callback, latency="low"
    )
    return stream


def open_speaker(sample_rate: int) -> SpeakerSink | None:
    """A speaker sink on the default output device, or ``None`` when there is none (no
    ``audio`` extra, no PortAudio, or no device: servers, CI and containers)."""
    try:
        import sounddevice

        sounddevice.query_devices(kind="output")
    except Exception:  # ImportError, OSError (no PortAudio), PortAudioError (no device)
        return None
    return SpeakerSink(sample_rate)


def _fade(pcm: bytes) -> bytes:
    """A linear fade to zero over ``pcm`` (s16le)."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    n = len(samples)
    for i in range(n):
        samples[i] = int(samples[i] * (n - i) / n)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


class SpeakerSink:
    """Plays PCM s16le mono on a local output device."""

    def __init__(
        self,
        sample_rate: int,
        *,
        prebuffer_ms: int = 80,
        fade_ms: int = 12,
        stream_factory: StreamFactory | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self._prebuffer = sample_rate * prebuffer_ms // 1000 * 2
        self._fade_bytes = sample_rate * fade_ms // 1000 * 2
        self._factory = stream_factory or _sounddevice_factory
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._played = 0
        self._stream: OutputStream | None = None
        self._closed = False

    @property
    def samples_played(self) -> int:
        with self._lock:
            return self._played

    @property
    def queued_samples(self) -> int:
        with self._lock:
            return len(self._buf) // 2

    def _callback(self, outdata: Any, frames: int, _time: Any, _status: Any) -> None:
        want = frames * 2
        with self._lock:
            n = min(len(self._buf), want)
            data = bytes(self._buf[:n])
            del self._buf[:n]
            self._played += n // 2
        outdata[:n] = data
        if n < want:
            outdata[n:want] = bytes(want - n)  # underrun: silence, never stale data

    def _start(self) -> None:
        if self._stream is None and not self._closed:
            self._stream = self._factory(self.sample_rate, self._callback)
            self._stream.start()

    async def write(self, chunk: AudioChunk) -> None:
        if self._closed:
            return
        with self._lock:
            self._buf += chunk.data
            ready = len(self._buf) >= self._prebuffer
        if ready:
            self._start()

    async def _drain(self, limit: float) -> None:
        with anyio.move_on_after(limit):
            while self.queued_samples > 0:
                await anyio.sleep(0.01)

    def _shutdown(self) -> None:
        self._closed = True
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()

    async def stop(self) -> None:
        """Barge-in: fade out over a few milliseconds and drop everything else queued."""
        with self._lock:
            head = bytes(self._buf[: self._fade_bytes])
            self._buf[:] = _fade(head)
        if self._stream is not None:
            await self._drain(0.2)
        self._shutdown()

    async def close(self) -> None:
        """End of turn: play what is queued (bounded by its duration plus a second)."""
        if self.queued_samples:
            self._start()
            await self._drain(self.queued_samples / self.sample_rate + 1.0)
        self._shutdown()
