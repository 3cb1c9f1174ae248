"""The turn pipeline: text stream → scrubber → segmenter → Qwen-TTS appends → audio → sink.

One anyio task group per turn with three stages joined by small bounded streams:

    read text (LLM or any async iterable) ─▶ scrub + segment (stall guard) ─▶ speech
                                                                              (append / receive)
                                                                                ─▶ play (sink)

The speech stage reads the server's events ahead of the sink (up to ``_READ_AHEAD`` chunks),
so the heard-text bookkeeping learns where each response ends while its audio still plays.

The speech stage opens its TTS session as soon as the turn starts, so the connection and its
``session.update`` happen while the model is still thinking (prewarm). Each turn has its own
session, ended with ``session.finish``: the documented way to have the server flush its buffer.

Barge-in (``Turn.interrupt()`` or cancelling the turn's scope): the text stream stops,
``input_text_buffer.clear`` is sent, the sink is stopped and the session's connection is
closed, so no audio of the interrupted turn can reach a sink afterwards or leak into the next
turn (which has its own connection). Audio deltas that arrive after the interrupt are dropped.

Resilience: when the TTS connection drops mid-turn, the pipeline reconnects (``ReconnectPolicy``)
and re-sends the segments whose audio did not fully arrive; only the one partly heard segment
repeats. A failing text source ends the turn with a typed error in the result after the text
already received has been spoken.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bridge.adapters.sinks import AudioSink
from bridge.adapters.tracing import TurnTrace
from bridge.core.cost import PriceTable, TurnCost, heard_characters
from bridge.core.errors import (
    BridgeError,
    ConfigError,
    TTSAuthError,
    TTSConnectionError,
    TTSServerError,
    TTSTimeoutError,
)
from bridge.core.heard import HeardTracker, speakable_join
from bridge.core.result import SegmentRecord, SegmentTiming, TurnFailure, TurnResult
from bridge.logs import text_logging
from bridge.pipeline.handoff import put, take
from bridge.qwen.client import AudioChunk, Timeouts, TTSSession, build_url, connect
from bridge.qwen.config import SessionConfig
from bridge.qwen.events import ResponseCreated, ResponseDone, SessionFinished
from bridge.qwen.models import DEFAULT_MODEL
from bridge.text import Lexicon, Scrubber, Segment, Segmenter, SegmenterOptions
from bridge.text._chars import join_space

__all__ = ["PipelineOptions", "ReconnectPolicy", "TTSTarget", "Turn", "speakable_join"]

log = structlog.get_logger("bridge.pipeline")


@dataclass(frozen=True, slots=True, kw_only=True)
class TTSTarget:
    """Where and how to open TTS sessions (one per turn)."""

    url: str | None = None
    region: str = "beijing"
    model: str = DEFAULT_MODEL
    api_key: str | None = field(default=None, repr=False)
    workspace: str | None = None
    config: SessionConfig = field(default_factory=SessionConfig)
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        # Refuse a URL that is not ws:// or wss://, an unknown region or a bad workspace id
        # when the target is made (at start-up), not at every turn.
        build_url(self.url, self.region, self.model, self.workspace)

    def connect(self) -> AbstractAsyncContextManager[TTSSession]:
        return connect(
            url=self.url,
            region=self.region,
            model=self.model,
            api_key=self.api_key,
            workspace=self.workspace,
            config=self.config,
            timeouts=self.timeouts,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """How often to reconnect when the TTS connection drops mid-turn, and the pause first."""

    attempts: int = 1
    delay: float = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineOptions:
    """Options of a turn.

    - ``commit_first``: in ``server_commit`` mode, send ``input_text_buffer.commit`` right after
      the first segment so synthesis starts at once even when it ends at a comma (measured in
      ``benchmarks/pipeline_speed.py``; on by default because it wins there);
    - ``stall_timeout``: seconds with text pending and no boundary before the segmenter is told
      to cut, so the listener is not left in silence;
    - ``keep_full_text``: record the whole reply in the history even when interrupted;
    - ``clear_timeout``: bound on sending ``input_text_buffer.clear`` at barge-in;
    - ``prices``: the user's price table; with a price for the turn's model the result carries
      its ``cost``.
    - ``lexicon``: the user's word replacements, made in the scrubbed text before it is
      segmented (see ``bridge.text.Lexicon``).
    """

    commit_first: bool = True
    stall_timeout: float = 1.2
    keep_full_text: bool = False
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    code_placeholder: str | None = None
    clear_timeout: float = 0.5
    prices: PriceTable | None = None
    lexicon: Lexicon | None = None

    def __post_init__(self) -> None:
        if not (self.stall_timeout > 0 and math.isfinite(self.stall_timeout)):
            raise ConfigError("stall_timeout must be a positive number of seconds")
        if self.reconnect.attempts < 0:
            raise ConfigError("reconnect attempts must not be negative")


# Audio chunks received but not yet taken by the sink: about 13 s at the default 100 ms
# deltas, more than a sentence's response, so its response.done is read while it still plays.
_READ_AHEAD = 128


def _for_tts(text: str) -> str:
    """Segments are stripped; keep a space after Latin (Korean, Thai) text so appends do not
    glue words: the space that ``speakable_join`` would put before a following word."""
    text = text.strip()
    return text + join_space(text[-1:], "a")


class Turn:
    """One turn: speak ``text`` (an async iterable of deltas) into ``sink``.

    ``await turn.run()`` returns the ``TurnResult``; ``turn.interrupt()`` stops it at once
    (barge-in). The turn owns the sink: it closes it at the end, or stops it when interrupted.
    ``on_segment`` sees each segment as it is cut, ``on_text`` each delta of the text as it
    arrives (before scrubbing), ``on_timing`` where a segment's audio lies in the turn's audio
    as soon as that is known, and again whenever it changes (an estimate confirmed, a
    segment re-sent after a dropped connection), ``on_result`` the result. ``traceparent``
    (W3C) is the parent of the turn's OpenTelemetry span (``bridge.adapters.tracing``).
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
    ) -> None:
        self.target = target
        # OpenTelemetry (the otel extra): the turn's span, a child of ``traceparent``.
        self._trace = TurnTrace(traceparent=traceparent, model=target.model)
        # What the turn answers (the user's message), for the logs only.
        self._request_text = request_text
        self.options = options or PipelineOptions()
        self.sink = sink
        self.turn_id = turn_id or "turn_" + uuid.uuid4().hex[:12]
        self._text = text
        self._on_segment = on_segment
        self._on_result = on_result
        self._on_text = on_text
        self._on_timing = on_timing
        self._timings: list[SegmentTiming | None] = []  # as last reported
        self._heard_from: set[str] = set()  # responses whose audio has started
        self._clock = clock
        self._commit_mode = target.config.mode == "commit"
        self._tracker = HeardTracker(
            commit_mode=self._commit_mode, speech_rate=target.config.speech_rate or 1.0
        )
        self._t0 = 0.0
        self._marks: dict[str, float] = {}
        self._records: list[dict[str, Any]] = []
        self._clean: list[str] = []
        self._interrupted = False
        self._started = False
        self._scope: anyio.CancelScope | None = None
        self._drain: anyio.CancelScope | None = None  # the sink playing out its queue
        self._error: BaseException | None = None
        self._resend: list[int] = []
        self._commit_ids: set[str] = set()
        self._billed: int | None = None
        self._reconnects = 0
        self._samples_written = 0
        # Received audio on its way to the sink (see ``_play``).
        self._audio_out, self._audio_in = anyio.create_memory_object_stream[AudioChunk](_READ_AHEAD)
        self._result: TurnResult | None = None

    # --- control ------------------------------------------------------------------------

    @property
    def result(self) -> TurnResult | None:
        return self._result

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def interrupt(self) -> None:
        """Barge-in: stop the turn now. Safe to call at any time, more than once."""
        if self._result is not None or self._interrupted:
            return
        self._interrupted = True
        if self._started:
            self._mark("interrupted")
        if self._scope is not None:
            self._scope.cancel()
        if self._drain is not None:
            self._drain.cancel()  # all audio arrived, but the sink is still playing it

    def _mark(self, name: str) -> None:
        if name not in self._marks:
            self._marks[name] = (self._clock() - self._t0) * 1000

    # --- the turn -----------------------------------------------------------------------

    async def run(self) -> TurnResult:
        if self._started:
            raise BridgeError("a Turn runs once")
        self._started = True
        self._t0 = self._clock()
        self._trace.start()
        deltas_send, deltas_recv = anyio.create_memory_object_stream[str](64)
        segs_send, segs_recv = anyio.create_memory_object_stream[Segment](32)
        audio_send, audio_recv = self._audio_out, self._audio_in
        self._scope = anyio.CancelScope()
        if self._interrupted:
            self._scope.cancel()
        try:
            with self._scope:
                async with anyio.create_task_group() as outer:
                    # The sink plays on while a failed speech stage ends the other stages.
                    outer.start_soon(self._play, audio_recv)
                    try:
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(self._read_text, deltas_send)
                            tg.start_soon(self._segment, deltas_recv, segs_send)
                            tg.start_soon(self._speech, segs_recv, tg.cancel_scope)
                    finally:
                        audio_send.close()
        except anyio.get_cancelled_exc_class():
            # Cancelling the turn's enclosing scope is a barge-in too.
            self._interrupted = True
            self._mark("interrupted")
            raise
        finally:
            with anyio.CancelScope(shield=True):
                result = await self._finish()
        return result

    async def _finish(self) -> TurnResult:
        try:
            if not self._interrupted:
                # A speaker plays out what is queued: as long as that audio lasts, unless
                # interrupt() comes first (then it is stopped like any barge-in).
                queued = max(0, self._samples_written - self.sink.samples_played)
                with anyio.move_on_after(2 + queued / self.target.config.sample_rate) as drain:
                    self._drain = drain
                    await self.sink.close()
            if self._interrupted:
                with anyio.move_on_after(2):
                    await self.sink.stop()
        except Exception as exc:  # a broken sink must not lose the turn's result
            log.warning("sink.close_failed", error=type(exc).__name__)
        self._mark("done")
        rate = self.target.config.sample_rate
        timings = self._tracker.timings(rate)
        text = speakable_join(self._clean_segments())
        if self._interrupted or self._error is not None:
            spoken = self._tracker.heard_text(self.sink.samples_played, rate)
        else:
            spoken = text
        error = None
        if self._error is not None:
            error = TurnFailure.of(self._error)
        heard = heard_characters(self._clean_segments(), spoken)
        billed, unreported = self._billed, 0
        if billed is not None and (self._interrupted or self._error is not None):
            # Cut short: the running response never reported its usage.
            unreported = max(0, int(self._tracker.total) - billed)
        prices = self.options.prices
        price = None if prices is None else prices.for_model(self.target.model)
        cost = None
        if price is not None and billed is not None:
            cost = TurnCost.of(price, billed=billed + unreported, heard=heard)
        m = self._marks
        result = TurnResult(
            turn_id=self.turn_id,
            ttft_ms=m.get("ttft"),
            first_segment_ms=m.get("first_segment"),
            first_append_ms=m.get("first_append"),
            first_audio_ms=m.get("first_audio"),
            first_play_ms=m.get("first_play"),
            llm_done_ms=m.get("llm_done"),
            done_ms=m.get("done"),
            audio_ms=self.sink.samples_played / rate * 1000,
            text=text,
            spoken_text=spoken,
            interrupted=self._interrupted,
            chars_appended=sum(len(r["text"]) for r in self._records if r["appended"] is not None),
            chars_billed=self._billed,
            chars_unreported=unreported,
            chars_heard=heard,
            cost=cost,
            segments=tuple(
                SegmentRecord(
                    text=r["text"],
                    kind=r["kind"],
                    appended_ms=r["appended"],
                    ready_ms=r["ready"],
                    timing=timings[i] if i < len(timings) else None,
                )
                for i, r in enumerate(self._records)
            ),
            reconnects=self._reconnects,
            error=error,
        )
        self._result = result
        if "interrupted" in m:
            self._trace.barge_in(m["interrupted"])
        self._trace.finish(result)
        request = self._request_text
        sizes = {} if request is None else {"request_chars": len(request)}
        log.info("turn", **result.log_fields(), **sizes)
        # The user's and the model's text: at DEBUG only, unless asked for (--log-text).
        texts = _texts(result) if request is None else {"request_text": request, **_texts(result)}
        (log.info if text_logging() else log.debug)("turn.text", turn_id=result.turn_id, **texts)
        if self._on_result is not None:
            maybe = self._on_result(result)
            if maybe is not None:
                await maybe
        return result

    def _clean_segments(self) -> list[str]:
        return [r["text"] for r in self._records]

    # --- stage 1: the text source ---------------------------------------------------------

    async def _read_text(self, out: MemoryObjectSendStream[str]) -> None:
        source = aiter(self._text)
        async with out:
            try:
                async for delta in source:
                    if not delta:
                        continue
                    self._mark("ttft")
                    if self._on_text is not None:
                        self._on_text(delta)
                    await put(out, delta)
            except BridgeError as exc:
                # The model failed mid-reply: speak what arrived, report the error.
                self._error = exc
                log.warning("turn.text_failed", error=type(exc).__name__, message=str(exc))
            finally:
                self._mark("llm_done")
                # Close the source now (an LLM stream holds an HTTP response open), also when
                # the turn was interrupted, rather than whenever it is garbage-collected.
                close = getattr(source, "aclose", None)
                if close is not None:
                    with anyio.move_on_after(1, shield=True), suppress(Exception):
                        await close()

    # --- stage 2: scrub, segment, stall guard ---------------------------------------------

    async def _segment(
        self, inp: MemoryObjectReceiveStream[str], out: MemoryObjectSendStream[Segment]
    ) -> None:
        scrubber = Scrubber(code_placeholder=self.options.code_placeholder)
        segmenter = Segmenter(**asdict(self.options.segmenter))
        words = (self.options.lexicon or Lexicon.build()).stream()
        tail = ""  # text fed since the end of the last segment
        fed = 0
        pending_since: float | None = None
        stall = self.options.stall_timeout

        async def emit(segments: list[Segment]) -> None:
            nonlocal tail, pending_since
            for seg in segments:
                if not seg.text.strip():
                    continue
                self._mark("first_segment")
                self._records.append(
                    {
                        "text": seg.text.strip(),
                        "kind": seg.kind,
                        "ready": (self._clock() - self._t0) * 1000,
                        "appended": None,
                    }
                )
                if self._on_segment is not None:
                    self._on_segment(seg)
                await put(out, seg)
            if segments:
                keep = fed - segments[-1].end
                tail = tail[len(tail) - keep :] if keep > 0 else ""
                pending_since = self._clock() if tail.strip() else None

        def feed(clean: str) -> list[Segment]:
            nonlocal tail, fed, pending_since
            fed += len(clean)
            tail += clean
            if pending_since is None and tail.strip():
                pending_since = self._clock()
            return segmenter.feed(clean)

        async with inp, out:
            while True:
                wait = math.inf if pending_since is None else pending_since + stall - self._clock()
                if wait > 0:
                    # A delta already waiting is taken without a scope and an event-loop pass.
                    try:
                        ready: str | None = inp.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        ready = None  # the end too goes through receive() (cancellation first)
                    if ready is not None:
                        await emit(feed(words.feed(scrubber.feed(ready))))
                        continue
                with anyio.move_on_after(max(0.0, wait)) as scope:
                    try:
                        delta = await inp.receive()
                    except anyio.EndOfStream:
                        break
                if scope.cancelled_caught:
                    await emit(segmenter.cut())
                    if pending_since is not None and self._clock() - pending_since >= stall:
                        pending_since = self._clock()  # nothing to cut yet: wait again
                    continue
                await emit(feed(words.feed(scrubber.feed(delta))))
            rest = words.feed(scrubber.flush()) + words.flush()
            await emit(feed(rest) if rest else [])
            await emit(segmenter.flush())

    # --- stage 3: speech --------------------------------------------------------------------

    async def _speech(
        self, segs: MemoryObjectReceiveStream[Segment], turn_scope: anyio.CancelScope
    ) -> None:
        attempts = 0
        async with segs:
            while True:
                try:
                    await self._one_session(segs)
                    return
                except (TTSAuthError, ConfigError) as exc:
                    self._error = exc
                except (TTSConnectionError, TTSTimeoutError, TTSServerError) as exc:
                    if attempts < self.options.reconnect.attempts and not self._interrupted:
                        attempts += 1
                        self._reconnects += 1
                        self._tracker.forget_responses_after_drop()
                        self._resend = self._tracker.undelivered()
                        log.warning(
                            "turn.tts_reconnect",
                            error=type(exc).__name__,
                            resend=len(self._resend),
                        )
                        self._trace.reconnect(
                            (self._clock() - self._t0) * 1000,
                            error=type(exc).__name__,
                            resend=len(self._resend),
                        )
                        await anyio.sleep(self.options.reconnect.delay)
                        continue
                    self._error = exc
                except BridgeError as exc:
                    self._error = exc
                # A fatal speech error: nothing more can be spoken; end the turn.
                log.warning("turn.tts_failed", error=type(self._error).__name__)
                turn_scope.cancel()
                return

    async def _one_session(self, segs: MemoryObjectReceiveStream[Segment]) -> None:
        async with self.target.connect() as tts:
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
                self._interrupted = True
                with anyio.move_on_after(self.options.clear_timeout, shield=True):
                    with suppress(BridgeError):
                        await tts.clear()
                # The connection is discarded: do not wait for a closing handshake behind
                # audio frames nobody will read.
                tts.abort()
                raise
            if failure:
                raise failure[0]

    async def _append(self, tts: TTSSession, index: int, text: str, *, first: bool) -> None:
        await tts.append(_for_tts(text))
        if self._commit_mode or (first and self.options.commit_first):
            self._commit_ids.add(await tts.commit())

    async def _send_segments(
        self, tts: TTSSession, segs: MemoryObjectReceiveStream[Segment]
    ) -> None:
        for index in self._resend:
            text = self._tracker.texts[index]
            await self._append(tts, index, text, first=False)
        self._resend = []
        while True:
            try:
                seg = await take(segs)
            except anyio.EndOfStream:
                break
            text = seg.text.strip()
            index = self._tracker.appended(text, _for_tts(text))
            first = index == 0
            await self._append(tts, index, text, first=first)
            self._mark("first_append")
            # Segments reach this stage in the order they were recorded: same index.
            self._records[index]["appended"] = (self._clock() - self._t0) * 1000
        await tts.send_finish()

    async def _play(self, audio: MemoryObjectReceiveStream[AudioChunk]) -> None:
        """Hand the received audio to the sink at the sink's pace. The speech stage reads
        the server's events meanwhile (up to ``_READ_AHEAD`` chunks ahead), so the
        bookkeeping learns where a response ends before its audio has played: a barge-in
        inside it is then measured against its real length, not an estimate."""
        async with audio:
            async for chunk in audio:
                if self._interrupted:
                    return
                self._mark("first_play")
                await self.sink.write(chunk)
                self._samples_written += chunk.samples

    def _report_timings(self) -> None:
        """Tell ``on_timing`` of each segment whose timing is new or changed."""
        if self._on_timing is None or self._interrupted:
            return
        timings = self._tracker.timings(self.target.config.sample_rate)
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
                self._mark("first_audio")
                if self._interrupted or not event.data:
                    continue  # stale audio after a barge-in is dropped
                chunk = event
                try:
                    # No checkpoint while there is room: a cancellation (the connection
                    # failed) cannot fall between handing a chunk on and counting it.
                    try:
                        self._audio_out.send_nowait(chunk)
                    except anyio.WouldBlock:
                        await self._audio_out.send(chunk)
                except anyio.BrokenResourceError:
                    continue  # the player has stopped (a barge-in): stale audio is dropped
                self._tracker.audio(chunk.response_id, chunk.samples)
                if event.response_id not in self._heard_from:
                    self._heard_from.add(event.response_id)
                    self._report_timings()
            elif isinstance(event, ResponseCreated):
                self._tracker.response_started(event.response_id)
            elif isinstance(event, ResponseDone):
                self._tracker.response_done(event.response_id, event.usage.characters)
                if event.usage.characters is not None:
                    self._billed = (self._billed or 0) + event.usage.characters
                self._report_timings()
            elif isinstance(event, SessionFinished):
                return


def _texts(result: TurnResult) -> dict[str, Any]:
    """The text of a turn, for DEBUG only (the user's content)."""
    return {
        "text": result.text,
        "spoken_text": result.spoken_text,
        "segments": [s.text for s in result.segments],
        "error_message": None if result.error is None else result.error.message,
    }
