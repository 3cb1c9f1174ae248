"""CPU per streamed chunk and per request of the LLM token path: SDK objects against raw SSE.

Prints figures; asserts nothing. Run: ``uv run python benchmarks/llm_stream_speed.py
[--tokens N] [--replies R] [--rounds K] [--delay S] [--history H]``.

The scripted chat server (``bridge.testing.fake_llm``) runs in a child process, so only the
client's CPU is counted (``time.process_time()`` of this process). Two paths read the same
replies from it, interleaved round by round (the order alternates), on one ``AsyncOpenAI``:

- ``sdk``: what ``LLMClient`` did before: ``chat.completions.create(stream=True)``, the SDK
  building a pydantic ``ChatCompletionChunk`` per event, one ``fail_after`` per chunk, the same
  sanitiser and think filter;
- ``lean``: ``LLMClient.stream()`` as it is: the SDK's streaming response, ``SSEDecoder`` on the
  raw bytes, ``orjson`` per event, one bounded wait per network read.

Two measures, each a median with its spread (min-max) over the rounds:

- µs of CPU per streamed chunk: replies of ``--tokens`` tokens (``--delay`` seconds apart;
  0 sends them as fast as the server can, so one read may hold several);
- ms of CPU per request: one-token replies to a ``--history``-message conversation (building
  and sending the request, the SDK's per-call transform included on the ``sdk`` path).

The 1/5/15-minute load averages are printed before and after.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

import anyio
import openai
import structlog

from bridge.adapters.llm import LLMClient, LLMConfig, ThinkFilter
from bridge.adapters.openai_client import client_for
from bridge.core.sanitize import TextSanitizer
from bridge.testing.fake_llm import tokens_for

SERVER = """
import logging, sys, anyio, structlog
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

async def main() -> None:
    text = sys.argv[1]
    delay = float(sys.argv[2])
    def reply(messages):
        if messages and messages[-1].get("content") == "one token":
            return FakeReply(["Ok."])
        return FakeReply(tokens_for(text), delay=delay)
    async with serve_fake_llm(reply) as fake:
        print(fake.base_url, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
anyio.run(main)
"""
WORDS = "The quick brown fox jumps over the lazy dog and runs back home before the rain. "

Path = Callable[[openai.AsyncOpenAI, LLMConfig, Sequence[Mapping[str, Any]]], Awaitable[int]]


async def sdk_path(
    client: openai.AsyncOpenAI, config: LLMConfig, messages: Sequence[Mapping[str, Any]]
) -> int:
    """The SDK-object path of the previous adapter; returns the characters spoken."""
    stream = await client.chat.completions.create(
        model=config.model,
        messages=[dict(m) for m in messages],  # type: ignore[misc]
        stream=True,
        stream_options={"include_usage": True},
    )
    thinking, clean, chars = ThinkFilter(), TextSanitizer(), 0
    try:
        while True:
            try:
                with anyio.fail_after(config.token_timeout):
                    chunk = await stream.__anext__()
            except StopAsyncIteration:
                break
            for choice in chunk.choices or ():
                if choice.index != 0:
                    continue
                delta = choice.delta
                hidden = bool(getattr(delta, "reasoning_content", None))
                hidden = hidden or bool(delta.model_extra and delta.model_extra.get("reasoning"))
                hidden = hidden or bool(delta.tool_calls) or delta.function_call is not None
                text = (delta.content or "") + (delta.refusal or "")
                if text or hidden:
                    chars += len(thinking.feed(clean.feed(text)))
    finally:
        await stream.close()
    return chars + len(thinking.feed(clean.flush()) + thinking.flush())


async def lean_path(
    client: openai.AsyncOpenAI, config: LLMConfig, messages: Sequence[Mapping[str, Any]]
) -> int:
    llm = LLMClient(config, client=client)
    chars = 0
    async with aclosing(llm.stream(messages)) as stream:
        async for piece in stream:
            chars += len(piece)
    return chars


PATHS: dict[str, Path] = {"sdk": sdk_path, "lean": lean_path}


async def cpu_of(
    path: Path,
    client: openai.AsyncOpenAI,
    config: LLMConfig,
    messages: Sequence[Mapping[str, Any]],
    times: int,
) -> float:
    start = time.process_time()
    for _ in range(times):
        if await path(client, config, messages) <= 0:
            raise SystemExit("a reply came back empty")
    return time.process_time() - start


def history(turns: int) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "You are a helpful voice assistant. " * 20}]
    for i in range(turns // 2):
        messages.append({"role": "user", "content": f"Question {i} about the weather today?"})
        messages.append({"role": "assistant", "content": WORDS * 3})
    messages.append({"role": "user", "content": "one token"})
    return messages


def show(title: str, unit: str, samples: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    for name, values in samples.items():
        med, lo, hi = statistics.median(values), min(values), max(values)
        print(f"  {name:<5} median {med:9.1f} {unit}   spread {lo:.1f}-{hi:.1f}  (n={len(values)})")
    base, lean = statistics.median(samples["sdk"]), statistics.median(samples["lean"])
    print(f"  lean / sdk: {lean / base:.2f}")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


async def run(args: argparse.Namespace, base_url: str) -> None:
    config = LLMConfig(base_url=base_url, model="fake-llm")
    short = [{"role": "user", "content": "Tell me a story."}]
    long = history(args.history)
    per_chunk: dict[str, list[float]] = {name: [] for name in PATHS}
    per_request: dict[str, list[float]] = {name: [] for name in PATHS}
    chunks = args.chunks
    async with client_for(config) as client:
        for path in PATHS.values():  # warm-up: imports, connections, caches
            await cpu_of(path, client, config, short, 1)
            await cpu_of(path, client, config, long, 3)
        for round_ in range(args.rounds):
            order = list(PATHS.items()) if round_ % 2 == 0 else list(PATHS.items())[::-1]
            for name, path in order:
                cpu = await cpu_of(path, client, config, short, args.replies)
                per_chunk[name].append(cpu / (args.replies * chunks) * 1e6)
                cpu = await cpu_of(path, client, config, long, args.requests)
                per_request[name].append(cpu / args.requests * 1e3)
    show(
        f"CPU per streamed chunk ({chunks}-chunk replies, tokens {args.delay:g} s apart)",
        "µs",
        per_chunk,
    )
    show(f"CPU per request (one-token reply, {len(long)}-message history)", "ms", per_request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=300, help="tokens per reply")
    parser.add_argument("--replies", type=int, default=4, help="replies per path and round")
    parser.add_argument("--requests", type=int, default=20, help="requests per path and round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between tokens")
    parser.add_argument("--history", type=int, default=20, help="turns before the request")
    args = parser.parse_args()
    # As the entry points configure it: debug lines are dropped, as in a real run.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    text = WORDS * (args.tokens // 10 + 1)
    tokens = tokens_for(text)
    text = "".join(tokens[: args.tokens])
    args.chunks = len(tokens_for(text)) + 3  # a role chunk, the tokens, finish, usage
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, text, str(args.delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        print(f"python {sys.version.split()[0]}, openai {openai.__version__}; server {base_url}")
        print(f"load before: {load()}")
        anyio.run(run, args, base_url)
        print(f"\nload after: {load()}")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)


if __name__ == "__main__":
    main()
