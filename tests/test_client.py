"""The async client against the local emulator on 127.0.0.1:0: events, modes, faults, errors."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from bridge.core.errors import (
    ConfigError,
    StateError,
    TTSAuthError,
    TTSClosedError,
    TTSConnectionError,
    TTSServerError,
    TTSTimeoutError,
)
from bridge.local import Emulator, EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.qwen import SessionConfig, SessionState, Timeouts, connect
from bridge.qwen import events as ev

pytestmark = pytest.mark.anyio

FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)


@asynccontextmanager
async def emulator(**options: object) -> AsyncIterator[Emulator]:
    opts = EmulatorOptions(engine="tone", **options)  # type: ignore[arg-type]
    async with serve_emulator(opts) as emu:
        yield emu


ENVELOPE = [
    "response.created",
    "response.output_item.added",
    "response.content_part.added",
    "response.audio.delta",
    "response.audio.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
]


def _collapse(types: list[str]) -> list[str]:
    out: list[str] = []
    for t in types:
        if not (out and out[-1] == t == "response.audio.delta"):
            out.append(t)
    return out


async def test_connect_update_and_server_commit_flow() -> None:
    async with emulator() as emu, connect(url=emu.url, timeouts=FAST) as tts:
        assert tts.state is SessionState.READY
        assert tts.session_id.startswith("sess_")
        info = await tts.update(SessionConfig(voice="Ethan", language_type="English"))
        assert info.voice == "Ethan"
        assert info.fields["language_type"] == "English"
        await tts.append("Hello there. ")
        await tts.append("How are you")
        await tts.append(" today?")
        await tts.send_finish()
        types = [e.type async for e in tts.events()]
        assert tts.state is SessionState.CLOSED
    assert _collapse(types) == ENVELOPE * 2 + ["session.finished"]
    assert len(tts.responses) == 2
    for stats in tts.responses:
        assert stats.status == "completed"
        assert stats.audio_bytes > 0
        assert stats.first_audio_latency is not None and stats.first_audio_latency >= 0
    assert tts.responses[0].characters == len("Hello there.")


async def test_audio_iterator_and_finish_drain() -> None:
    async with emulator() as emu, connect(url=emu.url, timeouts=FAST) as tts:
        await tts.append("One sentence without an end")
        chunks = await tts.finish()  # flushes the buffered text, drains to session.finished
    assert chunks
    assert {c.sample_rate for c in chunks} == {24000}
    assert len({c.response_id for c in chunks}) == 1
    assert sum(c.duration for c in chunks) > 0.5
    assert all(c.format == "pcm" and len(c.data) % 2 == 0 for c in chunks)


async def test_commit_mode_several_responses_per_session() -> None:
    async with (
        emulator() as emu,
        connect(url=emu.url, config=SessionConfig(mode="commit"), timeouts=FAST) as tts,
    ):
        sizes = []
        for text in ("First. Second!", "第三句话。", "four"):
            sizes.append(len(await tts.speak(text)))
        assert all(s > 0 for s in sizes)
        assert len(tts.responses) == 3
        assert tts.responses[1].characters == 9  # Chinese characters bill double, "。" once
        assert await tts.finish() == []


async def test_commit_on_empty_buffer_is_a_server_error_and_session_survives() -> None:
    async with (
        emulator() as emu,
        connect(url=emu.url, config=SessionConfig(mode="commit"), timeouts=FAST) as tts,
    ):
        await tts.commit()
        with pytest.raises(TTSServerError) as info:
            await tts.recv()
        assert info.value.code == "invalid_value"
        assert "empty" in str(info.value)
        assert await tts.speak("still works")


async def test_clear_drops_buffered_text() -> None:
    async with emulator() as emu, connect(url=emu.url, timeouts=FAST) as tts:
        await tts.append("this has no end yet")
        await tts.clear()
        event = await tts.recv()
        assert isinstance(event, ev.InputTextBufferCleared)
        assert await tts.finish() == []
        assert tts.responses == []


async def test_vendor_update_example_is_accepted_for_a_flash_model() -> None:
    vendor = SessionConfig(
        voice="Cherry",
        language_type="Chinese",
        instructions="",
        optimize_instructions=False,
    )
    async with emulator() as emu, connect(url=emu.url, config=vendor, timeouts=FAST) as tts:
        assert tts.info.voice == "Cherry"
        assert tts.info.fields["instructions"] == ""
        with pytest.raises(ConfigError, match="instruct"):
            await tts.update(SessionConfig(instructions="whisper"))


async def test_update_rules() -> None:
    async with emulator() as emu, connect(url=emu.url, timeouts=FAST) as tts:
        with pytest.raises(ConfigError, match="voice"):
            await tts.update(SessionConfig(voice="Nobody"))
        await tts.append("Start. ")
        while not isinstance(await tts.recv(), ev.ResponseDone):
            pass
        with pytest.raises(StateError, match="after synthesis started"):
            await tts.update(SessionConfig(voice="Ethan"))


async def test_every_sample_rate_and_wav_framing() -> None:
    async with emulator() as emu:
        lengths = {}
        for rate in (8000, 16000, 24000, 48000):
            cfg = SessionConfig(mode="commit", sample_rate=rate)
            async with connect(url=emu.url, config=cfg, timeouts=FAST) as tts:
                lengths[rate] = len(await tts.speak("The same words."))
        assert lengths[16000] == pytest.approx(2 * lengths[8000], rel=0.01)
        assert lengths[48000] == pytest.approx(2 * lengths[24000], rel=0.01)
        cfg = SessionConfig(mode="commit", response_format="wav", sample_rate=16000)
        async with connect(url=emu.url, config=cfg, timeouts=FAST) as tts:
            wav = await tts.speak("The same words.")
        assert wav[:4] == b"RIFF" and wav[8:16] == b"WAVEfmt "
        assert len(wav) == lengths[16000] + 44


async def test_unsupported_format_is_a_clear_server_error() -> None:
    async with emulator() as emu, connect(url=emu.url, timeouts=FAST) as tts:
        with pytest.raises(TTSServerError) as info:
            await tts.update(SessionConfig(response_format="mp3"))
        assert info.value.param == "session.response_format"


async def test_cancel_response_stops_the_response() -> None:
    slow = LatencyModel(rtf=1.0, delta_ms=50)
    async with (
        emulator(latency=slow) as emu,
        connect(url=emu.url, config=SessionConfig(mode="commit"), timeouts=FAST) as tts,
    ):
        await tts.append("A long sentence that takes a few seconds to speak out loud.")
        await tts.commit()
        deltas = 0
        async for event in tts.events():
            if isinstance(event, ev.ResponseAudioDelta):
                deltas += 1
                if deltas == 2:
                    await tts.cancel_response()
            if isinstance(event, ev.ResponseDone):
                assert event.status == "incomplete"
                break
        assert deltas < 10


# --- authentication and connection failures ------------------------------------------------


async def test_wrong_or_missing_key_is_an_auth_error_without_the_key() -> None:
    async with emulator(api_key="sk-right-key-123456") as emu:
        for key in (None, "sk-wrong-key-987654"):
            with pytest.raises(TTSAuthError) as info:
                async with connect(url=emu.url, api_key=key, timeouts=FAST):
                    pass
            assert info.value.status == 401
            assert "region" in str(info.value)
            assert "987654" not in str(info.value)
        async with connect(url=emu.url, api_key="sk-right-key-123456", timeouts=FAST) as tts:
            assert tts.state is SessionState.READY


async def test_refused_handshake_fault() -> None:
    async with emulator(faults=Faults(refuse_handshake=403, connections=1)) as emu:
        with pytest.raises(TTSAuthError):
            async with connect(url=emu.url, timeouts=FAST):
                pass
        async with connect(url=emu.url, timeouts=FAST) as tts:  # the second one is accepted
            assert tts.state is SessionState.READY
    async with emulator(faults=Faults(refuse_handshake=503)) as emu:
        with pytest.raises(TTSConnectionError, match="503"):
            async with connect(url=emu.url, timeouts=FAST):
                pass


async def test_invalid_options_fail_before_connecting() -> None:
    # Port 9 on loopback is closed: a ConfigError proves nothing was attempted.
    with pytest.raises(ConfigError):
        async with connect(url="ws://127.0.0.1:9/x", config=SessionConfig(volume=500)):
            pass
    with pytest.raises(ConfigError, match="region"):
        async with connect(region="mars"):
            pass
    with pytest.raises(ConfigError, match="ws://"):
        async with connect(url="http://example.com/"):
            pass


async def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TTSConnectionError, match="could not connect"):
        async with connect(url=f"ws://127.0.0.1:{port}/api-ws/v1/realtime", timeouts=FAST):
            pass


async def test_connect_timeout_when_the_server_never_answers() -> None:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def hold(stream: anyio.abc.SocketStream) -> None:
            await anyio.sleep(5)

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, hold)
            with pytest.raises(TTSTimeoutError) as info:
                async with connect(
                    url=f"ws://127.0.0.1:{port}/api-ws/v1/realtime",
                    timeouts=Timeouts(connect=0.3),
                ):
                    pass
            assert info.value.what == "connect"
            tg.cancel_scope.cancel()


async def test_unknown_model_closes_after_session_created() -> None:
    async with (
        emulator() as emu,
        connect(url=emu.url, model="qwen-nonexistent", timeouts=FAST) as tts,
    ):
        with pytest.raises(TTSClosedError, match="model name"):
            await tts.recv()


# --- injected faults mid-stream ------------------------------------------------------------


async def test_close_mid_stream_says_how_much_audio_arrived() -> None:
    async with (
        emulator(faults=Faults(close_after_deltas=3)) as emu,
        connect(url=emu.url, timeouts=FAST) as tts,
    ):
        await tts.append("A sentence long enough to need more than three deltas of audio. ")
        with pytest.raises(TTSClosedError) as info:
            async for _ in tts.events():
                pass
        assert info.value.audio_bytes == 3 * 2 * 2400  # three 100 ms deltas at 24 kHz
        assert f"{info.value.audio_bytes} bytes of audio" in str(info.value)
        assert tts.state is SessionState.CLOSED


async def test_error_event_fault_raises_typed_error() -> None:
    faults = Faults(
        error_after_deltas=1,
        error_code="Throttling.RateQuota",
        error_message="Requests rate limit exceeded, please try again later.",
    )
    async with emulator(faults=faults) as emu, connect(url=emu.url, timeouts=FAST) as tts:
        await tts.append("Hello world. ")
        with pytest.raises(TTSServerError) as info:
            async for _ in tts.events():
                pass
        assert info.value.code == "Throttling.RateQuota"
        assert info.value.error_type == "server_error"
        with pytest.raises(TTSClosedError):
            await tts.recv()


async def test_a_stall_mid_response_hits_the_stall_timeout_not_the_idle_one() -> None:
    timeouts = Timeouts(connect=5, update=5, first_audio=5, stall=0.3, idle=600)
    async with (
        emulator(faults=Faults(stall_after_deltas=1)) as emu,
        connect(url=emu.url, timeouts=timeouts) as tts,
    ):
        await tts.append("Hello world. ")
        with pytest.raises(TTSTimeoutError, match=r"sent nothing for 0\.3 s .* response in flight"):
            async for _ in tts.events():
                pass


async def test_first_audio_timeout_uses_its_own_bound() -> None:
    timeouts = Timeouts(connect=5, update=5, first_audio=0.2, idle=30)
    async with (
        emulator(latency=LatencyModel(first_packet=2.0)) as emu,
        connect(url=emu.url, config=SessionConfig(mode="commit"), timeouts=timeouts) as tts,
    ):
        await tts.append("Hello")
        with pytest.raises(TTSTimeoutError, match="first audio"):
            await tts.recv()


async def test_concurrent_receivers_are_rejected() -> None:
    async with emulator() as emu, connect(url=emu.url, timeouts=FAST) as tts:
        errors: list[BaseException] = []

        async def receive() -> None:
            try:
                await tts.recv(timeout=0.5)
            except (StateError, TTSTimeoutError) as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(receive)
            tg.start_soon(receive)
        assert any(isinstance(e, StateError) for e in errors)


async def test_latency_model_delays_first_packet() -> None:
    async with (
        emulator(latency=LatencyModel(first_packet=0.3)) as emu,
        connect(url=emu.url, config=SessionConfig(mode="commit"), timeouts=FAST) as tts,
    ):
        await tts.speak("Hi.")
        latency = tts.responses[0].first_audio_latency
        assert latency is not None and latency >= 0.29


async def test_lowercase_bearer_scheme_is_accepted() -> None:
    async with (
        emulator(api_key="sk-abc") as emu,
        connect(url=emu.url, headers={"Authorization": "bearer sk-abc"}, timeouts=FAST) as tts,
    ):
        assert tts.state is SessionState.READY


async def test_workspace_header_and_region_urls() -> None:
    from bridge.qwen import build_url

    assert build_url(None, "singapore", "m").startswith("wss://dashscope-intl.aliyuncs.com/")
    assert build_url(None, "Beijing", "m").endswith("/api-ws/v1/realtime?model=m")
    assert build_url("ws://h/p?model=x", "beijing", "m") == "ws://h/p?model=x"
    async with emulator() as emu, connect(url=emu.url, workspace="ws-1", timeouts=FAST) as tts:
        assert tts.url.endswith("?model=qwen3-tts-flash-realtime")
        assert emu.last_headers is not None
        assert emu.last_headers["X-DashScope-WorkSpace"] == "ws-1"
        assert emu.last_headers["User-Agent"].startswith("bridge/")


@pytest.mark.parametrize("name", ["connect", "update", "first_audio", "stall", "idle", "close"])
@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan")])
def test_timeouts_must_be_positive_and_finite(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"timeout {name} must be a positive"):
        Timeouts(**{name: value})
