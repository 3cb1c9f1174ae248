"""The turn pipeline: text stream → scrubber → segmenter → Qwen-TTS appends → audio → sink.

One anyio task group per turn with three stages joined by small bounded streams:

    read text (LLM or any async iterable) ─▶ scrub + segment (stall guard) ─▶ speech
    (``text_stage``)                          (``text_stage``)               (append / receive)
                                                                              ─▶ play (sink)
                                                                              (``speech_stage``)

The stages share the turn's ``Timeline`` (its moments) and ``SegmentLog`` (its segments, as
frozen records); ``result_builder`` makes the ``TurnResult`` from them once the turn ended.

Barge-in (``Turn.interrupt()`` or cancelling the turn's scope): the text stream stops,
``input_text_buffer.clear`` is sent, the sink is stopped and the session's connection is
closed, so no audio of the interrupted turn can reach a sink afterwards or leak into the next
turn (which has its own connection). Audio deltas that arrive after the interrupt are dropped.

Resilience: when the TTS connection drops mid-turn, the speech stage reconnects
(``ReconnectPolicy``) and re-sends the segments whose audio did not fully arrive; only the one
partly heard segment repeats. A failing text source ends the turn with a typed error in the
result after the text already received has been spoken.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Awaitable, Callable

import anyio
import structlog

from bridge.adapters.sinks import AudioSink, StopsAtOnce
from bridge.adapters.tracing import TurnTrace
from bridge.core.errors import BridgeError
from bridge.core.heard import HeardTracker, speakable_join
from bridge.core.pace import PaceSums, VoicePace
from bridge.core.result import SegmentTiming, TurnResult
from bridge.pipeline.handoff import Channel
from bridge.pipeline.options import PipelineOptions, ReconnectPolicy, TTSTarget
from bridge.pipeline.result_builder import build_result, log_result
from bridge.pipeline.segment_log import SegmentLog
from bridge.pipeline.speech_stage import SpeechStage
from bridge.pipeline.text_stage import TextStage
from bridge.pipeline.timeline import Timeline
from bridge.text import Segment

__all__ = ["PipelineOptions", "ReconnectPolicy", "TTSTarget", "Turn", "speakable_join"]

log = structlog.get_logger("bridge.pipeline")


class Turn:
    """One turn: speak ``text`` (an async iterable of deltas) into ``sink``.

    ``await turn.run()`` returns the ``TurnResult``; ``turn.interrupt()`` stops it at once
    (barge-in). The turn owns the sink: it closes it at the end, or stops it when interrupted.
    ``on_segment`` sees each segment as it is cut, ``on_text`` each delta of the text as it
    arrives (before scrubbing), ``on_timing`` where a segment's audio lies in the turn's audio
    as soon as that is known, and again whenever it changes (an estimate confirmed, a
    segment re-sent after a dropped connection), ``on_result`` the result. ``traceparent``
    (W3C) is the parent of the turn's OpenTelemetry span (``bridge.adapters.tracing``).
    ``pace`` (a ``VoicePace`` kept across turns) is what earlier turns learned of the voice's
    pace; the turn uses it to size a barge-in's response before one of its own has finished,
    and adds what it learned when it ends. ``request_sent``, set by the text source once its
    request is out (``LLMClient.stream``'s ``on_sent``), holds the rest of the turn (the
    player, the segmenter, the TTS connection) until then, so that their work does not come
    between the request's bytes; the source's first delta, or its end, sets it too.
    """

    def __init__(
        self,
        text: AsyncIterable[str],
        sink: AudioSink,
        *,
        target: TTSTarget,
        options: PipelineOptions | None = None,
        on_segment: Callable[[Segment], None] | None = None,
        on_result: Callable[[TurnResult], Awaitable[None] | None] | None = None,
        on_text: Callable[[str], None] | None = None,
        on_timing: Callable[[SegmentTiming], None] | None = None,
        clock: Callable[[], float] = anyio.current_time,
        turn_id: str | None = None,
        request_text: str | None = None,
        traceparent: str | None = None,
        pace: VoicePace | None = None,
        request_sent: anyio.Event | None = None,
    ) -> None:
        self.target = target
        self._request_sent = request_sent
        self.options = options = options or PipelineOptions()
        self.sink = sink
        self.turn_id = turn_id or "turn_" + uuid.uuid4().hex[:12]
        self._on_result = on_result
        self._request_text = request_text  # what the turn answers (the user's), for the logs
        # OpenTelemetry (the otel extra): the turn's span, a child of ``traceparent``.
        self._trace = TurnTrace(traceparent=traceparent, model=target.model)
        self._timeline = Timeline(clock)
        self._segments = SegmentLog()
        self._pace = pace
        self._tracker = HeardTracker(
            commit_mode=target.config.mode == "commit",
            speech_rate=target.config.speech_rate or 1.0,
            prior=PaceSums() if pace is None else pace.sums(target.model, target.config.voice),
        )
        self._text = TextStage(
            text,
            options=options,
            timeline=self._timeline,
            segments=self._segments,
            on_text=on_text,
            on_segment=on_segment,
            request_sent=request_sent,
        )
        self._speech = SpeechStage(
            target=target,
            options=options,
            sink=sink,
            timeline=self._timeline,
            segments=self._segments,
            tracker=self._tracker,
            trace=self._trace,
            interrupted=lambda: self._interrupted,
            stop_sink=self._stop_sink,
            on_timing=on_timing,
            on_listener_left=self.interrupt,
        )
        self._interrupted = False
        self._sink_stopped = False
        self._started = False
        self._scope: anyio.CancelScope | None = None
        self._drain: anyio.CancelScope | None = None  # the sink playing out its queue
        self._result: TurnResult | None = None

    # --- control ------------------------------------------------------------------------

    @property
    def result(self) -> TurnResult | None:
        return self._result

    @property
    def started(self) -> bool:
        """``run()`` was called (the turn may have ended since: see ``result``)."""
        return self._started

    @property
    def interrupted(self) -> bool:
        return self._interrupted or self._speech.cancelled

    def interrupt(self) -> None:
        """Barge-in: stop the turn now. Safe to call at any time, more than once."""
        if self._result is not None or self.interrupted:
            return
        self._interrupted = True
        if self._started:
            self._timeline.mark("interrupted")
        if isinstance(self.sink, StopsAtOnce):
            # Its listener runs in a task of its own and could take audio already buffered
            # before the turn's tasks see the cancellation: stopped now, before returning.
            self.sink.stop_now()
        if self._scope is not None:
            self._scope.cancel()
        if self._drain is not None:
            self._drain.cancel()  # all audio arrived, but the sink is still playing it

    def hurry(self) -> None:
        """Something waits for this turn's end (the next message): after a barge-in, the
        turn waits for the end of the speech response that was playing at most
        ``settle_timeout`` (from the start of that wait), not ``settle_idle_timeout``."""
        self._speech.hurry()

    # --- the turn -----------------------------------------------------------------------

    async def run(self) -> TurnResult:
        if self._started:
            raise BridgeError("a Turn runs once")
        self._started = True
        self._timeline.start()
        self._trace.start()
        deltas: Channel[str] = Channel(64)
        self._scope = anyio.CancelScope()
        if self._interrupted:
            self._scope.cancel()
        try:
            with self._scope:
                async with anyio.create_task_group() as outer:
                    try:
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(self._text.read, deltas)
                            if self._request_sent is not None:
                                await self._request_sent.wait()
                            # The sink plays on while a failed speech stage ends the others.
                            outer.start_soon(self._speech.play)
                            segs_send, segs_recv = anyio.create_memory_object_stream[Segment](32)
                            tg.start_soon(self._text.cut, deltas, segs_send)
                            tg.start_soon(self._speech.run, segs_recv, tg.cancel_scope)
                    finally:
                        self._speech.end_audio()
        except anyio.get_cancelled_exc_class():
            # Cancelling the turn's enclosing scope is a barge-in too.
            self._interrupted = True
            self._timeline.mark("interrupted")
            raise
        finally:
            with anyio.CancelScope(shield=True):
                result = await self._finish()
        return result

    async def _finish(self) -> TurnResult:
        await self._release_sink()
        if self._speech.listener_left and not self.interrupted:
            # The listener went away with audio untaken at the end: cut short like a barge-in.
            self._interrupted = True
            self._timeline.mark("interrupted")
        self._timeline.mark("done")
        if self._pace is not None:
            rate = self.target.config.sample_rate
            self._pace.learn(
                self.target.model, self.target.config.voice, self._tracker.pace_sums(rate)
            )
        moments = self._timeline.snapshot()
        prices = self.options.prices
        result = build_result(
            turn_id=self.turn_id,
            moments=moments,
            segments=self._segments,
            tracker=self._tracker,
            sample_rate=self.target.config.sample_rate,
            samples_played=self.sink.samples_played,
            interrupted=self.interrupted,
            error=self._speech.error or self._text.error,
            billed=self._speech.billed,
            reconnects=self._speech.reconnects,
            price=None if prices is None else prices.for_model(self.target.model),
        )
        self._result = result
        if moments.interrupted_ms is not None:
            self._trace.barge_in(moments.interrupted_ms)
        self._trace.finish(result)
        log_result(result, self._request_text)
        if self._on_result is not None:
            maybe = self._on_result(result)
            if maybe is not None:
                await maybe
        return result

    async def _release_sink(self) -> None:
        """Close the sink, or stop it after a barge-in. A speaker plays out what is queued
        first: as long as that audio lasts, unless ``interrupt()`` comes first (then it is
        stopped like any barge-in). A broken sink must not lose the turn's result."""
        try:
            if not self.interrupted:
                queued = max(0, self._speech.samples_written - self.sink.samples_played)
                with anyio.move_on_after(2 + queued / self.target.config.sample_rate) as drain:
                    self._drain = drain
                    await self.sink.close()
            if self.interrupted:
                await self._stop_sink()
        except Exception as exc:
            log.warning("sink.close_failed", error=type(exc).__name__)

    async def _stop_sink(self) -> None:
        """Barge-in: stop the sink, once (the speech stage does it as soon as the session is
        cancelled, before it settles the heard text; bounded, a broken sink is logged)."""
        if self._sink_stopped:
            return
        self._sink_stopped = True
        try:
            with anyio.move_on_after(2):
                await self.sink.stop()
        except Exception as exc:
            log.warning("sink.stop_failed", error=type(exc).__name__)
