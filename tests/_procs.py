"""Shared helpers for tests that run `bridge` commands in subprocesses: a clean environment,
a scripted model on a background event loop, and a `bridge tts-server` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from anyio.from_thread import start_blocking_portal

from bridge.testing.fake_llm import FakeLLM, FakeReply, serve_fake_llm

__all__ = ["BRIDGE", "clean_env", "fake_endpoint", "fake_model", "tone_tts", "tts_server"]

BRIDGE = [sys.executable, "-m", "bridge"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without keys, endpoints or bridge settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DASHSCOPE_API_KEY" and not k.startswith(("BRIDGE_", "OPENAI_"))
    }
    env.update(extra)
    return env


@contextmanager
def fake_model(reply: FakeReply, api_key: str | None = None) -> Iterator[str]:
    """The scripted OpenAI-compatible model on a background loop; yields its base URL."""
    with start_blocking_portal(backend="asyncio") as portal:
        cm = portal.wrap_async_context_manager(serve_fake_llm([reply], api_key=api_key))
        with cm as fake:
            yield fake.base_url


@contextmanager
def fake_endpoint(reply: FakeReply) -> Iterator[FakeLLM]:
    """Like ``fake_model``, but yields the endpoint itself (``base_url``, ``requests``)."""
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(serve_fake_llm([reply])) as fake,
    ):
        yield fake


@contextmanager
def tts_server(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`bridge tts-server ARGS`; yields the process and the URL it printed first."""
    proc = subprocess.Popen(
        [*BRIDGE, "tts-server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline().strip()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def tone_tts(*args: str) -> Iterator[str]:
    """A tone-engine `bridge tts-server`; yields its URL."""
    with tts_server("--engine", "tone", *args) as (_proc, url):
        yield url
