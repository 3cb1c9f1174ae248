"""The version comes from the package metadata only: ``bridge.__version__``, ``--version``, and
the User-Agent bridge sends to the speech service and the chat endpoint."""

from __future__ import annotations

import http
import platform
import re
from importlib.metadata import version
from pathlib import Path

import anyio
import openai
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.version import version as websockets_version

import bridge
from bridge.adapters.openai_client import make_client
from bridge.cli import main
from bridge.core.errors import BridgeError
from bridge.qwen.client import Timeouts, connect

ROOT = Path(__file__).resolve().parent.parent
VERSION = version("bridge")


def test_the_version_is_the_metadatas_and_written_nowhere_in_the_source() -> None:
    assert bridge.__version__ == VERSION
    quoted = re.compile(r"""["']""" + re.escape(VERSION) + r"""["']""")
    for path in (ROOT / "bridge").rglob("*.py"):
        assert not quoted.search(path.read_text(encoding="utf-8")), path


def test_version_flag_prints_the_metadata_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"bridge {VERSION}\n"


def test_the_speech_service_sees_bridges_user_agent() -> None:
    seen: list[str] = []

    def refuse(_conn: ServerConnection, request: Request) -> Response:
        seen.append(request.headers.get("User-Agent", ""))
        return _conn.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    async def handler(_ws: ServerConnection) -> None:  # never reached
        raise AssertionError("refused at the handshake")

    async def run() -> None:
        async with serve(handler, "127.0.0.1", 0, process_request=refuse) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(BridgeError):
                async with connect(url=f"ws://127.0.0.1:{port}/ws", timeouts=Timeouts(connect=5)):
                    pass

    anyio.run(run, backend="asyncio")
    python = platform.python_version()
    assert seen == [f"bridge/{VERSION} (python {python}; websockets {websockets_version})"]


def test_the_chat_endpoint_sees_bridge_then_openais_user_agent() -> None:
    client = make_client(base_url="http://127.0.0.1:1/v1", api_key="k", connect_timeout=1)
    agent = client.default_headers["User-Agent"]
    assert agent.startswith(f"bridge/{VERSION} (python ")
    assert agent.endswith(f" AsyncOpenAI/Python {openai.__version__}")
