"""One ``bridge serve`` connection: one conversation, one ``Assistant``, responses one at a time.

Four tasks in one anyio task group per connection:

- the reader parses client frames (``protocol.parse_client_message``), enforces the message
  rate, and acts: ``user.message`` interrupts the running response and queues the text,
  ``text.append`` feeds the open speak response (opening one, queued behind the running
  response, when none is open), ``text.done`` closes its text, ``response.cancel`` stops the
  running response at once, ``playback.ack`` feeds the sink;
- the worker answers queued requests one after another (a response's history is recorded
  before the next one starts, so the model always sees the turns in order); a speak response
  speaks the client's text through the same ``Turn`` without a chat model and is not part of
  the conversation's history;
- the watchdog closes an idle connection and carries out a graceful drain;
- the writer (in an outer group) sends the ``Outbox`` in order and drains it before the close.

Texts that arrive while the previous response is still stopping replace each other: only the
newest is answered. Nothing a client sends can end the server: bad input is answered with an
``error`` event, and an unexpected failure ends only this connection (close 1011).
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import structlog
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bridge.adapters.llm import LLMClient
from bridge.core.conversation import Conversation
from bridge.core.errors import ConfigError, StoreError
from bridge.core.result import SegmentTiming, TurnResult
from bridge.pipeline import Turn
from bridge.pipeline.assistant import Assistant
from bridge.qwen.config import LANGUAGE_TYPES, SAMPLE_RATES
from bridge.server import protocol as p
from bridge.server.limits import TokenBucket
from bridge.server.metrics import ServerMetrics
from bridge.server.options import Backend, SessionSettings, apply_configure
from bridge.server.outbox import Outbox
from bridge.server.protocol import ClientProtocolError, CloseCode, ErrorCode
from bridge.server.quotas import ServerQuotas
from bridge.server.sink import WebSocketSink
from bridge.server.speak import SpeakInput
from bridge.server.store import StoredSession, hash_token, new_token
from bridge.text import Segment

__all__ = ["ClientSession", "reject"]

log = structlog.get_logger("bridge.server")

# metrics label and message tail of each turn limit
_RATE_LABELS = {"session": "turns", "address": "turns_address", "server": "turns_server"}
_RATE_WHOSE = {
    "session": "",
    "address": " from one client address",
    "server": " for the whole server",
}
_WRITER_DRAIN = 2.0  # seconds the writer may take to flush before the close
_CLOSE_TIMEOUT = 2.0
_STORE_TIMEOUT = 3.0  # seconds for one load or save of the conversation store
_MAX_QUEUED = 4  # speak responses waiting behind the running one


@dataclass(eq=False, slots=True)
class _Request:
    """A response waiting for its turn: a user message's text, or a speak response's input."""

    text: str | SpeakInput
    cancelled: bool = False  # response.cancel came before its response.started
    traceparent: str | None = None  # the client's trace context for this response

    def cancel(self) -> None:
        self.cancelled = True
        if isinstance(self.text, SpeakInput):
            self.text.close()  # a later text.append starts a new response


@dataclass(eq=False, slots=True)
class _Running:
    response_id: str
    sink: WebSocketSink
    cancel: Callable[[], None]
    hurry: Callable[[], None]  # the next response waits for this one's end
    cancelled: bool = False
    cancelled_at: float | None = None
    speak: SpeakInput | None = None


class ClientSession:
    """The server side of one WebSocket connection. ``await run()`` serves it to the end."""

    def __init__(
        self,
        ws: ServerConnection,
        backend: Backend,
        *,
        metrics: ServerMetrics | None = None,
        quotas: ServerQuotas | None = None,
        client_key: str = "unknown",
    ) -> None:
        """``quotas`` are shared by all sessions of the server (the turn rates per client
        address and per server); ``client_key`` is this connection's client address key."""
        self.ws = ws
        # The handshake's W3C traceparent header: the parent of the session's turns' spans
        # unless a user.message brings its own.
        request = getattr(ws, "request", None)
        header = None if request is None else request.headers.get("traceparent")
        self._traceparent: str | None = header if header and len(header) <= 128 else None
        self.backend = backend
        self.metrics = metrics if metrics is not None else ServerMetrics()
        self._quotas = quotas if quotas is not None else ServerQuotas(backend.options.limits)
        self.client_key = client_key
        self.session_id = "sess_" + uuid.uuid4().hex[:16]
        # The resume token is sent to this client only; the store knows it by its hash.
        self._resume_token = new_token()
        self._store_key = hash_token(self._resume_token)
        self._save_wanted = anyio.Event()
        # Changes to save: _changes counts them, _saved is the count the store holds. A save
        # cut off by a shutdown leaves them apart, so the final save still runs.
        self._changes = 0
        self._saved = 0
        limits = backend.options.limits
        self._limits = limits
        self._clock = backend.clock
        self._outbox = Outbox()
        self._settings = backend.default_settings()
        self._voices = backend.voices()
        self._prompt_names = list(backend.prompts)
        self._target = backend.target_for(self._settings)
        self._conversation = Conversation(
            backend.prompts[self._settings.prompt],
            max_turns=backend.options.max_history_turns,
            max_chars=backend.options.max_history_chars,
        )
        self._options = backend.pipeline_for(self._settings)  # with the session's lexicon
        self._assistant: Assistant | None = None
        if backend.llm_config is not None and backend.openai_client is not None:
            self._assistant = Assistant(
                llm=LLMClient(backend.llm_config, client=backend.openai_client),
                tts=self._target,
                conversation=self._conversation,
                options=self._options,
                pace=backend.pace,
            )
        self._pace = backend.pace  # the voices' pace, learned by every session's turns
        self._turns = self._quotas.session_bucket()
        self._messages = TokenBucket(limits.message_burst, limits.messages_per_second)
        self._running: _Running | None = None
        self._queue: deque[_Request] = deque()  # responses waiting, in order
        self._open: SpeakInput | None = None  # the speak response text.append feeds
        self._refused_text = False  # its first text.append was refused: drop until text.done
        self._work = anyio.Event()
        self._drain = anyio.Event()
        self._drain_deadline = 0.0
        self._acks_seen = False
        self._last_activity = self._clock()
        self._scope: anyio.CancelScope | None = None
        self._close_code = CloseCode.NORMAL
        self._close_reason = ""
        self._peer_gone = False
        self.responses = 0

    # --- lifetime ------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A response runs or waits, and none waits for its client's text: a speak response
        whose text is still open is idle (the client may go quiet) from its last piece."""
        running, open_ = self._running, self._open
        if running is not None and (running.speak is None or running.speak is not open_):
            return True
        return any(r.text is not open_ for r in self._queue)

    def drain(self, deadline: float) -> None:
        """Graceful shutdown: no new responses; close with 1001 once the running one ended
        or at ``deadline`` (interrupting it)."""
        if self._drain.is_set():
            deadline = min(deadline, self._drain_deadline)
        self._drain_deadline = deadline
        self._drain.set()
        self._work.set()
        self._hurry_running()  # shutting down: a barge-in's heard text is settled briefly

    def _end(self, code: CloseCode, reason: str) -> None:
        if self._close_code == CloseCode.NORMAL:
            self._close_code, self._close_reason = code, reason
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        with structlog.contextvars.bound_contextvars(session_id=self.session_id):
            log.info("session.start")
            self._outbox.put(self._ready_event())
            async with anyio.create_task_group() as outer:
                outer.start_soon(self._writer)
                try:
                    async with anyio.create_task_group() as tg:
                        self._scope = tg.cancel_scope
                        tg.start_soon(self._reader)
                        tg.start_soon(self._worker)
                        tg.start_soon(self._watchdog)
                        tg.start_soon(self._saver)
                finally:
                    self._outbox.close()
                    outer.cancel_scope.deadline = anyio.current_time() + _WRITER_DRAIN
                    if self._saved < self._changes:  # the last history, even at a shutdown
                        with anyio.CancelScope(shield=True):
                            await self._save()
            if not self._peer_gone:
                with anyio.move_on_after(_CLOSE_TIMEOUT, shield=True):
                    await self.ws.close(self._close_code, self._close_reason)
            log.info(
                "session.end",
                close_code=int(self._close_code),
                responses=self.responses,
                peer_closed=self._peer_gone,
            )

    # --- writer ----------------------------------------------------------------------------

    async def _writer(self) -> None:
        try:
            await self._outbox.pump(self.ws.send)
        except ConnectionClosed:
            self._peer_gone = True
            self._end(CloseCode.NORMAL, "")

    # --- reader ----------------------------------------------------------------------------

    async def _reader(self) -> None:
        limits = self._limits
        while True:
            try:
                data = await self.ws.recv()
            except ConnectionClosed:
                self._peer_gone = True
                self._end(CloseCode.NORMAL, "")
                return
            now = self._clock()
            if not self._messages.take(now):
                log.warning("session.flood")
                self.metrics.rate_limited.labels("messages").inc()
                self._outbox.put(
                    p.error_event(
                        ErrorCode.TOO_MANY_MESSAGES,
                        f"more than {limits.messages_per_second:g} messages per second; closing",
                    )
                )
                self._end(CloseCode.POLICY_VIOLATION, "too many messages")
                return
            try:
                message = p.parse_client_message(
                    data,
                    max_bytes=limits.max_message_bytes,
                    max_text_chars=limits.max_text_chars,
                )
                if isinstance(message, p.SessionResume):
                    await self._resume(message.resume_token)
                else:
                    self._dispatch(message, now)
            except ClientProtocolError as exc:
                self._outbox.put(p.error_event(exc.code, exc.message))

    def _dispatch(self, message: p.ClientMessage, now: float) -> None:
        if isinstance(message, p.PlaybackAck):
            self._acks_seen = True
            running = self._running
            if running is not None and message.response_id in (None, running.response_id):
                running.sink.ack(message.samples)
        elif isinstance(message, p.ResponseCancel):
            running = self._running
            if running is not None and message.response_id in (None, running.response_id):
                self._cancel_running()
            if message.response_id is None:
                # Responses not started yet start interrupted, so the client still gets
                # response.started, response.interrupted and response.done for each.
                for waiting in self._queue:
                    waiting.cancel()
                self._open = None
        elif isinstance(message, p.UserMessage):
            self._user_message(message.text, now, message.traceparent)
        elif isinstance(message, p.TextAppend):
            self._text_append(message.text, now)
        elif isinstance(message, p.TextDone):
            self._refused_text = False
            if self._open is not None:
                self._open.close()
                self._open = None
                self._last_activity = now
        elif isinstance(message, p.SessionConfigure):
            self._configure(message)

    def _refuse_turn(self, now: float) -> bool:
        """Take a turn from the rate limits; when refused, tell the client and say so."""
        refused = self._quotas.take_turn(self._turns, self.client_key, now)
        if refused is None:
            return False
        self.metrics.rate_limited.labels(_RATE_LABELS[refused.scope]).inc()
        self._outbox.put(
            p.error_event(
                ErrorCode.RATE_LIMITED,
                f"at most {refused.per_minute:g} turns per minute" + _RATE_WHOSE[refused.scope],
                retry_after=refused.retry_after,
                limit=refused.scope,
            )
        )
        return True

    def _text_append(self, text: str, now: float) -> None:
        speak = self._open
        if speak is None and self._refused_text:
            return  # the rest of a refused response (its error was sent)
        if speak is None:
            # The first piece of a new speak response: a turn like user.message, queued
            # behind the running response (responses never overlap). When it is refused,
            # so is the rest of its text, up to text.done: no reply is spoken in part.
            self._refused_text = True
            if self._drain.is_set():
                raise ClientProtocolError(
                    ErrorCode.SHUTTING_DOWN, "the server is shutting down; reconnect later"
                )
            if len(self._queue) >= _MAX_QUEUED:
                raise ClientProtocolError(
                    ErrorCode.QUEUE_FULL,
                    f"{_MAX_QUEUED} responses are waiting already; wait for "
                    "response.done or send response.cancel",
                )
            if self._refuse_turn(now):
                return
            self._refused_text = False
            speak = self._open = SpeakInput(self._limits.max_speak_chars)
            self._queue.append(_Request(speak, traceparent=self._traceparent))
            self._work.set()
            self._hurry_running()
        self._last_activity = now
        speak.append(text)

    def _user_message(self, text: str, now: float, traceparent: str | None = None) -> None:
        if self._drain.is_set():
            raise ClientProtocolError(
                ErrorCode.SHUTTING_DOWN, "the server is shutting down; reconnect later"
            )
        if self._assistant is None:
            raise ClientProtocolError(
                ErrorCode.NO_CHAT_MODEL,
                "this server has no chat model; send your own text with text.append",
            )
        if self._refuse_turn(now):
            return
        self._last_activity = now  # only an accepted turn keeps a session alive
        self._cancel_running()
        # Messages waiting behind the running response are replaced (only the newest is
        # answered); speak responses waiting start interrupted, so each still reports.
        kept = deque(r for r in self._queue if isinstance(r.text, SpeakInput))
        for waiting in kept:
            waiting.cancel()
        self._queue = kept
        self._queue.append(_Request(text, traceparent=traceparent or self._traceparent))
        self._open = None
        self._work.set()
        self._hurry_running()

    def _hurry_running(self) -> None:
        """A response waits behind the running one: its heard text is settled briefly."""
        if self._running is not None:
            self._running.hurry()

    def _cancel_running(self) -> None:
        running = self._running
        if running is None or running.cancelled:
            return
        running.cancelled = True
        running.cancelled_at = self._clock()
        running.sink.cancel()  # no audio frame of it is sent from now on
        running.cancel()
        if running.speak is not None:
            running.speak.close()  # a later text.append starts a new response
            if self._open is running.speak:
                self._open = None

    def _configure(self, message: p.SessionConfigure) -> None:
        settings = apply_configure(
            self._settings,
            message,
            voices=self._voices,
            prompts=self._prompt_names,
            lexicons=self.backend.lexicon_names(),
        )
        target = self.backend.target_for(settings)
        try:
            target.config.validate(target.model)
        except ConfigError as exc:
            raise ClientProtocolError(
                ErrorCode.INVALID_CONFIG,
                f"the speech model does not accept this {exc.field or 'setting'}",
            ) from None
        self._apply(settings)
        self._want_save()
        self._outbox.put(self._ready_event())

    def _apply(self, settings: SessionSettings) -> None:
        target = self.backend.target_for(settings)
        self._settings = settings
        self._target = target
        if self._assistant is not None:
            self._assistant.tts = target
        self._conversation.system_prompt = self.backend.prompts[settings.prompt]
        self._options = self.backend.pipeline_for(settings)
        if self._assistant is not None:
            self._assistant.options = self._options

    # --- resumable conversations (see bridge.server.store) -------------------------------

    async def _resume(self, token: str) -> None:
        """``session.resume``: take over the stored conversation and settings of ``token``."""
        if self.responses or self._queue or self._running is not None:
            raise ClientProtocolError(
                ErrorCode.RESUME_TOO_LATE,
                "session.resume must come before this session's first response",
            )
        store = self.backend.store
        key = hash_token(token)
        stored = None
        if store is not None:
            try:
                with anyio.fail_after(_STORE_TIMEOUT):
                    data = await store.load(key)
                stored = StoredSession.from_json(data) if data is not None else None
            except (StoreError, TimeoutError) as exc:
                log.warning("store.load_failed", error=type(exc).__name__)
                raise ClientProtocolError(
                    ErrorCode.STORE_ERROR,
                    "the conversation store failed; this session starts a new conversation",
                ) from None
        if stored is None:
            raise ClientProtocolError(
                ErrorCode.RESUME_NOT_FOUND,
                "no conversation for this resume_token (unknown or expired); this session "
                "starts a new one",
            )
        saved = {k: v for k, v in stored.settings.items() if isinstance(v, str | int)}
        try:
            settings = apply_configure(
                self._settings,
                p.SessionConfigure(
                    voice=saved.get("voice"),  # type: ignore[arg-type]
                    prompt=saved.get("prompt"),  # type: ignore[arg-type]
                    language=saved.get("language"),  # type: ignore[arg-type]
                    sample_rate=saved.get("sample_rate"),  # type: ignore[arg-type]
                    lexicon=saved.get("lexicon"),  # type: ignore[arg-type]
                    playback_delay_ms=saved.get("playback_delay_ms"),  # type: ignore[arg-type]
                ),
                voices=self._voices,
                prompts=self._prompt_names,
                lexicons=self.backend.lexicon_names(),
            )
            self.backend.target_for(settings).config.validate(self.backend.tts.model)
            self._apply(settings)
        except (ClientProtocolError, ConfigError):
            log.info("session.resume_settings_dropped")  # this server offers other choices
        self._conversation.reset()
        for turn in stored.turns:
            if turn.role == "user":
                self._conversation.add_user(turn.text)
            else:
                self._conversation.add_assistant(turn.text, interrupted=turn.interrupted)
        self._resume_token, self._store_key = token, key
        log.info("session.resumed", turns=len(stored.turns))
        history = [
            {"role": t.role, "text": t.text, "interrupted": t.interrupted}
            for t in self._conversation.turns
        ]
        self._outbox.put(self._ready_event(history=history))
        self._want_save()  # renews the expiry

    def _want_save(self) -> None:
        self._changes += 1
        self._save_wanted.set()

    async def _saver(self) -> None:
        while True:
            await self._save_wanted.wait()
            self._save_wanted = anyio.Event()
            await self._save()

    async def _save(self) -> None:
        store = self.backend.store
        if store is None:
            return
        s = self._settings
        snapshot = StoredSession(
            {
                "voice": s.voice,
                "prompt": s.prompt,
                "language": s.language,
                "sample_rate": s.sample_rate,
                "lexicon": s.lexicon,
                "playback_delay_ms": s.playback_delay_ms,
            },
            self._conversation.turns,
        )
        version = self._changes
        try:
            with anyio.fail_after(_STORE_TIMEOUT):
                await store.save(
                    self._store_key, snapshot.to_json(), self.backend.options.history_ttl
                )
        except (StoreError, TimeoutError) as exc:
            log.warning("store.save_failed", error=type(exc).__name__)
        else:
            self._saved = max(self._saved, version)

    def _ready_event(self, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        s: SessionSettings = self._settings
        return p.session_ready(
            session_id=self.session_id,
            model=self.backend.tts.model,
            voice=s.voice,
            voices=self._voices,
            prompt=s.prompt,
            prompts=self._prompt_names,
            language=s.language,
            languages=list(LANGUAGE_TYPES),
            sample_rate=s.sample_rate,
            sample_rates=list(SAMPLE_RATES),
            limits=self._limits.to_public(),
            lexicon=s.lexicon,
            lexicons=self.backend.lexicon_names(),
            playback_delay_ms=s.playback_delay_ms,
            chat=self._assistant is not None,
            resume_token=self._resume_token if self.backend.store is not None else None,
            history=history,
        )

    # --- worker ----------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            while not self._queue:
                if self._drain.is_set():
                    return
                await self._work.wait()
                self._work = anyio.Event()
            request = self._queue.popleft()
            try:
                await self._respond(
                    request.text, cancelled=request.cancelled, traceparent=request.traceparent
                )
                self._last_activity = self._clock()  # idle counts from the response's end
                if isinstance(request.text, str):
                    self._want_save()  # the conversation has a new turn
            except Exception:  # a bug must end this connection only, and be logged
                log.exception("session.response_failed")
                self._outbox.put(
                    p.error_event(ErrorCode.INTERNAL_ERROR, "the server failed; please reconnect")
                )
                self._end(CloseCode.INTERNAL_ERROR, "internal error")
                return

    async def _respond(
        self,
        request: str | SpeakInput,
        *,
        cancelled: bool = False,
        traceparent: str | None = None,
    ) -> None:
        """Answer a user.message (``str``) or speak a speak response's text."""
        outbox = self._outbox
        sink = WebSocketSink(
            outbox,
            "",
            sample_rate=self._settings.sample_rate,
            lead=self.backend.options.audio_lead,
            trust_acks=self._acks_seen,
            no_ack_delay=self._settings.playback_delay_ms / 1000,
            clock=self._clock,
        )
        index = 0

        def on_segment(segment: Segment) -> None:
            nonlocal index
            outbox.put(p.segment_event(rid, index, segment.text.strip()))
            index += 1

        def on_timing(timing: SegmentTiming) -> None:
            outbox.put(
                p.segment_timing(
                    rid, timing.index, timing.start, timing.end, estimated=timing.estimated
                )
            )

        speak: SpeakInput | None = None
        if isinstance(request, str):
            assert self._assistant is not None

            def on_text(delta: str) -> None:
                outbox.put_text(rid, delta)

            turn = self._assistant.reply(
                request,
                sink,
                on_segment=on_segment,
                on_text=on_text,
                on_timing=on_timing,
                traceparent=traceparent,
                on_sent=outbox.wake,  # response.started goes once the model request is out
            )
        else:
            speak = request
            turn = Turn(
                speak,
                sink,
                target=self._target,
                options=self._options,
                on_segment=on_segment,
                on_timing=on_timing,
                traceparent=traceparent,
                pace=self._pace,
            )
        rid = sink.response_id = turn.turn_id
        self._running = running = _Running(rid, sink, turn.interrupt, turn.hurry, speak=speak)
        if self._queue or self._drain.is_set():
            turn.hurry()
        self.responses += 1
        # A reply's response.started waits for its model request (on_sent), or for the next
        # frame, so that the writer's send does not come before the request's.
        outbox.put(p.response_started(rid), wake=speak is not None)
        self.metrics.running_turns.inc()
        if cancelled:
            self._cancel_running()
        started = self._clock()
        try:
            await turn.run()
        finally:
            self._running = None
            if speak is not None:
                # Its text ends with it: a later text.append starts a new response.
                speak.close()
                if self._open is speak:
                    self._open = None
            self.metrics.running_turns.dec()
            if turn.result is not None:
                self._report(rid, turn.result)
            else:
                # The turn failed without a result (a bug, reported by the worker): every
                # started response still ends with its response.done.
                self._outbox.put(p.response_done(rid, p.failed_result(rid)))
            at, acked = running.cancelled_at, sink.first_ack_at
            self.metrics.turn_finished(
                turn.result,
                audio_sent=sink.seconds_sent,
                barge_in=None if at is None else self._clock() - at,
                first_play=None if acked is None else acked - started,
            )

    def _report(self, rid: str, result: TurnResult) -> None:
        if result.interrupted:
            self._outbox.put(p.response_interrupted(rid, result.spoken_text))
        if result.error is not None:
            code, message = p.client_error_for(result.error)
            self._outbox.put(p.error_event(code, message, response_id=rid))
        self._outbox.put(p.response_done(rid, p.public_result(result)))

    # --- watchdog: idle timeout and graceful drain ---------------------------------------

    async def _watchdog(self) -> None:
        # Idle means no turn: neither a response running nor a user.message accepted for
        # idle_timeout. Acks, cancels, session.configure and bad frames do not count, so a
        # client cannot hold a session slot without using it.
        # A busy session is checked again idle_timeout later (the end of its response counts
        # as activity, so there is no need to poll it while it runs).
        idle = self._limits.idle_timeout
        while not self._drain.is_set():
            now = self._clock()
            if self.busy:
                wake = now + idle
            elif now - self._last_activity >= idle:
                self._outbox.put(
                    p.error_event(
                        ErrorCode.IDLE_TIMEOUT, f"no turn started for {idle:g} s; closing"
                    )
                )
                self._end(CloseCode.IDLE_TIMEOUT, "idle timeout")
                return
            else:
                wake = self._last_activity + idle
            with anyio.move_on_after(max(0.01, wake - now)):
                await self._drain.wait()
        # Draining: let the running response finish, up to the deadline.
        while self.busy and (left := self._drain_deadline - self._clock()) > 0:
            await anyio.sleep(min(0.05, left))
        self._end(CloseCode.GOING_AWAY, "server shutting down")


async def reject(ws: ServerConnection, code: ErrorCode, message: str, close: CloseCode) -> None:
    """Refuse a connection right after its handshake with one ``error`` event and a close."""
    with anyio.move_on_after(_CLOSE_TIMEOUT):
        try:
            await ws.send(p.encode(p.error_event(code, message)))
            await ws.close(close, message[:120])
        except ConnectionClosed:
            pass
