"""``bridge serve`` against an ideal relay, one run, same conditions (prints figures; not a test).

Systems, each a server process started afresh per repetition, interleaved (the order rotates per
repetition):

- ``bridge``: ``bridge serve`` (one worker), pinned to CPU 0;
- ``ideal``: ``benchmarks/ideal_relay.py`` (asyncio + websockets, the least work per turn and
  per audio delta; see its docstring), pinned to CPU 0;
- ``bridge-w2``: ``bridge serve --workers 2``, pinned to CPUs 0 and 1 (capacity only);
- ``bridge-base`` (with ``--baseline TREE``, not by default): ``bridge serve`` of another
  checkout (a git worktree with its own ``.venv``, e.g. ``main`` before a change), run like
  ``bridge``, so a change is measured against the code before it in the same run (ratio
  bridge / bridge-base).

With ``--worker-cpu F`` (root and a cgroup ``cpu`` controller), every server process that
serves (each worker of ``--workers 2``, the one process of the others) runs in a cgroup of its
own capped at ``F`` of a core (CFS quota, 10 ms period), and all servers are pinned to CPU 0:
one worker and two get the same budget per worker, and the load generator keeps CPU 1, so a
machine with fewer cores than workers plus load can still show how capacity grows with the
workers (run ``--systems bridge bridge-w2 --worker-cpu 0.3``).

Shared by all, on CPU 1 (with this script's clients): the TTS stand-in ``bridge tts-server
--engine tone --rtf 0.9`` (speech paced 10% faster than real time; ``--rtf``) and the
scripted model (this script with ``--fake-llm``: a two-sentence reply at ``--token-ms`` per
token, which records when each request arrives). Clients are serve_load.py's: ask, "play" the
reply in real time with a 150 ms jitter buffer and ``playback.ack`` every 200 ms, pause 0.3 s,
ask again. A gap is audio that
arrives after the audio before it finished playing.

Per system and repetition:

1. one client for ``--single`` seconds: the hops. ``user.message → model request`` is the
   client's send time to the request's arrival at the scripted model, parsed (both
   CLOCK_MONOTONIC; matched by a tag in the message); ``user.message → request's first byte at
   the model`` ends when the scripted model read the request's first byte (``FakeLLM.received``:
   after its wake-up, before its HTTP and JSON parsing, which are not the server's work);
   ``segment ready → TTS append`` is the server's own timeline of the first segment
   (``result.segments[0]``: ``appended_ms - ready_ms``);
2. ``--light`` (20) clients, then ``--clients`` (100): CPU ms of the server per second of audio
   the clients received in a steady window of ``--duration`` seconds once all have joined (at
   the light load no server should be saturated; at 100 a saturated one spends CPU on turns
   whose audio has not come yet); at ``--clients``: first audio p50/p99
   (``user.message`` sent → first audio frame); replies with a gap; the hops again;
3. capacity: clients join at ``--ramp-rate`` per second up to ``--ramp-max``; real-time sessions
   = clients connected when the first gap is heard, an error comes or a reply's first audio
   takes longer than ``--max-wait`` (2 s) (``>= max`` when none of that happened).

Printed: each run, then per system the median of the repetitions [min-max], the ratios bridge /
ideal and bridge-w2 / bridge, and the machine's load average before and after. The load
generator's CPU share is printed per run: near 100% the figures are limited by it, not by the
server.

Run: ``uv run python benchmarks/relay_compare.py`` (about 8 minutes on 2 shared cores);
bigger: ``--reps 5 --clients 200 --ramp-max 600 --ramp-rate 10 --duration 20``; the
one-client hops only (step 1; about 15 s per system and repetition): ``--hops-only``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

HERE = Path(__file__).resolve().parent
REPLY = (
    "Sure, here is a plan. First we check the weather and pack some water. "
    "Then we walk down to the lake and rest in the shade for a while."
)
SHORT_REPLY = "Sure, here is a plan."  # the one-client turns: hops only
RATE = 24000
JITTER = 0.15
ACK_EVERY = 0.2
SYSTEMS = ("bridge", "ideal", "bridge-w2", "bridge-base")
BASELINE: list[Path] = []  # --baseline TREE: the checkout "bridge-base" runs
_RUNS = itertools.count()
MODEL_HOP = "user.message -> model request"
BYTE_HOP = "user.message -> request's first byte at the model"
APPEND_HOP = "segment ready -> TTS append"


# --- clients ---------------------------------------------------------------------------------


@dataclass
class Run:
    """What the clients of one run saw."""

    stop_at: float  # no turn starts after this
    samples: int = 0
    joined: list[float] = field(default_factory=list)  # when each client got session.ready
    first_gap: float | None = None
    first_error: float | None = None
    first_late: float | None = None  # a first audio later than --max-wait
    max_wait: float = 2.0
    errors: list[str] = field(default_factory=list)
    ttfa: list[tuple[float, float]] = field(default_factory=list)  # (sent, first audio)
    replies: int = 0
    replies_with_gaps: int = 0
    sent: dict[str, float] = field(default_factory=dict)  # tag -> user.message sent
    append_hop: list[float] = field(default_factory=list)  # ms, server's own timeline


class Playback:
    def __init__(self) -> None:
        self.start: float | None = None
        self.end = 0.0
        self.received = 0
        self.gaps = 0
        self.gap_time = 0.0

    def frame(self, samples: int, now: float, run: Run) -> bool:
        """Account a frame; True when it came after the audio before it ran out (a gap)."""
        gap = False
        if self.start is None:
            self.start = now + JITTER
            self.end = self.start
            run.replies += 1  # a reply is counted from its first audio
        elif now > self.end:
            gap = True
            if not self.gaps:
                run.replies_with_gaps += 1
            self.gaps += 1
            self.gap_time += now - self.end + JITTER
            self.end = now + JITTER
        self.end += samples / RATE
        self.received += samples
        return gap

    def played(self, now: float) -> int:
        if self.start is None:
            return 0
        return max(0, min(self.received, int((now - self.start - self.gap_time) * RATE)))


async def client(url: str, tag: str, delay: float, run: Run) -> None:
    await anyio.sleep(delay)
    try:
        async with connect(url, open_timeout=30, max_queue=64, compression=None) as ws:
            ready = json.loads(await ws.recv())
            assert ready["type"] == "session.ready", ready
            run.joined.append(time.monotonic())
            turn = 0
            while time.monotonic() < run.stop_at:
                await one_turn(ws, f"{tag}t{turn}", run)
                turn += 1
                await anyio.sleep(0.3)
    except* (OSError, WebSocketException, TimeoutError, AssertionError) as group:
        exc = group.exceptions[0]
        run.errors.append(f"{type(exc).__name__}: {exc}"[:160])
        if run.first_error is None:
            run.first_error = time.monotonic()


async def one_turn(ws: ClientConnection, tag: str, run: Run) -> None:
    play = Playback()
    rid: str | None = None
    sent = time.monotonic()
    run.sent[tag] = sent
    await ws.send(json.dumps({"type": "user.message", "text": f"Plan a walk for me. [{tag}]"}))
    async with anyio.create_task_group() as tg:

        async def acks() -> None:
            while True:
                await anyio.sleep(ACK_EVERY)
                if rid is not None:
                    samples = play.played(time.monotonic())
                    msg = {"type": "playback.ack", "response_id": rid, "samples": samples}
                    await ws.send(json.dumps(msg))

        async def late() -> None:
            await anyio.sleep(run.max_wait)
            if play.start is None and run.first_late is None:
                run.first_late = time.monotonic()

        tg.start_soon(acks)
        tg.start_soon(late)
        with anyio.fail_after(60):
            while True:
                data = await ws.recv()
                now = time.monotonic()
                if isinstance(data, bytes):
                    if play.start is None:
                        run.ttfa.append((sent, now - sent))
                    if play.frame(len(data) // 2, now, run) and run.first_gap is None:
                        run.first_gap = now
                    run.samples += len(data) // 2
                    continue
                event = json.loads(data)
                kind = event["type"]
                if kind == "response.started":
                    rid = event["response_id"]
                elif kind == "error":
                    raise AssertionError(f"error event {event['code']}: {event['message']}")
                elif kind == "response.done":
                    segments = event["result"].get("segments") or []
                    first = segments[0] if segments else {}
                    if first.get("appended_ms") is not None and first.get("ready_ms") is not None:
                        run.append_hop.append(first["appended_ms"] - first["ready_ms"])
                    break
        tg.cancel_scope.cancel()


# --- processes -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (the workers of ``--workers``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return total + sum(cpu_seconds(int(c)) for c in children)


def start(argv: list[str], cpus: str | None) -> tuple[subprocess.Popen[str], str]:
    if cpus is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", cpus, *argv]
    env = {**os.environ, "BRIDGE_LOG_LEVEL": "ERROR"}
    # The baseline's python runs in its own tree (``-m`` would import this one's bridge first).
    base = BASELINE and str(BASELINE[0] / ".venv") in " ".join(argv)
    cwd = BASELINE[0] if base else None
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def server_argv(system: str, n: int, tts_url: str, llm_url: str) -> list[str]:
    if system == "ideal":
        relay = str(HERE / "ideal_relay.py")
        return [sys.executable, relay, "--tts-url", tts_url, "--llm-base-url", llm_url]
    python = sys.executable
    if system == "bridge-base":
        python = str(BASELINE[0] / ".venv" / "bin" / "python")
    argv = [python, "-m", "bridge", "serve", "--port", "0", "--tts-url", tts_url]
    argv += ["--llm-base-url", llm_url, "--llm-model", "fake", "--max-sessions", str(n + 10)]
    argv += ["--turns-per-minute", "600", "--max-sessions-per-address", str(n + 10)]
    argv += ["--address-turns-per-minute", "60000", "--address-turn-burst", str(4 * n + 10)]
    argv += ["--server-turns-per-minute", "60000", "--server-turn-burst", str(4 * n + 10)]
    if system == "bridge-w2":
        argv += ["--workers", "2"]
    return argv


_CGROUP_V1 = Path("/sys/fs/cgroup/cpu")  # cgroup v1's cpu controller
_CGROUP_V2 = Path("/sys/fs/cgroup")
_PERIOD_US = 10_000  # short, so a worker over its quota pauses for milliseconds, not 100


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cap_workers(pid: int, share: float, expected: int, tag: str) -> list[Path]:
    """Put each serving process of the server ``pid`` (its ``expected`` worker children, or
    itself when it serves alone) in a cgroup of its own capped at ``share`` of a core."""
    workers = [pid]
    if expected > 1:
        deadline = time.monotonic() + 30
        while len(workers := _children(pid)) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"--worker-cpu: {expected} workers of {pid} did not appear")
            time.sleep(0.05)
    control = _CGROUP_V2 / "cgroup.subtree_control"
    v2 = control.exists() and "cpu" in control.read_text().split()
    root = _CGROUP_V2 if v2 else _CGROUP_V1
    if not v2 and not (root / "cpu.cfs_quota_us").exists():
        raise SystemExit("--worker-cpu needs a cgroup cpu controller (cgroup v1 or v2) and root")
    groups = []
    for i, worker in enumerate(workers):
        group = root / f"relay-compare-{os.getpid()}-{tag}-{i}"
        group.mkdir()
        quota = max(1000, int(share * _PERIOD_US))
        if v2:
            (group / "cpu.max").write_text(f"{quota} {_PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(_PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        (group / "cgroup.procs").write_text(str(worker))
        groups.append(group)
    return groups


def remove_groups(groups: list[Path]) -> None:
    """Remove the cgroups of ``cap_workers`` once their processes ended."""
    for group in groups:
        for _ in range(100):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.05)  # its processes are still exiting


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def model_hops(run: Run, arrivals: Path) -> tuple[list[float], list[float]]:
    """user.message sent → request at the model (parsed; its first byte read), ms, for the
    tags of this run."""
    parsed, first = [], []
    for line in arrivals.read_text().splitlines():
        tag, when, byte = line.split(" ")
        if tag in run.sent:
            parsed.append((float(when) - run.sent[tag]) * 1000)
            first.append((float(byte) - run.sent[tag]) * 1000)
    return parsed, first


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- one server, three measurements ----------------------------------------------------------


@dataclass
class Figures:
    system: str
    cpu_ms_per_audio_s: float = float("nan")
    cpu_light: float = float("nan")  # the same at --light clients
    ttfa_p50: float = float("nan")
    ttfa_p99: float = float("nan")
    gap_share: float = float("nan")
    capacity: float = float("nan")
    capacity_capped: bool = False
    hops: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (p50, p99)


async def fixed_load(
    url: str, n: int, seconds: float, args: argparse.Namespace, server: int, helpers: list[int]
) -> tuple[Run, float, float, float]:
    """``n`` clients; returns the run, the steady window's seconds, the server's CPU seconds
    and the load generator's CPU share in it."""
    begin = time.monotonic() + n / args.arrivals + (3 if n > 1 else 0.5)
    run = Run(stop_at=begin + seconds)
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tag = f"{'s' if n == 1 else 'c'}{next(_RUNS)}-{i}"  # unique over the whole script
            tg.start_soon(client, url, tag, i / args.arrivals, run)
        await anyio.sleep(max(0.0, begin - time.monotonic()))
        cpu0, gen0, samples0 = cpu_seconds(server), _gen_cpu(helpers), run.samples
        await anyio.sleep(max(0.0, run.stop_at - time.monotonic()))
        window = time.monotonic() - begin
        cpu = cpu_seconds(server) - cpu0
        gen = _gen_cpu(helpers) - gen0
        audio = (run.samples - samples0) / RATE
        if n > 1:
            tg.cancel_scope.cancel()  # the clients leave mid-reply: measured already
    return run, audio, cpu, gen / window


