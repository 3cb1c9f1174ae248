"""Options of the local emulator: its latency model and the faults it can inject (for tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["EmulatorOptions", "Faults", "LatencyModel", "available_cores"]


def available_cores() -> int:
    """The CPU cores this process may run on (the commands' default ``synthesis_workers``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyModel:
    """How the emulator paces audio, to stand in for the real service's timing.

    - ``first_packet``: seconds from the start of a response to its first audio delta (the
      real service is reported at about 0.5-0.7 s; synthesis time counts toward it);
    - ``rtf``: real-time factor of the stream after the first packet: a delta of ``d`` seconds
      of audio is followed by ``rtf * d`` seconds of wait (0 = as fast as synthesized);
    - ``delta_ms``: milliseconds of audio per ``response.audio.delta``.
    """

    first_packet: float = 0.0
    rtf: float = 0.0
    delta_ms: int = 100

    def __post_init__(self) -> None:
        if self.first_packet < 0 or self.rtf < 0:
            raise ValueError("latency values must not be negative")
        if not 10 <= self.delta_ms <= 2000:
            raise ValueError("delta_ms must be between 10 and 2000")

    @classmethod
    def realistic(cls) -> LatencyModel:
        """Figures like the hosted service's: ~0.5 s first packet, faster than real time."""
        return cls(first_packet=0.5, rtf=0.5, delta_ms=100)


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Faults to inject, counted per connection. ``connections`` limits them to the first N
    connections the server accepts (so a test can check that a reconnect succeeds)."""

    refuse_handshake: int | None = None  # answer the handshake with this HTTP status
    close_after_deltas: int | None = None  # drop the TCP connection after N audio deltas
    error_after_deltas: int | None = None  # send an error event after N audio deltas
    error_code: str = "internal_error"
    error_message: str = "injected fault"
    error_fatal: bool = True  # close the connection after the injected error
    stall_after_deltas: int | None = None  # stop sending anything after N audio deltas
    connections: int | None = None

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (
                self.refuse_handshake,
                self.close_after_deltas,
                self.error_after_deltas,
                self.stall_after_deltas,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorOptions:
    """Everything the emulator can be told. ``api_key=None`` accepts any or no key."""

    api_key: str | None = None
    engine: str = "espeak"
    latency: LatencyModel = LatencyModel()
    faults: Faults = Faults()
    max_message_bytes: int = 256 * 1024  # larger client messages get an error event
    max_frame_bytes: int = 4 * 1024 * 1024  # larger frames close the connection (1009)
    server_commit_max_chars: int = 160  # server_commit cuts a longer unpunctuated buffer
    strict_models: bool = True  # unknown model: session.created, then close (as measured)
    # How many of a session's queued segments are synthesized at once (the one being answered
    # and the next ones, while earlier audio is still being sent, in order; at most twice this
    # many ahead of the one being sent); for espeak also how many processes synthesize
    # (this one and workers started on demand: espeak-ng runs one synthesis per process).
    synthesis_workers: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.synthesis_workers, bool) or not 1 <= self.synthesis_workers <= 64:
            raise ValueError("synthesis_workers must be between 1 and 64")
