"""SIGTERM and SIGHUP end a command the way an exception would: everything unwinds.

By default those signals kill Python on the spot, without running a single ``finally``: the
embedded model's server (in a session of its own, so out of the terminal's reach) would be left
running and the terminal left in raw mode. ``until_exit_signal`` runs a command and turns
either signal into a cancellation of it, so every ``async with`` exits - children stopped,
terminal restored - and the exit code is the shell's ``128 + signal``.

A command that handles SIGTERM itself (``bridge serve`` drains its sessions) installs its own
receiver while it runs; the last one installed wins, so that is the one that acts.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["EXIT_SIGNALS", "until_exit_signal"]

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


async def until_exit_signal(work: Callable[[], Awaitable[int]]) -> int:
    """``await work()`` and return its exit code; on SIGTERM or SIGHUP cancel it and return
    ``128 + signal``. An exception from ``work`` (or a KeyboardInterrupt raised in it)
    propagates as it is, not inside an exception group."""
    received: list[int] = []
    failure: list[BaseException] = []
    code = 0
    with anyio.open_signal_receiver(*EXIT_SIGNALS) as signals:
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                async for signum in signals:
                    received.append(signum)
                    tg.cancel_scope.cancel()
                    return

            tg.start_soon(watch)
            try:
                code = await work()
            except (Exception, KeyboardInterrupt) as exc:  # re-raised below, outside the group
                failure.append(exc)
            tg.cancel_scope.cancel()
    if failure:
        raise failure[0]
    if received:
        return 128 + received[0]
    return code
