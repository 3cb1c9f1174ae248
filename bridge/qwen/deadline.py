"""One receive deadline per TTS connection, kept by one event-loop timer.

A bound on every wait for a server event could be a new cancel scope per receive (``fail_after``):
each one schedules a timer, enters and leaves a scope and cancels the timer again, thousands
of times per second of audio. ``Deadline`` instead keeps one timestamp per connection, moved
forward by each receive (a float assignment), and at most one timer armed for it. The timer is
re-armed only when it fires before the latest deadline (so once per timeout period, not per
event) or when a receive asks for a shorter bound than the armed one. When it fires with the
deadline really passed and a receive waiting, it cancels that wait; the receive turns the
cancellation into its timeout error (``expired()``), and the connection stays usable, exactly
as with a scope per receive. Time spent between receives (the caller busy with a chunk) is not
counted: the deadline runs only while a receive waits.

asyncio only, like the websockets client it bounds (``websockets.asyncio``); cancelling a
``recv`` of websockets is safe (no message is lost). The cancellation is the task's own
``cancel()``/``uncancel()`` pair, as ``asyncio.timeout`` does it, so enclosing anyio scopes
and task groups see their own cancellations unchanged.
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadline"]


class Deadline:
    """The receive deadline of one connection; use from its event loop only."""

    __slots__ = ("_at", "_fired", "_handle", "_loop", "_task")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0
        self._task: asyncio.Task[object] | None = None
        self._fired = False

    @property
    def waiting(self) -> bool:
        """Whether a receive is waiting under this deadline now (only one may)."""
        return self._task is not None

    def arm(self, seconds: float) -> None:
        """A receive starts waiting now, for at most ``seconds``; call ``disarm`` after it."""
        at = self._loop.time() + seconds
        self._at = at
        self._fired = False
        self._task = asyncio.current_task()
        handle = self._handle
        if handle is None or handle.when() > at:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(at, self._expire)

    def disarm(self) -> None:
        """The receive ended (an event came, or it failed): the deadline no longer runs.
        The timer stays armed for the next receive, which usually moves the deadline past it."""
        self._task = None

    def expired(self) -> bool:
        """Whether the cancellation the receiving task just caught is this deadline's (then it
        is taken back, so the caller raises its timeout instead)."""
        if not self._fired:
            return False
        self._fired = False
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return True

    def close(self) -> None:
        """Cancel the timer (the connection is gone)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._task = None

    def _expire(self) -> None:
        self._handle = None
        task = self._task
        if task is None:
            return  # no receive waits: the next one arms the timer again
        if self._loop.time() < self._at:
            self._handle = self._loop.call_at(self._at, self._expire)
            return
        self._fired = True
        self._task = None
        task.cancel()
