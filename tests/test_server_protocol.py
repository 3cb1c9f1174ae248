"""The pure parts of `bridge serve`: messages, codes, limits, access, settings, pacing, outbox."""

from __future__ import annotations

import json

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.adapters.sinks import TakesAtOnce
from bridge.core import errors
from bridge.core.result import TurnFailure, TurnResult
from bridge.qwen.client import AudioChunk
from bridge.server import protocol as p
from bridge.server.limits import ServerLimits, TokenBucket, check_access, is_loopback_host
from bridge.server.options import SessionSettings, apply_configure
from bridge.server.outbox import Outbox
from bridge.server.protocol import ClientProtocolError, ErrorCode
from bridge.server.sink import PlaybackClock, WebSocketSink

LIMITS = {"max_bytes": 1024, "max_text_chars": 100}


def parse(data: str | bytes) -> p.ClientMessage:
    return p.parse_client_message(data, **LIMITS)


def code_of(data: str | bytes) -> ErrorCode:
    with pytest.raises(ClientProtocolError) as info:
        parse(data)
    return info.value.code


def test_client_messages_parse_into_typed_values() -> None:
    assert parse('{"type":"user.message","text":"Hi"}') == p.UserMessage(text="Hi")
    assert parse('{"type":"response.cancel"}') == p.ResponseCancel()
    assert parse('{"type":"response.cancel","response_id":"turn_1"}') == p.ResponseCancel(
        response_id="turn_1"
    )
    assert parse('{"type":"playback.ack","samples":4800.0}') == p.PlaybackAck(samples=4800)
    assert parse(
        '{"type":"session.configure","voice":"Ethan","sample_rate":16000,"extra":1}'
    ) == p.SessionConfigure(voice="Ethan", sample_rate=16000)
    # text.append pieces are kept as sent, white space included (the session sanitises them)
    assert parse('{"type":"text.append","text":" Hi"}') == p.TextAppend(text=" Hi")
    assert parse('{"type":"text.append","text":""}') == p.TextAppend(text="")
    assert parse('{"type":"text.done"}') == p.TextDone()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("nope", ErrorCode.INVALID_JSON),
        ("[]", ErrorCode.INVALID_JSON),
        ('"text"', ErrorCode.INVALID_JSON),
        ("{}", ErrorCode.INVALID_MESSAGE),
        ('{"type": 5}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"user.message"}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"user.message","text":["a"]}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"user.message","text":"' + "a" * 101 + '"}', ErrorCode.MESSAGE_TOO_LARGE),
        ('{"type":"playback.ack"}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"playback.ack","samples":true}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"playback.ack","samples":1.5}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"playback.ack","samples":1e400}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"session.configure","voice":""}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"session.configure","sample_rate":"24000"}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"text.append"}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"text.append","text":5}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"text.append","text":"' + "a" * 101 + '"}', ErrorCode.MESSAGE_TOO_LARGE),
        ('{"type":"response.create"}', ErrorCode.UNKNOWN_TYPE),
        (b'{"type":"user.message","text":"hi"}', ErrorCode.UNEXPECTED_BINARY),
        ("x" * 1025, ErrorCode.MESSAGE_TOO_LARGE),
        ("[" * 5000, ErrorCode.MESSAGE_TOO_LARGE),
    ],
)
def test_bad_client_messages_get_documented_codes(data: str | bytes, code: ErrorCode) -> None:
    assert code_of(data) is code


def test_deep_nesting_within_the_size_limit_is_invalid_json_not_a_crash() -> None:
    with pytest.raises(ClientProtocolError) as info:
        p.parse_client_message("[" * 100_000, max_bytes=200_000, max_text_chars=10)
    assert info.value.code is ErrorCode.INVALID_JSON


@given(st.text(max_size=300) | st.binary(max_size=50))
def test_any_frame_parses_or_raises_a_protocol_error(data: str | bytes) -> None:
    failure: ClientProtocolError | None = None
    message: object = None
    try:
        message = parse(data)
    except ClientProtocolError as exc:
        failure = exc
    if failure is not None:
        assert failure.code in set(ErrorCode)
        assert len(failure.message) < 300
    else:
        assert isinstance(
            message,
            p.UserMessage
            | p.TextAppend
            | p.TextDone
            | p.ResponseCancel
            | p.PlaybackAck
            | p.SessionConfigure
            | p.SessionResume,
        )


def test_unknown_type_is_echoed_shortened() -> None:
    with pytest.raises(ClientProtocolError) as info:
        parse(json.dumps({"type": "z" * 500}))
    assert len(info.value.message) < 250