def _gen_cpu(helpers: list[int]) -> float:
    return own_cpu() + sum(cpu_seconds(p) for p in helpers)


async def ramp(url: str, args: argparse.Namespace) -> tuple[int, bool, Run]:
    n = args.ramp_max
    end = time.monotonic() + n / args.ramp_rate + 3
    run = Run(stop_at=end, max_wait=args.max_wait)
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(client, url, f"r{next(_RUNS)}-{i}", i / args.ramp_rate, run)
        while time.monotonic() < end and not _failed(run):
            await anyio.sleep(0.1)
        tg.cancel_scope.cancel()  # found (or the end): the clients leave
    bad = _failed(run)
    if not bad:
        return n, True, run
    return sum(1 for t in run.joined if t <= min(bad)), False, run


def _failed(run: Run) -> list[float]:
    return [t for t in (run.first_gap, run.first_error, run.first_late) if t is not None]


async def measure(
    system: str, args: argparse.Namespace, tts_url: str, llm_url: str, arrivals: Path
) -> Figures:
    helpers = args.helpers
    n_max = max(args.clients, args.ramp_max)
    cpus = "0,1" if system == "bridge-w2" and not args.worker_cpu else "0"
    proc, url = start(server_argv(system, n_max, tts_url, llm_url), cpus if args.pin else None)
    fig = Figures(system)
    groups: list[Path] = []
    try:
        if args.worker_cpu:
            workers = 2 if system == "bridge-w2" else 1
            groups = cap_workers(proc.pid, args.worker_cpu, workers, system)
        await anyio.sleep(0.5)
        if system != "bridge-w2":
            await fixed_load(url, 1, 0.1, args, proc.pid, helpers)  # warm-up, not counted
            single, *_ = await fixed_load(url, 1, args.single, args, proc.pid, helpers)
            hops1, bytes1 = model_hops(single, arrivals)
            fig.hops[f"{MODEL_HOP}, 1 client"] = (pct(hops1, 0.5), pct(hops1, 0.99))
            fig.hops[f"{BYTE_HOP}, 1 client"] = (pct(bytes1, 0.5), pct(bytes1, 0.99))
            append1 = single.append_hop
            fig.hops[f"{APPEND_HOP}, 1 client"] = (pct(append1, 0.5), pct(append1, 0.99))
            if args.hops_only:
                return fig
            if args.light:
                _light, audio_l, cpu_l, gen_l = await fixed_load(
                    url, args.light, args.duration, args, proc.pid, helpers
                )
                fig.cpu_light = cpu_l * 1000 / audio_l if audio_l else float("nan")
                print(
                    f"  {system:9s} {args.light} clients: {fig.cpu_light:6.1f} CPU ms/audio-s"
                    f" ({audio_l / args.duration:5.1f} streams, server"
                    f" {cpu_l / args.duration * 100:3.0f}% of a core), load generator"
                    f" {gen_l * 100:3.0f}%",
                    flush=True,
                )
                await anyio.sleep(1.0)
            run, audio, cpu, gen = await fixed_load(
                url, args.clients, args.duration, args, proc.pid, helpers
            )
            fig.cpu_ms_per_audio_s = cpu * 1000 / audio if audio else float("nan")
            if not audio:
                print(f"  {system}: no audio received; errors: {sorted(set(run.errors))[:2]}")
            ttfa = [t * 1000 for _sent, t in run.ttfa]
            fig.ttfa_p50, fig.ttfa_p99 = pct(ttfa, 0.5), pct(ttfa, 0.99)
            fig.gap_share = run.replies_with_gaps / max(run.replies, 1)
            hops, firsts = model_hops(run, arrivals)
            fig.hops[f"{MODEL_HOP}, {args.clients} clients"] = (pct(hops, 0.5), pct(hops, 0.99))
            fig.hops[f"{BYTE_HOP}, {args.clients} clients"] = (pct(firsts, 0.5), pct(firsts, 0.99))
            appends = run.append_hop
            fig.hops[f"{APPEND_HOP}, {args.clients} clients"] = (
                pct(appends, 0.5),
                pct(appends, 0.99),
            )
            print(
                f"  {system:9s} {args.clients} clients: {cpu * 1000 / max(audio, 1e-9):6.1f} CPU"
                f" ms/audio-s ({audio / args.duration:5.1f} streams, server"
                f" {cpu / args.duration * 100:3.0f}% of a core), first audio p50"
                f" {fig.ttfa_p50:4.0f} / p99 {fig.ttfa_p99:4.0f} ms, gaps in"
                f" {fig.gap_share * 100:4.1f}% of {run.replies} replies, load generator"
                f" {gen * 100:3.0f}%; errors {len(run.errors)}",
                flush=True,
            )
            for error in sorted(set(run.errors))[:2]:
                print(f"      error: {error}")
        await anyio.sleep(1.0)
        cap, capped, ramp_run = await ramp(url, args)
        fig.capacity, fig.capacity_capped = cap, capped
        print(
            f"  {system:9s} ramp to {args.ramp_max} at {args.ramp_rate:g}/s: "
            f"{'>= ' if capped else ''}{cap} real-time sessions"
            f"{'' if capped else ' (gap, error or late)'}; errors {len(ramp_run.errors)}",
            flush=True,
        )
    finally:
        stop(proc)
        remove_groups(groups)
    return fig


