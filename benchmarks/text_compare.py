"""Scrubber + segmenter throughput of this checkout next to a baseline copy, in one run.

Run: ``uv run python benchmarks/text_compare.py BASELINE [--rounds 7] [--runs 3]``

``BASELINE`` is a directory holding another version's ``bridge`` package, for example
``git archive COMMIT bridge | tar -x -C /tmp/base``. Each round starts one fresh process per
side, alternating which goes first (interleaved, so a change in machine load hits both); a
process times ``benchmarks/text_speed.py``'s 50,000-character reply in 4-character deltas and
its 10 and 40 KB unpunctuated texts (median of ``--runs``). Printed per side: the median over
the rounds and the spread (min-max) in MB/s of UTF-8 input, by CPU time (what the code costs,
less sensitive to other load on a shared machine) and by wall time, the 40 KB / 10 KB CPU
time ratio (4.0 is linear), and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_PROBE = """
import json, statistics, sys, time
sys.path.insert(0, {bench!r})
import text_speed as t
import bridge.text
assert bridge.text.__file__.startswith({root!r}), bridge.text.__file__

def cpu(parts):
    times = []
    for _ in range({runs}):
        start = time.process_time()
        count = t.run_bridge(parts)
        times.append(time.process_time() - start)
    return statistics.median(times), count

text = t.corpus()
parts = t.deltas(text)
wall, count = t.timed(t.run_bridge, parts, {runs})
seconds, _ = cpu(parts)
linear = [cpu(t.deltas(t.unpunctuated(kb * 1000)))[0] for kb in (10, 40)]
size = len(text.encode())
print(json.dumps({{"wall": size / wall / 1e6, "mbs": size / seconds / 1e6, "segments": count,
                  "ratio": linear[1] / linear[0]}}))
"""


def probe(root: Path, runs: int) -> dict[str, float]:
    code = _PROBE.format(bench=str(HERE), root=str(root), runs=runs)
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=HERE,  # not the checkout: its bridge/ would come first on the path
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", type=Path, help="a directory with a baseline bridge package")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3, help="runs per process (median)")
    args = parser.parse_args()
    sides = {"baseline": args.baseline.resolve(), "this checkout": ROOT}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    load_before = os.getloadavg()
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            results[name].append(probe(sides[name], args.runs))
    load_after = os.getloadavg()
    print(
        f"scrubber + segmenter, {args.rounds} interleaved rounds x {args.runs} runs; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"({os.cpu_count()} CPUs)"
    )
    for name, rows in results.items():
        print(f"  {name}: {int(rows[0]['segments'])} segments")
        for key, label in (("mbs", "MB/s (CPU time)"), ("wall", "MB/s (wall time)")):
            values = [row[key] for row in rows]
            print(
                f"    {label:<18} {statistics.median(values):5.2f} "
                f"(spread {min(values):.2f}-{max(values):.2f})"
            )
        ratio = [row["ratio"] for row in rows]
        print(
            f"    40 KB / 10 KB time x{statistics.median(ratio):.2f} (spread "
            f"{min(ratio):.2f}-{max(ratio):.2f}; 4.00 is linear)"
        )


if __name__ == "__main__":
    main()
