"""The emulator as a server: raw protocol checks, bad input, HTTP routes, the vendor SDK."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from bridge.local import Emulator, EmulatorOptions, serve_emulator
from bridge.local.splitter import take_segments
from bridge.qwen.protocol import SessionState, billable_characters, check_client_event

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def raw_session(**options: Any) -> AsyncIterator[tuple[Emulator, ClientConnection]]:
    async with (
        serve_emulator(EmulatorOptions(engine="tone", **options)) as emu,
        ws_connect(emu.url + "?model=qwen3-tts-flash-realtime", proxy=None) as ws,
    ):
        created = json.loads(await ws.recv())
        assert created["type"] == "session.created"
        yield emu, ws


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(5):
        data = json.loads(await ws.recv())
    assert isinstance(data, dict)
    return data


async def test_session_created_carries_documented_defaults() -> None:
    async with (
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        ws_connect(emu.url + "?model=qwen3-tts-flash-realtime", proxy=None) as ws,
    ):
        created = await recv_json(ws)
    session = created["session"]
    assert created["event_id"].startswith("event_") and len(created["event_id"]) == 27
    assert session["object"] == "realtime.session"
    assert session["id"].startswith("sess_")
    assert (session["mode"], session["voice"], session["response_format"]) == (
        "server_commit",
        "Cherry",
        "pcm",
    )
    assert session["sample_rate"] == 24000


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1,2,3]", "invalid_event"),
        ('{"type": "input_audio_buffer.append"}', "invalid_event"),
        ('{"type": "input_text_buffer.append", "text": 5}', "invalid_value"),
        ('{"type": "session.update", "session": {"voice": "Nobody"}}', "invalid_value"),
        ('{"type": "session.update", "session": "x"}', "invalid_value"),
        ('{"type": "input_text_buffer.commit"}', "invalid_value"),
        (b"\x00\x01binary", "invalid_event"),
        ("x" * 300_000, "invalid_value"),
    ],
)
async def test_bad_input_gets_an_error_event_and_the_connection_stays(
    frame: str | bytes, code: str
) -> None:
    async with raw_session() as (_emu, ws):
        await ws.send(frame)
        error = await recv_json(ws)
        assert error["type"] == "error"
        assert error["error"]["code"] == code
        assert error["error"]["type"] == "invalid_request_error"
        assert error["error"]["message"]
        # Still usable: a commit-mode round trip works.
        await ws.send(json.dumps({"type": "session.update", "session": {"mode": "commit"}}))
        assert (await recv_json(ws))["type"] == "session.updated"
        await ws.send(json.dumps({"type": "input_text_buffer.append", "text": "ok"}))
        await ws.send(json.dumps({"type": "input_text_buffer.commit"}))
        assert (await recv_json(ws))["type"] == "input_text_buffer.committed"
        assert (await recv_json(ws))["type"] == "response.created"


@pytest.mark.parametrize(
    "event",
    [
        [1, 2, 3],
        {"event_id": "event_7", "type": "input_audio_buffer.append"},
        {"event_id": "event_8", "type": "input_text_buffer.append", "text": 5},
        {"event_id": "event_9", "type": "session.update", "session": "x"},
    ],
)
async def test_the_emulator_refuses_client_events_with_the_cores_verdict(event: object) -> None:
    """The server side validates with the protocol core's ``check_client_event``: the same
    code, message and param, and the client's event id echoed."""
    want = check_client_event(event, SessionState.READY)
    assert want is not None
    async with raw_session() as (_emu, ws):
        await ws.send(json.dumps(event))
        error = (await recv_json(ws))["error"]
    assert (error["code"], error["message"], error.get("param")) == (
        want.code,
        want.message,
        want.param,
    )
    assert error.get("event_id") == (event.get("event_id") if isinstance(event, dict) else None)


async def test_invalid_voice_error_names_the_param_and_echoes_event_id() -> None:
    async with raw_session() as (_emu, ws):
        await ws.send(
            json.dumps(
                {"event_id": "event_42", "type": "session.update", "session": {"voice": "X"}}
            )
        )
        error = (await recv_json(ws))["error"]
        assert error["param"] == "session.voice"
        assert error["event_id"] == "event_42"


