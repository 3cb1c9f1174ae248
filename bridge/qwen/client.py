"""Async client for Qwen-TTS Realtime: websockets + anyio glue around ``protocol.Connection``.

No threads and no callbacks: the caller pulls typed events (or decoded audio chunks) and sends
text with plain awaits. Every wait is bounded by ``Timeouts``. Buffering is bounded too: the
websockets connection queues at most ``max_queue`` frames and then stops reading the socket,
so a slow consumer applies TCP back-pressure instead of growing memory.

One task may receive at a time (``recv``/``events``/``audio``); any task may send meanwhile.

Decisions where the vendor docs are silent (see the README's protocol notes):
- we wait for ``session.created`` before sending ``session.update``;
- ``response.cancel`` is sent only when asked for; barge-in never depends on it;
- a server ``error`` event raises ``TTSServerError`` from the receiving call; the connection
  stays usable unless the server closes it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import structlog
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.version import version as websockets_version

from bridge.core.errors import (
    ConfigError,
    StateError,
    TTSAuthError,
    TTSClosedError,
    TTSConnectionError,
    TTSError,
    TTSProtocolError,
    TTSServerError,
    TTSTimeoutError,
)
from bridge.core.version import user_agent
from bridge.qwen.config import SessionConfig
from bridge.qwen.deadline import Deadline
from bridge.qwen.events import (
    AUDIO_DELTA,
    ErrorEvent,
    ResponseAudioDelta,
    ResponseCreated,
    ResponseDone,
    ServerEvent,
    SessionCreated,
    SessionFinished,
    SessionInfo,
    SessionUpdated,
    delta_audio,
    parse_frame,
)
from bridge.qwen.models import DEFAULT_MODEL
from bridge.qwen.protocol import (
    Connection,
    ResponseStats,
    SessionState,
    append_event,
    cancel_event,
    clear_event,
    commit_event,
    finish_event,
    session_update_event,
)
from bridge.qwen.regions import DEFAULT_REGION, check_workspace, realtime_url, resolve_region

__all__ = ["AudioChunk", "ResponseStats", "TTSSession", "Timeouts", "build_url", "connect"]

log = structlog.get_logger("bridge.qwen")

_MAX_DRAIN_ERRORS = 32  # finish() stops draining a server that sends nothing but errors


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Upper bounds, in seconds, for every wait of the client.

    ``first_audio``, ``stall`` and ``idle`` (and ``update``/``connect`` while those wait for
    their event)
    bound each single wait of a receive for the server's next event: the clock runs only while
    a receive waits, and restarts with every event. They are kept by one deadline per
    connection (``bridge.qwen.deadline``), not by a timer per receive. A receive that times out
    raises ``TTSTimeoutError`` and leaves the connection usable. ``connect`` also bounds the
    whole handshake, ``update`` the whole wait for ``session.updated`` (however many other
    events come meanwhile), and ``close`` the closing handshake.
    """

    connect: float = 10.0  # TCP + TLS + WebSocket handshake + session.created
    update: float = 10.0  # session.update -> session.updated
    first_audio: float = 15.0  # text sent -> first event of its response
    # Longest silence while the server owes audio: a response in flight (created, not done)
    # or the end of the session after finish. Past it the server is taken to have stalled
    # (a TTSTimeoutError, which a turn treats as a dropped connection: reconnect and resend).
    stall: float = 3.0
    idle: float = 30.0  # longest silence between two events when nothing is owed
    close: float = 2.0  # closing handshake

    def __post_init__(self) -> None:
        for name in ("connect", "update", "first_audio", "stall", "idle", "close"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value < math.inf):
                raise ConfigError(f"timeout {name} must be a positive number of seconds")


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Decoded audio of one delta. ``data`` is PCM s16le mono when ``format == "pcm"``."""

    data: bytes
    sample_rate: int
    response_id: str
    format: str = "pcm"

    @property
    def samples(self) -> int:
        return len(self.data) // 2 if self.format == "pcm" else 0

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate if self.sample_rate else 0.0


def build_url(url: str | None, region: str, model: str, workspace: str | None = None) -> str:
    """The realtime URL with ``?model=``: ``url`` when given, else the gateway of ``region``
    (workspace-scoped when ``workspace`` is given; see ``bridge.qwen.regions``)."""
    if workspace is not None:
        check_workspace(workspace)
    if url is None:
        url = realtime_url(region, workspace)
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ConfigError(f"the TTS URL must start with ws:// or wss://, got {url!r}", field="url")
    query = dict(parse_qsl(parts.query))
    query.setdefault("model", model)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _safe_url(url: str) -> str:
    """The URL without its query string's secrets (keys never reach logs or errors)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() == "model"]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(eq=False)
