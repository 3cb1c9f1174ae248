"""Start-up and local-speech speed of this tree against a baseline commit, in the same run.

Prints figures; asserts nothing. Run: ``uv run python benchmarks/startup_speed.py
[--baseline REV] [--runs N] [--big-kb K] [--big-runs M] [--no-bytecode-cache]``.

The baseline (default ``HEAD~1``) is checked out with ``git worktree add --detach`` into a
temporary folder (removed at the end). Both trees run on this interpreter and virtual
environment, each first on ``PYTHONPATH``, from a fresh process each time, interleaved
(baseline, this tree, baseline, ...) so that a change of machine load hits both alike:

- ``import bridge``: wall time of ``python -c "import bridge"`` (interpreter start included;
  ``python -c pass`` is shown as the floor);
- ``bridge --help``: start to exit (the CLI's parser with every command's options);
- first PCM byte: from starting ``python -m bridge speak --local --out -`` with one sentence on
  stdin to the first byte of audio on its stdout, the CPU time (user + system) of that run (its
  espeak worker processes included), and the CPU time of the command's own process up to that
  byte (every thread, from ``/proc``; not its workers): what the first byte waits for when the
  workers have a core of their own, and far less moved by the machine's load than wall time;
- ``bridge tts-server``: from its start to its URL on stdout (ready to serve), and to the first
  audio delta of one sentence that a client (``websockets``' sync client, in this process, sent
  as soon as the URL appeared: connect, ``session.update`` in commit mode, append, commit) gets;
- ``--big-kb`` KB of English text through ``bridge speak --local --out -``, start to exit.

Each line shows the median and the spread (min-max) over the runs, and the 1/5/15-minute load
averages are printed before and after.

Bytecode: a real install runs from cached bytecode (pip compiles it at install; otherwise Python
writes ``__pycache__`` on the first import). So by default every run here writes and reads its
bytecode under a temporary ``PYTHONPYCACHEPREFIX`` (``PYTHONDONTWRITEBYTECODE`` removed), after one
untimed warm-up run per tree; ``--no-bytecode-cache`` compiles every module from source in every
run instead (what an environment with ``PYTHONDONTWRITEBYTECODE=1`` does: several hundred ms of CPU
more per command).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "Hello there, this is the first sentence. And here is a second one."
PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog, and then it runs back home before the "
    "evening rain begins to fall. Nobody in the village knew where it slept, but every "
    "morning its tracks crossed the field again, straight as a ruler. "
)


# Where the runs keep their bytecode (set by main; None: compile from source every run).
PYCACHE: dict[str, Path | None] = {"prefix": None}
# CPU seconds (user + system) of each first-PCM-byte run, per tree (its children included).
CPU: dict[Path, list[float]] = {}
# CPU seconds of the command's own process (its threads, not its children) up to its first
# PCM byte, per tree: its part of the critical path when its workers have cores of their own.
OWN_CPU: dict[Path, list[float]] = {}


def own_cpu(pid: int) -> float:
    """CPU seconds so far of every thread of process ``pid`` (Linux: the first field of each
    thread's ``/proc/PID/task/TID/schedstat``, in nanoseconds); NaN elsewhere."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with open(task / "schedstat") as f:
                total += int(f.read().split()[0])
    except OSError:
        return float("nan")
    return total / 1e9


def env_for(tree: Path) -> dict[str, str]:
    """This environment without keys, endpoints or bridge settings; ``tree`` first on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DASHSCOPE_API_KEY" and not k.startswith(("BRIDGE_", "OPENAI_"))
    }
    env["PYTHONPATH"] = str(tree)
    prefix = PYCACHE["prefix"]
    if prefix is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(prefix)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def help_run(tree: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bridge", "--help"],
        stdout=subprocess.DEVNULL,
        env=env_for(tree),
        cwd=tree,
        check=True,
    )
    return time.perf_counter() - start


def tts_server_ready(tree: Path, *, first_audio: bool = False) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "tts-server"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env_for(tree),
        cwd=tree,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    try:
        if not url.startswith(b"ws://"):
            raise SystemExit(f"bridge tts-server failed in {tree}")
        if first_audio:
            elapsed = first_delta(url.decode().strip()) - start
    finally:
        proc.terminate()
        proc.wait(30)
    return elapsed


def first_delta(url: str) -> float:
    """Speak SENTENCE on the server at ``url``; the ``perf_counter`` of its first audio delta
    (the connection's close, after it, is not timed)."""
    headers = {"Authorization": "Bearer sk-startup-bench"}
    with connect(f"{url}?model=qwen3-tts-flash-realtime", additional_headers=headers) as ws:
        ws.send(json.dumps({"type": "session.update", "session": {"mode": "commit"}}))
        ws.send(json.dumps({"type": "input_text_buffer.append", "text": SENTENCE}))
        ws.send(json.dumps({"type": "input_text_buffer.commit"}))
        while True:
            event = json.loads(ws.recv(timeout=60))
            if event.get("type") == "response.audio.delta":
                return time.perf_counter()
            if event.get("type") == "error":
                raise SystemExit(f"bridge tts-server answered {event}")


def time_run(tree: Path, code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env_for(tree), cwd=tree, check=True)
    return time.perf_counter() - start


def first_pcm_byte(tree: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "speak", "--local", "--out", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env_for(tree),
        cwd=tree,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(SENTENCE.encode())
    proc.stdin.close()
    first = proc.stdout.read(1)
    elapsed = time.perf_counter() - start
    OWN_CPU.setdefault(tree, []).append(own_cpu(proc.pid))
    proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not first:
        raise SystemExit(f"bridge speak --local failed in {tree}")
    CPU.setdefault(tree, []).append(usage.ru_utime + usage.ru_stime)
    return elapsed


def speak_file(tree: Path, text_file: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "speak", str(text_file), "--local", "--out", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env_for(tree),
        cwd=tree,
        check=False,
    )
    if done.returncode != 0 or not done.stdout:
        raise SystemExit(f"bridge speak --local of a file failed in {tree}")
    return time.perf_counter() - start


def interleaved(
    trees: dict[str, Path], measure: Callable[[Path], float], runs: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in trees}
    if PYCACHE["prefix"] is not None:
        for tree in trees.values():  # untimed: writes this tree's bytecode
            measure(tree)
        CPU.clear()
        OWN_CPU.clear()
    for _ in range(runs):
        for name, tree in trees.items():
            times[name].append(measure(tree))
    return times


def show(title: str, times: dict[str, list[float]], unit: str = "ms") -> None:
    scale = 1000.0 if unit == "ms" else 1.0
    print(f"\n{title}")
    for name, values in times.items():
        med = statistics.median(values) * scale
        lo, hi = min(values) * scale, max(values) * scale
        print(
            f"  {name:<14} median {med:8.1f} {unit}   spread {lo:.1f}-{hi:.1f} {unit}"
            f"  (n={len(values)})"
        )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD~1", help="git revision to compare with")
    parser.add_argument("--runs", type=int, default=7, help="runs of the start-up measures")
    parser.add_argument("--big-kb", type=int, default=50, help="KB of text for the long run")
    parser.add_argument("--big-runs", type=int, default=2, help="runs of the long text (0: skip)")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="compile every module from source in every run (PYTHONDONTWRITEBYTECODE=1)",
    )
    args = parser.parse_args()

    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.baseline],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="bridge-baseline-"))
    PYCACHE["prefix"] = None if args.no_bytecode_cache else tmp / "pycache"
    base = tmp / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(base), rev],
        check=True,
    )
    try:
        trees = {f"base {rev}": base, f"this {here}": ROOT}
        print(f"python {sys.version.split()[0]}; this tree {ROOT} (HEAD {here}, with local edits)")
        cache = "none (compiled every run)" if args.no_bytecode_cache else "cached (warm-up run)"
        print(f"bytecode: {cache}; {args.runs} runs each, interleaved")
        print(f"load before: {load()}")
        show(
            "python -c pass (interpreter floor)",
            interleaved(trees, lambda t: time_run(t, "pass"), args.runs),
        )
        show("import bridge", interleaved(trees, lambda t: time_run(t, "import bridge"), args.runs))
        show("bridge --help: start to exit", interleaved(trees, help_run, args.runs))
        show(
            "bridge speak --local: process start to first PCM byte",
            interleaved(trees, first_pcm_byte, args.runs),
        )
        show(
            "bridge speak --local (one sentence): CPU time of the run, user + system",
            {name: CPU[tree] for name, tree in trees.items()},
        )
        show(
            "bridge speak --local: CPU time of its own process up to the first PCM byte",
            {name: OWN_CPU[tree] for name, tree in trees.items()},
        )
        show(
            "bridge tts-server: process start to its URL on stdout",
            interleaved(trees, tts_server_ready, args.runs),
        )
        show(
            "bridge tts-server: process start to a client's first audio delta",
            interleaved(trees, lambda t: tts_server_ready(t, first_audio=True), args.runs),
        )
        if args.big_runs > 0:
            text = tmp / "big.txt"
            body = PARAGRAPH * (args.big_kb * 1000 // len(PARAGRAPH) + 1)
            text.write_text(body[: args.big_kb * 1000], encoding="utf-8")
            show(
                f"bridge speak --local of {args.big_kb} KB of text: start to exit",
                interleaved(trees, lambda t: speak_file(t, text), args.big_runs),
                unit="s",
            )
        print(f"\nload after: {load()}")
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False
        )
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
