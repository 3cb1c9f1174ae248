"""``bridge serve``: the voice-assistant backend (WebSocket protocol + browser demo page)."""

from __future__ import annotations

import argparse
import gc
import os
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from bridge.commands.common import (
    COMMAND_HELP,
    add_tts_options,
    announce,
    check_speech_settings,
    load_settings,
    non_negative_int,
    note,
    positive_float,
    positive_int,
    resolve_tts,
)
from bridge.commands.say import add_llm_options, resolve_llm, uses_embedded_llm
from bridge.commands.workers import WORKER_FLAG, check_workers, run_workers, watch_parent
from bridge.core.errors import ConfigError

if TYPE_CHECKING:
    from bridge.adapters.llm import LLMConfig
    from bridge.text import Lexicon

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help=COMMAND_HELP["serve"],
        description=(
            "Serve conversations over WebSocket (protocol: docs/protocol.md) and a demo page "
            "at /. Prints the ws URL on the first line of stdout, then serves until SIGINT or "
            "SIGTERM (graceful: running replies may finish for --shutdown-grace seconds)."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument(
        "--port", type=non_negative_int, default=8765, help="default 8765; 0 picks a free port"
    )
    p.add_argument(
        "--token",
        help="clients must present it (Authorization: Bearer T, or ?token=T); required when "
        "--host is not loopback ($BRIDGE_SERVE_TOKEN)",
    )
    p.add_argument(
        "--origin",
        action="append",
        metavar="ORIGIN",
        help="a browser origin allowed besides the page's own, e.g. https://app.example "
        "(repeatable; '*' allows any; $BRIDGE_SERVE_ORIGINS, comma-separated)",
    )
    p.add_argument(
        "--speech-port",
        type=non_negative_int,
        metavar="PORT",
        help="also serve the OpenAI-compatible POST /v1/audio/speech on this port (an HTTP "
        "listener of its own; 0 picks a free one; default: not served)",
    )
    p.add_argument(
        "--store",
        metavar="URL",
        help="where conversations wait for a reconnect (session.resume): memory (default, this "
        "process) or redis://HOST:PORT/DB, shared by replicas (extra: redis; "
        "$BRIDGE_SERVE_STORE)",
    )
    p.add_argument(
        "--history-ttl",
        type=positive_float,
        default=3600.0,
        metavar="SECONDS",
        help="how long a stored conversation is kept after its last change (default 3600)",
    )
    p.add_argument(
        "--trust-proxy",
        action="append",
        metavar="NETWORK",
        help="a reverse proxy's address or network (e.g. 10.0.0.0/8) whose forwarded header "
        "names the client for the per-address limits; the header is ignored from any other "
        "peer (repeatable; $BRIDGE_SERVE_TRUST_PROXY, comma-separated; default: none)",
    )
    p.add_argument(
        "--forwarded-header",
        choices=["x-forwarded-for", "forwarded"],
        default="x-forwarded-for",
        help="the header the trusted proxy writes (default x-forwarded-for; its last hops "
        "are read, right to left)",
    )
    lim = p.add_argument_group("limits")
    lim.add_argument(
        "--max-sessions", type=positive_int, default=100, help="open sessions (default 100)"
    )
    lim.add_argument("--max-message-bytes", type=positive_int, default=16 * 1024)
    lim.add_argument(
        "--max-speak-chars",
        type=positive_int,
        default=20_000,
        help="characters of one speak response, all its text.append together (default 20000)",
    )
    lim.add_argument(
        "--max-sessions-per-address",
        type=positive_int,
        default=10,
        help="open sessions of one client address (default 10)",
    )
    lim.add_argument(
        "--turns-per-minute", type=positive_float, default=20.0, help="per session (default 20)"
    )
    lim.add_argument(
        "--address-turns-per-minute",
        type=positive_float,
        default=60.0,
        help="per client address, all its sessions and reconnections together (default 60)",
    )
    lim.add_argument(
        "--address-turn-burst",
        type=positive_int,
        default=20,
        help="turns one client address may start at once (default 20)",
    )
    lim.add_argument(
        "--server-turns-per-minute",
        type=positive_float,
        default=600.0,
        help="for the whole server (default 600)",
    )
    lim.add_argument(
        "--server-turn-burst",
        type=positive_int,
        default=100,
        help="turns the server may start at once (default 100)",
    )
    lim.add_argument(
        "--idle-timeout",
        type=positive_float,
        default=300.0,
        help="seconds a session may go without starting a turn (default 300)",
    )
    lim.add_argument(
        "--shutdown-grace",
        type=float,
        default=10.0,
        help="seconds running replies may take to finish at shutdown (default 10)",
    )
    lim.add_argument(
        "--audio-lead-ms",
        type=non_negative_int,
        default=1000,
        help="audio sent ahead of the client's playback (default 1000; 0: no pacing)",
    )
    p.add_argument(
        "--lexicon-dir",
        metavar="DIR",
        help="lexicons clients may choose by name in session.configure: every NAME.toml in "
        "DIR ($BRIDGE_LEXICON_DIR; --lexicon FILE is a new session's, offered by its name)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        help="processes serving the port, each with its own event loop (default 1; "
        "$BRIDGE_SERVE_WORKERS; the limits apply per worker); a worker that fails stops the "
        "server with exit code 1",
    )
    p.add_argument(WORKER_FLAG, type=non_negative_int, help=argparse.SUPPRESS)
    p.add_argument(
        "--log-text",
        action="store_true",
        help="log the user's and the model's text of each turn at INFO (otherwise only at "
        "--log-level debug)",
    )
    add_llm_options(p)
    add_tts_options(p)
    p.set_defaults(run=run, default_log_level="info")


def _origins(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, ...]:
    if args.origin:
        return tuple(o.strip().rstrip("/") for o in args.origin if o.strip())
    listed = env.get("BRIDGE_SERVE_ORIGINS", "")
    return tuple(o.strip().rstrip("/") for o in listed.split(",") if o.strip())


def _listed(flags: list[str] | None, env_value: str) -> tuple[str, ...]:
    """Repeated flags, else a comma-separated environment value."""
    items = flags if flags else env_value.split(",")
    return tuple(item.strip() for item in items if item.strip())


def _prompts(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    from bridge.adapters.prompts import list_prompts, load_prompt
    from bridge.server import builtin_prompts

    chosen = load_settings(args, env).prompt or "assistant"
    if chosen in list_prompts():
        return builtin_prompts(chosen)
    # A file chosen by the operator: offered to clients as "custom", never by its path.
    return builtin_prompts("custom", load_prompt(chosen))


def _lexicons(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[dict[str, Lexicon], str]:
    """The lexicons clients may choose (by name) and a new session's (``none`` when unset)."""
    from bridge.adapters.lexicon_file import NO_LEXICON, read_lexicon, read_lexicon_dir
    from bridge.commands.common import lexicon_path, load_settings

    folder = args.lexicon_dir or env.get("BRIDGE_LEXICON_DIR")
    lexicons = read_lexicon_dir(Path(folder).expanduser()) if folder else {}
    path = lexicon_path(load_settings(args, env))
    if path is None:
        return lexicons, NO_LEXICON
    name = path.name.removesuffix(".toml")
    in_dir = Path(folder).expanduser() / path.name if folder else None
    if name in lexicons and not (in_dir is not None and in_dir.resolve() == path.resolve()):
        raise ConfigError(
            f"the lexicon {path} would be offered as {name!r}, a name --lexicon-dir has too; "
            "rename one of them",
            field="lexicon",
        )
    if name == NO_LEXICON:
        raise ConfigError(f"a lexicon file may not be named {NO_LEXICON}.toml", field="lexicon")
    lexicons.setdefault(name, read_lexicon(path))
    return lexicons, name


@asynccontextmanager
async def _chat_model(
    args: argparse.Namespace, env: Mapping[str, str]
) -> AsyncIterator[LLMConfig | None]:
    """The chat endpoint as ``resolve_llm`` finds it, or ``None`` when none is configured at
    all: the server then speaks its clients' own text only (``text.append``)."""
    s = load_settings(args, env)
    if not (s.llm_base_url or s.llm_api_key or s.tts_api_key or uses_embedded_llm(s)):
        note(
            "no chat model configured: serving speak responses only (clients send their own "
            "text with text.append). For conversations set OPENAI_API_KEY, OPENAI_BASE_URL "
            "and BRIDGE_LLM_MODEL, or DASHSCOPE_API_KEY; or pass --local"
        )
        yield None
        return
    async with resolve_llm(args, env) as config:
        yield config


# The young generation's size before a collection (CPython's default is 700): see settle_heap.
GC_YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Keep the garbage collector from stalling every session of the process.

    A full collection walks every tracked object of the heap, and start-up leaves several
    hundred thousand there (openai, pydantic, websockets, structlog, the text rules), none of
    which will ever be garbage: with 100 sessions one full collection took ~300 ms, a pause of
    the event loop heard as a gap by every client at once. Once the server is up, its heap is
    collected once and frozen (``gc.freeze``: moved out of the collector's sight, so full
    collections walk the sessions' objects only), and the young generation may grow to
    ``GC_YOUNG_THRESHOLD`` objects before a collection, so the older generations are collected
    that many times less often (a turn allocates thousands of short-lived objects). Only the
    command does this: the library leaves an embedding program's collector alone.
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


async def run(args: argparse.Namespace) -> int:
    from bridge.server import ServerLimits, ServerOptions, serve_bridge
    from bridge.server.options import server_pipeline

    env = os.environ
    settings = load_settings(args, env)
    workers = check_workers(settings.workers, settings.source("workers"))
    worker = args.worker_index is not None  # one of the processes of --workers N
    try:
        options = ServerOptions(
            host=args.host,
            port=args.port,
            token=args.token or env.get("BRIDGE_SERVE_TOKEN") or None,
            origins=_origins(args, env),
            trust_proxy=_listed(args.trust_proxy, env.get("BRIDGE_SERVE_TRUST_PROXY", "")),
            forwarded_header=args.forwarded_header,
            limits=ServerLimits(
                max_sessions=args.max_sessions,
                max_message_bytes=args.max_message_bytes,
                max_speak_chars=args.max_speak_chars,
                max_frame_bytes=max(4 * args.max_message_bytes, 64 * 1024),
                turns_per_minute=args.turns_per_minute,
                address_turns_per_minute=args.address_turns_per_minute,
                address_turn_burst=args.address_turn_burst,
                server_turns_per_minute=args.server_turns_per_minute,
                server_turn_burst=args.server_turn_burst,
                max_sessions_per_address=args.max_sessions_per_address,
                idle_timeout=args.idle_timeout,
            ),
            audio_lead=args.audio_lead_ms / 1000 if args.audio_lead_ms else None,
            shutdown_grace=args.shutdown_grace,
            pipeline=server_pipeline(prices=settings.prices),
            reuse_port=worker,
            speech_port=args.speech_port,
            store=args.store or env.get("BRIDGE_SERVE_STORE") or None,
            history_ttl=args.history_ttl,
        )
    except ValueError as exc:  # ConfigError included
        raise ConfigError(str(exc)) from None
    if workers > 1 and args.speech_port == 0:
        raise ConfigError(
            "--speech-port 0 with --workers: give a fixed port, which the workers share",
            field="speech_port",
        )
    prompts = _prompts(args, env)
    lexicons, default_lexicon = _lexicons(args, env)  # checked before workers start
    check_speech_settings(args, env)  # refused before the chat model starts
    if workers > 1 and not worker:
        return await run_workers(
            args, host=options.host, port=options.port, count=workers, grace=args.shutdown_grace
        )
    async with (
        _chat_model(args, env) as llm_config,
        resolve_tts(args, env) as target,
        serve_bridge(
            options,
            llm=llm_config,
            tts=target,
            prompts=prompts,
            lexicons=lexicons,
            default_lexicon=default_lexicon,
        ) as server,
    ):
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            settle_heap()
            announce(server.url)
            if not worker:  # the parent of the workers says it once for all
                note(f"demo page: {server.http_url}")
                if server.speech_url is not None:
                    note(f"OpenAI-compatible speech: POST {server.speech_url}/audio/speech")
            async with anyio.create_task_group() as watching:
                if worker:
                    watching.start_soon(watch_parent)
                async for _ in signals:
                    break
                watching.cancel_scope.cancel()
            if not worker:
                note(f"shutting down (up to {options.shutdown_grace:g} s; signal again to hurry)")
            async with anyio.create_task_group() as tg:

                async def hurry() -> None:
                    async for _ in signals:
                        await server.shutdown(grace=0)
                        return

                tg.start_soon(hurry)
                await server.shutdown()
                tg.cancel_scope.cancel()
    return 0
