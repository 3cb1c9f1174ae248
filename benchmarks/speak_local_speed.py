"""Wall and CPU time of ``bridge speak --local`` for a long text, written to a WAV file.

Prints figures; asserts nothing. Run: ``uv run python benchmarks/speak_local_speed.py [--kb 500]``.

The text is made here (the same every run: plain English sentences and paragraphs, ``--kb``
kilobytes of UTF-8), spoken by the CLI in a subprocess (the emulator with espeak-ng in-process,
``--out`` a WAV in a temporary folder that is removed after), and measured from outside: wall
time, the child's CPU (user + system, from ``resource``), the audio's length and the machine's
load average before and after. ``--engine-only`` also times the espeak engine alone on the
same sentences (one ``synthesize`` call per sentence, one thread), to tell what the engine
costs from what the rest of the path costs.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

WORDS = (
    "the quick brown fox jumps over a lazy dog while seven small birds sing near the old "
    "river and we walk home before evening rain begins"
).split()


def make_text(kb: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < kb * 1000:
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
        sentence = " ".join(words).capitalize() + rng.choice(".....?!,") + " "
        if rng.random() < 0.1:
            sentence += "\n\n"
        out.append(sentence)
        size += len(sentence)
    return "".join(out)


def engine_only(text: str) -> float:
    from bridge.local.engines import make_synthesizer
    from bridge.local.splitter import take_segments

    synth = make_synthesizer("espeak")
    segments, rest = take_segments(text, max_chars=160)
    segments.append(rest)
    t0 = time.process_time()
    for segment in segments:
        synth.synthesize(segment, sample_rate=24000)
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=int, default=500)
    parser.add_argument("--engine-only", action="store_true")
    args = parser.parse_args()
    text = make_text(args.kb)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "text.txt"
        source.write_text(text, encoding="utf-8")
        out = Path(tmp) / "speech.wav"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bridge", "speak", "--local", "--out", str(out), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            print(done.stderr.strip().splitlines()[-1:], file=sys.stderr)
            raise SystemExit(f"bridge speak failed with exit {done.returncode}")
        with wave.open(str(out), "rb") as wav:
            audio = wav.getnframes() / wav.getframerate()
    load1 = os.getloadavg()[0]
    kb = len(text.encode("utf-8")) / 1000
    print(f"text: {kb:.0f} KB; audio: {audio:.0f} s ({audio / 3600:.2f} h)")
    print(f"bridge speak --local --out: wall {wall:.1f} s, CPU {cpu:.1f} s (user+system)")
    print(f"  per second of audio: CPU {cpu / audio * 1000:.2f} ms")
    if args.engine_only:
        engine = engine_only(text)
        share = engine / cpu
        print(f"espeak engine alone, same text: CPU {engine:.1f} s ({share:.0%} of the run's)")
    print(f"load average {load0:.2f} before, {load1:.2f} after, on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
