"""Child processes of the CLI: started out of the terminal's reach, always stopped with it.

A terminal sends Ctrl-C's SIGINT (and Ctrl-Z, Ctrl-\\) to its whole foreground process
group. A child left in that group dies with the reply the user only meant to stop, and every
later turn fails. ``spawn_child`` therefore starts each child in a session (so a process group)
of its own: no terminal signal reaches it, and the CLI stops it itself with ``stop_child``
when it is done with it - on a normal exit, an exception, SIGINT or SIGTERM (the command line
turns SIGTERM and SIGHUP into a cancellation, ``bridge.commands.signals``).

One case no ``finally`` can cover is the CLI being killed outright (SIGKILL, a crash). On Linux
the child is started through a tiny launcher that stays as its parent: it asks the kernel for a
signal when its own parent dies (``PR_SET_PDEATHSIG``), runs the real command in its process
group and waits for it, and when this process is gone kills the group, so even then nothing is
left running. The kernel sends that signal when the *thread* that started the launcher ends, not
only the process (an event loop in a thread that ends while the program goes on); the launcher
then sees its parent process still there and carries on. It ends with the command's exit status
(killed by a signal: the same signal), and ignores the SIGTERM that ``stop_child`` sends the
group, so that it is still there to be waited for until the command has stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from contextlib import suppress
from typing import IO

import anyio
from anyio.abc import Process

__all__ = ["launcher_argv", "spawn_child", "stop_child"]

STOP_GRACE = 5.0

# Run as ``python -c _LAUNCHER PARENT_PID ARGV...``: runs ARGV as its child, dies with PARENT_PID.
# prctl(PR_SET_PDEATHSIG=1, SIGUSR1), after the handler is in place; if the parent is already gone
# (it died before the prctl took effect), exit instead of running unowned. SIGUSR1 also comes when
# only the parent's thread that started us ended: the parent process is then still our parent.
# SIGTERM is caught (so ignored) here; ``exec`` gives the command the default handling back.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "parent = int(sys.argv[1])\n"
    "def parent_died(signum, frame):\n"
    "    if os.getppid() != parent:\n"
    "        os.killpg(0, signal.SIGKILL)\n"
    "signal.signal(signal.SIGUSR1, parent_died)\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.prctl(1, signal.SIGUSR1, 0, 0, 0)\n"
    "if os.getppid() != parent:\n"
    "    os._exit(70)\n"
    "signal.signal(signal.SIGTERM, lambda signum, frame: None)\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    try:\n"
    "        os.execvp(sys.argv[2], sys.argv[2:])\n"
    "    finally:\n"
    "        os._exit(127)\n"
    "status = os.waitpid(pid, 0)[1]\n"
    "if os.WIFSIGNALED(status):\n"
    "    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)\n"
    "    os.kill(os.getpid(), os.WTERMSIG(status))\n"
    "os._exit(os.waitstatus_to_exitcode(status) & 255)\n"
)


def launcher_argv(argv: Sequence[str], *, parent: int | None = None) -> list[str]:
    """``argv`` wrapped so that the child dies with ``parent`` (default: this process).
    Unchanged where the kernel offers no parent-death signal (anything but Linux)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid() if parent is None else parent), *argv]


async def spawn_child(
    argv: Sequence[str],
    *,
    output: IO[bytes] | int | None = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> Process:
    """Start ``argv`` in its own session (so its own process group), stdin closed, stdout and
    stderr to ``output``, killed by the kernel if this process dies without stopping it.
    Raises ``OSError`` when it cannot be started."""
    if not argv:
        raise ValueError("argv must name a program")
    return await anyio.open_process(
        launcher_argv(argv),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        env=env,
        start_new_session=True,
    )


def _signal_group(process: Process, signum: int) -> None:
    # Only while the child is unreaped: its pid (the group's id) cannot have been reused.
    if process.returncode is None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)


async def stop_child(process: Process, *, grace: float = STOP_GRACE) -> None:
    """Stop the child's whole process group: SIGTERM, then SIGKILL after ``grace`` seconds;
    wait for it and release its pipes. Shielded, so a cancelled caller still stops it."""
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            _signal_group(process, signal.SIGTERM)
            with anyio.move_on_after(grace):
                await process.wait()
            if process.returncode is None:
                _signal_group(process, signal.SIGKILL)
                await process.wait()
        await process.aclose()
