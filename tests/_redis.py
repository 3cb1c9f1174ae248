"""A Redis server of the test's own: Debian's ``redis-server`` on a free loopback port, with no
persistence, stopped at the end. ``.ci/run`` installs the package; a missing one is installed
on demand or fails the test with the command (``_system.require_program``)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from _system import require_program


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def redis_server(folder: Path) -> AsyncIterator[str]:
    """Run ``redis-server`` for the block; yield its ``redis://`` URL."""
    binary = require_program("redis-server", "redis-server")
    port = _free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    argv += ["no", "--dir", str(folder), "--daemonize", "no"]
    proc = await anyio.open_process(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with anyio.fail_after(15):
            while True:
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(0.05)
                    continue
                await stream.aclose()
                break
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        with anyio.move_on_after(5, shield=True):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
