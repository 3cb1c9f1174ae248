"""The scale-out shape without containers: Debian's nginx on loopback, with the project's nginx
configuration, in front of two `bridge serve` processes (emulator + scripted model) sharing a
Redis conversation store, so a client moved to the other replica continues its conversation.

nginx and redis-server must be installed (`apt-get install nginx-light redis-server`; `.ci/run`
does it on CI machines); the test runs its own instance of each.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from _redis import redis_server
from _system import require_program
from anyio.abc import Process
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bridge.local import EmulatorOptions, serve_emulator
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
NGINX_DIR = ROOT / "deploy" / "nginx"
CLIENTS = 20
ANSWER = "Sure. Here is a short answer for you."


def nginx_binary() -> str:
    return require_program("nginx", "nginx-light")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_config(target: Path, listen: int, upstreams: list[str]) -> Path:
    """The project's nginx.conf (only the listen port changed) and an upstreams file."""
    conf = (NGINX_DIR / "nginx.conf").read_text()
    assert "listen 8080;" in conf
    (target / "nginx.conf").write_text(conf.replace("listen 8080;", f"listen 127.0.0.1:{listen};"))
    compose = (NGINX_DIR / "upstreams.compose.conf").read_text()
    servers = "\n".join(f"    server {u} max_fails=1 fail_timeout=5s;" for u in upstreams)
    body = compose[: compose.index("upstream")]
    (target / "upstreams.conf").write_text(
        body + "upstream bridge_backends {\n    least_conn;\n" + servers + "\n}\n"
    )
    return target / "nginx.conf"


def test_project_nginx_config_parses(tmp_path: Path) -> None:
    """`nginx -t` on deploy/nginx with the compose upstream file (its host made resolvable)."""
    shutil.copy(NGINX_DIR / "nginx.conf", tmp_path / "nginx.conf")
    upstreams = (NGINX_DIR / "upstreams.compose.conf").read_text()
    assert "server bridge:8765" in upstreams
    (tmp_path / "upstreams.conf").write_text(upstreams.replace("bridge:8765", "127.0.0.1:8765"))
    out = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "syntax is ok" in out.stderr


async def first_line(proc: Process, limit: float = 30) -> str:
    assert proc.stdout is not None
    data = b""
    with anyio.fail_after(limit):
        while b"\n" not in data:
            data += await proc.stdout.receive()
    return data.split(b"\n", 1)[0].decode().strip()


