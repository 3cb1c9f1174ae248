"""CPU of the heard-text bookkeeping over one long turn, against an earlier commit's (prints).

A turn of ``--responses`` sentences, each appended, its audio counted in ten deltas, its
caption timings read before and after its ``response.done`` (as ``bridge serve`` does for the
``segment.timing`` events), and the heard text read at the end: the calls ``HeardTracker``
gets in a turn. The current ``bridge/core/heard.py`` and the one of ``--baseline`` (read with
``git show``, loaded as a module of its own) run in this one process, interleaved, ``--rounds``
times; printed: CPU ms per turn, median and spread, and the load average before and after.

Run: ``uv run python benchmarks/heard_bookkeeping.py --baseline 18f8d66``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load_baseline(rev: str) -> Any:
    source = subprocess.run(
        ["git", "show", f"{rev}:bridge/core/heard.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("heard_baseline")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:bridge/core/heard.py", "exec"), module.__dict__)
    return module.HeardTracker


def one_turn(tracker_class: Any, responses: int) -> float:
    t = tracker_class()
    start = time.process_time()
    for i in range(responses):
        text = f"This is sentence number {i}, with a few more words in it."
        t.appended(text, text + " ")
        rid = f"r{i}"
        t.response_started(rid)
        for _ in range(10):
            t.audio(rid, 2400)
        t.timings(24000)
        t.response_done(rid, len(text) + 1)
        t.timings(24000)
    t.heard_text(t.samples_received // 2, 24000)
    return (time.process_time() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="a commit to compare with")
    parser.add_argument("--responses", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    from bridge.core.heard import HeardTracker

    old = load_baseline(args.baseline)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    figures: dict[str, list[float]] = {args.baseline: [], "current": []}
    for _ in range(args.rounds):
        figures[args.baseline].append(one_turn(old, args.responses))
        figures["current"].append(one_turn(HeardTracker, args.responses))
    print(f"CPU ms per turn of {args.responses} responses, {args.rounds} rounds interleaved:")
    for name, values in figures.items():
        print(f"  {name:10} {statistics.median(values):7.1f} ({min(values):.1f}-{max(values):.1f})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
