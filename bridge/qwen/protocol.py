"""The sans-I/O core of Qwen-TTS Realtime: client event builders and the session state machine.

Nothing here does I/O, awaits, or reads a clock. The async client (``bridge.qwen.client``) is
glue around it; the local emulator uses the same validation so both sides agree.

Client events are plain ``dict``s ready for ``json.dumps``; every one carries a unique
``event_id`` (``event_`` + 32 hex digits, as the vendor SDKs make them).

State machine (one place for every legal transition)::

    CONNECTING --session.created--> READY --first response.created--> SPEAKING
        READY/SPEAKING --send session.finish--> FINISHING --session.finished--> CLOSED
        any state --connection closed--> CLOSED

``session.update`` is legal only before synthesis started (the server rejects it after, with
"session already started"); appends, commits and clears are legal in READY and SPEAKING;
nothing may be sent after ``session.finish``.

Commits and their answers. The server answers each ``input_text_buffer.commit`` once, in the
order sent: ``input_text_buffer.committed`` (then, in ``commit`` mode, exactly one response),
or an ``error`` when the buffer was empty. What that error looks like is not documented (its
code, its message, whether it echoes our ``event_id``), so the machine recognises it by
position instead: an ``error`` that arrives while one of our commits is unanswered, and that
does not name another of our events, is taken as that commit's answer
(``last_error_commit``). A commit is unanswered until its ``committed`` (``commit`` mode;
in ``server_commit`` mode the server's own commits may send ``committed`` too, so there only an
``error`` or ``session.finished`` closes the window) or an error answers it.

In ``commit`` mode the machine also pairs every response with the commit that asked for it
(``commit_of``): commits that found text in the buffer get one response each, in order.
"""

from __future__ import annotations

import enum
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bridge.core.codec import dumps
from bridge.core.errors import StateError
from bridge.qwen.config import SessionConfig
from bridge.qwen.events import (
    ErrorEvent,
    InputTextBufferCleared,
    InputTextBufferCommitted,
    ResponseAudioDelta,
    ResponseCreated,
    ResponseDone,
    ServerEvent,
    SessionCreated,
    SessionFinished,
    SessionUpdated,
)
from bridge.text._chars import is_han

__all__ = [
    "APPEND",
    "CANCEL",
    "CLEAR",
    "CLIENT_EVENT_TYPES",
    "COMMIT",
    "FINISH",
    "UPDATE",
    "SessionMachine",
    "SessionState",
    "append_event",
    "billable_characters",
    "cancel_event",
    "clear_event",
    "commit_event",
    "encode",
    "finish_event",
    "new_event_id",
    "session_update_event",
]

UPDATE = "session.update"
APPEND = "input_text_buffer.append"
COMMIT = "input_text_buffer.commit"
CLEAR = "input_text_buffer.clear"
FINISH = "session.finish"
CANCEL = "response.cancel"  # sent by both vendor SDKs, but not documented for TTS

CLIENT_EVENT_TYPES: tuple[str, ...] = (UPDATE, APPEND, COMMIT, CLEAR, FINISH, CANCEL)


def billable_characters(text: str) -> int:
    """Qwen3 realtime billing: a Chinese character counts as 2, any other character as 1."""
    return sum(2 if is_han(ch) else 1 for ch in text)


def new_event_id() -> str:
    return "event_" + uuid.uuid4().hex


def _event(kind: str, **body: Any) -> dict[str, Any]:
    return {"event_id": new_event_id(), "type": kind, **body}


def session_update_event(config: SessionConfig) -> dict[str, Any]:
    return _event(UPDATE, session=config.to_session())


def append_event(text: str) -> dict[str, Any]:
    return _event(APPEND, text=text)


def commit_event() -> dict[str, Any]:
    return _event(COMMIT)


def clear_event() -> dict[str, Any]:
    return _event(CLEAR)


def finish_event() -> dict[str, Any]:
    return _event(FINISH)


def cancel_event() -> dict[str, Any]:
    """``response.cancel``: UNDOCUMENTED for Qwen-TTS (the SDKs send it; server support is
    unconfirmed). bridge never relies on it: barge-in drops stale audio by response id."""
    return _event(CANCEL)


def encode(event: dict[str, Any]) -> str:
    return dumps(event)


class SessionState(enum.Enum):
    CONNECTING = "connecting"
    READY = "ready"  # session created; nothing synthesized yet
    SPEAKING = "speaking"  # synthesis has started at least once
    FINISHING = "finishing"  # session.finish sent; draining until session.finished
    CLOSED = "closed"


_SENDABLE: dict[SessionState, frozenset[str]] = {
    SessionState.CONNECTING: frozenset(),
    SessionState.READY: frozenset(CLIENT_EVENT_TYPES),
    SessionState.SPEAKING: frozenset({APPEND, COMMIT, CLEAR, FINISH, CANCEL}),
    SessionState.FINISHING: frozenset(),
    SessionState.CLOSED: frozenset(),
}


_RECENT_IDS = 256  # our latest event ids, to tell an echo of ours from any other id


@dataclass(slots=True)
class _Commit:
    event_id: str
    productive: bool  # commit mode: text was appended since the previous commit or clear


