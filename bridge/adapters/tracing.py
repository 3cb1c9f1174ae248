"""OpenTelemetry traces of turns, through the OpenTelemetry API only (the ``otel`` extra).

One span per turn (``bridge.turn``) with a child span per stage, one after the other as the
turn reached them (``llm.first_token``, ``text.first_segment``, ``tts.first_append``,
``tts.first_packet``, ``audio.first_sent``; each from the previous stage reached, or the start
of the turn), a ``llm.stream`` span for the whole text stream, and span events: ``segment``
(each segment as it was cut: index, kind, characters), ``barge_in`` and ``tts.reconnect``.
No attribute carries the user's or the model's text.

The stage spans are written when the turn ends, with the times the turn measured (its clock
gives the offsets, the wall clock at its start the origin), so the pipeline only reports
moments and a result. Without ``opentelemetry-api`` installed every call is a no-op, and so it
is with the API but no SDK configured (the API's proxy or no-op provider) or when the sampler
does not record the turn: then no span is started and the turn's end builds none (a turn of
``bridge serve`` pays a type check, not six no-op spans). The application chooses the SDK and
exporter (``opentelemetry-instrument``, or its own ``TracerProvider``).

A parent context comes as a W3C ``traceparent`` string (``bridge serve`` takes it from the
client, see docs/protocol.md); an invalid one is ignored (the turn starts a new trace).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from bridge.core.result import TurnResult
from bridge.core.version import package_version

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = ["STAGE_SPANS", "TurnTrace", "available"]

TRACER = "bridge"
# child span name -> the TurnResult field of the moment it ends (ms from the turn's start)
STAGE_SPANS: Mapping[str, str] = {
    "llm.first_token": "ttft_ms",
    "text.first_segment": "first_segment_ms",
    "tts.first_append": "first_append_ms",
    "tts.first_packet": "first_audio_ms",
    "audio.first_sent": "first_play_ms",
}
_MAX_TRACEPARENT = 128


def available() -> bool:
    """Whether the OpenTelemetry API is installed."""
    return _import_api() is not None


def _api() -> ModuleType | None:
    """``opentelemetry.trace`` when a tracer provider may be configured, else None.

    Nothing is imported while no one has: a provider is set through ``opentelemetry.trace``
    (an application's own, or ``opentelemetry-instrument``'s, which loads it before the
    application), or named by ``OTEL_PYTHON_TRACER_PROVIDER``; without either the API's provider
    is its proxy, which records nothing. So a command that is not traced does not pay the API's
    import (~15 ms of its start-up)."""
    if "opentelemetry.trace" in sys.modules or "OTEL_PYTHON_TRACER_PROVIDER" in os.environ:
        return _import_api()
    return None


def _import_api() -> ModuleType | None:
    try:
        from opentelemetry import trace
    except ImportError:  # the otel extra is not installed: no traces
        return None
    return trace


def _version() -> str:
    return package_version()


class TurnTrace:
    """The trace of one turn: ``start()`` when it starts, ``barge_in(ms)`` / ``reconnect(ms)``
    (milliseconds from the start, as in ``TurnResult``), ``finish(result)`` at its end. Every
    method is a no-op without OpenTelemetry."""

    def __init__(self, *, traceparent: str | None = None, model: str | None = None) -> None:
        self._traceparent = traceparent
        self._model = model
        self._span: Span | None = None
        self._origin_ns = 0  # wall clock at the start

    @property
    def recording(self) -> bool:
        """Whether the turn's span is being recorded (started, sampled, not finished)."""
        return self._span is not None

    def start(self) -> None:
        trace = _api()
        if trace is None:
            return
        provider = trace.get_tracer_provider()
        if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
            # No SDK configured (the proxy only delegates once one is set): nothing would be
            # recorded, so nothing is started.
            return
        self._origin_ns = time.time_ns()
        context = None
        parent = self._traceparent
        if parent and len(parent) <= _MAX_TRACEPARENT:
            from opentelemetry import propagate

            context = propagate.extract({"traceparent": parent})
        tracer: Tracer = provider.get_tracer(TRACER, _version())
        attributes: dict[str, Any] = {}
        if self._model:
            attributes["bridge.tts.model"] = self._model
        span = tracer.start_span(
            "bridge.turn", context=context, start_time=self._origin_ns, attributes=attributes
        )
        # Not sampled: its children, events and attributes would be dropped one by one.
        self._span = span if span.is_recording() else None

    def _ns(self, ms: float) -> int:
        return self._origin_ns + int(ms * 1_000_000)

    def barge_in(self, ms: float) -> None:
        if self._span is not None:
            self._span.add_event("barge_in", timestamp=self._ns(ms))

    def reconnect(self, ms: float, *, error: str, resend: int) -> None:
        if self._span is not None:
            self._span.add_event(
                "tts.reconnect",
                {"bridge.error.type": error, "bridge.segments.resent": resend},
                timestamp=self._ns(ms),
            )

    def finish(self, result: TurnResult) -> None:
        span = self._span
        if span is None:
            return
        trace = _import_api()  # imported already: start() set the span
        if trace is None:
            return
        self._span = None
        context = trace.set_span_in_context(span)
        tracer: Tracer = trace.get_tracer_provider().get_tracer(TRACER, _version())
        previous = 0.0
        for name, field in STAGE_SPANS.items():
            at: float | None = getattr(result, field)
            if at is None:
                continue
            child = tracer.start_span(
                name,
                context=context,
                start_time=self._ns(previous),
                attributes={"bridge.stage.ms": round(at, 1)},
            )
            child.end(end_time=self._ns(max(at, previous)))
            previous = max(at, previous)
        if result.llm_done_ms is not None:
            stream = tracer.start_span("llm.stream", context=context, start_time=self._ns(0))
            stream.end(end_time=self._ns(result.llm_done_ms))
        for index, seg in enumerate(result.segments):
            if seg.ready_ms is not None:
                span.add_event(
                    "segment",
                    {
                        "bridge.segment.index": index,
                        "bridge.segment.kind": seg.kind,
                        "bridge.segment.chars": len(seg.text),
                    },
                    timestamp=self._ns(seg.ready_ms),
                )
        span.set_attributes(_attributes(result))
        if result.error:
            span.set_status(trace.Status(trace.StatusCode.ERROR, result.error.type))
        span.end(end_time=self._ns(result.done_ms) if result.done_ms is not None else None)


def _attributes(result: TurnResult) -> dict[str, Any]:
    outcome = "error" if result.error else "interrupted" if result.interrupted else "done"
    values: dict[str, Any] = {
        "bridge.turn_id": result.turn_id,
        "bridge.outcome": outcome,
        "bridge.interrupted": result.interrupted,
        "bridge.segments": len(result.segments),
        "bridge.reconnects": result.reconnects,
        "bridge.audio_ms": round(result.audio_ms, 1),
        "bridge.chars.appended": result.chars_appended,
        "bridge.chars.heard": result.chars_heard,
        "bridge.chars.unreported": result.chars_unreported,
    }
    if result.chars_billed is not None:
        values["bridge.chars.billed"] = result.chars_billed
    if (share := result.wasted_share) is not None:
        values["bridge.wasted_share"] = round(share, 4)
    if result.cost is not None:
        values["bridge.cost.currency"] = result.cost.currency
        values["bridge.cost.billed"] = result.cost.billed
        values["bridge.cost.wasted"] = result.cost.wasted
    if result.error:
        values["bridge.error.type"] = result.error.type
    return values
