"""The speech stage of a turn (stage 3): one Qwen-TTS session at a time, segments appended as
they come, audio received and played into the sink, and the reconnect policy.

The session opens as soon as the turn starts, so the connection and its ``session.update``
happen while the model is still thinking (prewarm), and ends with ``session.finish``: the
documented way to have the server flush its buffer.

When the connection drops mid-turn, the stage reconnects (``ReconnectPolicy``) and re-sends the
segments whose audio did not fully arrive; only the one partly heard segment repeats. When the
session is cancelled (a barge-in), the sink is stopped, ``input_text_buffer.clear`` is sent and
the connection is dropped, so no audio of the turn can reach the sink afterwards. Before it is
dropped, when playback stopped inside a response whose end has not arrived, the stage reads on
until that end (its audio discarded): the part heard is then measured against the response's
real length instead of estimated from the voice's pace. It waits at most
``settle_idle_timeout`` while nothing waits for the turn's end, ``settle_timeout`` (from the
start of the wait) once something does (``hurry``).

``play`` hands the received audio to the sink at the sink's pace, in its own task: the stage
reads the server's events ahead of the sink (up to ``_READ_AHEAD`` chunks), so the heard-text
bookkeeping learns where each response ends while its audio still plays, and a barge-in
inside it is measured against its real length, not an estimate. While the player waits with
nothing queued and the sink says a write would not wait (``TakesAtOnce``: ``bridge serve``'s
sink, between its pacing waits), the receiving task writes the chunk itself: one event-loop
wake-up less per chunk (``benchmarks/loop_callbacks.py``), the same order, and the read-ahead
is still there whenever the sink paces.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import cast

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream

from bridge.adapters.sinks import AudioSink, LeavesEarly, TakesAtOnce
from bridge.adapters.tracing import TurnTrace
from bridge.core.errors import (
    BridgeError,
    ConfigError,
    TTSAuthError,
    TTSConnectionError,
    TTSServerError,
    TTSTimeoutError,
)
from bridge.core.heard import HeardTracker
from bridge.core.result import SegmentTiming
from bridge.pipeline.handoff import Channel, consuming, take
from bridge.pipeline.options import PipelineOptions, TTSTarget
from bridge.pipeline.segment_log import SegmentLog
from bridge.pipeline.timeline import Timeline
from bridge.qwen.client import AudioChunk, TTSSession
from bridge.qwen.events import ResponseCreated, ResponseDone, SessionFinished
from bridge.text import Segment
from bridge.text._chars import for_tts as _for_tts

__all__ = ["SpeechStage"]

log = structlog.get_logger("bridge.pipeline")

# Audio chunks received but not yet taken by the sink: about 13 s at the default 100 ms
# deltas, more than a sentence's response, so its response.done is read while it still plays.
_READ_AHEAD = 128


class SpeechStage:
    """What the stage leaves for the result: ``error`` (the failure that ended the speech),
    ``reconnects``, ``billed`` (characters the service reported), ``samples_written`` (to the
    sink) and ``cancelled`` (a session was cancelled: the turn was cut off)."""

    def __init__(
        self,
        *,
        target: TTSTarget,
        options: PipelineOptions,
        sink: AudioSink,
        timeline: Timeline,
        segments: SegmentLog,
        tracker: HeardTracker,
        trace: TurnTrace,
        interrupted: Callable[[], bool],
        stop_sink: Callable[[], Awaitable[None]],
        on_timing: Callable[[SegmentTiming], None] | None = None,
        on_listener_left: Callable[[], None] | None = None,
    ) -> None:
        self._target = target
        self._options = options
        self._sink = sink
        self._timeline = timeline
        self._segments = segments
        self._tracker = tracker
        self._trace = trace
        self._interrupted = interrupted
        self._stop_sink = stop_sink
        self._on_timing = on_timing
        self._on_listener_left = on_listener_left
        self._leaves_early: bool | None = None  # see _leaves
        self._takes_at_once: bool | None = None  # see _takes_now
        self._commit_mode = target.config.mode == "commit"
        self._resend: list[int] = []  # segments to append again after a reconnect
        self._commit_ids: set[str] = set()
        self._heard_from: set[str] = set()  # responses whose audio has started
        self._timings: list[SegmentTiming | None] = []  # as last reported
        self.error: BridgeError | None = None
        self.reconnects = 0
        self.billed: int | None = None
        self.samples_written = 0
        self.cancelled = False
        self._hurried = False  # something waits for the turn's end: settle briefly
        self._settling: tuple[anyio.CancelScope, float] | None = None  # scope, hurried deadline
        # Received audio on its way to the sink (see ``play``).
        self._audio: Channel[AudioChunk] = Channel(_READ_AHEAD)

    @property
    def interrupted(self) -> bool:
        return self.cancelled or self._interrupted()

    async def run(
        self, segs: MemoryObjectReceiveStream[Segment], turn_scope: anyio.CancelScope
    ) -> None:
        """Speak the segments; reconnect by the policy; a fatal error ends the turn."""
        attempts = 0
        async with segs:
            while True:
                try:
                    await self._one_session(segs)
                    return
                except (TTSAuthError, ConfigError) as exc:
                    self.error = exc
                except (TTSConnectionError, TTSTimeoutError, TTSServerError) as exc:
                    if attempts < self._options.reconnect.attempts and not self.interrupted:
                        attempts += 1
                        self._reconnect(exc)
                        await anyio.sleep(self._options.reconnect.delay)
                        continue
                    self.error = exc
                except BridgeError as exc:
                    self.error = exc
                # A fatal speech error: nothing more can be spoken; end the turn.
                log.warning("turn.tts_failed", error=type(self.error).__name__)
                turn_scope.cancel()
                return

    async def play(self) -> None:
        """Hand the received audio to the sink at the sink's pace (a task of its own)."""
        async with consuming(self._audio) as audio:
            async for chunk in audio:
                if self.interrupted or not await self._write(chunk):
                    return

    async def _write(self, chunk: AudioChunk) -> bool:
        """Write ``chunk`` to the sink; False once its listener went away (the turn then
        ends as at a barge-in)."""
        self._timeline.mark("first_play")
        await self._sink.write(chunk)
        self.samples_written += chunk.samples
        if self._leaves and self.listener_left:
            if self._on_listener_left is not None:
                self._on_listener_left()
            return False
        return True

    def _takes_now(self) -> bool:
        """The player waits with nothing queued and the sink takes a chunk without waiting
        (``TakesAtOnce``): the receiving task writes it itself (see ``_receive_audio``)."""
        takes = self._takes_at_once
        if takes is None:
            takes = self._takes_at_once = isinstance(self._sink, TakesAtOnce)
        return takes and self._audio.waiting and cast(TakesAtOnce, self._sink).ready()

    @property
    def _leaves(self) -> bool:
        """Whether the sink is ``LeavesEarly``: checked once (not a protocol check per chunk),
        when first needed (not while the turn's model request is on its way)."""
        leaves = self._leaves_early
        if leaves is None:
            leaves = self._leaves_early = isinstance(self._sink, LeavesEarly)
        return leaves

    @property
    def listener_left(self) -> bool:
        """The sink's listener went away before the end (see ``LeavesEarly``)."""
        return self._leaves and cast(LeavesEarly, self._sink).listener_left

    def hurry(self) -> None:
        """Something waits for the turn's end: a settle (running or to come) waits at most
        ``settle_timeout`` from its start."""
        self._hurried = True
        if self._settling is not None:
            scope, deadline = self._settling
            scope.deadline = min(scope.deadline, deadline)

    def end_audio(self) -> None:
        """No more audio will be received: ``play`` ends once the sink took what came."""
        self._audio.close()

    def _reconnect(self, exc: BridgeError) -> None:
        """The connection dropped: the segments whose audio did not fully arrive go again."""
        self.reconnects += 1
        self._tracker.forget_responses_after_drop()
        self._resend = self._tracker.undelivered()
        error = type(exc).__name__
        log.warning("turn.tts_reconnect", error=error, resend=len(self._resend))
        self._trace.reconnect(self._timeline.now_ms(), error=error, resend=len(self._resend))

    async def _one_session(self, segs: MemoryObjectReceiveStream[Segment]) -> None:
        async with self._target.connect() as tts:
            failure: list[BaseException] = []
            try:
                async with anyio.create_task_group() as tg:

                    async def guarded(fn: Callable[[TTSSession], Awaitable[None]]) -> None:
                        try:
                            await fn(tts)
                        except BridgeError as exc:
                            # The first failure is the cause (a later StateError is a symptom).
                            failure.append(exc)
                            tg.cancel_scope.cancel()

                    async def send(t: TTSSession) -> None:
                        await self._send_segments(t, segs)

                    tg.start_soon(guarded, send)
                    await guarded(self._receive_audio)
                    tg.cancel_scope.cancel()
            except anyio.get_cancelled_exc_class():
                # Interrupted (or the enclosing scope was cancelled): drop the server's buffer
                # before the connection closes; stale audio can no longer reach the sink.
                self.cancelled = True
                if not self._interrupted():
                    self._hurried = True  # cancelled from outside (a shutdown): settle briefly
                with anyio.CancelScope(shield=True):
                    await self._stop_sink()  # the listener hears nothing more of this turn
                    with anyio.move_on_after(self._options.clear_timeout):
                        with suppress(BridgeError):
                            await tts.clear()
                    await self._settle(tts)
                # The connection is discarded: do not wait for a closing handshake behind
                # audio frames nobody will read.
                tts.abort()
                raise
            if failure:
                raise failure[0]

    async def _append(self, tts: TTSSession, text: str, *, first: bool) -> None:
        await tts.append(_for_tts(text))
        if self._commit_mode or (first and self._options.commit_first):
            self._commit_ids.add(await tts.commit())

    async def _send_segments(
        self, tts: TTSSession, segs: MemoryObjectReceiveStream[Segment]
    ) -> None:
        for index in self._resend:
            await self._append(tts, self._tracker.texts[index], first=False)
        self._resend = []
        while True:
            try:
                seg = await take(segs)
            except anyio.EndOfStream:
                break
            text = seg.text.strip()
            index = self._tracker.appended(text, _for_tts(text))
            await self._append(tts, text, first=index == 0)
            self._timeline.mark("first_append")
            # Segments reach this stage in the order they were logged: same index.
            self._segments.appended(index, at_ms=self._timeline.now_ms())
        await tts.send_finish()

    async def _settle(self, tts: TTSSession) -> None:
        """After a barge-in: when playback stopped inside a response whose end has not
        arrived, read on (its audio is counted, not played) until it ends, at most
        ``settle_timeout`` once hurried, else ``settle_idle_timeout``; the heard text is then
        cut by the response's real length."""
        rid = self._tracker.unsettled(self._sink.samples_played)
        short = self._options.settle_timeout
        if rid is None or short <= 0:
            return
        idle = self._options.settle_idle_timeout
        start = anyio.current_time()
        hurried = start + short
        deadline = hurried if self._hurried or idle is None else start + max(short, idle)
        with anyio.CancelScope(deadline=deadline) as scope:
            self._settling = (scope, hurried)
            try:
                await self._read_to_end(tts, rid)
            finally:
                self._settling = None

    async def _read_to_end(self, tts: TTSSession, rid: str) -> None:
        """Read the events of the response ``rid`` (counted) until its end."""
        while True:
            try:
                event = await tts.recv_chunk()
            except TTSServerError as exc:
                if self._tolerable(exc):
                    continue
                return
            except BridgeError:
                return  # the connection failed: the estimate stands
            if isinstance(event, AudioChunk):
                if event.response_id == rid:
                    self._tracker.audio(rid, event.samples)
            elif isinstance(event, ResponseDone) and event.response_id == rid:
                self._tracker.response_done(rid, event.usage.characters)
                if event.usage.characters is not None:
                    self.billed = (self.billed or 0) + event.usage.characters
                log.debug("turn.settled", response_id=rid)
                return
            elif isinstance(event, SessionFinished):
                return

    def _received(self, chunk: AudioChunk) -> None:
        """Count a chunk on its way to the sink (its response's length)."""
        self._tracker.audio(chunk.response_id, chunk.samples)
        if chunk.response_id not in self._heard_from:
            self._heard_from.add(chunk.response_id)
            self._report_timings()

    def _report_timings(self) -> None:
        """Tell ``on_timing`` of each segment whose timing is new or changed."""
        if self._on_timing is None or self.interrupted:
            return
        timings = self._tracker.timings(self._target.config.sample_rate)
        self._timings.extend([None] * (len(timings) - len(self._timings)))
        for index, timing in enumerate(timings):
            if timing is not None and timing != self._timings[index]:
                self._timings[index] = timing
                self._on_timing(timing)

    def _tolerable(self, exc: TTSServerError) -> bool:
        """A commit that found the buffer already taken by the server is harmless: any error
        the client pairs with one of our commits (by position, whatever its code, message or
        echo; see ``bridge.qwen.protocol``), or that echoes one of our commits' ids."""
        if exc.answers_commit is not None or exc.event_id in self._commit_ids:
            log.debug("turn.commit_answered_by_error", code=exc.code)
            return True
        return False

    async def _receive_audio(self, tts: TTSSession) -> None:
        idle = tts.timeouts.idle
        while True:
            try:
                event = await tts.recv_chunk(timeout=None if tts.machine.busy else idle)
            except TTSServerError as exc:
                if self._tolerable(exc):
                    continue
                raise
            except TTSTimeoutError:
                if tts.machine.busy:
                    raise
                continue  # nothing owed: the text source is just slow
            if isinstance(event, AudioChunk):
                self._timeline.mark("first_audio")
                if not event.data:
                    continue
                if self.interrupted:
                    # Stale audio after a barge-in is dropped, but counted: it is part of
                    # its response's length, against which the part heard is measured.
                    self._tracker.audio(event.response_id, event.samples)
                    continue
                if self._takes_now():
                    # The player is idle and the sink would not make it wait: written from
                    # here, counted first (a cancellation inside the write cannot leave the
                    # chunk uncounted), in order (nothing is queued for the player).
                    self._received(event)
                    if not await self._write(event):
                        self._audio.stop()  # the listener left: the player ends too
                    continue
                try:
                    # No checkpoint while there is room (Channel.put): a cancellation (the
                    # connection failed) cannot fall between handing a chunk on and counting it.
                    await self._audio.put(event)
                except anyio.BrokenResourceError:
                    continue  # the player has stopped (a barge-in): stale audio is dropped
                self._received(event)
            elif isinstance(event, ResponseCreated):
                self._tracker.response_started(event.response_id)
            elif isinstance(event, ResponseDone):
                self._tracker.response_done(event.response_id, event.usage.characters)
                if event.usage.characters is not None:
                    self.billed = (self.billed or 0) + event.usage.characters
                self._report_timings()
            elif isinstance(event, SessionFinished):
                return
