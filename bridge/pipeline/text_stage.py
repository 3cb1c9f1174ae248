"""The text stages of a turn: read the text source (stage 1), then scrub it, make the user's
word replacements and cut it into segments, with the stall guard (stage 2).

The stall guard: when text is pending and no boundary came for ``stall_timeout`` seconds, the
segmenter is told to cut, so the listener is not left in silence.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, Callable
from contextlib import suppress

import anyio
import structlog
from anyio.streams.memory import MemoryObjectSendStream

from bridge.core.errors import BridgeError
from bridge.pipeline.handoff import Channel, consuming, put
from bridge.pipeline.options import PipelineOptions
from bridge.pipeline.segment_log import SegmentLog
from bridge.pipeline.timeline import Timeline
from bridge.text import Lexicon, Scrubber, Segment, Segmenter

__all__ = ["TextStage"]

log = structlog.get_logger("bridge.pipeline")


class TextStage:
    """``read`` and ``cut`` run as two tasks joined by a queue of deltas; while ``cut`` waits
    for one, ``read`` feeds the delta it got to the segmenter itself (``_Cutter``). ``error``
    is the text source's failure, if any: the text that arrived before it is still spoken."""

    def __init__(
        self,
        text: AsyncIterable[str],
        *,
        options: PipelineOptions,
        timeline: Timeline,
        segments: SegmentLog,
        on_text: Callable[[str], None] | None = None,
        on_segment: Callable[[Segment], None] | None = None,
        request_sent: anyio.Event | None = None,
    ) -> None:
        self._text = text
        self._request_sent = request_sent
        self._options = options
        self._timeline = timeline
        self._segments = segments
        self._on_text = on_text
        self._on_segment = on_segment
        self.error: BridgeError | None = None
        self._cutter: _Cutter | None = None  # stage 2's state, once ``cut`` runs

    async def read(self, out: Channel[str]) -> None:
        """Stage 1: the text source's deltas, as they come (``out`` is closed at the end).
        ``request_sent`` is set at the first delta and at the end, if the source has not
        set it before."""
        source = aiter(self._text)
        sent = self._request_sent
        try:
            try:
                async for delta in source:
                    if sent is not None and not sent.is_set():
                        sent.set()
                    if not delta:
                        continue
                    self._timeline.mark("ttft")
                    if self._on_text is not None:
                        self._on_text(delta)
                    if out.waiting:
                        # The segmenter waits for this delta: fed here (see ``_Cutter``).
                        cutter = self._cutter
                        assert cutter is not None  # only ``cut`` waits on ``out``
                        async with cutter.lock:
                            await cutter.feed(delta)
                        if cutter.deadline() < cutter.parked:
                            out.put_nowait("")  # wake ``cut`` to wait for the new deadline
                        continue
                    # At once while there is room; refused once the segmenter is gone
                    # (after a checkpoint: a cut-off turn ends with its cancellation).
                    await out.put(delta)
            except BridgeError as exc:
                # The model failed mid-reply: speak what arrived, report the error.
                self.error = exc
                log.warning("turn.text_failed", error=type(exc).__name__, message=str(exc))
            finally:
                self._timeline.mark("llm_done")
                # Close the source now (an LLM stream holds an HTTP response open), also when
                # the turn was interrupted, rather than whenever it is garbage-collected.
                close = getattr(source, "aclose", None)
                if close is not None:
                    with anyio.move_on_after(1, shield=True), suppress(Exception):
                        await close()
        finally:
            if sent is not None:
                sent.set()
            out.close()

    async def cut(self, inp: Channel[str], out: MemoryObjectSendStream[Segment]) -> None:
        """Stage 2: scrub, replace words, segment; cut early when the text stalls. While this
        task waits for a delta, ``read`` feeds the next one itself (see ``_Cutter``)."""
        cutter = self._cutter = _Cutter(self, out)
        clock = self._timeline.clock
        lock = cutter.lock
        async with consuming(inp), out:
            while True:
                wait = cutter.deadline() - clock()
                if wait > 0:
                    # A delta already waiting is taken without a scope and an event-loop pass.
                    try:
                        ready: str | None = inp.get_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        ready = None  # the end too goes through get() (cancellation first)
                    if ready is not None:
                        async with lock:
                            await cutter.feed(ready)
                        continue
                parked = cutter.parked = cutter.deadline()
                with anyio.move_on_after(max(0.0, wait)) as scope:
                    try:
                        delta = await inp.get()
                    except anyio.EndOfStream:
                        break
                    finally:
                        cutter.parked = -math.inf
                if scope.cancelled_caught:
                    async with lock:
                        await cutter.stalled(parked)
                    continue
                if delta:  # "": a nudge from read (a new stall deadline), nothing to feed
                    async with lock:
                        await cutter.feed(delta)
            async with lock:
                await cutter.finish()


