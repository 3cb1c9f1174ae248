"""One emulated Qwen-TTS Realtime session: the server side of one WebSocket connection.

A receiver loop handles client events in order; a synthesis worker turns queued segments into
full response envelopes (in the measured order: created, item added, part added, deltas,
audio done, part done, item done, response.done) paced by the latency model. Both run in one
anyio task group per connection.

Decisions where the vendor docs are silent (also listed in the README):
- ``session.update`` is accepted until the first response starts, then rejected with the
  documented "session already started" error (``bridge.qwen.protocol.check_client_event``:
  the client and the emulator share the event names, the transition table and this
  validation);
- ``input_text_buffer.clear`` drops text not yet taken into a response; responses already
  queued or playing are not affected;
- ``response.cancel`` (undocumented) stops the response being synthesized (it ends with
  ``status: "incomplete"``) and drops queued ones;
- ``wav`` output: each response's audio is one RIFF/WAVE stream, header in the first delta;
- invalid client input gets an ``invalid_request_error`` and the connection stays open;
  an injected server fault gets a ``server_error`` and closes it (code 1011).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from anyio.abc import TaskGroup
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bridge.core.codec import dumps, loads
from bridge.core.errors import BridgeError, ConfigError
from bridge.core.wav import wav_header
from bridge.local.engines import Synthesizer
from bridge.local.options import EmulatorOptions, Faults
from bridge.local.splitter import take_segments
from bridge.local.wire import ServerWire, new_id
from bridge.qwen.config import validate_session_dict
from bridge.qwen.events import (
    BUFFER_CLEARED,
    BUFFER_COMMITTED,
    CONTENT_PART_ADDED,
    CONTENT_PART_DONE,
    SESSION_CREATED,
    SESSION_FINISHED,
    SESSION_UPDATED,
)
from bridge.qwen.models import DEFAULT_VOICE, ModelFamily, model_info
from bridge.qwen.protocol import (
    APPEND,
    CANCEL,
    CLEAR,
    COMMIT,
    FINISH,
    UPDATE,
    SessionState,
    billable_characters,
    check_client_event,
    next_state,
)

__all__ = ["EmulatedSession"]

log = structlog.get_logger("bridge.local")

_FINISH = object()


def default_session(model: str, session_id: str) -> dict[str, Any]:
    return {
        "id": session_id,
        "model": model,
        "voice": DEFAULT_VOICE,
        "mode": "server_commit",
        "language_type": "Auto",
        "response_format": "pcm",
        "sample_rate": 24000,
        "speech_rate": 1.0,
        "volume": 50,
        "pitch_rate": 1.0,
    }


def _event_id(event: object) -> str | None:
    """The client ``event_id`` an error should echo: that of an event with a string type."""
    if isinstance(event, dict) and isinstance(event.get("type"), str):
        eid = event.get("event_id")
        return eid if isinstance(eid, str) else None
    return None


class _StallError(Exception):
    """Raised inside the worker when an injected stall begins."""


@dataclass(eq=False)
class _Job:
    """One queued segment and, once started, its synthesis (``audio`` or ``error`` when
    ``done`` is set)."""

    text: str
    done: anyio.Event = field(default_factory=anyio.Event)
    started: bool = False
    audio: bytes = b""
    error: BridgeError | None = None


@dataclass(eq=False)
class EmulatedSession:
    ws: ServerConnection
    model: str
    options: EmulatorOptions
    synthesizer: Synthesizer
    faults: Faults
    wire: ServerWire = field(default_factory=ServerWire)
    config: dict[str, Any] = field(default_factory=dict)
    buffer: str = ""
    # The session's state as the client sees it, kept by the protocol core's transition
    # table (``bridge.qwen.protocol.TRANSITIONS``) from the events sent and received.
    state: SessionState = SessionState.CONNECTING
    deltas_sent: int = 0
    queue: deque[object] = field(default_factory=deque)
    wakeup: anyio.Event = field(default_factory=anyio.Event)
    cancel_generation: int = 0
    _tasks: TaskGroup | None = None
    _current: _Job | None = None  # the segment being answered (its synthesis started first)
    _running: int = 0  # syntheses started and not finished

    async def send(self, event: dict[str, Any]) -> None:
        self.state = next_state(self.state, event["type"])
        await self.ws.send(dumps(event))

    @property
    def finishing(self) -> bool:
        """``session.finish`` arrived: nothing more is accepted."""
        return self.state in (SessionState.FINISHING, SessionState.CLOSED)

    async def run(self) -> None:
        session_id = new_id("sess")
        self.config = default_session(self.model, session_id)
        info = model_info(self.model)
        await self.send(self.wire.session(SESSION_CREATED, self._created_view()))
        if info is None and self.options.strict_models:
            # As measured on the hosted service: an unknown model gets session.created, then
            # the connection closes without an error event.
            await self.ws.close(1000, "")
            return
        async with anyio.create_task_group() as tg:
            self._tasks = tg
            tg.start_soon(self._worker, tg.cancel_scope)
            try:
                await self._receive_loop()
            finally:
                tg.cancel_scope.cancel()

    def _created_view(self) -> dict[str, Any]:
        keys = ("id", "model", "voice", "mode", "response_format", "sample_rate")
        return {k: self.config[k] for k in keys}

    # --- receiving client events ------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            try:
                frame = await self.ws.recv()
            except ConnectionClosed:
                return
            if isinstance(frame, bytes):
                await self.send(self.wire.error("invalid_event", "binary frames are not accepted"))
                continue
            if len(frame.encode("utf-8")) > self.options.max_message_bytes:
                await self.send(
                    self.wire.error(
                        "invalid_value",
                        f"message too large: at most {self.options.max_message_bytes} bytes",
                    )
                )
                continue
            try:
                event = loads(frame)
            except (ValueError, RecursionError):
                await self.send(self.wire.error("invalid_json", "the message is not valid JSON"))
                continue
            problem = check_client_event(event, self.state)
            if problem is not None:
                await self.send(
                    self.wire.error(
                        problem.code,
                        problem.message,
                        param=problem.param,
                        client_event_id=_event_id(event),
                    )
                )
                continue
            self.state = next_state(self.state, event["type"])
            await self._handle(event)
            if self.finishing:
                # Nothing more is accepted; keep reading only to notice the close.
                await self._drain_after_finish()
                return

    async def _drain_after_finish(self) -> None:
        while True:
            try:
                await self.ws.recv()
            except ConnectionClosed:
                return
            await self.send(
                self.wire.error("invalid_value", "the session is finishing; no more events")
            )

    async def _handle(self, event: dict[str, Any]) -> None:
        """Act on a client event that ``check_client_event`` accepted."""
        kind = event["type"]
        if kind == UPDATE:
            await self._update(event["session"], _event_id(event))
        elif kind == APPEND:
            self.buffer += event["text"]
            if self.config["mode"] == "server_commit":
                segments, self.buffer = take_segments(
                    self.buffer, max_chars=self.options.server_commit_max_chars
                )
                for segment in segments:
                    self._enqueue(segment)
        elif kind == COMMIT:
            if not self.buffer.strip():
                await self.send(
                    self.wire.error(
                        "invalid_value",
                        "Error committing input text buffer: the buffer is empty.",
                        client_event_id=_event_id(event),
                    )
                )
                return
            await self.send(self.wire.event(BUFFER_COMMITTED, item_id=""))
            self._enqueue(self.buffer)
            self.buffer = ""
        elif kind == CLEAR:
            self.buffer = ""
            await self.send(self.wire.event(BUFFER_CLEARED))
        elif kind == CANCEL:
            self.queue.clear()
            self.cancel_generation += 1
        elif kind == FINISH:
            if self.buffer.strip():
                self._enqueue(self.buffer)
            self.buffer = ""
            self.queue.append(_FINISH)
            self.wakeup.set()

    async def _update(self, session: dict[str, Any], eid: str | None) -> None:
        try:
            validate_session_dict(session, self.model)
        except ConfigError as exc:
            param = f"session.{exc.field}" if exc.field else None
            await self.send(
                self.wire.error("invalid_value", str(exc), param=param, client_event_id=eid)
            )
            return
        fmt = session.get("response_format", self.config["response_format"])
        if fmt not in ("pcm", "wav"):
            await self.send(
                self.wire.error(
                    "unsupported_format",
                    f"the local emulator produces pcm and wav only, not {fmt!r}",
                    param="session.response_format",
                    client_event_id=eid,
                )
            )
            return
        self.config.update({k: v for k, v in session.items() if k not in ("id", "model")})
        await self.send(self.wire.session(SESSION_UPDATED, dict(self.config)))

    def _enqueue(self, text: str) -> None:
        self.queue.append(_Job(text))
        self.wakeup.set()

    # --- synthesizing ---------------------------------------------------------------------

    async def _worker(self, scope: anyio.CancelScope) -> None:
        try:
            while True:
                while not self.queue:
                    self.wakeup = anyio.Event()
                    await self.wakeup.wait()
                item = self.queue.popleft()
                if item is _FINISH:
                    await self.send(self.wire.event(SESSION_FINISHED))
                    await self.ws.close(1000, "")
                    return
                assert isinstance(item, _Job)
                await self._respond(item)
        except _StallError:
            await anyio.sleep_forever()
        except ConnectionClosed:
            return
        finally:
            scope.cancel()

    async def _synthesize(self, text: str) -> bytes:
        cfg = self.config
        rate = int(cfg["sample_rate"])

        def run() -> bytes:
            return self.synthesizer.synthesize(
                text,
                sample_rate=rate,
                language=str(cfg.get("language_type") or "Auto"),
                voice=str(cfg.get("voice") or DEFAULT_VOICE),
                speech_rate=float(cfg.get("speech_rate", 1.0)),
                pitch_rate=float(cfg.get("pitch_rate", 1.0)),
                volume=int(cfg.get("volume", 50)),
            )

        pcm = await anyio.to_thread.run_sync(run)
        if cfg["response_format"] == "wav":
            return wav_header(len(pcm), rate) + pcm
        return pcm

    def _start_syntheses(self) -> None:
        """Keep ``synthesis_workers`` syntheses running: start those of the segment being
        answered and the next queued ones, in queue order, while fewer are running; a
        finished synthesis frees its place at once, while its audio is still being sent.
        At most twice ``synthesis_workers`` queued segments are synthesized ahead of the one
        being sent (a bound on the audio held). Called once a response has started, when the
        session's settings can no longer change; the audio is still sent in queue order."""
        assert self._tasks is not None
        workers = self.options.synthesis_workers
        # Only _FINISH, always last, is not a job: the first few items suffice.
        window = itertools.islice(self.queue, 2 * workers)
        ahead = itertools.chain(() if self._current is None else (self._current,), window)
        jobs = [item for item in ahead if isinstance(item, _Job)]
        for pending in jobs:
            if self._running >= workers:
                break
            if not pending.started:
                pending.started = True
                self._running += 1
                self._tasks.start_soon(self._run_synthesis, pending)

    async def _run_synthesis(self, job: _Job) -> None:
        try:
            job.audio = await self._synthesize(job.text)
        except BridgeError as exc:
            job.error = exc
        finally:
            job.done.set()
            self._running -= 1
            self._start_syntheses()

    async def _respond(self, job: _Job) -> None:
        text = job.text
        generation = self.cancel_generation
        latency = self.options.latency
        voice = str(self.config["voice"])
        rate = int(self.config["sample_rate"])
        rid, iid = new_id("resp"), new_id("item")
        t0 = time.monotonic()
        await self.send(self.wire.response_created(rid, voice))
        await self.send(self.wire.item_added(rid, iid))
        await self.send(self.wire.part(CONTENT_PART_ADDED, rid, iid))
        self._current = job
        self._start_syntheses()
        await job.done.wait()
        if job.error is not None:
            # The engine failed (say, a worker process died): a clear server error, then the
            # connection closes, as for any server fault; never a response that hangs.
            log.warning("emulator.synthesis_failed", error=str(job.error))
            await self.send(
                self.wire.error(
                    "internal_error",
                    f"speech synthesis failed: {job.error}",
                    error_type="server_error",
                )
            )
            await self.ws.close(1011, "synthesis failed")
            raise ConnectionClosed(None, None)
        audio = job.audio
        wait = latency.first_packet - (time.monotonic() - t0)
        if wait > 0:
            await anyio.sleep(wait)
        step = max(2, rate * latency.delta_ms // 1000 * 2)
        status = "completed"
        # Paced against a fixed schedule from the first delta, so scheduling delays under load
        # do not accumulate into a stream slower than the real-time factor asks for.
        start = time.monotonic()
        for offset in range(0, len(audio), step):
            if self.cancel_generation != generation:
                status = "incomplete"
                break
            piece = audio[offset : offset + step]
            await self.send(self.wire.audio_delta(rid, iid, piece))
            self.deltas_sent += 1
            await self._inject_faults()
            if latency.rtf > 0:
                due = start + latency.rtf * ((offset + len(piece)) / 2) / rate
                await anyio.sleep(max(0.0, due - time.monotonic()))
        await self.send(self.wire.audio_done(rid, iid))
        await self.send(self.wire.part(CONTENT_PART_DONE, rid, iid))
        await self.send(self.wire.item_done(rid, iid, status))
        await self.send(
            self.wire.response_done(
                rid, iid, voice=voice, status=status, usage=self._usage(text, len(audio))
            )
        )

    def _usage(self, text: str, audio_bytes: int) -> dict[str, Any]:
        info = model_info(self.model)
        if info is not None and info.family is ModelFamily.LEGACY:
            seconds = audio_bytes / 2 / int(self.config["sample_rate"])
            audio_tokens = max(50, math.ceil(seconds * 50))
            text_tokens = max(1, len(text) // 2)
            return {
                "total_tokens": text_tokens + audio_tokens,
                "input_tokens": text_tokens,
                "output_tokens": audio_tokens,
                "input_tokens_details": {"text_tokens": text_tokens},
                "output_tokens_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            }
        return {"characters": billable_characters(text)}

    async def _inject_faults(self) -> None:
        f = self.faults
        n = self.deltas_sent
        if f.close_after_deltas is not None and n >= f.close_after_deltas:
            log.info("emulator.fault", fault="close", deltas=n)
            self.ws.transport.abort()
            raise ConnectionClosed(None, None)
        if f.error_after_deltas is not None and n == f.error_after_deltas:
            log.info("emulator.fault", fault="error", deltas=n)
            kind = "server_error" if f.error_fatal else "invalid_request_error"
            await self.send(self.wire.error(f.error_code, f.error_message, error_type=kind))
            if f.error_fatal:
                await self.ws.close(1011, "server error")
                raise ConnectionClosed(None, None)
        if f.stall_after_deltas is not None and n >= f.stall_after_deltas:
            log.info("emulator.fault", fault="stall", deltas=n)
            raise _StallError