@dataclass(slots=True)
class SessionMachine:
    """Tracks one session from the events sent and received; rejects illegal sends.

    Besides the state it keeps what a client needs to reason about the stream: the text
    appended but not yet taken into a response, the responses in flight, audio byte counts.
    """

    state: SessionState = SessionState.CONNECTING
    session_id: str = ""
    mode: str = "server_commit"
    pending_chars: int = 0  # appended and not yet taken by a response (as far as we know)
    in_flight: set[str] = field(default_factory=set)
    responses_started: int = 0
    responses_done: int = 0
    audio_bytes: int = 0
    last_error_commit: str | None = None  # the commit the latest error answered, if any
    _buffered: int = 0  # characters appended since our last commit or clear
    _unanswered: deque[_Commit] = field(default_factory=deque)
    _awaiting: deque[str] = field(default_factory=deque)  # commit mode: owed a response
    _response_commit: dict[str, str] = field(default_factory=dict)
    _recent: deque[str] = field(default_factory=lambda: deque(maxlen=_RECENT_IDS))

    def check_send(self, kind: str) -> None:
        """Raise ``StateError`` unless an event of type ``kind`` may be sent now."""
        if kind not in _SENDABLE[self.state]:
            if kind == UPDATE and self.state is SessionState.SPEAKING:
                raise StateError(
                    "session.update is not allowed after synthesis started; "
                    "open a new session to change voice or format"
                )
            raise StateError(f"cannot send {kind} while the session is {self.state.value}")

    def on_send(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        self.check_send(kind)
        event_id = str(event.get("event_id", ""))
        if event_id:
            self._recent.append(event_id)
        if kind == COMMIT:
            commit = _Commit(event_id, productive=self._buffered > 0)
            self._unanswered.append(commit)
            if self.mode == "commit" and commit.productive:
                self._awaiting.append(event_id)
            self._buffered = 0
        if kind == UPDATE:
            mode = event.get("session", {}).get("mode")
            if isinstance(mode, str):
                self.mode = mode
        elif kind == APPEND:
            self.pending_chars += len(str(event.get("text", "")))
            self._buffered += len(str(event.get("text", "")))
        elif kind == CLEAR:
            self.pending_chars = 0
            self._buffered = 0
        elif kind == FINISH:
            self.state = SessionState.FINISHING

    def on_audio(self, size: int) -> None:
        """``size`` bytes of audio arrived (a ``response.audio.delta``, typed or not)."""
        self.audio_bytes += size

    def on_receive(self, event: ServerEvent) -> None:
        if isinstance(event, SessionCreated):
            if self.state is SessionState.CONNECTING:
                self.state = SessionState.READY
            self.session_id = event.session.id
            if event.session.mode:
                self.mode = event.session.mode
        elif isinstance(event, SessionUpdated):
            if event.session.mode:
                self.mode = event.session.mode
        elif isinstance(event, InputTextBufferCleared | InputTextBufferCommitted):
            self.pending_chars = 0
            committed = isinstance(event, InputTextBufferCommitted)
            if committed and self.mode == "commit" and self._unanswered:
                self._unanswered.popleft()
        elif isinstance(event, ErrorEvent):
            self.last_error_commit = self._answered_by_error(event)
        elif isinstance(event, ResponseCreated):
            if self.mode == "commit" and self._awaiting:
                self._response_commit[event.response_id] = self._awaiting.popleft()
            self.in_flight.add(event.response_id)
            self.responses_started += 1
            if self.state is SessionState.READY:
                self.state = SessionState.SPEAKING
            if self.mode == "server_commit":
                # The server took some (we cannot know how much) of the buffer.
                self.pending_chars = 0
        elif isinstance(event, ResponseAudioDelta):
            self.on_audio(len(event.audio))
        elif isinstance(event, ResponseDone):
            self.in_flight.discard(event.response_id)
            self._response_commit.pop(event.response_id, None)
            self.responses_done += 1
        elif isinstance(event, SessionFinished):
            self.state = SessionState.CLOSED
            self._unanswered.clear()

    def _answered_by_error(self, event: ErrorEvent) -> str | None:
        """The id of our commit that ``event`` answers, or ``None`` (see the module doc)."""
        echo = event.client_event_id
        if echo and echo in self._recent:
            commit = next((c for c in self._unanswered if c.event_id == echo), None)
            if commit is None:
                return None  # it names another event of ours (an append, an update, ...)
        elif self._unanswered:
            commit = self._unanswered[0]
        else:
            return None
        self._unanswered.remove(commit)
        if commit.event_id in self._awaiting:
            self._awaiting.remove(commit.event_id)  # it will get no response
        return commit.event_id

    def commit_of(self, response_id: str) -> str | None:
        """``commit`` mode: the event id of the commit whose response this is (until its
        ``response.done``); ``None`` when unknown."""
        return self._response_commit.get(response_id)

    def on_closed(self) -> None:
        self.state = SessionState.CLOSED

    @property
    def busy(self) -> bool:
        """True while the server owes us something (buffered text, a response, finishing)."""
        return (
            bool(self.in_flight) or self.pending_chars > 0 or self.state is SessionState.FINISHING
        )