# --- the scripted model ----------------------------------------------------------------------


async def fake_llm(token_ms: float, arrivals: Path) -> None:
    from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

    reply = FakeReply(tokens_for(REPLY), delay=token_ms / 1000, first_delay=0.1)
    short = FakeReply(tokens_for(SHORT_REPLY), delay=token_ms / 1000, first_delay=0.1)
    log = arrivals.open("a", buffering=1)
    served: list[Any] = []  # the FakeLLM, once it serves

    def answer(messages: list[dict[str, Any]]) -> FakeReply:
        now = time.monotonic()
        text = str(messages[-1].get("content", "")) if messages else ""
        tag = text.rsplit("[", 1)[1].rstrip("]") if "[" in text else ""
        if tag:
            received = served[0].received
            first = received if received is not None else now
            log.write(f"{tag} {now:.6f} {first:.6f}\n")
        return short if tag.startswith("s") else reply

    async with serve_fake_llm(answer) as fake:
        served.append(fake)
        print(fake.base_url, flush=True)
        await anyio.sleep_forever()


# --- report ----------------------------------------------------------------------------------


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    ok = [v for v in values if v == v]
    if not ok:
        return "n/a"
    return f"{fmt.format(statistics.median(ok))} [{fmt.format(min(ok))}-{fmt.format(max(ok))}]"


