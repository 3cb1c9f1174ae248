"""Several syntheses at once: espeak in worker processes, and a session that synthesizes ahead
while it sends audio in order; a failed synthesis is a clear error, never a hang."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedError

from bridge.core.errors import ConfigError, TTSError
from bridge.local import EmulatorOptions, serve_emulator
from bridge.local.engines.espeak import EspeakSynthesizer, espeak_settings
from bridge.local.engines.espeak_pool import EspeakPool, _Worker, request

SENTENCES = (
    "The first sentence is here.",
    "A second one follows it, a little longer than the first.",
    "Then a third.",
)


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30  # a bound against a hang, not a speed check
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def test_a_worker_process_speaks_exactly_what_this_process_speaks() -> None:
    # espeak-ng keeps some state between calls: compare the same calls in fresh processes (the
    # in-process engine in a fresh interpreter, hashed there).
    script = (
        "import hashlib, sys\n"
        "from bridge.local.engines.espeak import EspeakSynthesizer\n"
        "synth = EspeakSynthesizer()\n"
        "for s in sys.argv[1:]:\n"
        "    print(hashlib.sha256(synth.synthesize(s, sample_rate=24000)).hexdigest())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *SENTENCES], capture_output=True, text=True, check=True
    )
    expected = done.stdout.split()
    worker = _Worker()
    try:
        got = [
            worker.synthesize(request(s.encode(), espeak_settings(language=None, text=s), 24000))
            for s in SENTENCES
        ]
    finally:
        worker.stop()
    assert [hashlib.sha256(a).hexdigest() for a in got] == expected
    assert all(len(a) > 10000 for a in got)


def test_concurrent_calls_run_in_several_processes_and_each_gets_its_own_audio() -> None:
    synth = EspeakSynthesizer(processes=3)
    results: dict[int, bytes] = {}
    texts = ["Hello.", "This is a much longer sentence, with many more words in it.", "Yes."]

    def call(i: int) -> None:
        results[i] = synth.synthesize(texts[i], sample_rate=16000)

    pool = synth._pool
    assert pool is not None
    assert pool._acquire() is None  # this process's slot taken: the calls go to workers
    try:
        threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 1 <= len(pool.worker_pids()) <= 2  # at most processes - 1 workers
    finally:
        synth.close()
    lengths = [len(results[i]) for i in range(3)]
    assert lengths[1] > 2 * lengths[0] and lengths[1] > 2 * lengths[2]  # not swapped


def test_a_worker_that_dies_during_a_synthesis_fails_that_call_clearly() -> None:
    pool = EspeakPool(2)
    held = threading.Event()
    release = threading.Event()
    local_done: list[bytes] = []
    settings = espeak_settings(language=None, text="Hello.")

    # Keep this process's slot busy so the next call must go to a worker.
    def occupy_local() -> None:
        worker = pool._acquire()
        assert worker is None
        held.set()
        release.wait()
        with pool._cond:
            pool._local_free = True
            pool._cond.notify()
        local_done.append(b"")

    occupier = threading.Thread(target=occupy_local)
    occupier.start()
    held.wait()
    try:
        pool.synthesize(b"Warm up.", settings, 24000)  # starts the worker
        (pid,) = pool.worker_pids()
        os.kill(pid, signal.SIGSTOP)  # it cannot answer until it is killed
        errors: list[BaseException] = []

        def call() -> None:
            try:
                pool.synthesize(b"Hello there.", settings, 24000)
            except TTSError as exc:
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        wait_until(lambda: pool.busy == 2, "the call to reach the worker")
        os.kill(pid, signal.SIGKILL)
        caller.join(30)
        assert not caller.is_alive(), "the call hung on a dead worker"
        assert len(errors) == 1
        assert f"pid {pid}" in str(errors[0]) and "SIGKILL" in str(errors[0])
        # The next call starts a new worker and succeeds.
        assert len(pool.synthesize(b"Again.", settings, 24000)) > 1000
        assert pool.worker_pids() != [pid]
    finally:
        release.set()
        occupier.join()
        pool.close()
    assert pool.worker_pids() == []


def test_processes_must_be_a_positive_integer() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError):
            EspeakSynthesizer(processes=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="synthesis_workers"):
        EmulatorOptions(synthesis_workers=0)


class _Staggered:
    """The first segments take the longest to synthesize; records how many ran at once."""

    name = "staggered"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def synthesize(self, text: str, *, sample_rate: int, **_: Any) -> bytes:
        index = int(text.strip().split()[1].rstrip("."))
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.02 * (6 - index))
        with self.lock:
            self.running -= 1
        return bytes([index]) * 4800  # 100 ms at 24 kHz, every sample the segment's number


class _Failing:
    name = "failing"

    def synthesize(self, text: str, *, sample_rate: int, **_: Any) -> bytes:
        raise TTSError("the espeak worker process (pid 1) was killed by SIGKILL")


async def _speak(synth: Any, workers: int, texts: list[str]) -> list[dict[str, Any]]:
    options = EmulatorOptions(engine="tone", synthesis_workers=workers)
    events: list[dict[str, Any]] = []
    async with (
        serve_emulator(options, synthesizer=synth) as emu,
        ws_connect(emu.url + "?model=qwen3-tts-flash-realtime", proxy=None) as ws,
    ):
        await ws.send(json.dumps({"type": "session.update", "session": {"mode": "commit"}}))
        for text in texts:
            await ws.send(json.dumps({"type": "input_text_buffer.append", "text": text}))
            await ws.send(json.dumps({"type": "input_text_buffer.commit"}))
        await ws.send(json.dumps({"type": "session.finish"}))
        with anyio.fail_after(30), contextlib.suppress(ConnectionClosedError):  # no hang
            async for frame in ws:
                events.append(json.loads(frame))
    return events


@pytest.mark.anyio
async def test_segments_synthesized_ahead_are_sent_in_order() -> None:
    import base64

    synth = _Staggered()
    events = await _speak(synth, 4, [f"Segment {i}." for i in range(1, 6)])
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.audio.delta"
    )
    order = [audio[i] for i in range(0, len(audio), 4800)]
    assert order == [1, 2, 3, 4, 5]
    assert synth.most >= 2  # several ran at once
    kinds = [e["type"] for e in events]
    assert kinds.count("response.done") == 5 and kinds[-1] == "session.finished"
    # Each response's events stay together: created ... done, never interleaved.
    opened = 0
    for kind in kinds:
        if kind == "response.created":
            assert opened == 0
            opened = 1
        elif kind == "response.done":
            opened = 0


@pytest.mark.anyio
async def test_one_worker_synthesizes_one_segment_at_a_time() -> None:
    synth = _Staggered()
    await _speak(synth, 1, [f"Segment {i}." for i in range(1, 4)])
    assert synth.most == 1


@pytest.mark.anyio
async def test_a_failed_synthesis_is_a_server_error_then_the_connection_closes() -> None:
    events = await _speak(_Failing(), 2, ["Hello there."])
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["error"]["type"] == "server_error"
    assert "speech synthesis failed" in errors[0]["error"]["message"]
    assert "SIGKILL" in errors[0]["error"]["message"]


class _Counting:
    """Records how many syntheses had started when each response's end reached the client."""

    name = "counting"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = 0

    def synthesize(self, text: str, *, sample_rate: int, **_: Any) -> bytes:
        with self.lock:
            self.started += 1
        return bytes(2 * sample_rate // 2)  # 500 ms of silence


async def _started_at_each_end(workers: int, segments: int) -> list[int]:
    from bridge.local import LatencyModel

    synth = _Counting()
    # Paced sending (rtf 1: 500 ms of audio takes 500 ms to send) against instant syntheses:
    # the syntheses run as far ahead of the sending as the session lets them.
    latency = LatencyModel(rtf=1.0, delta_ms=100)
    options = EmulatorOptions(engine="tone", synthesis_workers=workers, latency=latency)
    seen: list[int] = []
    async with (
        serve_emulator(options, synthesizer=synth) as emu,
        ws_connect(emu.url + "?model=qwen3-tts-flash-realtime", proxy=None) as ws,
    ):
        await ws.send(json.dumps({"type": "session.update", "session": {"mode": "commit"}}))
        for i in range(segments):
            await ws.send(json.dumps({"type": "input_text_buffer.append", "text": f"S {i}."}))
            await ws.send(json.dumps({"type": "input_text_buffer.commit"}))
        await ws.send(json.dumps({"type": "session.finish"}))
        with anyio.fail_after(60), contextlib.suppress(ConnectionClosedError):  # no hang
            async for frame in ws:
                if json.loads(frame)["type"] == "response.done":
                    seen.append(synth.started)
    return seen


@pytest.mark.anyio
async def test_the_next_segments_are_synthesized_while_audio_is_still_being_sent() -> None:
    # One worker: the second segment's synthesis starts when the first's ends, not when the
    # first response's audio has all been sent; and the synthesis runs at most two segments
    # ahead of the one being sent (1 + 2 started when the first response ends).
    seen = await _started_at_each_end(1, 6)
    assert seen[0] == 3
    assert seen == [3, 4, 5, 6, 6, 6]


@pytest.mark.anyio
async def test_synthesis_ahead_is_bounded_by_twice_the_workers() -> None:
    seen = await _started_at_each_end(2, 8)
    assert seen[:3] == [5, 6, 7]
