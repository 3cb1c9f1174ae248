"""Wall and CPU time of ``bridge speak --local`` for a long text, written to a WAV file.

Prints figures; asserts nothing. Run: ``uv run python benchmarks/speak_local_speed.py [--kb 500]``.

The text is made here (the same every run: plain English sentences and paragraphs, ``--kb``
kilobytes of UTF-8), spoken by the CLI in a subprocess (the emulator with espeak-ng in-process,
``--out`` a WAV in a temporary folder that is removed after), and measured from outside: wall
time, the child's CPU (user + system, from ``resource``), the audio's length and the machine's
load average before and after. ``--engine-only`` also times the espeak engine alone on the
same sentences (one ``synthesize`` call per sentence, one thread), to tell what the engine
costs from what the rest of the path costs.

``--baseline REV`` also runs another commit's ``bridge`` (checked out with ``git worktree add
--detach`` into a temporary folder, removed after) on this interpreter, first on
``PYTHONPATH`` and as the working directory (``python -m`` puts the working directory first
on the path), interleaved with this tree (baseline, this tree, baseline, ...) ``--runs``
times, and prints medians and spreads (min-max) of both.

Bytecode: an install runs from cached bytecode, so by default every run writes and reads its
bytecode under a temporary ``PYTHONPYCACHEPREFIX`` (``PYTHONDONTWRITEBYTECODE`` removed), after
one untimed warm-up run per tree on 1 KB of the text; ``--no-bytecode-cache`` compiles every
module from source in every run instead (in the CLI and in each espeak worker process).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
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


ROOT = Path(__file__).resolve().parent.parent


def run_once(
    text_file: Path, out: Path, tree: Path | None, pycache: Path | None = None
) -> tuple[float, float, float]:
    """``(wall s, CPU s, audio s)`` of one ``bridge speak --local --out`` run of ``tree``
    (``None``: this one), with its bytecode under ``pycache`` (``None``: compiled each run)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "speak", "--local", "--out", str(out), str(text_file)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tree or ROOT,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(done.stderr.strip().splitlines()[-1:], file=sys.stderr)
        raise SystemExit(f"bridge speak failed with exit {done.returncode}")
    with wave.open(str(out), "rb") as wav:
        audio = wav.getnframes() / wav.getframerate()
    return wall, cpu, audio


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=int, default=500)
    parser.add_argument("--engine-only", action="store_true")
    parser.add_argument("--baseline", default=None, help="a commit to compare with")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-bytecode-cache", action="store_true")
    args = parser.parse_args()
    text = make_text(args.kb)
    load0 = os.getloadavg()
    root = ROOT
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "text.txt"
        source.write_text(text, encoding="utf-8")
        out = Path(tmp) / "speech.wav"
        pycache = None if args.no_bytecode_cache else Path(tmp) / "pycache"
        warm = Path(tmp) / "warm.txt"
        warm.write_text(make_text(1), encoding="utf-8")
        trees: dict[str, Path | None] = {"this tree": None}
        if args.baseline:
            base = Path(tmp) / "baseline"
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(root),
                    "worktree",
                    "add",
                    "--detach",
                    "-q",
                    str(base),
                    args.baseline,
                ],
                check=True,
            )
            trees = {f"baseline {args.baseline}": base, "this tree": None}
        figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
        try:
            if pycache is not None:
                for tree in trees.values():  # untimed: writes this tree's bytecode
                    run_once(warm, out, tree, pycache)
            for _ in range(args.runs):
                for name, tree in trees.items():
                    figures[name].append(run_once(source, out, tree, pycache))
        finally:
            if args.baseline:
                subprocess.run(
                    ["git", "-C", str(root), "worktree", "remove", "--force", str(base)],
                    check=False,
                )
    load1 = os.getloadavg()
    kb = len(text.encode("utf-8")) / 1000
    audio = figures["this tree"][0][2]
    cache = "compiled every run" if pycache is None else "cached"
    print(
        f"text: {kb:.0f} KB; audio: {audio:.0f} s ({audio / 3600:.2f} h); {args.runs} run(s); "
        f"bytecode {cache}"
    )
    for name, runs in figures.items():
        walls = [w for w, _, _ in runs]
        cpus = [c for _, c, _ in runs]
        print(
            f"{name}: bridge speak --local --out: wall {spread(walls)} s, "
            f"CPU {spread(cpus)} s (user+system, worker processes included); "
            f"CPU per audio second {statistics.median(cpus) / audio * 1000:.2f} ms"
        )
    if args.engine_only:
        engine = engine_only(text)
        print(f"espeak engine alone, same text, one thread: CPU {engine:.1f} s")
    print(
        "load average (1/5/15 min) "
        + " ".join(f"{x:.2f}" for x in load0)
        + " before, "
        + " ".join(f"{x:.2f}" for x in load1)
        + f" after, on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
