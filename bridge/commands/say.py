"""``bridge say``: ask the chat model one question and speak the reply as it streams."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from bridge.commands.common import (
    COMMAND_HELP,
    add_output_options,
    add_tts_options,
    check_output,
    check_speech_settings,
    exit_code,
    load_settings,
    make_sink,
    non_negative_int,
    note,
    nothing_spoken,
    pipeline_options,
    positive_int,
    report_failure,
    resolve_tts,
    shown_path,
)
from bridge.commands.settings import Settings
from bridge.core.errors import ConfigError
from bridge.qwen.regions import DEFAULT_REGION, compatible_url

if TYPE_CHECKING:
    # Typing only: bridge.adapters.llm imports openai, which `bridge speak --local` and
    # `bridge tts-server` never need (it alone is most of their start-up time).
    from bridge.adapters.llm import LLMConfig

__all__ = ["add_llm_options", "add_parser", "resolve_llm", "run", "uses_embedded_llm"]

OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
DASHSCOPE_DEFAULT_MODEL = "qwen-plus"


def add_llm_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("chat model (any OpenAI-compatible endpoint)")
    g.add_argument("--llm-base-url", help="endpoint base URL ($OPENAI_BASE_URL)")
    g.add_argument("--llm-api-key", help="API key ($OPENAI_API_KEY)")
    g.add_argument("--llm-model", help="model name ($BRIDGE_LLM_MODEL)")
    g.add_argument(
        "--llm-threads",
        type=positive_int,
        help="CPU threads of the embedded model (--local; $BRIDGE_LLM_THREADS; default: "
        "every core this process may use)",
    )
    g.add_argument(
        "--prompt",
        help="system prompt: a name from prompts/ (assistant, concise, storyteller, *.zh) "
        "or a file path ($BRIDGE_PROMPT; default assistant)",
    )
    g.add_argument(
        "--think-open",
        action="store_true",
        help="the model's chat template pre-fills <think>: the reply starts inside its "
        "reasoning, which is not spoken up to the first </think> ($BRIDGE_THINK_OPEN)",
    )
    g.add_argument(
        "--think-window",
        type=non_negative_int,
        metavar="CHARS",
        help="drop everything before a </think> with no opener within the first CHARS "
        "characters of a reply (holds them back; $BRIDGE_THINK_WINDOW; default 0: off)",
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "say",
        help=COMMAND_HELP["say"],
        description="Ask the model, speak its reply from the first clause on, print the text.",
    )
    p.add_argument("question", help="what to ask")
    add_output_options(p)
    add_llm_options(p)
    add_tts_options(p)
    p.set_defaults(run=run)


def uses_embedded_llm(s: Settings) -> bool:
    """Whether ``resolve_llm`` starts the embedded model: ``--local`` and no chat endpoint of
    its own (base URL or key; with ``--local`` a DashScope key does not count)."""
    return s.local and not (s.llm_base_url or s.llm_api_key)


@asynccontextmanager
async def resolve_llm(args: argparse.Namespace, env: Mapping[str, str]) -> AsyncIterator[LLMConfig]:
    """The chat endpoint: flags/env, else DashScope's compatible mode with a DashScope key,
    else (with ``--local``) the embedded model started for the duration of the command; it
    reads the system prompt (``--prompt``) once as it starts, so the first turn is not slower
    than the others. The think options (``--think-open``, ``--think-window``) apply to all."""
    s = load_settings(args, env)
    if s.think_window is not None and s.think_window < 0:
        raise ConfigError(
            f"think_window must be 0 or more characters, got {s.think_window} "
            f"(from {s.source('think_window')})",
            field="think_window",
        )
    async with _endpoint(args, s, env) as config:
        # reasoning the chat template opened (see LLMConfig and ThinkFilter)
        yield replace(config, think_open=s.think_open, think_window=s.think_window or 0)


@asynccontextmanager
async def _endpoint(
    args: argparse.Namespace, s: Settings, env: Mapping[str, str]
) -> AsyncIterator[LLMConfig]:
    from bridge.adapters.llm import LLMConfig

    base_url, api_key, model = s.llm_base_url, s.llm_api_key, s.llm_model
    dashscope_key = s.tts_api_key
    if base_url or api_key:
        if base_url and not model and not api_key:
            raise ConfigError(
                f"no model name for {base_url}: pass --llm-model or set BRIDGE_LLM_MODEL"
            )
        yield LLMConfig(base_url=base_url, api_key=api_key, model=model or OPENAI_DEFAULT_MODEL)
        return
    if dashscope_key and not s.local:
        url = compatible_url(s.region or DEFAULT_REGION, s.workspace)
        yield LLMConfig(base_url=url, api_key=dashscope_key, model=model or DASHSCOPE_DEFAULT_MODEL)
        return
    if uses_embedded_llm(s):
        from bridge.adapters.prompts import load_prompt
        from bridge.local.llm_server import serve_local_llm

        if s.llm_threads is not None and s.llm_threads < 1:
            raise ConfigError(
                f"llm_threads must be at least 1, got {s.llm_threads} "
                f"(from {s.source('llm_threads')})",
                field="llm_threads",
            )
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(
                "the embedded chat model needs the local-llm extra (llama.cpp), not installed.\n"
                f"  run: uv run --extra local-llm bridge {_own_command_line(args)}\n"
                "  (the first run builds llama.cpp, about 5 minutes on 2 cores; uv shows its "
                "progress)\n"
                "  or configure a chat endpoint: OPENAI_API_KEY, OPENAI_BASE_URL or "
                "DASHSCOPE_API_KEY",
                field="local_llm",
            )
        prompt = load_prompt(s.prompt or "assistant")

        note("starting the embedded chat model (SmolLM2-135M) ...")
        async with serve_local_llm(
            on_progress=note, threads=s.llm_threads, warm_prompt=prompt
        ) as local:
            yield LLMConfig(base_url=local.base_url, api_key=local.api_key, model=local.model)
        return
    raise ConfigError(
        "no chat model configured.\n"
        "  set OPENAI_API_KEY (or OPENAI_BASE_URL and BRIDGE_LLM_MODEL for another endpoint) or "
        "DASHSCOPE_API_KEY for Qwen,\n"
        f"  in the environment or in {shown_path(s.config_path, env)}; or try --local for the "
        "embedded offline model"
    )


def _own_command_line(args: argparse.Namespace) -> str:
    """The user's command line (after ``bridge``), shell-quoted so that it can be pasted;
    ``COMMAND --local`` when it is not known."""
    argv = getattr(args, "argv", None)
    if not argv:
        argv = [getattr(args, "command", None) or "chat", "--local"]
    return shlex.join(argv)


async def run(args: argparse.Namespace) -> int:
    from bridge.adapters.llm import LLMClient
    from bridge.adapters.prompts import load_prompt
    from bridge.core.conversation import HISTORY_MAX_CHARS, HISTORY_MAX_TURNS, Conversation
    from bridge.pipeline.assistant import Assistant
    from bridge.text import Segment

    check_output(args.out)
    check_speech_settings(args, os.environ)  # refused before the chat model starts
    prompt = load_prompt(load_settings(args, os.environ).prompt or "assistant")
    options = pipeline_options(args, os.environ)
    show_text = not args.json and args.out != "-"
    shown: list[str] = []
    raw: list[str] = []

    def on_segment(segment: Segment) -> None:
        if show_text:
            shown.append(segment.text)
            print(segment.text, end=" " if segment.text[-1:].isascii() else "", flush=True)

    async with (
        resolve_llm(args, os.environ) as llm_config,
        resolve_tts(args, os.environ) as target,
        LLMClient(llm_config) as llm,
    ):
        sink = make_sink(args, target.config.sample_rate, note)
        history = Conversation(prompt, max_turns=HISTORY_MAX_TURNS, max_chars=HISTORY_MAX_CHARS)
        assistant = Assistant(llm=llm, tts=target, conversation=history, options=options)
        turn = assistant.reply(args.question, sink, on_segment=on_segment, on_text=raw.append)
        result = await turn.run()
    if shown:
        print(flush=True)
    result = nothing_spoken(result, "the reply")
    if show_text and not shown and "".join(raw).strip():
        # Nothing was speakable (e.g. only a code block): the text is still the answer.
        print("".join(raw).strip(), flush=True)
    report_failure(result, sink)
    if args.json and args.out != "-":
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.error is None and result.first_audio_ms is not None:
        note(
            f"first audio at {result.first_audio_ms:.0f} ms, "
            f"{result.audio_ms / 1000:.1f} s of audio"
            + (f"; wrote {args.out}" if args.out not in (None, "-") else "")
        )
    return exit_code(result)
