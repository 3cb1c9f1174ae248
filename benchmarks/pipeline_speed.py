"""Figures for the turn pipeline (prints numbers; not a test).

1. Timeline medians for scripted model speeds against the emulator's realistic latency model
   (0.5 s first packet, RTF 0.5), next to a "wait for the whole reply" baseline that speaks
   only once the model has finished.
2. ``commit_first`` on and off: first audio for replies whose first segment ends at a comma.
3. The latency bridge itself adds, segment ready → append on the wire (p50/p99), with 1, 50
   and 200 concurrent turns in one process (the emulator runs in its own process, tone
   engine, no added latency, so the figure is ours).

Run: ``uv run python benchmarks/pipeline_speed.py [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import AsyncIterator

import anyio

from bridge.adapters.sinks import NullSink
from bridge.core.result import TurnResult
from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
from bridge.logs import configure_logging
from bridge.pipeline import PipelineOptions, TTSTarget, Turn
from bridge.qwen import SessionConfig, Timeouts

REPLY = (
    "If you have some eggs at home, a simple omelette takes about ten minutes to cook. "
    "Add cheese and herbs for flavour. Serve it with bread and a green salad. "
    "Enjoy your dinner!"
)


async def tokens(text: str, rate: float, *, buffered: bool = False) -> AsyncIterator[str]:
    words = text.split(" ")
    pieces = [w if i == len(words) - 1 else w + " " for i, w in enumerate(words)]
    if buffered:  # the baseline: nothing is spoken until the model has finished
        await anyio.sleep(len(pieces) / rate)
        yield "".join(pieces)
        return
    for piece in pieces:
        await anyio.sleep(1 / rate)
        yield piece


def med(values: list[float | None]) -> float:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run_turns(url: str, rate: float, runs: int, **kw: object) -> list[TurnResult]:
    buffered = bool(kw.pop("buffered", False))
    options = PipelineOptions(**kw)  # type: ignore[arg-type]
    out = []
    for _ in range(runs):
        target = TTSTarget(url=url, config=SessionConfig())
        out.append(
            await Turn(
                tokens(REPLY, rate, buffered=buffered), NullSink(), target=target, options=options
            ).run()
        )
    return out


async def timelines(runs: int) -> None:
    async with serve_emulator(
        EmulatorOptions(engine="tone", latency=LatencyModel.realistic())
    ) as emu:
        print("\n1. timeline medians (ms), emulator latency: 0.5 s first packet, RTF 0.5")
        print(
            f"{'model speed':>12} {'mode':>10} {'ttft':>6} {'segment':>8} {'append':>7} "
            f"{'audio':>6} {'llm done':>9}"
        )
        for rate in (20.0, 50.0, 100.0):
            for name, buffered in (("bridge", False), ("wait-all", True)):
                res = await run_turns(emu.url, rate, runs, buffered=buffered)
                print(
                    f"{rate:>8.0f} t/s {name:>10} {med([r.ttft_ms for r in res]):6.0f} "
                    f"{med([r.first_segment_ms for r in res]):8.0f} "
                    f"{med([r.first_append_ms for r in res]):7.0f} "
                    f"{med([r.first_audio_ms for r in res]):6.0f} "
                    f"{med([r.llm_done_ms for r in res]):9.0f}"
                )
        print("\n2. commit_first (first segment ends at a comma), 20 tokens/s")
        for flag in (True, False):
            res = await run_turns(emu.url, 20.0, runs, commit_first=flag)
            print(
                f"   commit_first={flag!s:5}: first audio median "
                f"{med([r.first_audio_ms for r in res]):.0f} ms "
                f"(first segment kind: {res[0].segments[0].kind})"
            )


async def concurrent(url: str, n: int) -> tuple[float, float, int]:
    added: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        target = TTSTarget(url=url, timeouts=Timeouts(connect=60, idle=60, first_audio=60))
        res = await Turn(tokens(REPLY, 50.0), NullSink(), target=target).run()
        if res.error is not None:
            errors += 1
        for seg in res.segments:
            if seg.appended_ms is not None and seg.ready_ms is not None:
                added.append(seg.appended_ms - seg.ready_ms)

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return pct(added, 0.5), pct(added, 0.99), errors


def main() -> None:
    configure_logging()  # warnings only: the per-turn info lines would swamp the figures
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs = 3 if args.quick else 7
    anyio.run(timelines, runs, backend="asyncio")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "tts-server", "--engine", "tone"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        print("\n3. latency bridge adds: segment ready -> append on the wire (ms)")
        for n in (1, 50) if args.quick else (1, 50, 200):
            p50, p99, errors = anyio.run(concurrent, url, n, backend="asyncio")
            print(f"   {n:4d} concurrent turns: p50 {p50:6.2f}  p99 {p99:7.2f}  errors {errors}")
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