class _Cutter:
    """Stage 2's state: scrubber, word replacements, segmenter and the stall clock, shared by
    the ``cut`` task and ``read``.

    While ``cut`` waits for the next delta, ``read`` feeds the delta it got itself instead of
    queueing it (one event-loop wake-up less per delta: ``benchmarks/loop_callbacks.py``). The
    ``lock`` (no checkpoint when free) keeps the two from cutting at once; ``read`` only feeds
    when ``cut`` waits with nothing queued, so deltas keep their order. ``cut`` waits with
    the stall deadline it computed (``parked``); when ``read``'s feed makes text pend with an
    earlier deadline than that, it nudges ``cut`` (an empty delta) so the guard still fires.
    """

    def __init__(self, stage: TextStage, out: MemoryObjectSendStream[Segment]) -> None:
        options = stage._options
        self._stage = stage
        self._out = out
        self._clock = stage._timeline.clock
        self._scrubber = Scrubber(code_placeholder=options.code_placeholder)
        self._segmenter = Segmenter(options.segmenter)
        self._words = (options.lexicon or Lexicon.build()).stream()
        self._stall = options.stall_timeout
        self._tail = ""  # text fed since the end of the last segment
        self._fed = 0
        self._pending_since: float | None = None
        self.lock = anyio.Lock(fast_acquire=True)
        self.parked = -math.inf  # while ``cut`` waits: the stall deadline it waits with

    def deadline(self) -> float:
        """When the stall guard cuts: ``inf`` while no text pends."""
        pending = self._pending_since
        return math.inf if pending is None else pending + self._stall

    async def feed(self, delta: str) -> None:
        await self._emit(self._feed(self._words.feed(self._scrubber.feed(delta))))

    async def stalled(self, deadline: float) -> None:
        """``cut`` waited until the stall ``deadline``: cut what pends, unless ``read``'s
        feeds moved the deadline meanwhile (``cut`` then waits for the new one)."""
        if self.deadline() > deadline:
            return
        await self._emit(self._segmenter.cut())
        if self._pending_since is not None and self._clock() - self._pending_since >= self._stall:
            self._pending_since = self._clock()  # nothing to cut yet: wait again

    async def finish(self) -> None:
        rest = self._words.feed(self._scrubber.flush()) + self._words.flush()
        await self._emit(self._feed(rest) if rest else [])
        await self._emit(self._segmenter.flush())

    def _feed(self, clean: str) -> list[Segment]:
        self._fed += len(clean)
        self._tail += clean
        if self._pending_since is None and self._tail.strip():
            self._pending_since = self._clock()
        return self._segmenter.feed(clean)

    async def _emit(self, segments: list[Segment]) -> None:
        stage = self._stage
        for seg in segments:
            if not seg.text.strip():
                continue
            stage._timeline.mark("first_segment")
            stage._segments.cut(seg.text.strip(), seg.kind, ready_ms=stage._timeline.now_ms())
            if stage._on_segment is not None:
                stage._on_segment(seg)
            await put(self._out, seg)
        if segments:
            keep = self._fed - segments[-1].end
            tail = self._tail
            self._tail = tail[len(tail) - keep :] if keep > 0 else ""
            self._pending_since = self._clock() if self._tail.strip() else None
