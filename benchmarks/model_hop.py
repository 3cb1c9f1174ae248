"""The ``user.message → model request`` hop of ``bridge serve`` on one clock, in one process
(prints figures; not a test).

``relay_compare.py`` measures the hop across three processes on a shared core (the client's
send to the scripted model's arrival), so the model's HTTP parsing and two wake-ups of other
processes are in it. Here the client, ``bridge serve``, the emulator (tone engine) and the
scripted model share one event loop and one thread, so the hop's wall time is its CPU time
(``time.thread_time``; loopback I/O does not wait): the client's send, bridge's handling of the
message and its request, and the scripted model's parsing of it. The last part is measured
alone too (``floor``: the same request body sent to the scripted model straight from this
process with ``httpx``, timed the same way), so ``hop - floor`` is about what bridge adds.

Run: ``uv run python benchmarks/model_hop.py [--turns 40] [--rounds 3]``; medians over the
turns of each round (the first 5 turns of a round are warm-up), rounds interleaved with the
floor, the machine's load before and after.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from typing import Any

import anyio
import httpx
import structlog
from websockets.asyncio.client import connect

from bridge.adapters.llm import LLMConfig
from bridge.local import EmulatorOptions, serve_emulator
from bridge.pipeline import TTSTarget
from bridge.server import ServerLimits, ServerOptions, serve_bridge
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

WARM = 5


async def run(args: argparse.Namespace) -> None:
    arrived: dict[str, float] = {}

    def answer(messages: list[dict[str, Any]]) -> FakeReply:
        arrived[str(messages[-1].get("content", ""))] = time.thread_time()
        return FakeReply(tokens_for("Sure."), delay=0.001, first_delay=0.0)

    limits = ServerLimits(
        turns_per_minute=6000,
        turn_burst=1000,
        address_turns_per_minute=6000,
        address_turn_burst=1000,
        server_turns_per_minute=6000,
        server_turn_burst=1000,
    )
    hops: list[float] = []
    floors: list[float] = []
    async with (
        serve_fake_llm(answer) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        serve_bridge(
            ServerOptions(port=0, limits=limits, audio_lead=None),
            llm=LLMConfig(base_url=fake.base_url, model="m"),
            tts=TTSTarget(url=emu.url),
        ) as server,
        httpx.AsyncClient() as http,
    ):
        url = fake.base_url.rstrip("/") + "/chat/completions"
        for round_ in range(args.rounds):
            async with connect(server.url) as ws:
                json.loads(await ws.recv())
                round_hops = []
                for i in range(args.turns):
                    tag = f"r{round_}t{i}"
                    began = time.thread_time()
                    await ws.send(json.dumps({"type": "user.message", "text": tag}))
                    while True:
                        frame = await ws.recv()
                        if isinstance(frame, str) and json.loads(frame)["type"] in (
                            "response.done",
                            "error",
                        ):
                            break
                    if tag in arrived and i >= WARM:
                        round_hops.append((arrived[tag] - began) * 1000)
                hops.append(statistics.median(round_hops))
            round_floors = []
            for i in range(args.turns):
                tag = f"f{round_}t{i}"
                body = {
                    "model": "m",
                    "stream": True,
                    "messages": [{"role": "user", "content": tag}],
                }
                began = time.thread_time()
                async with http.stream("POST", url, json=body) as response:
                    async for _ in response.aiter_bytes():
                        pass
                if i >= WARM:
                    round_floors.append((arrived[tag] - began) * 1000)
            floors.append(statistics.median(round_floors))
    print("user.message -> model request, one process, one client, CPU ms (= wall), per round:")
    for k, (hop, floor) in enumerate(zip(hops, floors, strict=True)):
        print(f"  round {k + 1}: hop {hop:.2f}, floor {floor:.2f}, hop - floor {hop - floor:.2f}")
    hop, floor = statistics.median(hops), statistics.median(floors)
    print(
        f"median of the rounds: hop {hop:.2f} ms, floor {floor:.2f} ms,"
        f" bridge's part ~{hop - floor:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    load0 = os.getloadavg()
    anyio.run(run, args, backend_options={"use_uvloop": True})
    load1 = os.getloadavg()
    print(f"load average {load0[0]:.2f} before, {load1[0]:.2f} after ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
