"""Speak an async stream of text through a Qwen-TTS session as it arrives.

Text goes through the scrubber and the segmenter; every finished segment is appended to the
session at once (``server_commit`` mode), while a second task hands the audio to a sink. This
is the text-to-speech half of the turn pipeline, usable on its own (``bridge speak``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass

import anyio
import structlog

from bridge.qwen.client import AudioChunk, TTSSession
from bridge.text import Scrubber, Segmenter

__all__ = ["SpeakResult", "speak_text_stream"]

log = structlog.get_logger("bridge.speak")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakResult:
    segments: tuple[str, ...]
    audio_seconds: float
    first_audio_latency: float | None  # first text appended -> first audio chunk, seconds
    responses: int = 0
    characters: int = 0


def _join_for_tts(text: str) -> str:
    """Segments are stripped; keep a space after Latin text so appends do not glue words."""
    return text if not text or ord(text[-1]) >= 0x2E80 else text + " "


async def speak_text_stream(
    text: AsyncIterable[str],
    tts: TTSSession,
    on_audio: Callable[[AudioChunk], None],
    *,
    segmenter: Segmenter | None = None,
    scrubber: Scrubber | None = None,
    on_segment: Callable[[str], None] | None = None,
    clock: Callable[[], float] = anyio.current_time,
) -> SpeakResult:
    """Scrub, segment and speak ``text``; call ``on_audio`` for every chunk; finish the session."""
    seg = segmenter or Segmenter()
    scrub = scrubber or Scrubber()
    spoken: list[str] = []
    first_append: list[float] = []
    first_audio: list[float] = []
    audio_seconds = 0.0

    async def append(pieces: list[str]) -> None:
        for piece in pieces:
            if not piece.strip():
                continue
            if not first_append:
                first_append.append(clock())
            spoken.append(piece)
            if on_segment is not None:
                on_segment(piece)
            await tts.append(_join_for_tts(piece))

    async def produce() -> None:
        async for delta in text:
            await append([s.text for s in seg.feed(scrub.feed(delta))])
        tail = scrub.flush()
        pieces = [s.text for s in seg.feed(tail)] if tail else []
        pieces += [s.text for s in seg.flush()]
        await append(pieces)
        await tts.send_finish()

    async def consume() -> None:
        nonlocal audio_seconds
        async for chunk in tts.audio():
            if not first_audio:
                first_audio.append(clock())
            audio_seconds += chunk.duration
            on_audio(chunk)

    async with anyio.create_task_group() as tg:
        tg.start_soon(produce)
        tg.start_soon(consume)

    latency = first_audio[0] - first_append[0] if first_append and first_audio else None
    chars = sum(r.characters or 0 for r in tts.responses)
    log.info(
        "speak.done",
        segments=len(spoken),
        audio_seconds=round(audio_seconds, 3),
        first_audio_latency=latency,
    )
    return SpeakResult(
        segments=tuple(spoken),
        audio_seconds=audio_seconds,
        first_audio_latency=latency,
        responses=len(tts.responses),
        characters=chars,
    )
