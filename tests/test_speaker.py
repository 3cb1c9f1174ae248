"""The speaker sink with a fake output stream: jitter buffer, accounting, fade-out on stop."""

from __future__ import annotations

import array
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from bridge.adapters.speaker import SpeakerSink, open_speaker
from bridge.qwen import AudioChunk

pytestmark = pytest.mark.anyio
RATE = 8000


class FakeStream:
    """Pulls from the callback in 10 ms blocks on a thread, like PortAudio."""

    def __init__(self, rate: int, callback: Callable[[Any, int, Any, Any], None]) -> None:
        self.callback = callback
        self.frames = rate // 100
        self.out = bytearray()
        self.started = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            buf = bytearray(self.frames * 2)
            self.callback(memoryview(buf), self.frames, None, None)
            self.out += buf

    def start(self) -> None:
        self.started.set()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def close(self) -> None:
        pass


def tone_chunk(samples: int, value: int = 10000) -> AudioChunk:
    data = array.array("h", [value] * samples).tobytes()
    return AudioChunk(data, RATE, "resp_x")


async def test_prebuffer_then_play_everything_on_close() -> None:
    streams: list[FakeStream] = []

    def factory(rate: int, cb: Callable[[Any, int, Any, Any], None]) -> FakeStream:
        streams.append(FakeStream(rate, cb))
        return streams[-1]

    sink = SpeakerSink(RATE, prebuffer_ms=100, stream_factory=factory)
    await sink.write(tone_chunk(400))  # 50 ms: below the jitter buffer
    assert not streams
    await sink.write(tone_chunk(400))  # 100 ms: playback starts
    assert streams and streams[0].started.is_set()
    await sink.close()
    assert sink.samples_played == 800
    played = array.array("h", bytes(streams[0].out))
    assert list(played[:800]).count(10000) == 800


async def test_stop_fades_out_and_drops_the_rest() -> None:
    streams: list[FakeStream] = []

    def factory(rate: int, cb: Callable[[Any, int, Any, Any], None]) -> FakeStream:
        streams.append(FakeStream(rate, cb))
        return streams[-1]

    sink = SpeakerSink(RATE, prebuffer_ms=10, fade_ms=10, stream_factory=factory)
    await sink.write(tone_chunk(RATE * 2))  # two seconds queued
    await anyio.sleep(0.05)
    before = sink.samples_played
    await sink.stop()
    after = sink.samples_played
    assert after - before <= RATE // 100 + RATE // 50  # at most the fade (+ one block)
    assert after < RATE  # the two seconds were not played out
    await sink.write(tone_chunk(100))  # nothing is accepted after stop
    assert sink.queued_samples == 0
    played = array.array("h", bytes(streams[0].out))
    tail = [abs(v) for v in played[after - 40 : after]]
    assert tail == sorted(tail, reverse=True)  # the end ramps down: no click


async def test_short_audio_below_the_prebuffer_still_plays_on_close() -> None:
    streams: list[FakeStream] = []

    def factory(rate: int, cb: Callable[[Any, int, Any, Any], None]) -> FakeStream:
        streams.append(FakeStream(rate, cb))
        return streams[-1]

    sink = SpeakerSink(RATE, prebuffer_ms=500, stream_factory=factory)
    await sink.write(tone_chunk(160))
    await sink.close()
    assert sink.samples_played == 160


def test_open_speaker_returns_none_without_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    # No audio extra, no PortAudio or no device: the caller is told there is no speaker.
    import sys
    import types

    def no_device(**_kwargs: object) -> None:
        raise OSError("PortAudio: no output device")

    fake = types.ModuleType("sounddevice")
    fake.query_devices = no_device  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    assert open_speaker(24000) is None
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # the audio extra not installed
    assert open_speaker(24000) is None
    fake.query_devices = lambda **_kwargs: {"name": "speakers"}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    assert isinstance(open_speaker(24000), SpeakerSink)