def report(figs: list[Figures], args: argparse.Namespace, load0: tuple[float, ...]) -> None:
    by: dict[str, list[Figures]] = {}
    for f in figs:
        by.setdefault(f.system, []).append(f)
    load1 = os.getloadavg()
    print()
    print(
        f"median of {args.reps} repetitions [min-max]; load average before "
        f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, after {load1[0]:.2f} {load1[1]:.2f}"
        f" {load1[2]:.2f} ({os.cpu_count()} CPUs)"
    )
    for system, rows in by.items():
        print(f"{system}:")
        if system != "bridge-w2":
            if args.light and not args.hops_only:
                print(
                    f"  CPU ms per audio-second ({args.light} clients): "
                    + spread([r.cpu_light for r in rows], "{:.1f}")
                )
            if not args.hops_only:
                print(
                    f"  CPU ms per audio-second ({args.clients} clients): "
                    + spread([r.cpu_ms_per_audio_s for r in rows], "{:.1f}")
                )
                print(
                    f"  first audio at {args.clients} clients: p50 "
                    + spread([r.ttfa_p50 for r in rows])
                    + " ms, p99 "
                    + spread([r.ttfa_p99 for r in rows])
                    + " ms; replies with a gap "
                    + spread([r.gap_share * 100 for r in rows], "{:.1f}")
                    + " %"
                )
            for hop in rows[0].hops:
                p50 = spread([r.hops[hop][0] for r in rows], "{:.2f}")
                p99 = spread([r.hops[hop][1] for r in rows], "{:.2f}")
                print(f"  hop {hop}: p50 {p50} ms, p99 {p99} ms")
        if args.hops_only:
            continue
        capped = (
            " (some runs reached --ramp-max: >=)" if any(r.capacity_capped for r in rows) else ""
        )
        print("  real-time sessions (no gap): " + spread([r.capacity for r in rows]) + capped)

    def median(system: str, attr: str) -> float:
        values = [getattr(r, attr) for r in by.get(system, [])]
        values = [v for v in values if v == v]
        return statistics.median(values) if values else float("nan")

    print()
    if args.hops_only:
        return

    def ratio(a: str, b: str, attr: str) -> str:
        """``a``'s median over ``b``'s, or n/a when either is missing or ``b``'s is zero (a
        window too short for one clock tick of CPU)."""
        top, bottom = median(a, attr), median(b, attr)
        if top != top or bottom != bottom or bottom == 0:
            return "n/a"
        return f"{top / bottom:.2f}x"

    if "bridge" in by and "ideal" in by:
        light = (
            f"{ratio('bridge', 'ideal', 'cpu_light')} ({args.light} clients), "
            if args.light
            else ""
        )
        print(
            f"bridge / ideal: CPU per audio-second {light}"
            f"{ratio('bridge', 'ideal', 'cpu_ms_per_audio_s')} ({args.clients} clients)"
            f", first audio p99 {ratio('bridge', 'ideal', 'ttfa_p99')}"
            f", sessions {ratio('bridge', 'ideal', 'capacity')}"
        )
    if "bridge" in by and "bridge-base" in by:
        light = (
            f"{ratio('bridge', 'bridge-base', 'cpu_light')} ({args.light} clients), "
            if args.light
            else ""
        )
        print(
            f"bridge / bridge-base ({BASELINE[0]}): CPU per audio-second {light}"
            f"{ratio('bridge', 'bridge-base', 'cpu_ms_per_audio_s')} ({args.clients} clients)"
            f", first audio p99 {ratio('bridge', 'bridge-base', 'ttfa_p99')}"
        )
    if "bridge" in by and "bridge-w2" in by:
        print(
            f"bridge --workers 2 / --workers 1 sessions: {ratio('bridge-w2', 'bridge', 'capacity')}"
            + (
                f" (each worker capped at {args.worker_cpu:g} of a core, all on CPU 0)"
                if args.worker_cpu
                else " (--workers 2 on both CPUs, which it shares with the load generator)"
            )
        )


