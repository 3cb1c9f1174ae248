"""Headless Chromium driven over the DevTools protocol (a WebSocket), for the demo page test.

No Node and no browser-automation package: the browser is Debian's ``chromium`` started with
``--remote-debugging-port=0``; its DevTools URL is read from stderr, and commands go over a
``websockets`` connection with flattened target sessions. Every wait is bounded.

``.ci/run`` installs Chromium (``apt-get install -y chromium``); the browser test fails with a
message saying so when it is missing, rather than skipping silently.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import pytest
from _system import require_program
from anyio.abc import ByteReceiveStream
from anyio.streams.buffered import BufferedByteReceiveStream
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium", "/usr/lib/chromium/chromium")
INSTALL_HINT = (
    "headless Chromium is needed for the demo page test but was not found. Install it with "
    "`sudo apt-get update && sudo apt-get install -y chromium` (Debian/Ubuntu), or run "
    "`.ci/run`, which installs it; set BRIDGE_CHROMIUM to use another binary."
)
_DEVTOOLS = re.compile(r"DevTools listening on (ws://\S+)")


def find_chromium() -> str:
    """The Chromium binary, or fail the test with how to install it."""
    configured = os.environ.get("BRIDGE_CHROMIUM")
    for name in ((configured,) if configured else ()) + CANDIDATES:
        found = shutil.which(name) if name else None
        if found:
            return found
    if os.environ.get("BRIDGE_NO_INSTALL"):
        pytest.fail(INSTALL_HINT, pytrace=False)
    return require_program("chromium", "chromium")


def _flags(profile: str) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-extensions",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}",
        "about:blank",
    ]


class CDP:
    """A DevTools protocol connection to the browser, with one attached page session."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, anyio.Event] = {}
        self._replies: dict[int, dict[str, Any]] = {}
        self.session: str | None = None
        self.console: list[str] = []

    async def _read(self) -> None:
        with suppress(ConnectionClosed):
            async for raw in self._ws:
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in self._waiting:
                    self._replies[msg["id"]] = msg
                    self._waiting.pop(msg["id"]).set()
                elif msg.get("method") == "Runtime.consoleAPICalled":
                    args = msg["params"].get("args", [])
                    self.console.append(" ".join(str(a.get("value", "")) for a in args))
                elif msg.get("method") == "Runtime.exceptionThrown":
                    details = msg["params"].get("exceptionDetails", {})
                    self.console.append("exception: " + json.dumps(details)[:500])

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 10
    ) -> dict[str, Any]:
        ident = next(self._ids)
        done = self._waiting[ident] = anyio.Event()
        msg: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if self.session is not None and not method.startswith("Target."):
            msg["sessionId"] = self.session
        await self._ws.send(json.dumps(msg))
        with anyio.fail_after(timeout):
            await done.wait()
        reply = self._replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def evaluate(self, expression: str, *, gesture: bool = False) -> Any:
        result = await self.call(
            "Runtime.evaluate",
            {
                "expression": expression,
                "returnByValue": True,
                "awaitPromise": True,
                "userGesture": gesture,
            },
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error: {json.dumps(result['exceptionDetails'])[:500]}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, *, timeout: float, what: str) -> Any:
        """Poll ``expression`` until it is truthy; fail with ``what`` after ``timeout``."""
        last: Any = None
        with anyio.move_on_after(timeout):
            while True:
                last = await self.evaluate(expression)
                if last:
                    return last
                await anyio.sleep(0.05)
        state = await self.evaluate("JSON.stringify(window.bridgeDemo || null)")
        raise AssertionError(
            f"timed out after {timeout} s waiting for {what}; page state: {str(state)[:1500]}; "
            f"console: {self.console[-10:]}"
        )

    async def open_page(self, url: str) -> None:
        target = await self.call("Target.createTarget", {"url": "about:blank"})
        attached = await self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        self.session = attached["sessionId"]
        await self.call("Runtime.enable")
        await self.call("Page.enable")
        await self.call("Page.navigate", {"url": url})


async def _devtools_url(stderr: ByteReceiveStream, seen: list[str]) -> str:
    """Read Chromium's stderr until it prints its DevTools URL."""
    buffered = BufferedByteReceiveStream(stderr)
    while True:
        line = (await buffered.receive_until(b"\n", 1 << 20)).decode(errors="replace")
        seen.append(line)
        match = _DEVTOOLS.search(line)
        if match:
            return match.group(1)


async def _drain(stderr: ByteReceiveStream) -> None:
    """Keep reading stderr so the browser never blocks on a full pipe."""
    with suppress(anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
        while True:
            await stderr.receive()


@asynccontextmanager
async def chromium(*, start_timeout: float = 30) -> AsyncIterator[CDP]:
    """Start headless Chromium and yield a DevTools connection to it; stop it afterwards."""
    binary = find_chromium()
    # Chromium's helper processes may still write to the profile for a moment after the
    # browser exits: remove it with retries, and never fail a test over it.
    with tempfile.TemporaryDirectory(
        prefix="bridge-chromium-", ignore_cleanup_errors=True
    ) as profile:
        proc = await anyio.open_process([binary, *_flags(profile)], stdout=subprocess.DEVNULL)
        assert proc.stderr is not None
        try:
            seen: list[str] = []
            try:
                with anyio.fail_after(start_timeout):
                    url = await _devtools_url(proc.stderr, seen)
            except (TimeoutError, anyio.EndOfStream, anyio.IncompleteRead):
                raise AssertionError(
                    f"Chromium printed no DevTools URL within {start_timeout} s; "
                    f"stderr: {''.join(seen)[-2000:]}"
                ) from None
            async with (
                connect(url, max_size=None, open_timeout=10) as ws,
                anyio.create_task_group() as tg,
            ):
                cdp = CDP(ws)
                tg.start_soon(cdp._read)
                tg.start_soon(_drain, proc.stderr)
                try:
                    yield cdp
                finally:
                    with suppress(Exception), anyio.move_on_after(3):
                        await cdp.call("Browser.close", timeout=3)
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                if proc.returncode is None:
                    with suppress(ProcessLookupError):
                        proc.terminate()
                    with anyio.move_on_after(10):
                        await proc.wait()
                    if proc.returncode is None:
                        proc.kill()
                        await proc.wait()
                await proc.aclose()
                for _ in range(20):
                    await anyio.to_thread.run_sync(shutil.rmtree, profile, True)
                    if not await anyio.Path(profile).exists():
                        break
                    await anyio.sleep(0.05)


__all__ = ["CDP", "INSTALL_HINT", "chromium", "find_chromium"]
