"""pytest fixtures for apps that embed bridge: a scripted chat model and a local TTS service.

pytest loads this module by itself once bridge is installed (the ``pytest11`` entry point
``bridge``); ``-p no:bridge`` turns it off. The async fixtures run on anyio's pytest plugin (it
comes with anyio), so mark the tests that use them with ``@pytest.mark.anyio``:

- ``fake_llm``: a factory, ``fake = await fake_llm([FakeReply(...)], api_key=..., models=...)``
  starts a scripted OpenAI-compatible chat server (``fake.base_url``, ``fake.requests``); every
  server it started stops after the test.
- ``bridge_emulator``: a running Qwen-TTS-Realtime emulator (``.url``) with the ``tone`` engine.
- ``bridge_exact_emulator``: the same with the ``exact`` engine, whose audio says which text was
  played (``bridge.testing.heard_text``).
- ``bridge_target``: a ``TTSTarget`` for the exact emulator with short timeouts, ready for
  ``Turn``, ``Assistant`` or an integration.
- ``bridge_emulator_options``: the ``EmulatorOptions`` of both emulators; override it (in a
  ``conftest.py``, a module or a class) to inject faults or a latency model.

The fixtures import bridge when they are used, so the plugin costs nothing in test runs that do
not use them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc
import pytest

if TYPE_CHECKING:
    from bridge.local import Emulator, EmulatorOptions
    from bridge.pipeline import TTSTarget
    from bridge.testing.fake_llm import FakeLLM, FakeReply

__all__ = [
    "FakeLLMFactory",
    "bridge_emulator",
    "bridge_emulator_options",
    "bridge_exact_emulator",
    "bridge_target",
    "fake_llm",
]


class FakeLLMFactory(Protocol):
    """The ``fake_llm`` fixture: starts a scripted chat server that lives until the test ends."""

    async def __call__(
        self,
        replies: Sequence[FakeReply] | Callable[[list[dict[str, Any]]], FakeReply],
        *,
        api_key: str | None = None,
        models: Sequence[str] | None = None,
    ) -> FakeLLM: ...


@pytest.fixture
async def fake_llm(anyio_backend: object) -> AsyncIterator[FakeLLMFactory]:
    """A factory of scripted OpenAI-compatible chat servers, stopped after the test."""
    from bridge.testing.fake_llm import serve_fake_llm

    async def run(
        replies: Sequence[FakeReply] | Callable[[list[dict[str, Any]]], FakeReply],
        options: dict[str, Any],
        *,
        task_status: anyio.abc.TaskStatus[FakeLLM] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        async with serve_fake_llm(replies, **options) as fake:
            task_status.started(fake)
            await anyio.sleep_forever()

    # Each server runs in a task of the fixture's own task group, so its cancel scopes open and
    # close in that task, whatever the test does in between.
    async with anyio.create_task_group() as tg:

        async def start(
            replies: Sequence[FakeReply] | Callable[[list[dict[str, Any]]], FakeReply],
            *,
            api_key: str | None = None,
            models: Sequence[str] | None = None,
        ) -> FakeLLM:
            fake: FakeLLM = await tg.start(run, replies, {"api_key": api_key, "models": models})
            return fake

        yield start
        tg.cancel_scope.cancel()


@pytest.fixture
def bridge_emulator_options() -> EmulatorOptions:
    """The options of ``bridge_emulator`` and ``bridge_exact_emulator`` (the engine is set by
    each); override this fixture to add ``faults=Faults(...)`` or a ``LatencyModel``."""
    from bridge.local import EmulatorOptions

    return EmulatorOptions(engine="tone")


@pytest.fixture
async def bridge_emulator(
    anyio_backend: object, bridge_emulator_options: EmulatorOptions
) -> AsyncIterator[Emulator]:
    """A running emulator with the ``tone`` engine (no espeak-ng needed); ``.url`` to connect."""
    from bridge.local import serve_emulator

    options = dataclasses.replace(bridge_emulator_options, engine="tone")
    async with serve_emulator(options) as emulator:
        yield emulator


@pytest.fixture
async def bridge_exact_emulator(
    anyio_backend: object, bridge_emulator_options: EmulatorOptions
) -> AsyncIterator[Emulator]:
    """A running emulator with the ``exact`` engine: decode what you received with
    ``bridge.testing.heard_text`` to see exactly which text was played."""
    from bridge.local import serve_emulator

    options = dataclasses.replace(bridge_emulator_options, engine="exact")
    async with serve_emulator(options) as emulator:
        yield emulator


@pytest.fixture
def bridge_target(bridge_exact_emulator: Emulator) -> TTSTarget:
    """A ``TTSTarget`` for ``bridge_exact_emulator``, with timeouts short enough for tests."""
    from bridge.pipeline import TTSTarget
    from bridge.qwen import Timeouts

    timeouts = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)
    return TTSTarget(url=bridge_exact_emulator.url, timeouts=timeouts)
