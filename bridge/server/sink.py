"""The audio sink of a ``bridge serve`` response, and the playback model that paces it.

``WebSocketSink`` is the ``AudioSink`` of one response: each chunk becomes one binary frame
(PCM s16le mono), the first one announced by ``audio.start``. ``samples_played`` is what the
client acknowledged with ``playback.ack`` (clamped to what was sent), so the conversation
records what the listener really heard. A client that never sends an ack gets an estimate from
the playback model instead: its audio is assumed to play in real time from its first frame,
``no_ack_delay`` after it was sent (the network and the client's jitter buffer: what the client
declared with ``playback_delay_ms``, else ``NO_ACK_DELAY``, 0.25 s), so the estimate errs on the
side of less heard, never more, as long as the client starts playing no sooner than that.

Pacing: the TTS service usually produces audio faster than real time. Sending it all at once
would pile seconds of audio up in the client, so a barge-in would leave the server believing
the reply had ended long before the listener stopped hearing it. ``PlaybackClock`` models a
client that plays frames back to back as they arrive; the sink sends a frame only while the
client holds less than ``lead`` seconds of unplayed audio (``lead=None``: no pacing). At the
end of a response ``close()`` waits (bounded) until the client has played what was sent, so the
response ends when its playback ends and a barge-in until then is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio

from bridge.qwen.client import AudioChunk
from bridge.server.outbox import Outbox
from bridge.server.protocol import audio_start

__all__ = [
    "MAX_PLAYBACK_DELAY_MS",
    "NO_ACK_DELAY",
    "NO_ACK_DELAY_MS",
    "PlaybackClock",
    "WebSocketSink",
]

_ACK_SLACK = 1.0  # how much longer than modelled a client's acks may take to catch up
# A client without acks is assumed to start playing this long after a send, unless it declared
# its own delay (``session.configure``'s ``playback_delay_ms``, at most MAX_PLAYBACK_DELAY_MS).
NO_ACK_DELAY_MS = 250
NO_ACK_DELAY = NO_ACK_DELAY_MS / 1000
MAX_PLAYBACK_DELAY_MS = 2000


@dataclass(slots=True)
class PlaybackClock:
    """A client that plays audio back to back as it arrives (pure; ``now`` is passed in)."""

    sample_rate: int
    lead: float | None = None
    sent: int = 0
    end: float | None = None  # when the audio sent so far finishes playing

    def delay(self, now: float) -> float:
        """Seconds to wait before the next frame may be sent."""
        if self.lead is None or self.end is None:
            return 0.0
        return max(0.0, self.end - now - self.lead)

    def on_sent(self, samples: int, now: float) -> None:
        start = now if self.end is None else max(self.end, now)
        self.end = start + samples / self.sample_rate
        self.sent += samples

    def remaining(self, now: float) -> float:
        """Seconds of sent audio the client has not played yet."""
        return 0.0 if self.end is None else max(0.0, self.end - now)

    def played(self, now: float) -> int:
        return max(0, self.sent - round(self.remaining(now) * self.sample_rate))


class WebSocketSink:
    """``AudioSink`` sending one response's audio through a session's ``Outbox``."""

    def __init__(
        self,
        outbox: Outbox,
        response_id: str,
        *,
        sample_rate: int,
        lead: float | None = 1.0,
        trust_acks: bool = False,
        no_ack_delay: float = NO_ACK_DELAY,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.response_id = response_id
        self._outbox = outbox
        self._clock = clock
        self._model = PlaybackClock(sample_rate, lead)
        self._acked = 0
        self._trust_acks = trust_acks
        self._no_ack_delay = no_ack_delay
        self._started = False
        self._cancelled = False
        self._cancelled_at: float | None = None  # the modelled playback stops there
        self._changed = anyio.Event()
        self.frames_sent = 0
        self.first_ack_at: float | None = None  # when an ack first reported played audio

    # --- what the pipeline reads -----------------------------------------------------------

    @property
    def samples_sent(self) -> int:
        return self._model.sent

    @property
    def seconds_sent(self) -> float:
        return self._model.sent / self._model.sample_rate

    @property
    def samples_played(self) -> int:
        if self._trust_acks:
            return min(self._acked, self._model.sent)
        now = self._clock() if self._cancelled_at is None else self._cancelled_at
        return self._model.played(now - self._no_ack_delay)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    # --- what the session calls ------------------------------------------------------------

    def ack(self, samples: int) -> None:
        """The client has played ``samples`` samples of this response (cumulative)."""
        self._trust_acks = True
        if samples > 0 and self.first_ack_at is None and self._model.sent > 0:
            self.first_ack_at = self._clock()
        if samples > self._acked:
            self._acked = samples
            self._wake()

    def cancel(self) -> None:
        """Barge-in, at once: no frame of this response is sent from now on."""
        if not self._cancelled:
            self._cancelled = True
            self._cancelled_at = self._clock()  # a client without acks stopped playing here
            self._outbox.drop_audio(self.response_id)
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    # --- AudioSink ---------------------------------------------------------------------------

    def ready(self) -> bool:
        """``TakesAtOnce``: a ``write`` now waits neither to pace the client nor for room in
        the outbox's audio queue (a send waiting on the network aside)."""
        return self._model.delay(self._clock()) <= 0 and self._outbox.audio_room

    async def write(self, chunk: AudioChunk) -> None:
        if self._cancelled or not chunk.data:
            return
        if not self._started:
            self._started = True
            self._model.sample_rate = chunk.sample_rate
            self._outbox.put(audio_start(self.response_id, chunk.sample_rate))
        wait = self._model.delay(self._clock())
        if wait > 0:
            await anyio.sleep(wait)
        if self._cancelled:
            return
        if await self._outbox.put_audio(self.response_id, chunk.data):
            self._model.on_sent(chunk.samples, self._clock())
            self.frames_sent += 1

    async def stop(self) -> None:
        self.cancel()

    async def close(self) -> None:
        """End of the response: when paced, wait until the client has played what was sent
        (its acks say so, at most ``_ACK_SLACK`` past the model's end; for a client that sends
        none, its ``no_ack_delay`` past it), so a barge-in until then still counts what was really
        heard. Unpaced, the response ends when its last frame is sent."""
        if self._model.lead is None or self._model.end is None:
            return
        while not self._cancelled:
            if self._trust_acks and self._acked >= self._model.sent:
                return
            # Without acks the client is modelled no_ack_delay behind: so is the end.
            slack = _ACK_SLACK if self._trust_acks else self._no_ack_delay
            left = self._model.end + slack - self._clock()
            if left <= 0:
                return
            with anyio.move_on_after(left):
                await self._changed.wait()
