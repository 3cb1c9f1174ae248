"""Which answer belongs to which request: finish() keeps audio across errors, speak() takes
its own response, and an error answering our commit is recognised whatever its shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from bridge.adapters.sinks import NullSink
from bridge.core.errors import TTSClosedError, TTSServerError, TTSTimeoutError
from bridge.local import EmulatorOptions, Faults, serve_emulator
from bridge.pipeline import PipelineOptions, TTSTarget, Turn
from bridge.qwen import SessionConfig, SessionMachine, SessionState, Timeouts, connect
from bridge.qwen.events import parse_server_event
from bridge.qwen.protocol import append_event, commit_event, session_update_event
from tests._scripted_tts import Peer, scripted_tts

pytestmark = pytest.mark.anyio

FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)
SENTENCE = "A sentence long enough to need several deltas of audio to be spoken. "


def emulator(**options: Any) -> Any:
    return serve_emulator(EmulatorOptions(engine="tone", **options))


# --- 1. finish() drains through errors and keeps the audio ----------------------------------


async def test_finish_keeps_the_audio_around_a_non_fatal_error() -> None:
    faults = Faults(error_after_deltas=2, error_code="Throttling", error_fatal=False)
    async with emulator(faults=faults) as emu, connect(url=emu.url, timeouts=FAST) as tts:
        await tts.append(SENTENCE)
        with pytest.raises(TTSServerError) as info:
            await tts.finish()
        assert tts.state is SessionState.CLOSED  # session.finished was still read
    assert info.value.code == "Throttling"
    got = sum(len(c.data) for c in info.value.chunks)
    assert len(info.value.chunks) > 2  # audio after the error is kept too
    assert got == tts.responses[0].audio_bytes == tts.machine.audio_bytes


async def test_finish_keeps_the_audio_before_a_fatal_error() -> None:
    faults = Faults(error_after_deltas=2, error_fatal=True)
    async with emulator(faults=faults) as emu, connect(url=emu.url, timeouts=FAST) as tts:
        await tts.append(SENTENCE)
        with pytest.raises(TTSServerError) as info:  # the cause, not the close that follows
            await tts.finish()
        assert tts.state is SessionState.CLOSED
    assert len(info.value.chunks) == 2
    assert sum(len(c.data) for c in info.value.chunks) == tts.machine.audio_bytes


async def test_finish_on_a_stall_closes_the_session_and_keeps_the_audio() -> None:
    timeouts = Timeouts(connect=5, update=5, first_audio=5, stall=0.3, close=1)
    async with (
        emulator(faults=Faults(stall_after_deltas=2)) as emu,
        connect(url=emu.url, timeouts=timeouts) as tts,
    ):
        await tts.append(SENTENCE)
        with pytest.raises(TTSTimeoutError) as info:
            await tts.finish()
        assert tts.state is SessionState.CLOSED
    assert len(info.value.chunks) == 2


async def test_finish_on_a_close_keeps_the_audio() -> None:
    async with (
        emulator(faults=Faults(close_after_deltas=3)) as emu,
        connect(url=emu.url, timeouts=FAST) as tts,
    ):
        await tts.append(SENTENCE)
        with pytest.raises(TTSClosedError) as info:
            await tts.finish()
        assert tts.state is SessionState.CLOSED
    assert len(info.value.chunks) == 3


# --- 2. speak() reads the response of its own commit ----------------------------------------


async def test_speak_returns_its_own_response_with_an_earlier_commit_in_flight() -> None:
    async with (
        emulator() as emu,
        connect(url=emu.url, config=SessionConfig(mode="commit"), timeouts=FAST) as tts,
    ):
        await tts.append(SENTENCE * 2)
        await tts.commit()  # its response is still to come when speak() starts
        audio = await tts.speak("Hi.")
        first, second = tts.responses
        assert len(audio) == second.audio_bytes != first.audio_bytes
        assert await tts.finish() == []  # nothing of speak()'s response was left unread


async def test_speak_reads_past_the_error_answering_an_earlier_empty_commit() -> None:
    async with (
        emulator() as emu,
        connect(url=emu.url, config=SessionConfig(mode="commit"), timeouts=FAST) as tts,
    ):
        await tts.commit()  # empty buffer: answered by an error nobody read yet
        audio = await tts.speak("Hi.")
        assert len(audio) == tts.responses[0].audio_bytes > 0


# --- 3. an error answering our commit, in any shape ----------------------------------------

ERROR_SHAPES: list[dict[str, Any]] = [
    {"code": "invalid_value", "message": "Error committing input text buffer: it is empty."},
    {"code": "InvalidParameter", "message": "no text to synthesize"},
    {"type": "invalid_request_error", "code": "bad_request", "message": ""},
    {"code": "invalid_value", "message": "nothing", "event_id": "event_not_one_of_ours"},
    {},
    "ECHO",  # echoes our commit's event id, with an unrelated message
]


def _shape(shape: dict[str, Any] | str, commit_id: str) -> dict[str, Any]:
    if shape == "ECHO":
        return {"code": "x", "message": "rejected", "event_id": commit_id}
    assert isinstance(shape, dict)
    return shape


async def _auto_commit_server(peer: Peer, shape: dict[str, Any] | str) -> None:
    """server_commit as the hosted service may do it: every append is synthesized at once,
    so our commit finds an empty buffer and is answered with ``shape``."""
    while True:
        event = await peer.recv()
        kind = event["type"]
        if kind == "session.update":
            await peer.send(peer.wire.session("session.updated", event["session"]))
        elif kind == "input_text_buffer.append":
            await peer.respond(b"\x01\x00" * 2400, deltas=2)
        elif kind == "input_text_buffer.commit":
            await peer.error(_shape(shape, event["event_id"]))
        elif kind == "session.finish":
            await peer.finished()
            return


async def _words(text: str) -> AsyncIterator[str]:
    for word in text.split(" "):
        await anyio.lowlevel.checkpoint()
        yield word + " "


@pytest.mark.parametrize("shape", ERROR_SHAPES, ids=range(len(ERROR_SHAPES)))
async def test_an_error_answering_commit_first_never_fails_the_turn(
    shape: dict[str, Any] | str,
) -> None:
    async with scripted_tts(lambda peer: _auto_commit_server(peer, shape)) as url:
        target = TTSTarget(url=url, config=SessionConfig(), timeouts=FAST)
        turn = Turn(
            _words("Hello there, friend. How are you today?"),
            NullSink(),
            target=target,
            options=PipelineOptions(commit_first=True),
        )
        result = await turn.run()
    assert result.error is None
    assert result.reconnects == 0
    assert result.audio_ms > 0


async def test_an_error_outside_the_commit_window_still_fails_the_turn() -> None:
    async def server(peer: Peer) -> None:
        while True:
            event = await peer.recv()
            kind = event["type"]
            if kind == "session.update":
                await peer.send(peer.wire.session("session.updated", event["session"]))
            elif kind == "input_text_buffer.append":
                await peer.error({"code": "DataInspectionFailed", "message": "refused"})
            elif kind == "session.finish":
                await peer.finished()
                return

    async with scripted_tts(server) as url:
        target = TTSTarget(url=url, config=SessionConfig(), timeouts=FAST)
        options = PipelineOptions(commit_first=False)
        result = await Turn(
            _words("Hello there."), NullSink(), target=target, options=options
        ).run()
    assert result.error is not None and result.error.type == "TTSServerError"


# --- the pairing rules of the sans-I/O machine ------------------------------------------


def _error(**error: Any) -> Any:
    return parse_server_event({"type": "error", "event_id": "event_s", "error": error})


def _machine(mode: str) -> SessionMachine:
    m = SessionMachine()
    m.on_receive(parse_server_event({"type": "session.created", "session": {"id": "s"}}))
    m.on_send(session_update_event(SessionConfig(mode=mode)))  # type: ignore[arg-type]
    return m


def test_machine_pairs_errors_with_unanswered_commits_only() -> None:
    m = _machine("server_commit")
    m.on_receive(_error(code="x"))
    assert m.last_error_commit is None  # no commit sent: not a commit's answer
    append = append_event("hi")
    m.on_send(append)
    commit = commit_event()
    m.on_send(commit)
    m.on_receive(_error(code="x", event_id=append["event_id"]))
    assert m.last_error_commit is None  # it names our append
    m.on_receive(_error(code="whatever", event_id="event_foreign"))
    assert m.last_error_commit == commit["event_id"]
    m.on_receive(_error(code="x"))
    assert m.last_error_commit is None  # the commit had one answer already


def test_machine_commit_mode_window_closes_on_committed_and_pairs_responses() -> None:
    m = _machine("commit")
    m.on_send(append_event("one"))
    first = commit_event()
    m.on_send(first)
    m.on_send(append_event("two"))
    second = commit_event()
    m.on_send(second)
    m.on_receive(parse_server_event({"type": "input_text_buffer.committed"}))
    m.on_receive(parse_server_event({"type": "response.created", "response": {"id": "r1"}}))
    assert m.commit_of("r1") == first["event_id"]
    m.on_receive(_error(code="x"))
    assert m.last_error_commit == second["event_id"]  # the first was answered by committed
    m.on_receive(parse_server_event({"type": "response.created", "response": {"id": "r2"}}))
    assert m.commit_of("r2") is None  # the second commit got an error, not a response
