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
    """``read`` and ``cut`` run as two tasks joined by a stream of deltas. ``error`` is the
    text source's failure, if any: the text that arrived before it is still spoken."""

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
        """Stage 2: scrub, replace words, segment; cut early when the text stalls."""
        options = self._options
        clock = self._timeline.clock
        scrubber = Scrubber(code_placeholder=options.code_placeholder)
        segmenter = Segmenter(options.segmenter)
        words = (options.lexicon or Lexicon.build()).stream()
        tail = ""  # text fed since the end of the last segment
        fed = 0
        pending_since: float | None = None
        stall = options.stall_timeout

        async def emit(segments: list[Segment]) -> None:
            nonlocal tail, pending_since
            for seg in segments:
                if not seg.text.strip():
                    continue
                self._timeline.mark("first_segment")
                self._segments.cut(seg.text.strip(), seg.kind, ready_ms=self._timeline.now_ms())
                if self._on_segment is not None:
                    self._on_segment(seg)
                await put(out, seg)
            if segments:
                keep = fed - segments[-1].end
                tail = tail[len(tail) - keep :] if keep > 0 else ""
                pending_since = clock() if tail.strip() else None

        def feed(clean: str) -> list[Segment]:
            nonlocal tail, fed, pending_since
            fed += len(clean)
            tail += clean
            if pending_since is None and tail.strip():
                pending_since = clock()
            return segmenter.feed(clean)

        async with consuming(inp), out:
            while True:
                wait = math.inf if pending_since is None else pending_since + stall - clock()
                if wait > 0:
                    # A delta already waiting is taken without a scope and an event-loop pass.
                    try:
                        ready: str | None = inp.get_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        ready = None  # the end too goes through get() (cancellation first)
                    if ready is not None:
                        await emit(feed(words.feed(scrubber.feed(ready))))
                        continue
                with anyio.move_on_after(max(0.0, wait)) as scope:
                    try:
                        delta = await inp.get()
                    except anyio.EndOfStream:
                        break
                if scope.cancelled_caught:
                    await emit(segmenter.cut())
                    if pending_since is not None and clock() - pending_since >= stall:
                        pending_since = clock()  # nothing to cut yet: wait again
                    continue
                await emit(feed(words.feed(scrubber.feed(delta))))
            rest = words.feed(scrubber.flush()) + words.flush()
            await emit(feed(rest) if rest else [])
            await emit(segmenter.flush())