async def main(args: argparse.Namespace) -> None:
    pin = (os.cpu_count() or 1) > 1
    args.pin = pin
    if pin:
        os.sched_setaffinity(0, {1})  # clients; the helpers inherit it
    load0 = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="relay-compare-"))
    arrivals = workdir / "arrivals.txt"
    arrivals.touch()
    tts, tts_url = start(
        [sys.executable, "-m", "bridge", "tts-server", "--engine", "tone", "--rtf", str(args.rtf)],
        None,
    )
    extra = ["--arrivals-file", str(arrivals)]
    llm, llm_url = start(
        [sys.executable, __file__, "--fake-llm", "--token-ms", str(args.token_ms), *extra],
        None,
    )
    args.helpers = [tts.pid, llm.pid]
    print(
        f"systems {', '.join(args.systems)}; {args.reps} repetitions interleaved; emulator tone"
        f" at rtf {args.rtf:g}, scripted model {args.token_ms:g} ms/token; servers pinned to CPU 0"
        + (
            f", each serving process capped at {args.worker_cpu:g} of a core"
            if args.worker_cpu
            else " (bridge-w2: CPUs 0,1)"
        )
        + f", the rest to CPU 1; load average {load0[0]:.2f}",
        flush=True,
    )
    figs: list[Figures] = []
    if args.hops_only:
        args.systems = [s for s in args.systems if s != "bridge-w2"]  # it has no hops
    try:
        for rep in range(args.reps):
            order = list(args.systems)
            order = order[rep % len(order) :] + order[: rep % len(order)]
            print(f"repetition {rep + 1}: {', '.join(order)}", flush=True)
            for system in order:
                figs.append(await measure(system, args, tts_url, llm_url, arrivals))
    finally:
        for proc in (tts, llm):
            stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
    report(figs, args, load0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--systems", nargs="+", choices=SYSTEMS, default=["bridge", "ideal", "bridge-w2"]
    )
    parser.add_argument("--clients", type=int, default=100, help="fixed load (default 100)")
    parser.add_argument(
        "--light", type=int, default=20, help="a light fixed load too (default 20; 0: none)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="steady seconds (10)")
    parser.add_argument("--single", type=float, default=8.0, help="one-client seconds (8)")
    parser.add_argument("--arrivals", type=float, default=25.0, help="joins/s, fixed load")
    parser.add_argument("--ramp-max", type=int, default=200, help="ramp: clients at most (200)")
    parser.add_argument("--ramp-rate", type=float, default=20.0, help="ramp joins/s (20)")
    parser.add_argument("--token-ms", type=float, default=20.0)
    parser.add_argument(
        "--max-wait",
        type=float,
        default=2.0,
        help="ramp: a first audio later than this (seconds) ends it like a gap (default 2)",
    )
    parser.add_argument(
        "--rtf",
        type=float,
        default=0.9,
        help="the emulator's real-time factor (default 0.9: 10%% faster than real time, so its "
        "own pacing jitter on the shared core is not heard as a gap)",
    )
    parser.add_argument(
        "--worker-cpu",
        type=float,
        default=None,
        help="cap each serving process at this share of a core (cgroup; root), all servers on "
        "CPU 0: compares --workers 2 with one worker on equal budgets per worker",
    )
    parser.add_argument(
        "--hops-only",
        action="store_true",
        help="only the one-client hops (step 1) of bridge and ideal; no loads, no ramp",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of bridge (a git worktree, with its .venv) that the system "
        "bridge-base runs: this tree against an earlier one, interleaved in the same run",
    )
    parser.add_argument("--fake-llm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--arrivals-file", type=Path, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if "bridge-base" in parsed.systems and not parsed.fake_llm:
        if parsed.baseline is None:
            parser.error("the system bridge-base needs --baseline TREE")
        if not (parsed.baseline / ".venv" / "bin" / "python").exists():
            parser.error(f"{parsed.baseline} has no .venv (run uv sync there)")
        BASELINE.append(parsed.baseline.resolve())
    from bridge.logs import configure_logging

    configure_logging(level="ERROR")
    if parsed.fake_llm:
        anyio.run(fake_llm, parsed.token_ms, parsed.arrivals_file)
    else:
        anyio.run(main, parsed)
