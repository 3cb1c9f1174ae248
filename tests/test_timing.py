"""Caption timing: where each segment's audio lies in the turn's audio, checked against the
``exact`` engine (the samples of a timing's range decode to the text that was spoken there)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from bridge.adapters.sinks import NullSink
from bridge.core.result import SegmentTiming, TurnResult
from bridge.local import EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.pipeline import PipelineOptions, ReconnectPolicy, TTSTarget, Turn
from bridge.qwen import AudioChunk, SessionConfig, Timeouts
from bridge.text import SegmenterOptions

pytestmark = pytest.mark.anyio

RATE = 24000
RUN = samples_per_char(RATE)
FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)
TEXT = (
    "Sure, here is the plan. First we check the weather. Then we pack a bag. "
    "After that we walk to the lake, look at the birds, and rest. Finally we go home."
)


class Recorder(NullSink):
    def __init__(self) -> None:
        super().__init__()
        self.pcm = bytearray()

    async def write(self, chunk: AudioChunk) -> None:
        self.pcm += chunk.data
        await super().write(chunk)


async def words(text: str) -> AsyncIterator[str]:
    for i, word in enumerate(text.split(" ")):
        await anyio.sleep(0.001)
        yield word if i == len(text.split(" ")) - 1 else word + " "


def decoded(pcm: bytes | bytearray, start: int, end: int) -> str:
    return decode_speech(bytes(pcm[2 * start : 2 * end]), run_length=RUN).text


def decoded_within(pcm: bytes | bytearray, start: int, end: int) -> str:
    """The characters whose runs lie wholly in ``start:end`` (runs are back to back)."""
    return decoded(pcm, -(-start // RUN) * RUN, end // RUN * RUN)


async def speak(
    mode: str, **options: object
) -> tuple[Recorder, list[tuple[int, SegmentTiming]], TurnResult]:
    reported: list[tuple[int, SegmentTiming]] = []
    sink = Recorder()
    async with serve_emulator(EmulatorOptions(engine="exact", **options)) as emu:  # type: ignore[arg-type]
        turn = Turn(
            words(TEXT),
            sink,
            target=TTSTarget(url=emu.url, config=SessionConfig(mode=mode), timeouts=FAST),  # type: ignore[arg-type]
            options=PipelineOptions(segmenter=SegmenterOptions(max_chars=40, min_chars=10)),
            on_timing=lambda t: reported.append((len(sink.pcm) // 2, t)),
        )
        result = await turn.run()
    return sink, reported, result


async def test_commit_mode_timings_are_exact_and_decode_to_each_segment() -> None:
    sink, reported, result = await speak("commit")
    segments = result.segments
    assert len(segments) >= 5
    end = 0
    for seg in segments:
        t = seg.timing
        assert t is not None and not t.estimated, seg
        assert t.start == end  # back to back: every sample belongs to one segment
        # Exactly the segment's text (and the space appended after it), nothing else.
        assert decoded(sink.pcm, t.start, t.end).rstrip() == seg.text
        end = t.end
    assert end == len(sink.pcm) // 2
    # Each segment's timing was reported as soon as its first audio arrived (its start is
    # known then; the end is an estimate until the response is done), and confirmed later.
    for index, seg in enumerate(segments):
        first = next((at, t) for at, t in reported if t.index == index)
        last = [t for _, t in reported if t.index == index][-1]
        assert first[0] <= first[1].start + RATE // 10  # within the first audio delta
        assert last == seg.timing


async def test_server_commit_timings_are_marked_estimated_inside_merged_responses() -> None:
    # The segmenter cuts at 40 characters; the server cuts responses only at sentence ends,
    # so responses speak several segments and the bounds inside them are interpolated.
    sink, _, result = await speak("server_commit")
    segments = result.segments
    timings = [s.timing for s in segments]
    assert all(t is not None for t in timings)
    assert any(t.estimated for t in timings if t is not None)
    assert any(not t.estimated for t in timings if t is not None)
    for seg in segments:
        t = seg.timing
        assert t is not None
        text = decoded_within(sink.pcm, t.start, t.end).strip()
        if not t.estimated:
            assert text == seg.text
        else:  # interpolated by billed characters: within a few characters at either end
            assert abs(len(text) - len(seg.text)) <= 4, (text, seg.text)
            assert seg.text[3:-3] in text


async def test_after_a_dropped_connection_the_resent_copy_is_timed() -> None:
    latency = LatencyModel(delta_ms=50)
    faults = Faults(close_after_deltas=12, connections=1)
    reported: list[tuple[int, SegmentTiming]] = []
    sink = Recorder()
    async with serve_emulator(
        EmulatorOptions(engine="exact", latency=latency, faults=faults)
    ) as emu:
        turn = Turn(
            words(TEXT),
            sink,
            target=TTSTarget(url=emu.url, config=SessionConfig(mode="commit"), timeouts=FAST),
            options=PipelineOptions(reconnect=ReconnectPolicy(attempts=1, delay=0)),
            on_timing=lambda t: reported.append((len(sink.pcm) // 2, t)),
        )
        result = await turn.run()
    assert result.reconnects == 1 and not result.interrupted
    for seg in result.segments:
        t = seg.timing
        assert t is not None and not t.estimated
        assert decoded(sink.pcm, t.start, t.end).rstrip() == seg.text
    # The segment cut by the drop was timed twice: first its partial copy, then the re-sent one.
    assert len({t.index for _, t in reported}) == len(result.segments)
    moved = [
        i
        for i in range(len(result.segments))
        if len({t.start for _, t in reported if t.index == i}) > 1
    ]
    assert moved


async def test_each_segment_records_its_own_append_time() -> None:
    # Per-segment latency: ready (cut by the segmenter) no later than appended, both in order.
    _, _, result = await speak("commit")
    ready = [s.ready_ms for s in result.segments]
    appended = [s.appended_ms for s in result.segments]
    assert all(a is not None for a in appended) and all(r is not None for r in ready)
    for r, a in zip(ready, appended, strict=True):
        assert r is not None and a is not None and r <= a
    assert appended == sorted(appended)  # type: ignore[type-var]
    assert result.first_append_ms is not None and result.first_append_ms <= appended[0]