async def test_update_after_synthesis_started_is_rejected_with_the_documented_message() -> None:
    async with raw_session() as (_emu, ws):
        await ws.send(json.dumps({"type": "input_text_buffer.append", "text": "Hi. "}))
        while (await recv_json(ws))["type"] != "response.done":
            pass
        await ws.send(json.dumps({"type": "session.update", "session": {"voice": "Ethan"}}))
        error = (await recv_json(ws))["error"]
        assert error["message"] == (
            "Session update error: session already started or finished or failed."
        )


async def test_finish_flushes_then_finished_then_close_1000() -> None:
    async with raw_session() as (_emu, ws):
        await ws.send(json.dumps({"type": "input_text_buffer.append", "text": "no end"}))
        await ws.send(json.dumps({"type": "session.finish"}))
        types = []
        while True:
            event = await recv_json(ws)
            types.append(event["type"])
            if event["type"] == "session.finished":
                break
        assert types[0] == "response.created"
        assert types[-2:] == ["response.done", "session.finished"]
        with anyio.fail_after(5):
            await ws.wait_closed()
        assert ws.close_code == 1000


async def test_healthz_and_unknown_paths() -> None:
    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        base = f"http://127.0.0.1:{emu.port}"

        def get(path: str) -> int:
            try:
                with urllib.request.urlopen(base + path, timeout=5) as resp:
                    return int(resp.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert await anyio.to_thread.run_sync(get, "/healthz") == 200
        assert await anyio.to_thread.run_sync(get, "/nope") == 404


def test_server_commit_splitter_rule() -> None:
    assert take_segments("Hello there. How are", max_chars=100) == (["Hello there."], " How are")
    assert take_segments("Dr.", max_chars=100) == (["Dr."], "")  # an append's end is an end
    assert take_segments("3.14 is pi", max_chars=100) == ([], "3.14 is pi")
    assert take_segments("你好。今天好吗？我", max_chars=100) == (["你好。", "今天好吗？"], "我")
    assert take_segments('He said "stop." Then', max_chars=100)[0] == ['He said "stop."']
    segments, rest = take_segments("word " * 50, max_chars=40)
    assert all(len(s) <= 40 for s in segments)
    assert "".join(segments) + rest == "word " * 50  # nothing lost
    assert len(segments) >= 6


def test_billable_characters() -> None:
    assert billable_characters("abc") == 3
    assert billable_characters("你好a") == 5


def test_vendor_sdk_against_the_emulator() -> None:
    """The vendor's own client (dashscope.QwenTtsRealtime) gets audio and session.finished."""
    import dashscope
    from dashscope.audio.qwen_tts_realtime import (
        AudioFormat,
        QwenTtsRealtime,
        QwenTtsRealtimeCallback,
    )

    events: list[dict[str, Any]] = []
    finished = threading.Event()

    class Callback(QwenTtsRealtimeCallback):  # type: ignore[misc]
        def on_event(self, response: Any) -> None:
            events.append(response if isinstance(response, dict) else json.loads(response))
            if events[-1].get("type") == "session.finished":
                finished.set()

    async def main() -> None:
        async with serve_emulator(EmulatorOptions(engine="tone", api_key="sk-test")) as emu:

            def drive() -> None:
                dashscope.api_key = "sk-test"
                client = QwenTtsRealtime(
                    model="qwen3-tts-flash-realtime", callback=Callback(), url=emu.url
                )
                client.connect()
                client.update_session(
                    voice="Cherry",
                    response_format=AudioFormat.PCM_24000HZ_MONO_16BIT,
                    mode="server_commit",
                )
                for piece in ("Hello from ", "the vendor SDK. ", "It works", " offline."):
                    client.append_text(piece)
                client.finish()
                assert finished.wait(10), "no session.finished"
                client.close()

            await anyio.to_thread.run_sync(drive)

    anyio.run(main, backend="asyncio")
    types = [e["type"] for e in events]
    assert types[0] == "session.created"
    assert "session.updated" in types
    assert types.count("response.done") == 2
    assert types.count("response.audio.delta") > 2
    assert types[-1] == "session.finished"
