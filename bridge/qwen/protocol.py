"""The sans-I/O core of Qwen-TTS Realtime: one ``Connection`` object, events in, frames out.

Nothing here does I/O, awaits, or reads a clock: the caller passes ``now`` (seconds of its own
clock) wherever a time is recorded. The async client (``bridge.qwen.client``) is glue around
``Connection`` (the WebSocket, timeouts, audio chunks); the local emulator uses the same event
names, the same transition table and the same validation of client events for its server
side (``check_client_event``), so both sides agree.

Client events are plain ``dict``s ready for ``json.dumps``; every one carries a unique
``event_id`` (``event_`` + 32 hex digits, as the vendor SDKs make them).

``Connection`` (in the style of h11's ``Connection``):

- ``send(event, now=...)`` validates a client event against the state, applies its
  transition and bookkeeping, and returns the text frame to put on the wire;
- ``receive(frame, now=...)`` parses a server frame, applies its transition and bookkeeping,
  and returns the typed event (an ``error`` event is returned, not raised: the caller decides);
  ``receive_audio`` is the fast path for an audio delta already decoded by the caller.

Every legal transition, sent and received, is in one table, ``TRANSITIONS``
(``(state, event type) -> next state``); a pair not in it raises ``StateError`` on send
(our own misuse) and ``TTSProtocolError`` on receive (only ``session.created`` and ``error``
may come first). Once closed, nothing may be sent; a server frame that was already on its way
is still applied and the state stays CLOSED::

    CONNECTING --session.created--> READY --first response.created--> SPEAKING
        READY/SPEAKING --send session.finish--> FINISHING
        READY/SPEAKING/FINISHING --session.finished--> CLOSED
        any state --connection closed (``closed()``)--> CLOSED

``session.update`` is legal only before synthesis started (the server rejects it after, with
"session already started"); appends, commits and clears are legal in READY and SPEAKING;
nothing may be sent after ``session.finish``. Unknown server event types are kept
(``UnknownEvent``) and change nothing once the session is created.

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

Bookkeeping: per response a ``ResponseStats`` timeline (``responses``), measured from the
first text appended after the previous response started; the appends a finished response
covered are forgotten by the billable characters the server reports for it (``_appends``);
``characters_sent`` and ``characters_billed`` sum what was appended and what was billed.
"""

from __future__ import annotations

import enum
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.core.codec import dumps
from bridge.core.errors import StateError, TTSProtocolError
from bridge.qwen.config import SessionConfig
from bridge.qwen.events import (
    AUDIO_DELTA,
    ERROR,
    RESPONSE_CREATED,
    SERVER_EVENT_TYPES,
    SESSION_CREATED,
    SESSION_FINISHED,
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
    event_from_object,
    parse_frame,
)
from bridge.text._chars import is_han