def test_server_events_are_compact_json_with_the_documented_fields() -> None:
    assert json.loads(p.encode(p.audio_start("r1", 24000))) == {
        "type": "audio.start",
        "response_id": "r1",
        "sample_rate": 24000,
    }
    assert p.response_interrupted("r1", "Hi")["spoken_text"] == "Hi"
    assert p.error_event(ErrorCode.RATE_LIMITED, "slow down", retry_after=2.345) == {
        "type": "error",
        "code": "rate_limited",
        "message": "slow down",
        "retry_after": 2.3,
    }
    assert " " not in p.encode(p.segment_event("r", 0, "x"))


def test_turn_errors_reach_clients_only_as_fixed_messages() -> None:
    leak = errors.LLMConnectionError("cannot reach http://10.0.0.5 with sk-secret")
    result = TurnResult(turn_id="t", error=TurnFailure.of(leak))
    public = p.public_result(result)
    assert public["error"] == {
        "type": "LLMConnectionError",
        "code": "llm_error",
        "message": "the chat model failed; the reply may be incomplete",
    }
    assert "10.0.0.5" not in json.dumps(public) and "sk-secret" not in json.dumps(public)
    assert result.to_dict()["error"] == {"type": "LLMConnectionError", "message": str(leak)}
    assert p.public_result(TurnResult(turn_id="t"))["error"] is None


class MadeUpError(errors.TTSError):
    """A subclass the mapping has never heard of: mapped by its class, not its name."""


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.TTSAuthError("no"), ErrorCode.TTS_ERROR),
        (errors.TTSClosedError("gone"), ErrorCode.TTS_ERROR),
        (MadeUpError("new"), ErrorCode.TTS_ERROR),
        (errors.LLMRateLimitError("slow"), ErrorCode.LLM_ERROR),
        (errors.ConfigError("bad"), ErrorCode.INTERNAL_ERROR),
        (RuntimeError("a bug"), ErrorCode.INTERNAL_ERROR),
        (None, ErrorCode.INTERNAL_ERROR),
    ],
)
def test_one_mapping_from_the_error_tree_to_client_codes(
    exc: BaseException | None, code: ErrorCode
) -> None:
    assert p.client_error_for(exc)[0] is code
    if exc is not None:
        assert p.client_error_for(TurnFailure.of(exc))[0] is code


def test_a_name_alone_maps_to_nothing() -> None:
    # Errors are never looked up by name: a TurnFailure whose exception is a bug stays internal
    # even when its type name is that of one of our errors.
    forged = TurnFailure("TTSAuthError", "forged", RuntimeError("forged"))
    assert p.client_error_for(forged)[0] is ErrorCode.INTERNAL_ERROR


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(2, 0.5)
    assert bucket.take(0.0) and bucket.take(0.0) and not bucket.take(0.0)
    assert bucket.retry_after(0.0) == pytest.approx(2.0)
    assert not bucket.take(1.0)
    assert bucket.take(2.0)
    assert not bucket.take(100.0 - 100.0)  # time going backwards gives nothing


def test_token_bucket_never_holds_more_than_its_capacity() -> None:
    # However long it stood idle, a bucket of 3 gives a burst of 3, not one per idle second.
    bucket = TokenBucket(3, 1.0)
    assert all(bucket.take(0.0) for _ in range(3)) and not bucket.take(0.0)
    assert [bucket.take(1000.0) for _ in range(5)] == [True, True, True, False, False]
    assert bucket.tokens <= bucket.capacity
    assert bucket.retry_after(1000.0) == pytest.approx(1.0)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_sessions"):
        ServerLimits(max_sessions=0)
    with pytest.raises(ValueError, match="max_frame_bytes"):
        ServerLimits(max_message_bytes=10_000, max_frame_bytes=100)
    with pytest.raises(ValueError, match="idle_timeout"):
        ServerLimits(idle_timeout=float("inf"))
    assert "max_sessions" not in ServerLimits().to_public()


