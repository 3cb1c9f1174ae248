"""The README's LiveKit Agents example, run as written (its code is read from README.md, so the
two cannot drift apart).

What the example needs from its surroundings is supplied, and nothing else is changed:

* a LiveKit job: LiveKit's own ``livekit.agents.testing.fake_job_context`` gives the
  ``JobContext`` the worker would pass to ``entrypoint`` (with a room that is not connected:
  the test has no LiveKit server);
* the room: LiveKit's ``AgentSession`` is replaced by a subclass whose ``start()`` records
  the room it was given and starts the real session without it, its audio going to a
  capturing output (as in ``tests/test_livekit.py``), so the agent speaks with no room;
* the network: the Singapore gateway's URL is bridge's local emulator (``realtime_url`` is
  redirected), the keys are placeholders (``DASHSCOPE_API_KEY``, and LiveKit's own for the
  STT and LLM of LiveKit Inference, which the agent never calls: nobody speaks to it), and
  LiveKit Inference's URL is a closed local port (LiveKit pre-warms its LLM connection);
  any look-up of a host name that is not local fails the test (it runs offline).

The agent then says a reply, and the ``exact`` engine's audio is decoded back into the words
that were heard.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("livekit.agents")

import livekit.agents
from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.testing import fake_job_context

import bridge.qwen.client
from bridge.integrations.livekit import QwenTTS
from bridge.qwen.regions import realtime_url
from tests.test_livekit import Capture, deltas, emulator, heard, squeeze

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## LiveKit Agents: `bridge.integrations.livekit`"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # LiveKit Agents runs on asyncio


def readme_example() -> str:
    """The first Python block of the README's LiveKit section."""
    section = README.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    m = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert m is not None, "the LiveKit section has no Python example"
    return m.group(1)


class RoomlessSession(AgentSession):
    """LiveKit's ``AgentSession``; ``start()`` keeps the room it is given and starts without
    it, the agent's audio going to a capture."""

    started: ClassVar[list[RoomlessSession]] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.capture = Capture()
        self.room: rtc.Room | None = None

    async def start(self, agent: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        self.room = kwargs.pop("room", None)
        assert not kwargs, kwargs
        self.output.audio = self.capture
        RoomlessSession.started.append(self)
        return await super().start(agent)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def redirect(url: str) -> Callable[..., str]:
    def realtime(region: str = "", workspace: str | None = None) -> str:
        assert (
            realtime_url(region, workspace)
            == "wss://dashscope-intl.aliyuncs.com/api-ws/v1/realtime"
        )
        return url.split("?", 1)[0]

    return realtime


async def test_the_readme_livekit_agent_runs_as_written_and_speaks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = readme_example()
    assert "async def entrypoint(ctx: JobContext)" in code
    monkeypatch.setattr(livekit.agents, "AgentSession", RoomlessSession)
    monkeypatch.setattr(RoomlessSession, "started", [])
    for name, value in [
        ("DASHSCOPE_API_KEY", "test-key"),
        ("LIVEKIT_API_KEY", "test-key"),
        ("LIVEKIT_API_SECRET", "test-secret-of-at-least-32-bytes"),
        ("LIVEKIT_INFERENCE_URL", f"http://127.0.0.1:{closed_port()}/v1"),
    ]:
        monkeypatch.setenv(name, value)
    looked_up: list[str] = []
    getaddrinfo = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1", None):
            looked_up.append(str(host))
            raise OSError(f"the test runs offline: no look-up of {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    async with emulator() as emu:
        monkeypatch.setattr(bridge.qwen.client, "realtime_url", redirect(emu.url))
        namespace: dict[str, Any] = {"__name__": "readme_livekit_example"}
        exec(compile(code, str(README), "exec"), namespace)  # the README's own code
        with fake_job_context(room=rtc.Room()) as ctx:
            await namespace["entrypoint"](ctx)
            [session] = RoomlessSession.started
            try:
                assert session.room is ctx.room  # the agent joins the job's room
                assert isinstance(session.tts, QwenTTS)
                assert session.tts.sample_rate == 48000
                await session.say(deltas("Hello **there**, how are ", "you today? Fine."))
            finally:
                await session.aclose()
    assert not looked_up
    assert emu.connections == 1
    assert heard(session.capture.frames, 48000) == squeeze("Hello there, how are you today? Fine.")