class TTSSession:
    """One connected Qwen-TTS Realtime session. Obtain it with ``connect``."""

    model: str
    url: str
    _ws: ClientConnection = field(repr=False)
    timeouts: Timeouts = field(default_factory=Timeouts)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    config: SessionConfig | None = None
    info: SessionInfo = field(default_factory=SessionInfo)
    machine: Connection = field(default_factory=Connection)  # the sans-I/O protocol state
    _receiving: bool = field(default=False, repr=False)
    _finished: anyio.Event = field(default_factory=anyio.Event, repr=False)
    _deadline: Deadline | None = field(default=None, repr=False)

    # --- properties -----------------------------------------------------------------------

    @property
    def responses(self) -> list[ResponseStats]:
        """Every finished response's timeline, in order (kept by ``machine``)."""
        return self.machine.responses

    @property
    def state(self) -> SessionState:
        return self.machine.state

    @property
    def session_id(self) -> str:
        return self.machine.session_id

    @property
    def sample_rate(self) -> int:
        if self.config is not None:
            return self.config.sample_rate
        return self.info.sample_rate or 24000

    @property
    def response_format(self) -> str:
        if self.config is not None:
            return self.config.response_format
        return self.info.response_format or "pcm"

    # --- sending --------------------------------------------------------------------------

    async def _send(self, event: dict[str, Any]) -> None:
        frame = self.machine.send(event, now=self.clock())
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            self.machine.on_closed()
            raise self._closed_error(exc, f"sending {event['type']}") from exc

    async def update(self, config: SessionConfig) -> SessionInfo:
        """Send ``session.update`` and wait for ``session.updated``; raise the server's error."""
        config.validate(self.model)
        await self._send(session_update_event(config))
        with anyio.move_on_after(self.timeouts.update) as scope:
            while True:
                event = await self._recv_raw(self.timeouts.update)
                if isinstance(event, SessionUpdated):
                    self.config = config
                    self.info = event.session
                    return event.session
        assert scope.cancelled_caught
        raise TTSTimeoutError(
            f"no session.updated within {self.timeouts.update:g} s", what="update"
        )

    async def append(self, text: str) -> None:
        """Append text to the server's input buffer (``input_text_buffer.append``)."""
        if not text:
            return
        await self._send(append_event(text))

    async def commit(self) -> str:
        """Ask the server to synthesize what is buffered now (errors if the buffer is empty).

        Returns the event id, so a caller can recognise an ``error`` that answers it."""
        event = commit_event()
        await self._send(event)
        return str(event["event_id"])

    async def clear(self) -> None:
        """Drop text appended but not yet taken into a response."""
        await self._send(clear_event())

    async def cancel_response(self) -> None:
        """Send the undocumented ``response.cancel`` (server support is unconfirmed)."""
        await self._send(cancel_event())

    async def send_finish(self) -> None:
        """Send ``session.finish`` without waiting; the receiver sees ``session.finished``."""
        await self._send(finish_event())

    async def finish(self) -> list[AudioChunk]:
        """Send ``session.finish`` and wait for ``session.finished``; the session is CLOSED after.

        If no other task is receiving, this drains the stream itself and returns the audio
        that arrived meanwhile. Nothing is dropped: an ``error`` event does not stop the drain
        (the server may go on and finish); when the drain ends, the first error is raised
        with every chunk received, before and after it, in its ``chunks``. A drain that cannot
        reach ``session.finished`` (closed, timed out) ends the connection and raises the
        same way. With another task receiving, this waits for that task to see
        ``session.finished`` and returns an empty list.
        """
        await self.send_finish()
        if self._receiving:
            with anyio.move_on_after(self.timeouts.idle):
                await self._finished.wait()
                return []
            self.abort()
            raise TTSTimeoutError(
                f"no session.finished within {self.timeouts.idle:g} s", what="finish"
            )
        chunks: list[AudioChunk] = []
        failure: TTSError | None = None
        errors = 0
        while self.machine.state is not SessionState.CLOSED:
            try:
                event = await self.recv_chunk()
            except TTSServerError as exc:
                failure = failure or exc
                errors += 1
                if errors < _MAX_DRAIN_ERRORS:
                    continue  # a fatal error is followed by the close, which ends the drain
                break
            except TTSError as exc:
                failure = failure or exc
                break
            if isinstance(event, AudioChunk) and event.data:
                chunks.append(event)
        if self.machine.state is not SessionState.CLOSED:
            self.abort()  # no session.finished will come: do not leave it FINISHING
        if failure is not None:
            failure.chunks = tuple(chunks)
            raise failure
        return chunks

    # --- receiving ------------------------------------------------------------------------

    def _closed_error(self, exc: ConnectionClosed, doing: str) -> TTSClosedError:
        rcvd = exc.rcvd
        code = rcvd.code if rcvd is not None else None
        reason = rcvd.reason if rcvd is not None else ""
        heard = self.machine.audio_bytes
        hint = ""
        if self.machine.responses_started == 0 and self.machine.audio_bytes == 0:
            hint = " (if this happens right after connecting, check the model name)"
        return TTSClosedError(
            f"the TTS connection closed while {doing} (code {code}, reason {reason!r}); "
            f"{heard} bytes of audio had arrived in this session{hint}",
            audio_bytes=heard,
            code=code,
            reason=reason,
        )

    def _default_timeout(self) -> tuple[float, str]:
        m = self.machine
        if m.in_flight:
            return self.timeouts.stall, "the rest of a response in flight"
        if m.pending_chars > 0:
            return self.timeouts.first_audio, "the first audio of the text sent"
        if m.state is SessionState.FINISHING:
            return self.timeouts.stall, "the end of the session"
        return self.timeouts.idle, "the next event"

    async def _frame(self, timeout: float | None) -> dict[str, Any]:
        """The next frame's JSON object, waiting at most ``timeout`` (default: see
        ``_default_timeout``) under the connection's one deadline."""
        if self.machine.state is SessionState.CLOSED:
            raise StateError("the session is closed")
        limit, what = (timeout, "an event") if timeout is not None else self._default_timeout()
        deadline = self._deadline
        if deadline is None:
            deadline = self._deadline = Deadline()
        elif deadline.waiting:
            raise StateError("another task is already receiving from this session")
        deadline.arm(limit)
        try:
            frame = await self._ws.recv()
        except asyncio.CancelledError:
            if deadline.expired():
                raise TTSTimeoutError(
                    f"the TTS server sent nothing for {limit:g} s while waiting for {what}",
                    what="idle",
                ) from None
            raise
        except ConnectionClosed as exc:
            self.machine.on_closed()
            raise self._closed_error(exc, "receiving") from exc
        except ConcurrencyError as exc:
            raise StateError("another task is already receiving from this session") from exc
        finally:
            deadline.disarm()
        if isinstance(frame, bytes):
            raise TTSProtocolError("the TTS server sent a binary frame; audio must be base64 JSON")
        return parse_frame(frame)

    def _event(self, raw: dict[str, Any]) -> ServerEvent:
        event = self.machine.receive(raw, now=self.clock())
        if isinstance(event, ErrorEvent):
            log.debug("tts.server_error", code=event.code, message=event.message, param=event.param)
            raise event.to_exception(answers_commit=self.machine.last_error_commit)
        if isinstance(event, SessionFinished):
            self._finished.set()
        elif isinstance(event, SessionCreated):
            self.info = event.session
        return event

    async def _recv_raw(self, timeout: float | None = None) -> ServerEvent:
        return self._event(await self._frame(timeout))

    async def recv(self, timeout: float | None = None) -> ServerEvent:
        """The next server event. Raises ``TTSServerError`` for an ``error`` event,
        ``TTSClosedError`` when the connection closed, ``TTSTimeoutError`` when nothing came
        within ``timeout`` (default: ``stall`` while a response is in flight or the session
        finishes, ``first_audio`` while text awaits its response, else ``idle``)."""
        self._receiving = True
        try:
            return await self._recv_raw(timeout)
        finally:
            self._receiving = False

    async def recv_chunk(self, timeout: float | None = None) -> AudioChunk | ServerEvent:
        """Like ``recv``, but an audio delta comes back as its decoded ``AudioChunk`` and no
        ``ResponseAudioDelta`` is built for it (the fast path for audio; every other event, the
        bookkeeping and the errors are those of ``recv``). A delta's chunk may be empty."""
        self._receiving = True
        try:
            raw = await self._frame(timeout)
            if raw["type"] == AUDIO_DELTA:
                rid = raw.get("response_id", "")
                if type(rid) is str:
                    audio = delta_audio(raw)
                    self.machine.receive_audio(rid, len(audio), now=self.clock())
                    return AudioChunk(audio, self.sample_rate, rid, self.response_format)
            return self._event(raw)
        finally:
            self._receiving = False

    async def events(self) -> AsyncIterator[ServerEvent]:
        """Every server event up to and including ``session.finished``."""
        while self.machine.state is not SessionState.CLOSED:
            event = await self.recv()
            yield event

    async def audio(self) -> AsyncIterator[AudioChunk]:
        """Decoded audio chunks up to ``session.finished``."""
        while self.machine.state is not SessionState.CLOSED:
            event = await self.recv_chunk()
            if isinstance(event, AudioChunk) and event.data:
                yield event

    def chunk(self, event: ResponseAudioDelta) -> AudioChunk:
        return AudioChunk(event.audio, self.sample_rate, event.response_id, self.response_format)

    async def speak(self, text: str) -> bytes:
        """Synthesize ``text`` as one response and return its audio (``commit`` mode only).

        In ``server_commit`` mode the server decides where responses end, so a commit may find
        an empty buffer; there, ``append`` the text and ``finish()`` instead.

        The response is the one that answers this call's own commit (paired by order, see
        ``Connection.commit_of``): when earlier commits are still in flight, their
        responses (and an error answering one of them) are read past, not returned.
        """
        if self.machine.mode != "commit":
            raise StateError(
                "speak() needs mode='commit'; in server_commit mode use append() and finish()"
            )
        await self.append(text)
        mine = await self.commit()
        out = bytearray()
        rid: str | None = None
        while True:
            try:
                event = await self.recv_chunk()
            except TTSServerError as exc:
                if exc.answers_commit is not None and exc.answers_commit != mine:
                    continue  # the answer to an earlier commit, not to ours
                raise
            if isinstance(event, ResponseCreated) and rid is None:
                if self.machine.commit_of(event.response_id) == mine:
                    rid = event.response_id
            elif isinstance(event, AudioChunk) and event.response_id == rid:
                out += event.data
            elif isinstance(event, ResponseDone) and event.response_id == rid:
                return bytes(out)

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake (e.g. after a barge-in,
        when unread audio frames would delay the handshake)."""
        transport = self._ws.transport
        if transport is not None:
            transport.abort()
        self.machine.on_closed()
        self._finished.set()
        if self._deadline is not None:
            self._deadline.close()

    async def aclose(self) -> None:
        """Close the connection (closing handshake bounded by ``timeouts.close``)."""
        with anyio.move_on_after(self.timeouts.close):
            await self._ws.close()
        self.machine.on_closed()
        self._finished.set()
        if self._deadline is not None:
            self._deadline.close()


def _auth_message(status: int, *, url: str | None, region: str, workspace: str | None) -> str:
    if url is not None:
        where = "the URL (--tts-url) and the key's region"
    else:
        r = resolve_region(region)
        where = f"that the key is one of {r.place} ({r.id}, --region)"
        if not workspace:
            where += " and, if your key needs it, the workspace id (--workspace)"
    return (
        f"the TTS server refused the API key (HTTP {status}). DashScope keys are "
        "region-specific: a key works only in the region it was created in (a Beijing key "
        "does not work in Singapore and vice versa); check the key (DASHSCOPE_API_KEY, "
        f"--tts-api-key), {where}"
    )


@asynccontextmanager
async def connect(
    *,
    url: str | None = None,
    region: str = DEFAULT_REGION,
    model: str = DEFAULT_MODEL,
    api_key: str | None = None,
    workspace: str | None = None,
    config: SessionConfig | None = None,
    timeouts: Timeouts | None = None,
    max_queue: int = 32,
    headers: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[TTSSession]:
    """Connect, wait for ``session.created``, and (when ``config`` is given) update the session.

    The endpoint is ``url`` when given, else the gateway of ``region`` (an id such as
    ``ap-southeast-1`` or an alias such as ``singapore``; see ``bridge.qwen.regions``): with
    ``workspace`` the workspace-scoped one (``wss://{workspace}.{region}.maas.aliyuncs.com``),
    else the region's shared one. ``workspace`` is also sent as ``X-DashScope-WorkSpace``.
    ``config`` is validated for ``model`` before any connection is made. The session is closed
    when the block exits.
    """
    timeouts = timeouts or Timeouts()
    if config is not None:
        config.validate(model)
    target = build_url(url, region, model, workspace)
    extra: dict[str, str] = dict(headers or {})
    if api_key:
        extra["Authorization"] = f"Bearer {api_key}"
    if workspace:
        extra["X-DashScope-WorkSpace"] = workspace
    safe = _safe_url(target)
    loopback = urlsplit(target).hostname in ("127.0.0.1", "localhost", "::1")
    try:
        with anyio.fail_after(timeouts.connect):
            ws = await ws_connect(
                target,
                additional_headers=extra,
                user_agent_header=user_agent("websockets " + websockets_version),
                open_timeout=None,
                max_size=16 * 1024 * 1024,
                max_queue=max_queue,
                compression=None,
                proxy=None if loopback else True,
            )
    except TimeoutError:
        raise TTSTimeoutError(
            f"could not connect to {safe} within {timeouts.connect:g} s", what="connect"
        ) from None
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            message = _auth_message(status, url=url, region=region, workspace=workspace)
            raise TTSAuthError(message, status=status) from None
        raise TTSConnectionError(f"the TTS server at {safe} answered HTTP {status}") from None
    except InvalidURI as exc:
        raise ConfigError(f"invalid TTS URL {safe!r}", field="url") from exc
    except (OSError, InvalidHandshake) as exc:
        raise TTSConnectionError(f"could not connect to {safe}: {exc}") from exc

    session = TTSSession(model=model, url=safe, _ws=ws, timeouts=timeouts, clock=clock)
    try:
        event = await session._recv_raw(timeouts.connect)
        if not isinstance(event, SessionCreated):
            raise TTSProtocolError(f"expected session.created first, got {event.type}")
        log.debug("tts.connected", url=safe, session_id=session.session_id)
        if config is not None:
            await session.update(config)
        yield session
    finally:
        with anyio.CancelScope(shield=True):
            await session.aclose()
