"""`bridge serve` as a user runs it: a subprocess, its first stdout line, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess

import anyio
import pytest
from _procs import BRIDGE, clean_env
from _serve import SHORT
from anyio.streams.text import TextReceiveStream
from websockets.asyncio.client import connect

from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

pytestmark = pytest.mark.anyio


async def test_serve_prints_its_url_first_serves_and_shuts_down_with_1001() -> None:
    reply = FakeReply(tokens_for(SHORT), delay=0.01)
    latency = LatencyModel(rtf=1.0)
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone", latency=latency)) as emu,
    ):
        argv = [
            *BRIDGE,
            "serve",
            "--port",
            "0",
            "--tts-url",
            emu.url,
            "--llm-base-url",
            fake.base_url,
            "--llm-model",
            "m",
            "--audio-lead-ms",
            "300",
        ]
        async with await anyio.open_process(argv, env=clean_env()) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            lines = TextReceiveStream(proc.stdout)
            with anyio.fail_after(30):
                first = ""
                async for chunk in lines:
                    first += chunk
                    if "\n" in first:
                        break
            url = first.splitlines()[0]
            assert url.startswith("ws://127.0.0.1:") and url.endswith("/ws"), first
            async with connect(url, open_timeout=10) as ws:
                with anyio.fail_after(20):
                    assert json.loads(await ws.recv())["type"] == "session.ready"
                    await ws.send(json.dumps({"type": "user.message", "text": "Hi"}))
                    while isinstance(msg := await ws.recv(), bytes) or (
                        json.loads(msg)["type"] != "audio.start"
                    ):
                        pass
                    proc.send_signal(signal.SIGTERM)  # mid-reply: it may finish first
                    kinds = []
                    async for msg in ws:
                        if isinstance(msg, str):
                            kinds.append(json.loads(msg)["type"])
                assert ws.close_code == 1001
                assert "response.done" in kinds
            with anyio.fail_after(15):
                code = await proc.wait()
            stderr = (await proc.stderr.receive(65536)).decode()
    assert code == 0, stderr
    assert "demo page: http://127.0.0.1:" in stderr


def test_serve_refuses_a_public_address_without_a_token() -> None:
    proc = subprocess.run(
        [*BRIDGE, "serve", "--host", "0.0.0.0", "--llm-api-key", "k", "--tts-url", "ws://x"],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("bridge: error:") and "--token" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_serve_without_a_chat_model_serves_speak_responses() -> None:
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        argv = [*BRIDGE, "serve", "--port", "0", "--tts-url", emu.url, "--audio-lead-ms", "0"]
        argv += ["--speech-port", "0"]
        async with await anyio.open_process(argv, env=clean_env()) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            with anyio.fail_after(30):
                first = ""
                async for chunk in TextReceiveStream(proc.stdout):
                    first += chunk
                    if "\n" in first:
                        break
            async with connect(first.splitlines()[0], open_timeout=10) as ws:
                with anyio.fail_after(20):
                    ready = json.loads(await ws.recv())
                    await ws.send(json.dumps({"type": "text.append", "text": "Hello there."}))
                    await ws.send(json.dumps({"type": "text.done"}))
                    kinds = []
                    async for msg in ws:
                        if isinstance(msg, bytes):
                            kinds.append("audio")
                        elif (kind := json.loads(msg)["type"]) == "response.done":
                            break
                        else:
                            kinds.append(kind)
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(15):
                code = await proc.wait()
            stderr = (await proc.stderr.receive(65536)).decode()
    assert ready["chat"] is False
    assert "audio" in kinds and "segment" in kinds
    assert code == 0, stderr
    assert "no chat model configured: serving speak responses only" in stderr
    assert "OpenAI-compatible speech: POST http://127.0.0.1:" in stderr


MODEL = ["--llm-model", "m"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--tts-url", "http://127.0.0.1:9/api-ws/v1/realtime"],
        ["--tts-url", "127.0.0.1:9"],
    ],
)
def test_serve_refuses_a_tts_target_it_could_never_reach_at_start_up(flags: list[str]) -> None:
    # The chat endpoint is a closed port: serve must fail on the TTS setting before using it.
    proc = subprocess.run(
        [
            *BRIDGE,
            "serve",
            "--port",
            "0",
            "--llm-base-url",
            "http://127.0.0.1:9/v1",
            *MODEL,
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("bridge: error:")
    assert "ws:// or wss://" in proc.stderr
    assert "Traceback" not in proc.stderr
