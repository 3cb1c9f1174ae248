"""Load on ``bridge serve``: N concurrent voice clients on loopback (prints figures; not a test).

Set-up, three processes besides this one:

- ``bridge serve`` (the system under test), pinned to CPU 0 with ``taskset`` when available;
- the emulator, ``bridge tts-server --engine tone --rtf 1.0``: speech paced at real time;
- the scripted fake model (this script with ``--fake-llm``): a three-sentence reply streamed at
  ``--token-ms`` per token.

The emulator, the model and the clients share CPU 1. Clients join at ``--arrivals`` per second;
each asks a question, "plays" the reply like a browser (playback starts 150 ms after the first
frame, a jitter buffer, then runs in real time; ``playback.ack`` every 200 ms), pauses 0.3 s
and asks again, until the measurement ends. An underrun is audio of a reply that arrives after
the audio before it finished playing (the listener hears a gap).

Printed per N: sessions held (connected, answered, no error), time to first audio
(``user.message`` sent → first audio frame received) p50/p99 and underruns over all replies;
then, for a steady window of ``--duration`` seconds once every client has joined: concurrent
real-time audio streams (seconds of audio received per second), the server's CPU share, their
ratio (real-time streams one core of ``bridge serve`` holds), peak memory per session, and the
load generator's CPU share (if it nears 100%, the figures are limited by it, not the server).

Run: ``uv run python benchmarks/serve_load.py [-n 50 100 200] [--duration 15]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

REPLY = (
    "Sure, here is a plan. First we check the weather and pack some water. "
    "Then we walk down to the lake and rest in the shade for a while."
)
RATE = 24000
JITTER = 0.15  # client start-up buffer, seconds
ACK_EVERY = 0.2


@dataclass
class ClientStats:
    turns: int = 0
    ttfa: list[float] = field(default_factory=list)
    underruns: int = 0
    replies_with_underruns: int = 0
    error: str | None = None


@dataclass
class Load:
    stop_at: float  # clients start no turn after this moment
    samples: int = 0  # audio samples received by all clients


class Playback:
    """A client's real-time playback of one response (for underruns and acks)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end = 0.0  # when the audio received so far finishes playing
        self.received = 0
        self.underruns = 0
        self.gaps = 0.0

    def frame(self, samples: int, now: float) -> None:
        if self.start is None:
            self.start = now + JITTER
            self.end = self.start
        elif now > self.end:  # ran dry before this frame came: a gap
            self.underruns += 1
            self.gaps += now - self.end + JITTER
            self.end = now + JITTER
        self.end += samples / RATE
        self.received += samples

    def played(self, now: float) -> int:
        if self.start is None:
            return 0
        return max(0, min(self.received, int((now - self.start - self.gaps) * RATE)))


async def client(url: str, delay: float, load: Load, stats: ClientStats) -> None:
    await anyio.sleep(delay)
    try:
        async with connect(url, open_timeout=30, max_queue=64) as ws:
            ready = json.loads(await ws.recv())
            assert ready["type"] == "session.ready", ready
            while time.monotonic() < load.stop_at:
                await one_turn(ws, load, stats)
                await anyio.sleep(0.3)
    except* (OSError, WebSocketException, TimeoutError, AssertionError) as group:
        exc = group.exceptions[0]
        stats.error = f"{type(exc).__name__}: {exc}"[:200]


