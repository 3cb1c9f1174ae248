"""The commands run on uvloop when it is installed, and on asyncio's loop without it or when
``BRIDGE_UVLOOP=0`` says so (in subprocesses: the loop is chosen per process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    if sys.argv[1] == "blocked":
        sys.modules["uvloop"] = None  # as if it were not installed
    import anyio
    import bridge.cli

    loops = []
    real = anyio.run

    def spy(func, *args, **kwargs):
        async def first(*a):
            loops.append(type(asyncio.get_running_loop()).__module__.split(".")[0])
            return await func(*a)
        return real(first, *args, **kwargs)

    anyio.run = spy
    code = bridge.cli.main(["voices"])
    print(loops[0], code)
    """
)


@pytest.mark.parametrize(
    ("setting", "uvloop", "expected"),
    [
        (None, "installed", "uvloop"),
        ("0", "installed", "asyncio"),
        ("off", "installed", "asyncio"),
        ("1", "blocked", "asyncio"),
        (None, "blocked", "asyncio"),
    ],
)
def test_the_cli_picks_its_event_loop(setting: str | None, uvloop: str, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BRIDGE_UVLOOP"}
    if setting is not None:
        env["BRIDGE_UVLOOP"] = setting
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, uvloop],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"{expected} 0"
