"""What ``bridge chat`` shows and keeps of a turn: captions in step with the audio, a copy of
the reply's audio for ``/save``, the speaker (or, without one, a silent stand-in that keeps the
speech's pace), and the summary lines.

Captions: the pipeline gives us segments (sentences) as they are cut, and the sink sees the
audio responses arrive (each chunk carries its response id). Response *k* is taken to speak
segment *k*: exact in ``commit`` mode and with the first-clause commit, and close in
``server_commit`` mode, where the server cuts responses at sentence ends as the segmenter does.
A segment is shown once the audio of its response has started to play (``samples_played``
passes the response's first sample); the rest is shown at the end of a turn that was not
interrupted, so an interrupted reply shows what was heard, give or take a sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio

from bridge.adapters.sinks import AudioSink, NullSink
from bridge.adapters.speaker import open_speaker
from bridge.commands.common import plural
from bridge.core.result import TurnResult
from bridge.qwen.client import AudioChunk
from bridge.text._chars import join_space

__all__ = [
    "Captions",
    "Playback",
    "RecordingSink",
    "SilentSpeaker",
    "format_stats",
    "quiet_summary",
]

# /save keeps at most this much of a reply (10 minutes at 24 kHz is about 29 MB).
MAX_RECORD_SECONDS = 600


class SilentSpeaker:
    """Stands in for a speaker when there is none: plays nothing, but takes its time.

    Audio is "played" in real time from when it arrives (after an underrun, from the next
    chunk's arrival, as a device would), so the captions keep the pace of the speech, Ctrl-C
    stops the reply where a listener would have been, and the conversation records that much
    as heard, whether the speech service sends audio faster than real time or not.
    """

    def __init__(self, sample_rate: int, *, clock: Callable[[], float] = anyio.current_time):
        self.sample_rate = sample_rate
        self._clock = clock
        self._spans: list[tuple[float, int]] = []  # (start time, samples) of each chunk
        self._end = 0.0  # when everything written so far has been played
        self._done = 0  # chunks wholly played
        self._done_samples = 0
        self._frozen: int | None = None

    @property
    def samples_played(self) -> int:
        if self._frozen is not None:
            return self._frozen
        now = self._clock()
        while self._done < len(self._spans):
            start, samples = self._spans[self._done]
            played = int((now - start) * self.sample_rate)
            if played < samples:
                return self._done_samples + max(0, played)
            self._done += 1
            self._done_samples += samples
        return self._done_samples

    async def write(self, chunk: AudioChunk) -> None:
        if self._frozen is not None or not chunk.samples:
            return
        start = max(self._clock(), self._end)
        self._spans.append((start, chunk.samples))
        self._end = start + chunk.samples / self.sample_rate

    async def stop(self) -> None:
        self._frozen = self.samples_played

    async def close(self) -> None:
        """End of turn: wait until the audio would have finished playing."""
        await anyio.sleep(max(0.0, self._end - self._clock()))
        self._frozen = self.samples_played


class Playback:
    """Opens a speaker sink per turn when this machine has one, else a ``SilentSpeaker``."""

    def __init__(self, sample_rate: int, *, paced: bool = True) -> None:
        self.sample_rate = sample_rate
        self.paced = paced
        self.available = open_speaker(sample_rate) is not None

    def sink(self) -> AudioSink:
        if self.available:
            speaker = open_speaker(self.sample_rate)
            if speaker is not None:
                return speaker
        return SilentSpeaker(self.sample_rate) if self.paced else NullSink()


class RecordingSink:
    """Passes audio on to ``inner`` and keeps a copy of it, with where each response starts."""

    def __init__(
        self, inner: AudioSink, sample_rate: int, *, max_seconds: float = MAX_RECORD_SECONDS
    ) -> None:
        self.inner = inner
        self.sample_rate = sample_rate
        self.response_starts: list[int] = []  # sample offset of each response's first chunk
        self._limit = int(max_seconds * sample_rate) * 2
        self._pcm = bytearray()
        self._written = 0
        self._last_response: str | None = None

    @property
    def samples_played(self) -> int:
        return self.inner.samples_played

    async def write(self, chunk: AudioChunk) -> None:
        if chunk.response_id != self._last_response:
            self._last_response = chunk.response_id
            self.response_starts.append(self._written)
        self._written += chunk.samples
        room = self._limit - len(self._pcm)
        if room > 0:
            self._pcm += chunk.data[:room]
        await self.inner.write(chunk)

    async def stop(self) -> None:
        await self.inner.stop()

    async def close(self) -> None:
        await self.inner.close()

    def pcm(self) -> bytes:
        """The audio the listener got: all of it, or up to where playback stopped."""
        played = min(self.samples_played, self._written) * 2
        return bytes(self._pcm[:played])


class Captions:
    """The reply's text, written out segment by segment as each one starts to play."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self.segments: list[str] = []
        self.shown = 0
        self._last = ""

    def add(self, text: str) -> None:
        text = text.strip()
        if text:
            self.segments.append(text)

    def _show_upto(self, count: int) -> None:
        while self.shown < min(count, len(self.segments)):
            text = self.segments[self.shown]
            self._write(join_space(self._last[-1:], text[0]) + text)
            self._last = text
            self.shown += 1

    def update(self, response_starts: Sequence[int], samples_played: int) -> None:
        started = sum(1 for start in response_starts if samples_played > start)
        self._show_upto(started)

    def finish(self, *, complete: bool) -> None:
        if complete:
            self._show_upto(len(self.segments))


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def quiet_summary(result: TurnResult) -> str:
    """The one quiet line after a reply: time to first audio and length of the audio."""
    first = result.first_play_ms if result.first_play_ms is not None else result.first_audio_ms
    parts = [
        "no audio" if first is None else f"first audio {first:.0f} ms",
        f"{result.audio_ms / 1000:.1f} s of audio",
    ]
    if result.interrupted:
        parts.append("interrupted (the conversation keeps what was heard)")
    if result.reconnects:
        parts.append(plural(result.reconnects, "reconnect"))
    return " · ".join(parts)


def _money(amount: float) -> str:
    """Small amounts with enough digits to show (a turn costs fractions of a cent)."""
    return f"{amount:.6f}".rstrip("0").rstrip(".") if amount else "0"


def format_stats(result: TurnResult) -> str:
    """The last turn's timeline, for ``/stats``."""
    status = "interrupted" if result.interrupted else "error" if result.error else "complete"
    rows = [
        ("first token from the model", result.ttft_ms),
        ("first segment ready", result.first_segment_ms),
        ("first text sent to TTS", result.first_append_ms),
        ("first audio received", result.first_audio_ms),
        ("first audio played", result.first_play_ms),
        ("model done", result.llm_done_ms),
        ("turn done", result.done_ms),
    ]
    lines = [f"turn {result.turn_id} ({status})"]
    lines += [f"  {name:<27} {_ms(value):>9}" for name, value in rows]
    billed = "" if result.chars_billed is None else f", {result.chars_billed} billed"
    lines.append(
        f"  audio {result.audio_ms / 1000:.1f} s · {plural(len(result.segments), 'segment')} · "
        f"{plural(result.chars_appended, 'character')} sent{billed} · "
        f"{plural(result.reconnects, 'reconnect')}"
    )
    if result.chars_billed is not None:
        wasted = result.wasted_share or 0.0
        billed_all = result.chars_billed + result.chars_unreported
        more = (
            f" (at most; {result.chars_unreported} unreported)" if result.chars_unreported else ""
        )
        line = (
            f"  heard {result.chars_heard} of {billed_all} billed characters{more} "
            f"· {wasted:.0%} wasted"
        )
        cost = result.cost
        if cost is not None:
            line += (
                f" · cost {_money(cost.billed)} {cost.currency}, "
                f"{_money(cost.wasted)} {cost.currency} of it unheard"
            )
        lines.append(line)
    for i, seg in enumerate(result.segments, 1):
        text = seg.text if len(seg.text) <= 48 else seg.text[:47] + "…"
        lines.append(
            f"  {i:>2}. ready {_ms(seg.ready_ms):>9}  sent {_ms(seg.appended_ms):>9}  {text}"
        )
    if result.error:
        lines.append(f"  error: {result.error.type}: {result.error.message}")
    return "\n".join(lines)
