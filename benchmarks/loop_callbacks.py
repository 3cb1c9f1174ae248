"""Event-loop callbacks per second of audio: ``bridge serve`` (this tree, other trees) against
the ideal relay, under the same clients (prints figures; not a test).

CPU per audio-second (``relay_compare.py``) moves with the machine's load; the number of
callbacks the event loop runs per second of audio a client receives hardly does, and it is
what most of a relay's CPU goes to (each callback is a task waking up, a timer or an I/O
event). The server runs on asyncio's own loop (uvloop is hidden from it, so the loop's
``Handle._run`` can be counted), in a child process started through this script
(``--serve``), which writes its count, its CPU seconds and the tasks that woke most (named
``task body @ what it waited on``) when it exits.

Per tree and repetition (interleaved, the order alternating): the TTS stand-in (tone engine,
``--rtf 0.9``) and the scripted model of ``relay_compare.py`` (shared), the server, then
``--clients`` of ``relay_compare.py``'s clients for ``--seconds`` (joining 25 per second),
then the server is stopped. Printed: callbacks and CPU ms per audio-second over the server's
whole life, per run and the medians; with ``--top N`` the N commonest callbacks of each
system's last run.

Run: ``uv run python benchmarks/loop_callbacks.py [TREE ...] [--ideal] [--clients 30]``
(a TREE is a checkout of bridge, e.g. a ``git worktree``; default: this one).
"""

from __future__ import annotations

import argparse
import atexit
import collections
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
IDEAL = "ideal"


def _serve(argv: list[str], out: Path) -> None:
    """The child: count every callback the loop runs, then run ``argv`` as ``__main__``."""
    import asyncio.events

    sys.modules["uvloop"] = None  # type: ignore[assignment]  # asyncio's own loop
    total = [0]
    woke: collections.Counter[str] = collections.Counter()
    run = asyncio.events.Handle._run

    def counted(self: asyncio.events.Handle) -> None:
        total[0] += 1
        callback: Any = self._callback  # type: ignore[attr-defined]
        task = getattr(callback, "__self__", None)
        if task is not None and hasattr(task, "get_coro"):
            coro = task.get_coro()
            name = getattr(coro, "__qualname__", type(coro).__name__)
            inner = getattr(coro, "cr_await", None)
            if name == "TaskHandle._run_coro" and inner is not None:  # anyio's task wrapper
                name = getattr(inner, "__qualname__", type(inner).__name__)
            deep = inner
            while getattr(getattr(deep, "cr_await", None), "cr_await", None) is not None:
                deep = deep.cr_await  # type: ignore[union-attr]
            woke[f"{name} @ {getattr(deep, '__qualname__', type(deep).__name__)}"] += 1
        else:
            woke[getattr(callback, "__qualname__", type(callback).__name__)] += 1
        run(self)

    asyncio.events.Handle._run = counted  # type: ignore[method-assign]

    def report() -> None:
        times = os.times()
        lines = [f"{total[0]} {times.user + times.system}"]
        lines += [f"{n} {name}" for name, n in woke.most_common(40)]
        out.write_text("\n".join(lines) + "\n")

    atexit.register(report)
    sys.argv = argv
    if argv[0] == "-m":
        sys.argv = ["bridge", *argv[2:]]
        runpy.run_module("bridge", run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(argv[0], run_name="__main__")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", type=Path, help="bridge checkouts (default: this)")
    parser.add_argument("--ideal", action="store_true", help="also the ideal relay")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--serve", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve[1:], Path(args.serve[0]))
        return

    import anyio

    sys.path.insert(0, str(HERE))
    import relay_compare as rc

    systems: list[str] = [str(t.resolve()) for t in args.trees] or [str(HERE.parent)]
    if args.ideal:
        systems.append(IDEAL)
    work = Path(tempfile.mkdtemp(prefix="loop-callbacks-"))
    arrivals = work / "arrivals.txt"
    arrivals.touch()
    tts, tts_url = rc.start(
        [sys.executable, "-m", "bridge", "tts-server", "--engine", "tone", "--rtf", "0.9"], None
    )
    model = [sys.executable, str(HERE / "relay_compare.py"), "--fake-llm", "--token-ms", "20"]
    llm, llm_url = rc.start([*model, "--arrivals-file", str(arrivals)], None)
    load0 = os.getloadavg()
    results: dict[str, list[tuple[float, float]]] = {s: [] for s in systems}
    tops: dict[str, list[str]] = {}
    try:
        for rep in range(args.reps):
            for system in systems if rep % 2 == 0 else systems[::-1]:
                out = work / f"{rep}-{len(results[system])}-{Path(system).name}.txt"
                if system == IDEAL:
                    target = [str(HERE / "ideal_relay.py"), "--tts-url", tts_url]
                    target += ["--llm-base-url", llm_url]
                    cwd, env_path = str(HERE.parent), os.environ.get("PYTHONPATH", "")
                else:
                    target = ["-m", *rc.server_argv("bridge", args.clients, tts_url, llm_url)[2:]]
                    cwd, env_path = system, system
                argv = [sys.executable, str(Path(__file__).resolve()), "--serve", str(out)]
                env = {**os.environ, "BRIDGE_LOG_LEVEL": "ERROR", "PYTHONPATH": env_path}
                proc = subprocess.Popen(
                    [*argv, *target], stdout=subprocess.PIPE, text=True, env=env, cwd=cwd
                )
                assert proc.stdout is not None
                url = proc.stdout.readline().strip()
                run = rc.Run(stop_at=time.monotonic() + args.clients / 25 + args.seconds)

                async def clients(url: str = url, run: rc.Run = run, rep: int = rep) -> None:
                    async with anyio.create_task_group() as tg:
                        for i in range(args.clients):
                            tg.start_soon(rc.client, url, f"c{rep}-{i}", i / 25, run)

                anyio.run(clients)
                rc.stop(proc)
                head, *top = out.read_text().splitlines()
                count, cpu = head.split()
                audio = run.samples / rc.RATE
                per = (int(count) / audio, float(cpu) * 1000 / audio)
                results[system].append(per)
                tops[system] = top
                print(
                    f"{system}: {per[0]:.1f} callbacks/audio-s, {per[1]:.2f} CPU ms/audio-s, "
                    f"{audio:.0f} s of audio, replies with a gap {run.replies_with_gaps}/"
                    f"{run.replies}, errors {len(run.errors)}",
                    flush=True,
                )
    finally:
        rc.stop(tts)
        rc.stop(llm)
    print(f"\nmedians of {args.reps} (min-max), {args.clients} clients, {args.seconds:g} s:")
    for system, values in results.items():
        calls = [v[0] for v in values]
        cpu = [v[1] for v in values]
        print(
            f"  {system}: {statistics.median(calls):.1f} [{min(calls):.1f}-{max(calls):.1f}] "
            f"callbacks/audio-s, CPU {statistics.median(cpu):.2f} [{min(cpu):.2f}-{max(cpu):.2f}]"
            " ms/audio-s (asyncio's loop, counting on)"
        )
        for line in tops.get(system, [])[: args.top]:
            print(f"      {line}")
    load1 = os.getloadavg()
    print(f"load average {load0[0]:.2f} before, {load1[0]:.2f} after ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
