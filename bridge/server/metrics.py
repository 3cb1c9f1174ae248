"""Prometheus metrics of ``bridge serve``, in a registry owned by one server.

``ServerMetrics`` holds its own ``CollectorRegistry`` (no process-wide default registry, so two
servers in one process, e.g. in tests, count separately) and renders it in the Prometheus text
format for ``GET /metrics``. The session reports to it: ``turn_finished`` takes a turn's
``TurnResult`` and the seconds of audio sent, the rest are single counts. Names and labels are
documented in docs/protocol.md. No label ever carries user text or an id (bounded cardinality).

Several worker processes (``bridge serve --workers N``) share one ``/metrics``: the parent sets
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, read by prometheus_client
when it is imported), each worker writes its values to files there, and ``render()`` of any
worker collects every worker's with ``MultiProcessCollector``: counters and histograms summed,
the gauges summed over live workers, except ``bridge_worker_sessions``, which keeps one series
per live worker (label ``pid``).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from bridge.core.result import TurnResult
from bridge.server.protocol import client_error_for

__all__ = [
    "ACK_STAGE",
    "CONTENT_TYPE",
    "MULTIPROC_ENV",
    "STAGES",
    "ServerMetrics",
    "multiprocess_dir",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

CONTENT_TYPE = CONTENT_TYPE_LATEST

# stage label -> the TurnResult field (milliseconds from the start of the turn)
STAGES = {
    "first_token": "ttft_ms",
    "first_segment": "first_segment_ms",
    "first_append": "first_append_ms",
    "tts_first_packet": "first_audio_ms",  # first audio delta from the TTS service
    "first_audio_sent": "first_play_ms",  # first audio handed to the client's sink
}
# the stage the client reports: its first playback.ack of played audio
ACK_STAGE = "first_play_acked"
_STAGE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_TURN_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
_BARGE_IN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0)


class ServerMetrics:
    """The metrics of one server. ``render()`` gives the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.stage_seconds = Histogram(
            "bridge_turn_stage_seconds",
            "Time from the start of a turn to each stage (first token, segment, append, "
            "TTS first packet, first audio sent to the client, first play acknowledged by it)",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.turn_seconds = Histogram(
            "bridge_turn_duration_seconds",
            "Duration of a turn, start to end (interrupted ones included)",
            buckets=_TURN_BUCKETS,
            registry=r,
        )
        self.barge_in_seconds = Histogram(
            "bridge_barge_in_seconds",
            "Time from a barge-in (response.cancel or a new message) to the end of the turn",
            buckets=_BARGE_IN_BUCKETS,
            registry=r,
        )
        # With several workers a gauge is summed over the live ones (multiprocess mode).
        self.sessions = Gauge(
            "bridge_sessions", "Open client sessions", registry=r, multiprocess_mode="livesum"
        )
        self.running_turns = Gauge(
            "bridge_running_turns", "Turns running now", registry=r, multiprocess_mode="livesum"
        )
        self.worker_sessions = Gauge(
            "bridge_worker_sessions",
            "Open client sessions of each worker process (label pid with --workers > 1)",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.sessions_accepted = Counter(
            "bridge_sessions_accepted", "Client sessions accepted", registry=r
        )
        self.turns = Counter(
            "bridge_turns",
            "Turns ended, by outcome (done, interrupted, error)",
            ["outcome"],
            registry=r,
        )
        self.turn_errors = Counter(
            "bridge_turn_errors", "Turns ended by an error, by error code", ["code"], registry=r
        )
        self.reconnects = Counter(
            "bridge_tts_reconnects", "TTS reconnections in the middle of a turn", registry=r
        )
        self.refused = Counter(
            "bridge_connections_refused",
            "Requests and connections refused (bad_request, unauthorized, forbidden, "
            "server_full, too_many_sessions, shutting_down)",
            ["reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "bridge_rate_limited",
            "Client messages over a rate limit (turns, turns_address, turns_server: "
            "user.message refused by the session's, the client address's or the server's turn "
            "rate; messages: connection closed for flooding)",
            ["limit"],
            registry=r,
        )
        self.chars_appended = Counter(
            "bridge_chars_appended", "Characters sent to the TTS service", registry=r
        )
        self.chars_billed = Counter(
            "bridge_chars_billed", "Characters the TTS service reported as billed", registry=r
        )
        self.chars_heard = Counter(
            "bridge_chars_heard",
            "Characters of replies the listener heard (counted as billed)",
            registry=r,
        )
        self.chars_unreported = Counter(
            "bridge_chars_unreported",
            "Characters appended past the usage reported in turns cut short (an upper bound "
            "of what the TTS service billed besides)",
            registry=r,
        )
        self.chars_wasted = Counter(
            "bridge_chars_wasted",
            "Characters billed (reported or not) that the listener did not hear",
            registry=r,
        )
        self.cost_billed = Counter(
            "bridge_cost_billed",
            "Money billed for speech, by currency (with a price table)",
            ["currency"],
            registry=r,
        )
        self.cost_wasted = Counter(
            "bridge_cost_wasted",
            "Money billed for speech nobody heard, by currency (with a price table)",
            ["currency"],
            registry=r,
        )
        self.audio_sent = Counter(
            "bridge_audio_sent_seconds", "Seconds of audio sent to clients", registry=r
        )
        self.audio_played = Counter(
            "bridge_audio_played_seconds",
            "Seconds of audio clients played (acknowledged, or estimated without acks)",
            registry=r,
        )

    # --- what the server and its sessions report ---------------------------------------------

    def turn_finished(
        self,
        result: TurnResult | None,
        *,
        audio_sent: float,
        barge_in: float | None = None,
        first_play: float | None = None,
        failed_code: str = "internal_error",
    ) -> None:
        """A turn ended. ``result`` is None when the server failed before it had one;
        ``barge_in`` is the seconds from the interruption request to the end, ``first_play``
        from the start of the turn to the client's first acknowledgement of played audio."""
        self.audio_sent.inc(audio_sent)
        if barge_in is not None:
            self.barge_in_seconds.observe(barge_in)
        if first_play is not None:
            self.stage_seconds.labels(ACK_STAGE).observe(first_play)
        if result is None:
            self.turns.labels("error").inc()
            self.turn_errors.labels(failed_code).inc()
            return
        if result.error:
            self.turns.labels("error").inc()
            code, _message = client_error_for(result.error)
            self.turn_errors.labels(code.value).inc()
        else:
            self.turns.labels("interrupted" if result.interrupted else "done").inc()
        for stage, name in STAGES.items():
            value: float | None = getattr(result, name)
            if value is not None:
                self.stage_seconds.labels(stage).observe(value / 1000)
        if result.done_ms is not None:
            self.turn_seconds.observe(result.done_ms / 1000)
        self.reconnects.inc(result.reconnects)
        self.chars_appended.inc(result.chars_appended)
        if result.chars_billed is not None:
            self.chars_billed.inc(result.chars_billed)
            self.chars_unreported.inc(result.chars_unreported)
            self.chars_wasted.inc(result.chars_wasted or 0)
        self.chars_heard.inc(result.chars_heard)
        if result.cost is not None:
            self.cost_billed.labels(result.cost.currency).inc(result.cost.billed)
            self.cost_wasted.labels(result.cost.currency).inc(result.cost.wasted)
        self.audio_played.inc(result.audio_ms / 1000)

    def render(self) -> bytes:
        """The ``/metrics`` body: this server's registry, or, in multiprocess mode, what every
        worker process wrote to the shared directory."""
        path = multiprocess_dir()
        if path is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


def multiprocess_dir() -> str | None:
    """prometheus_client's multiprocess directory when it is in that mode (the variable is
    prometheus_client's own contract: it chose its value store from it at import)."""
    return os.environ.get(MULTIPROC_ENV) or None