@asynccontextmanager
async def serve_process(
    llm_url: str, tts_url: str, store: str
) -> AsyncIterator[tuple[Process, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "OPENAI_"))}
    env.pop("DASHSCOPE_API_KEY", None)
    proc = await anyio.open_process(
        [
            sys.executable,
            "-m",
            "bridge",
            "serve",
            "--port",
            "0",
            "--tts-url",
            tts_url,
            "--llm-base-url",
            llm_url,
            "--llm-model",
            "m",
            "--shutdown-grace",
            "1",
            "--store",
            store,
            # nginx writes X-Forwarded-For; every test client is 127.0.0.1 behind it, so the
            # per-address limits are raised to the whole test's load.
            "--trust-proxy",
            "127.0.0.1",
            "--max-sessions-per-address",
            str(CLIENTS),
            "--address-turn-burst",
            str(CLIENTS * 2),
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = await first_line(proc)
        yield proc, url
    finally:
        if proc.returncode is None:
            proc.terminate()
            with anyio.move_on_after(10, shield=True):
                await proc.wait()
        if proc.returncode is None:
            proc.kill()


async def wait_port(port: int, limit: float = 15) -> None:
    with anyio.fail_after(limit):
        while True:
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.05)
                continue
            await stream.aclose()
            return


async def one_turn(ws: ClientConnection, text: str = "Hello?") -> int:
    """Send a message; return the number of audio bytes of the reply."""
    await ws.send(json.dumps({"type": "user.message", "text": text}))
    audio = 0
    with anyio.fail_after(30):
        while True:
            frame = await ws.recv()
            if isinstance(frame, bytes):
                audio += len(frame)
                continue
            event = json.loads(frame)
            assert event["type"] != "error", event
            if event["type"] == "response.done":
                assert event["result"]["error"] is None
                return audio


async def open_client(
    url: str, tokens: dict[ClientConnection, str] | None = None
) -> ClientConnection:
    ws = await connect(url, proxy=None, open_timeout=10)
    with anyio.fail_after(10):
        ready = json.loads(await ws.recv())
    assert ready["type"] == "session.ready"
    if tokens is not None:
        tokens[ws] = ready["resume_token"]
    return ws


async def resume(ws: ClientConnection, token: str) -> list[str]:
    """``session.resume`` with ``token``; the texts of the history it gives back."""
    await ws.send(json.dumps({"type": "session.resume", "resume_token": token}))
    with anyio.fail_after(10):
        ready = json.loads(await ws.recv())
    assert ready["type"] == "session.ready", ready
    return [turn["text"] for turn in ready["history"]]


async def test_clients_spread_over_two_replicas_and_survive_losing_one(tmp_path: Path) -> None:
    nginx = nginx_binary()
    reply = FakeReply(tokens_for(ANSWER), delay=0.005)
    async with (
        redis_server(tmp_path) as store,
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        serve_process(fake.base_url, emu.url, store) as (proc_a, url_a),
        serve_process(fake.base_url, emu.url, store) as (_proc_b, url_b),
    ):
        ports = [int(u.split(":")[2].split("/")[0]) for u in (url_a, url_b)]
        listen = free_port()
        conf = render_config(tmp_path, listen, [f"127.0.0.1:{p}" for p in ports])
        proxy = await anyio.open_process(
            [nginx, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
            stderr=subprocess.DEVNULL,
        )
        try:
            await wait_port(listen)
            url = f"ws://127.0.0.1:{listen}/ws"
            clients: list[ClientConnection] = []
            tokens: dict[ClientConnection, str] = {}
            for _ in range(CLIENTS):  # held open at once: least_conn spreads them
                clients.append(await open_client(url, tokens))
            audio: list[int] = []
            names = {ws: f"client {i}" for i, ws in enumerate(clients)}

            async def talk(ws: ClientConnection, text: str = "Hello?") -> None:
                audio.append(await one_turn(ws, text))

            async def introduce(ws: ClientConnection) -> None:
                await talk(ws, f"I am {names[ws]}.")

            async with anyio.create_task_group() as tg:
                for ws in clients:
                    tg.start_soon(introduce, ws)
            assert len(audio) == CLIENTS and all(a > 0 for a in audio)

            # Stop replica A mid-session: its clients get a clean close (1001, going away).
            proc_a.send_signal(signal.SIGTERM)
            closed: list[ClientConnection] = []

            async def watch(ws: ClientConnection) -> None:
                with anyio.move_on_after(8):
                    try:
                        await ws.recv()
                    except ConnectionClosed:
                        closed.append(ws)

            async with anyio.create_task_group() as tg:
                for ws in clients:
                    tg.start_soon(watch, ws)
            assert 0 < len(closed) < CLIENTS, "the clients were not spread over both replicas"
            assert abs(len(closed) - CLIENTS // 2) <= 2
            assert {ws.close_code for ws in closed} == {1001}
            with anyio.fail_after(10):
                await proc_a.wait()

            # They reconnect through the proxy, to the other replica, resume their sessions
            # (the conversation comes back from Redis) and carry on.
            survivors = [ws for ws in clients if ws not in closed]
            again = []
            for old in closed:
                ws = await open_client(url)
                assert await resume(ws, tokens[old]) == [f"I am {names[old]}.", ANSWER]
                names[ws] = names[old]
                again.append(ws)

            async def follow_up(ws: ClientConnection) -> None:
                await talk(ws, f"Who am I, {names[ws]}?")

            async with anyio.create_task_group() as tg:
                for ws in survivors + again:
                    tg.start_soon(follow_up, ws)
            assert len(audio) == CLIENTS * 2
            # The model saw each moved client's first turn, answered by the other replica.
            for ws in again:
                asked = f"Who am I, {names[ws]}?"
                request = next(r for r in fake.requests if r["messages"][-1]["content"] == asked)
                said = [m["content"] for m in request["messages"] if m["role"] == "user"]
                assert said == [f"I am {names[ws]}.", asked]
            for ws in survivors + again:
                await ws.close()
        finally:
            proxy.terminate()
            with anyio.move_on_after(5, shield=True):
                await proxy.wait()
            if proxy.returncode is None:
                proxy.kill()