__all__ = [
    "APPEND",
    "CANCEL",
    "CLEAR",
    "CLIENT_EVENT_TYPES",
    "COMMIT",
    "FINISH",
    "TRANSITIONS",
    "UNKNOWN",
    "UPDATE",
    "UPDATE_REJECTED",
    "Connection",
    "Invalid",
    "ResponseStats",
    "SessionMachine",
    "SessionState",
    "append_event",
    "billable_characters",
    "cancel_event",
    "check_client_event",
    "clear_event",
    "commit_event",
    "encode",
    "finish_event",
    "new_event_id",
    "next_state",
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


UNKNOWN = "*unknown*"  # in TRANSITIONS: any server event type this library does not know

# The vendor's message for session.update after synthesis started (as measured).
UPDATE_REJECTED = "Session update error: session already started or finished or failed."


def _transitions() -> dict[tuple[SessionState, str], SessionState]:
    ready, speaking, finishing = SessionState.READY, SessionState.SPEAKING, SessionState.FINISHING
    table: dict[tuple[SessionState, str], SessionState] = {}
    # Sent by the client.
    for kind in (UPDATE, APPEND, COMMIT, CLEAR, CANCEL):
        table[ready, kind] = ready
    for kind in (APPEND, COMMIT, CLEAR, CANCEL):
        table[speaking, kind] = speaking
    table[ready, FINISH] = table[speaking, FINISH] = finishing
    # Sent by the server.
    table[SessionState.CONNECTING, SESSION_CREATED] = ready
    table[SessionState.CONNECTING, ERROR] = SessionState.CONNECTING
    for state in (ready, speaking, finishing):
        for kind in (*SERVER_EVENT_TYPES, UNKNOWN):
            table[state, kind] = state
        table[state, SESSION_FINISHED] = SessionState.CLOSED
    table[ready, RESPONSE_CREATED] = speaking
    # A frame that was already on its way when we closed: applied, the state stays.
    for kind in (*SERVER_EVENT_TYPES, UNKNOWN):
        table[SessionState.CLOSED, kind] = SessionState.CLOSED
    return table


TRANSITIONS: Mapping[tuple[SessionState, str], SessionState] = _transitions()
"""Every legal ``(state, event type) -> next state``, for events sent and received."""

assert not set(CLIENT_EVENT_TYPES) & {*SERVER_EVENT_TYPES, UNKNOWN}  # one table, no overlap


def _send_refused(state: SessionState, kind: str) -> StateError:
    if kind == UPDATE and state is SessionState.SPEAKING:
        return StateError(
            "session.update is not allowed after synthesis started; "
            "open a new session to change voice or format"
        )
    return StateError(f"cannot send {kind} while the session is {state.value}")


def next_state(state: SessionState, kind: str) -> SessionState:
    """The state after an event of type ``kind`` in ``state`` (sent or received).

    Raises ``StateError`` for a client event that may not be sent now, ``TTSProtocolError``
    for a server event other than ``error`` before ``session.created``."""
    if kind not in CLIENT_EVENT_TYPES and kind not in SERVER_EVENT_TYPES:
        kind = UNKNOWN
    after = TRANSITIONS.get((state, kind))
    if after is not None:
        return after
    if kind in CLIENT_EVENT_TYPES:
        raise _send_refused(state, kind)
    raise TTSProtocolError(f"expected session.created first, got {kind}")


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a client event is refused, in the server's terms (``code``, ``message``, ``param``)."""

    code: str  # "invalid_event" (not an event we know) or "invalid_value"
    message: str
    param: str | None = None


def check_client_event(raw: object, state: SessionState) -> Invalid | None:
    """``None`` when ``raw`` is a client event that may be sent in ``state``, else why not.

    The one validation of client events, used by ``Connection.send`` and by the emulator's
    server side: an object with a known string ``type``, legal in ``state`` (``TRANSITIONS``),
    with the fields its type needs (``text`` a string, ``session`` an object)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
        return Invalid("invalid_event", "an event must be an object with a 'type'")
    kind = raw["type"]
    if kind not in CLIENT_EVENT_TYPES:
        return Invalid("invalid_event", f"unknown event type {kind!r}")
    if (state, kind) not in TRANSITIONS:
        if kind == UPDATE and state is SessionState.SPEAKING:
            return Invalid("invalid_value", UPDATE_REJECTED)
        return Invalid("invalid_value", str(_send_refused(state, kind)))
    if kind == APPEND and not isinstance(raw.get("text"), str):
        return Invalid("invalid_value", "'text' must be a string", "text")
    if kind == UPDATE and not isinstance(raw.get("session"), Mapping):
        return Invalid("invalid_value", "'session' must be an object", "session")
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseStats:
    """Timeline of one response, in seconds of the session's clock.

    ``first_audio_latency`` is measured from the first text sent after the previous response
    started (the vendor SDK measures it once per session; we measure every response).
    """

    response_id: str
    text_sent_at: float | None
    created_at: float
    first_audio_at: float | None
    done_at: float
    audio_bytes: int
    status: str
    characters: int | None

    @property
    def first_audio_latency(self) -> float | None:
        if self.text_sent_at is None or self.first_audio_at is None:
            return None
        return self.first_audio_at - self.text_sent_at


@dataclass(slots=True)
class _Open:
    text_sent_at: float | None
    created_at: float
    first_audio_at: float | None = None
    audio_bytes: int = 0


_RECENT_IDS = 256  # our latest event ids, to tell an echo of ours from any other id


@dataclass(slots=True)
class _Commit:
    event_id: str
    productive: bool  # commit mode: text was appended since the previous commit or clear


@dataclass(slots=True)
class Connection:
    """One session's protocol state, from the events sent and received; rejects illegal ones.

    Besides the state it keeps what a client needs to reason about the stream: the text
    appended but not yet taken into a response, the responses in flight, audio byte counts,
    the commit each response answers and every finished response's ``ResponseStats``.
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
    responses: list[ResponseStats] = field(default_factory=list)
    characters_sent: int = 0  # billable characters appended (Chinese characters count 2)
    characters_billed: int = 0  # billable characters the server reported in response.done
    _buffered: int = 0  # characters appended since our last commit or clear
    _unanswered: deque[_Commit] = field(default_factory=deque)
    _awaiting: deque[str] = field(default_factory=deque)  # commit mode: owed a response
    _response_commit: dict[str, str] = field(default_factory=dict)
    _recent: deque[str] = field(default_factory=lambda: deque(maxlen=_RECENT_IDS))
    _open: dict[str, _Open] = field(default_factory=dict)  # responses created, not done
    _appends: deque[list[float]] = field(default_factory=deque)  # [sent at, billable chars]

    # --- sending --------------------------------------------------------------------------

    def check_send(self, kind: str) -> None:
        """Raise ``StateError`` unless an event of type ``kind`` may be sent now."""
        if (self.state, kind) not in TRANSITIONS:
            raise _send_refused(self.state, kind)

    def send(self, event: dict[str, Any], *, now: float = 0.0) -> str:
        """Validate ``event`` (a client event) against the state, apply it, return its frame.

        ``StateError`` when it may not be sent now, ``TTSProtocolError`` when it is malformed;
        nothing changes then."""
        self.check_send(str(event.get("type", "")))
        problem = check_client_event(event, self.state)
        if problem is not None:
            raise TTSProtocolError(f"invalid client event: {problem.message}")
        frame = encode(event)
        self.on_send(event, now=now)
        return frame

    def on_send(self, event: dict[str, Any], *, now: float = 0.0) -> None:
        """Apply a client event that was (or is being) sent at ``now``."""
        kind = str(event.get("type", ""))
        self.state = next_state(self.state, kind)
        event_id = str(event.get("event_id", ""))
        if event_id:
            self._recent.append(event_id)
        if kind == APPEND:
            text = str(event.get("text", ""))
            self.pending_chars += len(text)
            self._buffered += len(text)
            if text:
                billable = billable_characters(text)
                self.characters_sent += billable
                self._appends.append([now, float(billable)])
        elif kind == COMMIT:
            commit = _Commit(event_id, productive=self._buffered > 0)
            self._unanswered.append(commit)
            if self.mode == "commit" and commit.productive:
                self._awaiting.append(event_id)
            self._buffered = 0
        elif kind == UPDATE:
            mode = event.get("session", {}).get("mode")
            if isinstance(mode, str):
                self.mode = mode
        elif kind == CLEAR:
            self.pending_chars = 0
            self._buffered = 0
            self._appends.clear()

    # --- receiving ------------------------------------------------------------------------

    def receive(self, frame: str | bytes | Mapping[str, Any], *, now: float = 0.0) -> ServerEvent:
        """Parse one server frame (or its decoded object), apply it, return the typed event.

        ``TTSProtocolError`` for a frame that is not an event, or for any event but
        ``session.created``/``error`` first."""
        raw = frame if isinstance(frame, Mapping) else parse_frame(frame)
        return self.on_receive(event_from_object(raw), now=now)

    def receive_audio(self, response_id: str, size: int, *, now: float = 0.0) -> None:
        """The fast path of a ``response.audio.delta`` the caller decoded itself: ``size``
        bytes of audio of ``response_id`` arrived at ``now``."""
        if self.state is not SessionState.SPEAKING:
            self.state = next_state(self.state, AUDIO_DELTA)
        self.audio_bytes += size
        rec = self._open.get(response_id)
        if rec is not None:
            if rec.first_audio_at is None:
                rec.first_audio_at = now
            rec.audio_bytes += size

    def on_audio(self, size: int) -> None:
        """``size`` bytes of audio arrived outside any response we know of."""
        self.audio_bytes += size

    def on_receive(self, event: ServerEvent, *, now: float = 0.0) -> ServerEvent:
        """Apply a typed server event received at ``now``; return it."""
        if isinstance(event, ResponseAudioDelta):
            self.receive_audio(event.response_id, len(event.audio), now=now)
            return event
        self.state = next_state(self.state, event.type)
        if isinstance(event, SessionCreated | SessionUpdated):
            if isinstance(event, SessionCreated):
                self.session_id = event.session.id
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
            self._created(event.response_id, now)
        elif isinstance(event, ResponseDone):
            self._done(event, now)
        elif isinstance(event, SessionFinished):
            self._unanswered.clear()
        return event

    def _created(self, response_id: str, now: float) -> None:
        if self.mode == "commit" and self._awaiting:
            self._response_commit[response_id] = self._awaiting.popleft()
        self.in_flight.add(response_id)
        self.responses_started += 1
        if self.mode == "server_commit":
            # The server took some (we cannot know how much) of the buffer.
            self.pending_chars = 0
        sent_at = self._appends[0][0] if self._appends else None
        self._open[response_id] = _Open(sent_at, now)

    def _done(self, event: ResponseDone, now: float) -> None:
        self.in_flight.discard(event.response_id)
        self._response_commit.pop(event.response_id, None)
        self.responses_done += 1
        rec = self._open.pop(event.response_id, None) or _Open(None, now)
        characters = event.usage.characters
        if characters is not None:
            self.characters_billed += characters
        self._consume_appends(characters)
        self.responses.append(
            ResponseStats(
                response_id=event.response_id,
                text_sent_at=rec.text_sent_at,
                created_at=rec.created_at,
                first_audio_at=rec.first_audio_at,
                done_at=now,
                audio_bytes=rec.audio_bytes,
                status=event.status,
                characters=characters,
            )
        )

    def _consume_appends(self, characters: int | None) -> None:
        """Forget the appends a finished response covered, so the next response's latency is
        measured from its own text. The server reports billable characters per response;
        without them, commit mode consumes everything and server_commit one append."""
        if characters is None:
            if self.mode == "commit":
                self._appends.clear()
            elif self._appends:
                self._appends.popleft()
            return
        left = float(characters)
        while self._appends and self._appends[0][1] <= left + 1:
            left -= self._appends.popleft()[1]
        if self._appends and left > 0:
            self._appends[0][1] -= left

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

    # --- queries --------------------------------------------------------------------------

    def commit_of(self, response_id: str) -> str | None:
        """``commit`` mode: the event id of the commit whose response this is (until its
        ``response.done``); ``None`` when unknown."""
        return self._response_commit.get(response_id)

    def on_closed(self) -> None:
        """The connection closed (either side, any reason)."""
        self.state = SessionState.CLOSED

    closed = on_closed

    @property
    def busy(self) -> bool:
        """True while the server owes us something (buffered text, a response, finishing)."""
        return (
            bool(self.in_flight) or self.pending_chars > 0 or self.state is SessionState.FINISHING
        )


SessionMachine = Connection  # the name before ``Connection`` (still exported)