async def one_turn(ws: ClientConnection, load: Load, stats: ClientStats) -> None:
    play = Playback()
    rid: str | None = None
    sent = time.monotonic()
    await ws.send(json.dumps({"type": "user.message", "text": "Plan a walk for me."}))
    async with anyio.create_task_group() as tg:

        async def acks() -> None:
            while True:
                await anyio.sleep(ACK_EVERY)
                if rid is not None:
                    samples = play.played(time.monotonic())
                    msg = {"type": "playback.ack", "response_id": rid, "samples": samples}
                    await ws.send(json.dumps(msg))

        tg.start_soon(acks)
        with anyio.fail_after(60):
            while True:
                data = await ws.recv()
                now = time.monotonic()
                if isinstance(data, bytes):
                    if play.start is None:
                        stats.ttfa.append(now - sent)
                    play.frame(len(data) // 2, now)
                    load.samples += len(data) // 2
                    continue
                event = json.loads(data)
                if event["type"] == "response.started":
                    rid = event["response_id"]
                elif event["type"] == "error":
                    raise AssertionError(f"error event {event['code']}: {event['message']}")
                elif event["type"] == "response.done":
                    break
        tg.cancel_scope.cancel()
    stats.turns += 1
    stats.underruns += play.underruns
    stats.replies_with_underruns += play.underruns > 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def start(argv: list[str], cpu: int | None) -> tuple[subprocess.Popen[str], str]:
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu), *argv]
    env = {**os.environ, "BRIDGE_LOG_LEVEL": "ERROR"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def helper_cpu(pids: list[int]) -> float:
    """CPU seconds of this process (the clients) and the helper processes."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + sum(cpu_seconds(pid) for pid in pids)


async def run_load(
    n: int, args: argparse.Namespace, tts_url: str, llm_url: str, helpers: list[int]
) -> None:
    argv = [sys.executable, "-m", "bridge", "serve", "--port", "0", "--tts-url", tts_url]
    argv += ["--llm-base-url", llm_url, "--llm-model", "fake", "--max-sessions", str(n + 10)]
    argv += ["--turns-per-minute", "600"]
    # Every client is 127.0.0.1: the per-address and server-wide limits must not bind.
    argv += ["--max-sessions-per-address", str(n + 10), "--address-turns-per-minute", "60000"]
    argv += ["--address-turn-burst", str(4 * n + 10), "--server-turns-per-minute", "60000"]
    argv += ["--server-turn-burst", str(4 * n + 10)]
    serve, url = start(argv, 0 if (os.cpu_count() or 1) > 1 else None)
    try:
        await anyio.sleep(0.5)
        base_rss = peak = rss_mib(serve.pid)
        begin = time.monotonic() + n / args.arrivals + 3  # all joined, first turns under way
        load = Load(stop_at=begin + args.duration)
        stats = [ClientStats() for _ in range(n)]
        async with anyio.create_task_group() as tg:
            for i, s in enumerate(stats):
                tg.start_soon(client, url, i / args.arrivals, load, s)
            await anyio.sleep(begin - time.monotonic())
            cpu0, others0, samples0 = cpu_seconds(serve.pid), helper_cpu(helpers), load.samples
            while time.monotonic() < load.stop_at:
                peak = max(peak, rss_mib(serve.pid))
                await anyio.sleep(0.25)
            window = time.monotonic() - begin
            cpu = cpu_seconds(serve.pid) - cpu0
            others = helper_cpu(helpers) - others0
            streams = (load.samples - samples0) / RATE / window
    finally:
        serve.terminate()
        serve.wait(30)
    held = sum(1 for s in stats if s.error is None and s.turns > 0)
    ttfa = [t * 1000 for s in stats for t in s.ttfa]
    replies = sum(s.turns for s in stats)
    hit = sum(s.replies_with_underruns for s in stats)
    errors = sorted({s.error for s in stats if s.error})
    share = cpu / window
    print(
        f"N={n:4d} held {held:4d}/{n}  first audio p50 {pct(ttfa, 0.5):5.0f} ms"
        f" p99 {pct(ttfa, 0.99):5.0f} ms  underruns {sum(s.underruns for s in stats):4d}"
        f" ({hit / max(replies, 1) * 100:4.1f}% of {replies} replies)"
        f"  | steady {window:4.1f} s: {streams:5.1f} streams, server cpu {share * 100:3.0f}%"
        f" of a core => {streams / share if share else float('inf'):4.0f} streams/core,"
        f" {(peak - base_rss) / max(n, 1) * 1024:4.0f} KiB/session;"
        f" load generator {others / window * 100:3.0f}%",
        flush=True,
    )
    for error in errors[:3]:
        print(f"        error: {error}")


async def fake_llm(token_ms: float) -> None:
    from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

    reply = FakeReply(tokens_for(REPLY), delay=token_ms / 1000, first_delay=0.1)
    async with serve_fake_llm([reply]) as fake:
        print(fake.base_url, flush=True)
        await anyio.sleep_forever()


async def main(args: argparse.Namespace) -> None:
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    tts, tts_url = start(
        [
            sys.executable,
            "-m",
            "bridge",
            "tts-server",
            "--engine",
            "tone",
            "--rtf",
            str(args.rtf),
        ],
        None,
    )
    llm, llm_url = start(
        [sys.executable, __file__, "--fake-llm", "--token-ms", str(args.token_ms)], None
    )
    print(
        f"emulator tone rtf {args.rtf}, fake model {args.token_ms:g} ms/token, "
        f"{args.arrivals:g} arrivals/s, {args.duration:g} s measured once all joined; "
        f"bridge serve pinned to CPU 0, everything else to CPU 1",
        flush=True,
    )
    try:
        for n in args.n:
            await run_load(n, args, tts_url, llm_url, [tts.pid, llm.pid])
    finally:
        for proc in (tts, llm):
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument(
        "--duration", type=float, default=15.0, help="steady-state seconds measured (default 15)"
    )
    parser.add_argument(
        "--arrivals", type=float, default=20.0, help="clients joining per second (default 20)"
    )
    parser.add_argument("--rtf", type=float, default=1.0)
    parser.add_argument("--token-ms", type=float, default=20.0)
    parser.add_argument("--fake-llm", action="store_true", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    from bridge.logs import configure_logging

    configure_logging(level="ERROR")  # logs to stderr; stdout carries the URL and figures
    if parsed.fake_llm:
        anyio.run(fake_llm, parsed.token_ms)
    else:
        anyio.run(main, parsed)
