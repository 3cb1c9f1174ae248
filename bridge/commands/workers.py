"""``bridge serve --workers N``: N worker processes serving one port, one event loop each.

The parent binds nothing it serves: it reserves the port with a bound, never listening
``SO_REUSEPORT`` socket (so ``--port 0`` means one free port for all, and a port taken by
another program is refused here, once), then starts each worker as ``bridge <the same command
line> --port P --worker-index I``. A worker listens on its own ``SO_REUSEPORT`` socket, so the
kernel spreads new connections over the workers; they share nothing else. Worker 0 starts
first, the others once it is serving, so a configuration error is reported once.

The parent prints the ws URL when every worker serves. SIGTERM or SIGINT to the parent is sent
on to every worker as SIGTERM: each drains by the rules of one ``bridge serve`` (running replies
finish for ``--shutdown-grace``, connections close with 1001); a second signal is passed on too,
and hurries them. The parent exits 0 when every worker exited 0.

A worker that exits on its own (a crash, a kill) is reported with its pid and exit code; the
parent then drains the others and exits 1 rather than restarting it: a supervisor (systemd,
compose, Kubernetes) restarts the whole server, and a failure is never hidden. Workers run in a
session of their own (a Ctrl-C in the terminal reaches only the parent, which drains them
once); a worker whose parent is gone drains itself.

``/metrics`` of any worker covers all of them: the parent points prometheus_client's
multiprocess mode at a temporary directory (``PROMETHEUS_MULTIPROC_DIR``) that it removes at
exit; see ``bridge.server.metrics``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
from anyio.abc import Process

from bridge.commands.common import announce, note
from bridge.core.errors import ConfigError

__all__ = ["WORKER_FLAG", "check_workers", "reserve_port", "run_workers", "watch_parent"]

WORKER_FLAG = "--worker-index"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's name (bridge.server.metrics)
_READY_TIMEOUT = 120.0  # seconds a worker may take to start serving
_PARENT_POLL = 1.0


def check_workers(count: int | None, source: str = "default") -> int:
    """The number of worker processes (``None``: one); fewer than one is a ``ConfigError``."""
    if count is None:
        return 1
    if count < 1:
        raise ConfigError(
            f"workers must be at least 1, got {count} (from {source}; --workers, "
            "BRIDGE_SERVE_WORKERS or workers in the configuration file)",
            field="workers",
        )
    return count


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT`` and not listening: it holds the
    port (a free one for ``port=0``) for the workers' own listening sockets."""
    reuse = getattr(socket, "SO_REUSEPORT", None)
    if reuse is None:
        raise ConfigError(
            "--workers above 1 needs SO_REUSEPORT, which this system lacks; run one worker "
            "per port behind a balancer instead",
            field="workers",
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, reuse, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


async def watch_parent() -> None:
    """In a worker: when the parent is gone, signal this process (SIGTERM), so it drains."""
    parent = os.getppid()
    while os.getppid() == parent:
        await anyio.sleep(_PARENT_POLL)
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class _Workers:
    """The running workers and what became of them."""

    procs: list[Process] = field(default_factory=list)
    draining: bool = False
    ready: bool = False
    failed: int | None = None  # the exit code the parent ends with after a worker failed
    codes: dict[int, int] = field(default_factory=dict)
    started: bool = False  # every worker that will run has been started
    ended: anyio.Event = field(default_factory=anyio.Event)

    def check_ended(self) -> None:
        if self.started and len(self.codes) == len(self.procs):
            self.ended.set()

    def signal_all(self, signum: signal.Signals = signal.SIGTERM) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    def fail(self, code: int) -> None:
        if self.failed is None and not self.draining:
            self.failed = code
            self.draining = True
            self.signal_all()


async def _first_line(proc: Process) -> str | None:
    """The first line the worker prints (its URL), or ``None`` when it exits first."""
    assert proc.stdout is not None
    data = b""
    while b"\n" not in data:
        try:
            data += await proc.stdout.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None
    return data.split(b"\n", 1)[0].decode(errors="replace").strip()


async def run_workers(
    args: argparse.Namespace, *, host: str, port: int, count: int, grace: float
) -> int:
    """Run ``count`` workers of ``bridge serve`` (``args.argv`` is its command line) until a
    signal drains them or one fails (``grace``: their ``--shutdown-grace``). Returns the exit
    code."""
    reservation = reserve_port(host, port)
    port = reservation.getsockname()[1]
    metrics_dir = tempfile.mkdtemp(prefix="bridge-metrics-")
    env = {**os.environ, MULTIPROC_ENV: metrics_dir}
    argv: Sequence[str] = [sys.executable, "-m", "bridge", *args.argv, "--port", str(port)]
    state = _Workers()
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:

                async def on_signals() -> None:
                    async for _ in signals:
                        if not state.draining:
                            note(f"shutting down {count} workers (signal again to hurry)")
                        state.draining = True
                        state.signal_all()  # a second one hurries the workers

                async def watch(index: int, proc: Process) -> None:
                    code = await proc.wait()
                    state.codes[index] = code
                    _mark_dead(proc.pid, metrics_dir)
                    if not state.draining:
                        when = "while serving" if state.ready else "before it was serving"
                        note(
                            f"worker {index} (pid {proc.pid}) exited with code {code} {when}; "
                            "stopping the others",
                            level="error",
                        )
                        state.fail(code if not state.ready and code else 1)
                    state.check_ended()

                async def start(index: int) -> str | None:
                    proc = await anyio.open_process(
                        [*argv, WORKER_FLAG, str(index)],
                        env=env,
                        stdout=subprocess.PIPE,  # the worker's URL line
                        stderr=None,  # its logs go where the parent's go
                        start_new_session=True,
                    )
                    state.procs.append(proc)
                    tg.start_soon(watch, index, proc)
                    return await _first_line(proc)

                tg.start_soon(on_signals)
                urls: list[str | None] = []
                with anyio.move_on_after(_READY_TIMEOUT) as timer:
                    urls.append(await start(0))
                    if urls[0] is not None and not state.draining:
                        async with anyio.create_task_group() as starting:

                            async def start_one(index: int) -> None:
                                urls.append(await start(index))

                            for index in range(1, count):
                                starting.start_soon(start_one, index)
                if timer.cancelled_caught:
                    note(f"the workers did not start within {_READY_TIMEOUT:g} s", level="error")
                    state.fail(1)
                elif not state.draining and all(urls):
                    state.ready = True
                    url = urls[0] or ""
                    announce(url)
                    pids = ", ".join(str(p.pid) for p in state.procs)
                    note(f"{count} workers (pids {pids}); demo page: {_page(url)}")
                state.started = True
                state.check_ended()
                await state.ended.wait()
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(state, grace)
        reservation.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if state.failed is not None:
        return state.failed
    return 0 if all(code == 0 for code in state.codes.values()) else 1


async def _stop(state: _Workers, grace: float) -> None:
    """Drain the workers still running (a cancelled parent), then kill the stragglers."""
    if any(p.returncode is None for p in state.procs):
        state.signal_all()
        with anyio.move_on_after(grace + 10):
            for proc in state.procs:
                await proc.wait()
    for proc in state.procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _mark_dead(pid: int, path: str) -> None:
    """Drop a finished worker's live gauges from the shared metrics (its counters stay)."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def _page(url: str) -> str:
    return url.replace("ws://", "http://", 1).removesuffix("/ws") + "/"
