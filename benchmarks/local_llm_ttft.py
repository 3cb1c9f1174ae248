"""Time to first token of the embedded model (SmolLM2-135M on llama.cpp): cold and warm.

    uv run --extra local-llm python benchmarks/local_llm_ttft.py [--reps 5] [--threads N]

Every repetition starts a new llama.cpp server (``serve_local_llm``), so its first turn is a
cold one, then asks warm turns in the same process. Each turn is what ``bridge say`` sends:
[system prompt, user question], streamed; the time is from the request to the first text delta.

Modes:
- ``no warm-up``: the first turn is sent as soon as the server answers;
- ``warm-up, then ask``: the system prompt was read first (``warm_prompt``), the first turn
  is sent once that is over - a person typing a first message in ``bridge chat``;
- ``warm-up, ask at once``: the first turn is sent while the warm-up runs (``bridge say``).

Prints medians and spread (min-max) per mode, with the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass

import openai

from bridge.adapters.prompts import load_prompt
from bridge.local.llm_server import LocalLLM, available_cores, serve_local_llm
from bridge.logs import configure_logging

QUESTIONS = (
    "What is the capital of France?",
    "Name a colour of the sky.",
    "How many legs does a cat have?",
    "Say something about the sea.",
)
MODES = ("no warm-up", "warm-up, then ask", "warm-up, ask at once")


@dataclass
class Sample:
    cold: float
    warm: list[float]


async def ttft(llm: LocalLLM, system: str, question: str) -> float:
    async with openai.AsyncOpenAI(
        base_url=llm.base_url, api_key=llm.api_key, max_retries=0, timeout=120.0
    ) as client:
        started = time.perf_counter()
        stream = await client.chat.completions.create(
            model=llm.model,
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": question},
            ],
            max_tokens=8,
            temperature=0.0,
            stream=True,
        )
        first = None
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - started
        if first is None:
            raise RuntimeError("the model sent no text")
        return first


async def one_run(mode: str, system: str, threads: int, warm_turns: int) -> Sample:
    warm_prompt = None if mode == "no warm-up" else system
    async with serve_local_llm(threads=threads, warm_prompt=warm_prompt) as llm:
        if mode == "warm-up, then ask":
            await llm.wait_warm()
        cold = await ttft(llm, system, QUESTIONS[0])
        warm = [await ttft(llm, system, q) for q in QUESTIONS[1 : 1 + warm_turns]]
    return Sample(cold, warm)


def spread(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):6.0f} ms  ({min(ms):.0f}-{max(ms):.0f})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="new server processes per mode")
    parser.add_argument("--threads", type=int, default=None, help="default: available cores")
    parser.add_argument("--warm-turns", type=int, default=3)
    parser.add_argument("--prompt", default="assistant")
    args = parser.parse_args()
    configure_logging(level="ERROR")
    threads = args.threads or available_cores()
    system = load_prompt(args.prompt)
    load_before = os.getloadavg()
    print(
        f"threads {threads} (available cores {available_cores()}, machine {os.cpu_count()}); "
        f"prompt {args.prompt} ({len(system)} chars); {args.reps} runs per mode"
    )
    results: dict[str, list[Sample]] = {mode: [] for mode in MODES}
    for _ in range(args.reps):  # modes interleaved, so a load change hits them alike
        for mode in MODES:
            results[mode].append(await one_run(mode, system, threads, args.warm_turns))
    load_after = os.getloadavg()
    print(f"{'mode':<22} {'first turn (cold)':<26} {'later turns (warm)':<26}")
    for mode in MODES:
        colds = [s.cold for s in results[mode]]
        warms = [w for s in results[mode] for w in s.warm]
        print(f"{mode:<22} {spread(colds):<26} {spread(warms):<26}")
    print(
        "load average (1/5/15 min) before "
        + "/".join(f"{x:.1f}" for x in load_before)
        + ", after "
        + "/".join(f"{x:.1f}" for x in load_after)
    )


if __name__ == "__main__":
    asyncio.run(main())
