"""The silence a listener hears when the TTS stalls mid-response (prints numbers; not a test).

The emulator's first connection stops sending after a few audio deltas (``Faults(
stall_after_deltas=...)``); the turn notices after ``Timeouts.stall``, reconnects, re-sends
what was not spoken and goes on. The figure is the longest gap between two audio chunks at
the sink (the silence the listener hears), for the current default bound and, as the
baseline in the same run, for the bound that applied before (``idle``, 30 s), interleaved.
The turn's own delay (reconnect, re-send, first packet) is the silence minus the bound.

Run: ``uv run python benchmarks/tts_stall.py [--reps 5] [--baseline-reps 1]``
(each baseline repetition takes about 30 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import AsyncIterator

import anyio

from bridge.adapters.sinks import NullSink
from bridge.local import EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.logs import configure_logging
from bridge.pipeline import PipelineOptions, ReconnectPolicy, TTSTarget, Turn
from bridge.qwen import AudioChunk, Timeouts

REPLY = (
    "The tide comes in twice a day. Sea birds follow the boats back to the harbour. "
    "In winter the waves grow tall and grey, and the beach is quiet. "
    "By spring the first swimmers are back."
)


class GapSink(NullSink):
    """Remembers when each chunk arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    async def write(self, chunk: AudioChunk) -> None:
        self.times.append(anyio.current_time())
        await super().write(chunk)


async def tokens(text: str) -> AsyncIterator[str]:
    for word in text.split(" "):
        yield word + " "
        await anyio.sleep(0.005)


async def one(stall: float) -> tuple[float, int]:
    # A fresh emulator per run: only its first connection stalls.
    faults = Faults(stall_after_deltas=4, connections=1)
    # Paced like a real service (RTF 0.5), so a gap at the sink is a real silence.
    options = EmulatorOptions(engine="tone", faults=faults, latency=LatencyModel(rtf=0.5))
    sink = GapSink()
    policy = PipelineOptions(reconnect=ReconnectPolicy(attempts=1, delay=0))
    async with serve_emulator(options) as emu:
        target = TTSTarget(url=emu.url, timeouts=Timeouts(stall=stall))
        result = await Turn(tokens(REPLY), sink, target=target, options=policy).run()
    assert result.error is None, result.error
    gaps = [b - a for a, b in zip(sink.times, sink.times[1:], strict=False)]
    return max(gaps), result.reconnects


async def main(reps: int, baseline_reps: int) -> None:
    configure_logging(level="ERROR")
    default = f"stall {Timeouts().stall:g} s (default)"
    runs: dict[str, list[float]] = {default: [], "stall 30 s (before)": []}
    for i in range(max(reps, baseline_reps)):
        if i < reps:
            gap, reconnects = await one(Timeouts().stall)
            assert reconnects == 1
            runs[default].append(gap)
        if i < baseline_reps:
            gap, reconnects = await one(30.0)
            assert reconnects == 1
            runs["stall 30 s (before)"].append(gap)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("longest silence at the sink during a turn whose TTS stalls mid-response:")
    for name, gaps in runs.items():
        if gaps:
            print(
                f"  {name:22s} median {statistics.median(gaps):6.2f} s  "
                f"min {min(gaps):6.2f}  max {max(gaps):6.2f}  (n={len(gaps)})"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--baseline-reps", type=int, default=1)
    args = parser.parse_args()
    anyio.run(main, args.reps, args.baseline_reps)
