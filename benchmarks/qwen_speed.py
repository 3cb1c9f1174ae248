"""Figures for the Qwen-TTS client and the local emulator (prints numbers; not a test).

1. Client overhead per audio delta: parse JSON + base64-decode + the AudioChunk, for a 100 ms
   delta at 24 kHz (microseconds, median of runs), on the fast path (``recv_chunk``: no typed
   event) and on the typed one (``parse_server_event``). ``benchmarks/hot_paths.py`` compares
   the whole receive with the way it was before.
2. End-to-end client cost per delta over loopback (emulator with the tone engine, no pacing),
   receiving with ``recv_chunk``.
3. Concurrent emulator sessions one core sustains at real time: the emulator runs in its own
   process pinned to CPU 0 (``taskset``) with the tone engine paced at real time (rtf 1.0);
   the clients run here, pinned to CPU 1. For N sessions at once, each speaks ~4 s of audio;
   we report the 95th percentile of the worst lateness per session (how far a delta arrived
   behind the real-time schedule). "Sustained" = p95 lateness under 150 ms.

Run: ``uv run python benchmarks/qwen_speed.py [--quick]``
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import anyio

from bridge.core import codec
from bridge.local import EmulatorOptions, serve_emulator
from bridge.qwen import AudioChunk, SessionConfig, Timeouts, connect
from bridge.qwen import events as ev


def parse_overhead(runs: int = 7, n: int = 20000, *, typed: bool = False) -> float:
    audio = bytes(range(256)) * (4800 // 256) + bytes(4800 % 256)
    frame = json.dumps(
        {
            "event_id": "event_B1osAAAAAAAAAAAAAAAAA",
            "type": "response.audio.delta",
            "response_id": "resp_B1osAAAAAAAAAAAAAAAAA",
            "item_id": "item_B1osAAAAAAAAAAAAAAAAA",
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(audio).decode(),
        }
    )
    medians = []
    for _ in range(runs):
        t0 = time.perf_counter()
        if typed:
            for _ in range(n):
                event = ev.parse_server_event(frame)
                assert isinstance(event, ev.ResponseAudioDelta)
                AudioChunk(event.audio, 24000, event.response_id)
        else:
            for _ in range(n):
                raw = ev.parse_frame(frame)
                AudioChunk(ev.delta_audio(raw), 24000, raw["response_id"])
        medians.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(medians)


async def loopback_per_delta(runs: int = 5) -> tuple[float, int]:
    per_delta = []
    deltas = 0
    text = "A fairly long sentence to produce many audio deltas from the tone engine. " * 4
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        for _ in range(runs):
            async with connect(url=emu.url, config=SessionConfig(mode="commit")) as tts:
                await tts.append(text)
                await tts.commit()
                t0 = time.perf_counter()
                deltas = 0
                while True:
                    event = await tts.recv_chunk()
                    if isinstance(event, AudioChunk):
                        deltas += 1
                    elif isinstance(event, ev.ResponseDone):
                        break
                per_delta.append((time.perf_counter() - t0) / deltas * 1e6)
    return statistics.median(per_delta), deltas


async def one_session(url: str, text: str, lateness: list[float], errors: list[str]) -> None:
    try:
        async with connect(
            url=url, config=SessionConfig(mode="commit"), timeouts=Timeouts(connect=60, idle=60)
        ) as tts:
            await tts.append(text)
            await tts.commit()
            first: float | None = None
            audio_s = 0.0
            worst = 0.0
            async for event in tts.events():
                if isinstance(event, ev.ResponseAudioDelta):
                    now = time.monotonic()
                    if first is None:
                        first = now
                    worst = max(worst, now - (first + audio_s))
                    audio_s += len(event.audio) / 2 / 24000
                elif isinstance(event, ev.ResponseDone):
                    break
            lateness.append(worst)
    except Exception as exc:  # a benchmark reports failures instead of stopping
        errors.append(type(exc).__name__)


async def concurrency(url: str, n: int) -> tuple[float, int, float]:
    text = "Concurrent sessions speak this sentence at real time for a few seconds."
    lateness: list[float] = []
    errors: list[str] = []
    t0 = time.monotonic()
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one_session, url, text, lateness, errors)
            if i % 50 == 49:
                await anyio.sleep(0.05)  # do not open every connection in the same instant
    elapsed = time.monotonic() - t0
    p95 = sorted(lateness)[int(0.95 * (len(lateness) - 1))] if lateness else float("inf")
    return p95, len(errors), elapsed


def start_server_on_cpu0() -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "bridge", "tts-server", "--engine", "tone", "--rtf", "1.0"]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--client-only", action="store_true", help="figures 1 and 2 only")
    args = ap.parse_args()
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    print(
        f"client parse+decode per 100 ms delta: {parse_overhead():.1f} µs fast path, "
        f"{parse_overhead(typed=True):.1f} µs typed event (medians of 7; codecs {codec.BACKENDS})"
    )
    per_delta, deltas = anyio.run(loopback_per_delta, backend="asyncio")
    print(f"client end-to-end per delta over loopback: {per_delta:.1f} µs ({deltas} deltas/run)")
    if args.client_only:
        return
    proc, url = start_server_on_cpu0()
    try:
        sizes = [25, 50, 100] if args.quick else [50, 100, 200, 400, 600, 800]
        print("sessions  p95-lateness  errors  wall")
        for n in sizes:
            p95, errs, wall = anyio.run(concurrency, url, n, backend="asyncio")
            verdict = "real time" if p95 < 0.150 and errs == 0 else "falls behind"
            print(f"{n:8d}  {p95 * 1000:9.0f} ms  {errs:6d}  {wall:4.1f} s  {verdict}")
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