def test_loopback_names() -> None:
    for host in ("127.0.0.1", "127.5.6.7", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback_host(host), host
    for host in ("0.0.0.0", "", "::", "10.0.0.1", "example.com", "localhost.example"):
        assert not is_loopback_host(host), host


def access(headers: dict[str, str], *, path: str = "/ws", token: str | None = None) -> int:
    denied = check_access(path=path, headers=headers, token=token, origins=("https://ok.example",))
    return 101 if denied is None else denied.status


def test_access_decisions() -> None:
    host = {"host": "127.0.0.1:8765"}
    assert access(host) == 101
    assert access({"host": "[::1]:8765"}) == 101
    assert access({"host": "evil.example:8765"}) == 403
    assert access({**host, "origin": "http://127.0.0.1:8765"}) == 101
    assert access({**host, "origin": "http://127.0.0.1:8766"}) == 403
    # Same host and port, either scheme (a TLS proxy may front the server).
    assert access({**host, "origin": "https://127.0.0.1:8765"}) == 101
    assert access({"host": "bridge.example", "origin": "https://bridge.example"}, token="t") == 401
    assert (
        access(
            {"host": "bridge.example", "origin": "https://bridge.example"},
            path="?token=t",
            token="t",
        )
        == 101
    )
    assert (
        access({"host": "a.example", "origin": "https://b.example"}, path="?token=t", token="t")
        == 403
    )
    assert access({**host, "origin": "https://ok.example"}) == 101
    assert access({"host": "bridge.example", "origin": "http://bridge.example"}, token="t") == 401
    assert access({"host": "bridge.example"}, path="/ws?token=t", token="t") == 101
    assert access({"host": "x", "authorization": "Bearer t"}, token="t") == 101
    assert access({"host": "x", "authorization": "bearer t"}, token="t") == 101
    assert access({"host": "x", "authorization": "Basic t"}, token="t") == 401
    assert access({"host": "x"}, path="/ws?token=t2", token="t") == 401


SETTINGS = SessionSettings(voice="Cherry", prompt="assistant", language="Auto", sample_rate=24000)


def configure(**fields: object) -> SessionSettings:
    msg = p.SessionConfigure(**fields)  # type: ignore[arg-type]
    return apply_configure(
        SETTINGS, msg, voices=["Cherry", "Ethan"], prompts=["assistant", "concise"]
    )


def test_session_configure_settings() -> None:
    assert configure() == SETTINGS
    changed = configure(voice="Ethan", prompt="concise", language="english", sample_rate=8000)
    assert changed == SessionSettings(
        voice="Ethan", prompt="concise", language="English", sample_rate=8000
    )
    for bad in ({"voice": "Nobody"}, {"prompt": "/etc/passwd"}, {"language": "Klingon"}):
        with pytest.raises(ClientProtocolError) as info:
            configure(**bad)
        assert info.value.code is ErrorCode.INVALID_CONFIG
    with pytest.raises(ClientProtocolError):
        configure(sample_rate=44100)


def test_a_client_declares_its_playback_delay_from_0_to_2000_ms() -> None:
    assert SETTINGS.playback_delay_ms == 250  # NO_ACK_DELAY unless declared
    assert configure(playback_delay_ms=0).playback_delay_ms == 0  # 0 is a value, not "unset"
    assert configure(playback_delay_ms=2000).playback_delay_ms == 2000
    declared = configure(playback_delay_ms=40)
    kept = apply_configure(
        declared, p.SessionConfigure(voice="Ethan"), voices=["Ethan"], prompts=["assistant"]
    )
    assert kept.playback_delay_ms == 40  # a later configure without it keeps it
    with pytest.raises(ClientProtocolError) as info:
        configure(playback_delay_ms=2001)
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert "playback_delay_ms must be 0 to 2000" in info.value.message
    msg = parse('{"type":"session.configure","playback_delay_ms":40.0}')
    assert msg == p.SessionConfigure(playback_delay_ms=40)
    for bad in ("-1", "1.5", '"40"', "true"):
        with pytest.raises(ClientProtocolError) as info:
            parse('{"type":"session.configure","playback_delay_ms":' + bad + "}")
        assert info.value.code is ErrorCode.INVALID_MESSAGE, bad


@pytest.mark.anyio
async def test_without_acks_the_declared_playback_delay_is_the_model() -> None:
    now = [0.0]
    sink = WebSocketSink(
        Outbox(), "r1", sample_rate=100, lead=0.5, no_ack_delay=0.05, clock=lambda: now[0]
    )
    await sink.write(AudioChunk(b"\x00\x00" * 100, 100, "x"))  # 1 s of audio at t=0
    now[0] = 0.55
    assert sink.samples_played == 50  # played from 0.05 s after the send, not 0.25
    # The response ends when the modelled playback has: 0.05 s past the last sample.
    now[0] = 1.0  # the clock the sink reads: the end is at 1.05
    with anyio.move_on_after(0.2) as scope:
        await sink.close()
    assert scope.cancelled_caught  # still waiting at 1.0 (0.05 s before its end)
    now[0] = 1.06
    with anyio.fail_after(5.0):  # a hang guard: with 0.25 s it would wait for 1.25
        await sink.close()


@pytest.mark.anyio
async def test_the_sink_is_ready_unless_a_write_would_pace_the_client_or_wait_for_room() -> None:
    """``ready()`` (``TakesAtOnce``): true exactly when ``write`` would not wait, by the
    playback model's lead or for room in the outbox's audio queue."""
    now = [0.0]
    box = Outbox(max_audio_frames=2)
    sink = WebSocketSink(box, "r1", sample_rate=100, lead=0.5, clock=lambda: now[0])
    assert isinstance(sink, TakesAtOnce) and sink.ready()
    await sink.write(AudioChunk(b"\x00\x00" * 100, 100, "x"))  # 1 s at t=0: plays to 1.0
    assert not sink.ready()  # more now would be over half a second ahead of the client
    now[0] = 0.49
    assert not sink.ready()
    now[0] = 0.5
    assert sink.ready()
    await sink.write(AudioChunk(b"\x00\x00" * 10, 100, "x"))  # the queue holds 2 frames now
    now[0] = 5.0  # the client has played it all: only the full queue stands in the way
    assert not box.audio_room and not sink.ready()
    await box.get()  # audio.start
    await box.get()  # the first frame leaves: room again
    assert box.audio_room and sink.ready()


def test_playback_clock_models_back_to_back_playback() -> None:
    clock = PlaybackClock(1000, lead=0.5)
    assert clock.delay(0.0) == 0.0
    clock.on_sent(1000, 0.0)  # one second of audio at t=0
    assert clock.delay(0.0) == pytest.approx(0.5)
    assert clock.played(0.25) == 250
    assert clock.delay(0.6) == 0.0
    clock.on_sent(500, 0.6)  # queued after the first second
    assert clock.end == pytest.approx(1.5)
    assert clock.played(3.0) == 1500 and clock.remaining(3.0) == 0.0
    clock.on_sent(100, 5.0)  # after a gap, playback restarts now
    assert clock.end == pytest.approx(5.1)
    assert PlaybackClock(1000).delay(0.0) == 0.0


@pytest.mark.anyio
async def test_outbox_keeps_order_bounds_audio_and_drops_a_cancelled_response() -> None:
    box = Outbox(max_audio_frames=2)
    box.put({"type": "a"})
    assert await box.put_audio("r1", b"\x00\x00")
    assert await box.put_audio("r1", b"\x01\x00")
    with anyio.move_on_after(0.05) as scope:
        await box.put_audio("r1", b"\x02\x00")  # full: waits
    assert scope.cancelled_caught
    box.put({"type": "b"})
    assert box.drop_audio("r1") == 2
    assert not await box.put_audio("r1", b"\x03\x00")  # refused after the drop
    assert await box.put_audio("r2", b"\x04\x00")
    box.close()
    got = []
    while (frame := await box.get()) is not None:
        got.append(frame)
    assert got == ['{"type":"a"}', '{"type":"b"}', b"\x04\x00"]
    box.put({"type": "late"})
    assert await box.get() is None


@pytest.mark.anyio
async def test_sink_counts_acknowledged_samples_clamped_to_what_was_sent() -> None:
    now = [0.0]
    box = Outbox()
    sink = WebSocketSink(box, "r1", sample_rate=100, lead=None, clock=lambda: now[0])
    await sink.write(AudioChunk(b"\x00\x00" * 50, 100, "x"))
    assert sink.samples_sent == 50
    assert sink.samples_played == 0  # no acks: modelled real-time playback from now
    now[0] = 0.25  # ... starting NO_ACK_DELAY (0.25 s) later: none of it heard yet
    assert sink.samples_played == 0
    now[0] = 0.5
    assert sink.samples_played == 25
    now[0] = 10.0
    assert sink.samples_played == 50
    sink.ack(20)  # acks rule from the first one on
    assert sink.samples_played == 20
    sink.ack(10)  # acks never go back
    assert sink.samples_played == 20
    sink.ack(1000)
    assert sink.samples_played == 50
    sink.cancel()
    await sink.write(AudioChunk(b"\x00\x00" * 50, 100, "x"))
    assert sink.samples_sent == 50
    frames = []
    box.close()
    while (frame := await box.get()) is not None:
        frames.append(frame)
    assert json.loads(frames[0]) == {
        "type": "audio.start",
        "response_id": "r1",
        "sample_rate": 100,
    }
    assert len(frames) == 1  # the one frame was dropped by the cancel, before it was sent


@pytest.mark.anyio
async def test_without_acks_the_modelled_playback_stops_at_the_cancel() -> None:
    # The heard text is computed after the turn has wound down: for a client that sends no
    # acks, the model must not go on playing past the moment the server read the cancel.
    now = [0.0]
    sink = WebSocketSink(Outbox(), "r1", sample_rate=100, lead=None, clock=lambda: now[0])
    await sink.write(AudioChunk(b"\x00\x00" * 100, 100, "x"))
    now[0] = 0.75
    assert sink.samples_played == 50  # played from NO_ACK_DELAY (0.25 s) after the send
    sink.cancel()
    now[0] = 5.0
    assert sink.samples_played == 50
