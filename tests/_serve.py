"""Helpers for the ``bridge serve`` tests: a server on loopback with the tone emulator and the
scripted fake model, and a small protocol client. Every wait is bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bridge.adapters.llm import LLMConfig
from bridge.local import Emulator, EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.pipeline import TTSTarget
from bridge.qwen import SessionConfig, Timeouts
from bridge.server import BridgeServer, ServerOptions, serve_bridge
from bridge.testing.fake_llm import FakeLLM, FakeReply, serve_fake_llm, tokens_for
from bridge.text import Lexicon

SHORT = "Sure. Here is a short answer."
LONG = (
    "Sure. First we check the weather report for the coast. Then we pack a small bag with "
    "water and some bread. After that we walk slowly down to the lake and look at the birds. "
    "We rest there for an hour in the shade. Finally we walk home again before it gets dark."
)
FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)
RATE = 24000


@dataclass
class Stack:
    server: BridgeServer
    fake: FakeLLM
    emulator_url: str
    emulator: Emulator | None = None

    @property
    def url(self) -> str:
        return self.server.url


@asynccontextmanager
async def running(
    replies: Sequence[FakeReply] | None = None,
    *,
    options: ServerOptions | None = None,
    latency: LatencyModel | None = None,
    llm: LLMConfig | None = None,
    llm_key: str | None = None,
    prompts: Mapping[str, str] | None = None,
    engine: str = "tone",
    mode: str = "server_commit",
    model: str | None = None,
    faults: Faults | None = None,
    chat: bool = True,
    lexicons: Mapping[str, Lexicon] | None = None,
    default_lexicon: str = "none",
) -> AsyncIterator[Stack]:
    """A server on 127.0.0.1:0 with the emulator (the tone engine unless told; ``faults``
    injected) and the fake model (``chat=False``: a server without a chat model)."""
    replies = replies or [FakeReply(tokens_for(SHORT), delay=0.005)]
    emu_options = EmulatorOptions(
        engine=engine, latency=latency or LatencyModel(), faults=faults or Faults()
    )
    async with (
        serve_fake_llm(replies, api_key=llm_key) as fake,
        serve_emulator(emu_options) as emu,
    ):
        config: LLMConfig | None = llm or LLMConfig(base_url=fake.base_url, api_key="k", model="m")
        if not chat:
            config = None
        opts = options or ServerOptions(port=0, audio_lead=None)
        tts_config = SessionConfig(mode=mode)  # type: ignore[arg-type]
        tts = TTSTarget(url=emu.url, timeouts=FAST, config=tts_config)
        if model is not None:
            tts = replace(tts, model=model)
        async with serve_bridge(
            opts,
            llm=config,
            tts=tts,
            prompts=prompts,
            lexicons=lexicons,
            default_lexicon=default_lexicon,
        ) as srv:
            yield Stack(srv, fake, emu.url, emu)


@dataclass
class Client:
    """A protocol client that records everything it receives."""

    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    log: list[dict[str, Any] | bytes] = field(default_factory=list)

    async def send(self, **event: Any) -> None:
        await self.ws.send(json.dumps(event))

    async def recv(self, timeout: float = 10) -> dict[str, Any] | bytes:
        with anyio.fail_after(timeout):
            data = await self.ws.recv()
        if isinstance(data, bytes):
            self.frames.append(data)
            self.log.append(data)
            return data
        event: dict[str, Any] = json.loads(data)
        self.events.append(event)
        self.log.append(event)
        return event

    async def until(self, kind: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        """Receive until an event of ``kind`` (with ``match`` fields) arrives."""
        with anyio.fail_after(timeout):
            while True:
                got = await self.recv(timeout)
                if (
                    isinstance(got, dict)
                    and got["type"] == kind
                    and all(got.get(k) == v for k, v in match.items())
                ):
                    return got

    async def closed(self, timeout: float = 10) -> tuple[int | None, str]:
        """Receive until the server closes; return its close code and reason."""
        with anyio.fail_after(timeout):
            try:
                while True:
                    await self.recv(timeout)
            except ConnectionClosed as exc:
                rcvd = exc.rcvd
                return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


@asynccontextmanager
async def client(url: str, **kwargs: Any) -> AsyncIterator[Client]:
    async with connect(url, open_timeout=10, close_timeout=2, **kwargs) as ws:
        c = Client(ws)
        ready = await c.recv()
        assert isinstance(ready, dict) and ready["type"] == "session.ready", ready
        yield c


def samples(frames: Sequence[bytes]) -> int:
    return sum(len(f) // 2 for f in frames)
