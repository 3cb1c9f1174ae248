"""The one sans-I/O protocol object, ``bridge.qwen.protocol.Connection``: its transition table
(every state against every event type, sent and received), its bookkeeping driven by the clock
values passed in, and the client-event validation the emulator shares. No sockets, no clocks."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from bridge.core.errors import StateError, TTSProtocolError
from bridge.qwen import events as ev
from bridge.qwen.config import SessionConfig
from bridge.qwen.protocol import (
    APPEND,
    CANCEL,
    CLEAR,
    CLIENT_EVENT_TYPES,
    COMMIT,
    FINISH,
    UPDATE,
    UPDATE_REJECTED,
    Connection,
    SessionState,
    append_event,
    cancel_event,
    check_client_event,
    clear_event,
    commit_event,
    finish_event,
    session_update_event,
)

ROOT = Path(__file__).resolve().parent.parent
S = SessionState
ALL_STATES = tuple(SessionState)
NOT_A_KNOWN_TYPE = "response.text.delta"  # a server event type this library does not know

# The documented state machine (the protocol module's doc), written out again here on purpose:
# for every state, the events that may be SENT and the state after them. Anything else raises
# StateError.
SENDS: dict[SessionState, dict[str, SessionState]] = {
    S.CONNECTING: {},
    S.READY: {UPDATE: S.READY, APPEND: S.READY, COMMIT: S.READY, CLEAR: S.READY}
    | {CANCEL: S.READY, FINISH: S.FINISHING},
    S.SPEAKING: {APPEND: S.SPEAKING, COMMIT: S.SPEAKING, CLEAR: S.SPEAKING}
    | {CANCEL: S.SPEAKING, FINISH: S.FINISHING},
    S.FINISHING: {},
    S.CLOSED: {},
}


def received_after(state: SessionState, kind: str) -> SessionState | type[Exception]:
    """The documented state after RECEIVING ``kind`` in ``state`` (or the error raised)."""
    if state is S.CONNECTING:
        return {"session.created": S.READY, "error": S.CONNECTING}.get(kind, TTSProtocolError)
    if state is S.CLOSED or kind == "session.finished":
        return S.CLOSED
    if state is S.READY and kind == "response.created":
        return S.SPEAKING
    return state


def _client_event(kind: str) -> dict[str, Any]:
    builders = {
        UPDATE: lambda: session_update_event(SessionConfig()),
        APPEND: lambda: append_event("Hello."),
        COMMIT: commit_event,
        CLEAR: clear_event,
        FINISH: finish_event,
        CANCEL: cancel_event,
    }
    return builders[kind]()


def _frame(kind: str) -> str:
    return json.dumps(
        {
            "type": kind,
            "event_id": "event_x",
            "session": {"id": "sess_1", "mode": ""},
            "response": {"id": "resp_1"},
            "response_id": "resp_1",
            "delta": "AAA=",
            "error": {"code": "c", "message": "m"},
        }
    )


def _in(state: SessionState) -> Connection:
    conn = Connection()
    conn.state = state
    return conn


def test_the_event_name_sets_are_the_documented_ones() -> None:
    assert set(CLIENT_EVENT_TYPES) == set(SENDS[S.READY])
    assert NOT_A_KNOWN_TYPE not in ev.SERVER_EVENT_TYPES
    assert len(ev.SERVER_EVENT_TYPES) == 14


@pytest.mark.parametrize("state", ALL_STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("kind", CLIENT_EVENT_TYPES)
def test_every_send_transitions_as_documented_or_raises(state: SessionState, kind: str) -> None:
    conn = _in(state)
    event = _client_event(kind)
    want = SENDS[state].get(kind)
    if want is None:
        with pytest.raises(StateError):
            conn.send(event, now=1.0)
        assert conn.state is state  # a refused send changes nothing
        assert conn.pending_chars == 0 and not conn._unanswered
        assert check_client_event(event, state) is not None  # the emulator refuses it too
    else:
        frame = conn.send(event, now=1.0)
        assert json.loads(frame) == event  # the frame to put on the wire
        assert conn.state is want
        assert check_client_event(event, state) is None


RECEIVED = (*ev.SERVER_EVENT_TYPES, NOT_A_KNOWN_TYPE)


@pytest.mark.parametrize("state", ALL_STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("kind", RECEIVED)
def test_every_receive_transitions_as_documented_or_raises(state: SessionState, kind: str) -> None:
    conn = _in(state)
    want = received_after(state, kind)
    if isinstance(want, SessionState):
        event = conn.receive(_frame(kind), now=1.0)
        assert event.type == kind
        assert conn.state is want
    else:
        with pytest.raises(want, match=r"expected session\.created first"):
            conn.receive(_frame(kind), now=1.0)
        assert conn.state is state


@pytest.mark.parametrize("state", ALL_STATES, ids=lambda s: s.value)
def test_the_audio_fast_path_follows_the_same_table(state: SessionState) -> None:
    conn = _in(state)
    want = received_after(state, "response.audio.delta")
    if isinstance(want, SessionState):
        conn.receive_audio("resp_1", 4, now=1.0)
        assert conn.state is want and conn.audio_bytes == 4
    else:
        with pytest.raises(want):
            conn.receive_audio("resp_1", 4, now=1.0)
        assert conn.audio_bytes == 0


def test_update_after_synthesis_started_says_why() -> None:
    with pytest.raises(StateError, match="after synthesis started"):
        _in(S.SPEAKING).send(session_update_event(SessionConfig()))
    problem = check_client_event(session_update_event(SessionConfig()), S.SPEAKING)
    assert problem is not None and problem.message == UPDATE_REJECTED


def test_a_malformed_client_event_is_refused_and_changes_nothing() -> None:
    conn = _in(S.READY)
    with pytest.raises(TTSProtocolError, match="'text' must be a string"):
        conn.send({"type": APPEND, "event_id": "event_1", "text": 5}, now=1.0)
    assert conn.pending_chars == 0 and conn.characters_sent == 0 and not conn._appends


@pytest.mark.parametrize(
    ("raw", "code", "param"),
    [
        ([1, 2], "invalid_event", None),
        ({"text": "no type"}, "invalid_event", None),
        ({"type": "input_text_buffer.appendd"}, "invalid_event", None),
        ({"type": APPEND, "text": None}, "invalid_value", "text"),
        ({"type": UPDATE, "session": "pcm"}, "invalid_value", "session"),
    ],
)
def test_check_client_event_names_the_problem(raw: object, code: str, param: str | None) -> None:
    problem = check_client_event(raw, S.READY)
    assert problem is not None and (problem.code, problem.param) == (code, param)


# --- bookkeeping, driven by the clock values passed in ----------------------------------


def _response(conn: Connection, rid: str, *, t: float, characters: int | None) -> None:
    usage = {} if characters is None else {"usage": {"characters": characters}}
    conn.receive(json.dumps({"type": "response.created", "response": {"id": rid}}), now=t)
    conn.receive_audio(rid, 100, now=t + 0.5)
    conn.receive_audio(rid, 60, now=t + 0.7)
    done = {"type": "response.done", "response": {"id": rid, "status": "completed", **usage}}
    conn.receive(json.dumps(done), now=t + 1.0)


def test_response_stats_measure_each_response_from_its_own_text() -> None:
    conn = _in(S.READY)
    conn.send(append_event("Hello there."), now=1.0)  # 12 billable characters
    conn.send(append_event("你好。"), now=1.5)  # 2 + 2 + 1
    _response(conn, "r1", t=2.0, characters=12)
    _response(conn, "r2", t=4.0, characters=5)
    first, second = conn.responses
    assert (first.text_sent_at, first.created_at, first.first_audio_at) == (1.0, 2.0, 2.5)
    assert (first.done_at, first.audio_bytes, first.characters) == (3.0, 160, 12)
    assert second.text_sent_at == 1.5 and second.first_audio_latency == pytest.approx(3.0)
    assert conn.characters_sent == 17 and conn.characters_billed == 17
    assert conn.state is S.SPEAKING and conn.audio_bytes == 320 and not conn.busy


def test_without_usage_server_commit_consumes_one_append_and_commit_mode_all() -> None:
    conn = _in(S.READY)
    for t in (1.0, 2.0):
        conn.send(append_event("One."), now=t)
    _response(conn, "r1", t=3.0, characters=None)
    _response(conn, "r2", t=5.0, characters=None)
    assert [r.text_sent_at for r in conn.responses] == [1.0, 2.0]

    conn = _in(S.READY)
    conn.send(session_update_event(SessionConfig(mode="commit")))
    for t in (1.0, 2.0):
        conn.send(append_event("One."), now=t)
    _response(conn, "r1", t=3.0, characters=None)
    _response(conn, "r2", t=5.0, characters=None)
    assert [r.text_sent_at for r in conn.responses] == [1.0, None]


def test_clear_forgets_the_appends_it_dropped() -> None:
    conn = _in(S.READY)
    conn.send(append_event("dropped"), now=1.0)
    conn.send(clear_event(), now=2.0)
    conn.send(append_event("kept"), now=3.0)
    _response(conn, "r1", t=4.0, characters=4)
    assert conn.responses[0].text_sent_at == 3.0


def test_commit_mode_pairs_responses_with_their_commits() -> None:
    conn = Connection()
    conn.receive(_frame("session.created"))
    conn.send(session_update_event(SessionConfig(mode="commit")))
    conn.send(append_event("one"))
    first = commit_event()
    conn.send(first)
    empty = commit_event()
    conn.send(empty)  # nothing appended since: no response owed
    conn.send(append_event("two"))
    second = commit_event()
    conn.send(second)
    conn.receive(json.dumps({"type": "input_text_buffer.committed"}))
    conn.receive(json.dumps({"type": "response.created", "response": {"id": "r1"}}))
    assert conn.commit_of("r1") == first["event_id"]
    conn.receive(_frame("error"))  # the empty commit's answer
    assert conn.last_error_commit == empty["event_id"]
    conn.receive(json.dumps({"type": "input_text_buffer.committed"}))
    conn.receive(json.dumps({"type": "response.created", "response": {"id": "r2"}}))
    assert conn.commit_of("r2") == second["event_id"]


# --- one core for both sides --------------------------------------------------------------


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {  # docstrings, and keyword values such as a log field's fault="error"
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    } | {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.keyword)}
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in skip
    }


@pytest.mark.parametrize("name", ["session.py", "wire.py", "server.py"])
def test_the_emulator_spells_no_event_name_itself(name: str) -> None:
    names = {*CLIENT_EVENT_TYPES, *ev.SERVER_EVENT_TYPES}
    assert not _string_constants(ROOT / "bridge" / "local" / name) & names


@pytest.mark.parametrize("module", ["protocol", "events"])
def test_the_protocol_core_reads_no_clock(module: str) -> None:
    tree = ast.parse((ROOT / "bridge" / "qwen" / f"{module}.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"time", "datetime"}
