"""The result of a turn, assembled once it ended: the timeline, the text and what the listener
heard of it, the characters billed and their cost, the segments with their audio's place; and
the turn's one canonical log line."""

from __future__ import annotations

from typing import Any

import structlog

from bridge.core.cost import Price, TurnCost, heard_characters
from bridge.core.errors import BridgeError
from bridge.core.heard import HeardTracker, speakable_join
from bridge.core.result import TurnFailure, TurnResult
from bridge.logs import text_logging
from bridge.pipeline.segment_log import SegmentLog
from bridge.pipeline.timeline import Moments

__all__ = ["build_result", "log_result"]

log = structlog.get_logger("bridge.pipeline")


def build_result(
    *,
    turn_id: str,
    moments: Moments,
    segments: SegmentLog,
    tracker: HeardTracker,
    sample_rate: int,
    samples_played: int,
    interrupted: bool,
    error: BridgeError | None,
    billed: int | None,
    reconnects: int,
    price: Price | None,
) -> TurnResult:
    """``billed``: the characters the service reported; ``price``: the user's, for the model."""
    cut_short = interrupted or error is not None
    texts = segments.texts
    text = speakable_join(texts)
    if cut_short:
        spoken = tracker.heard_text(samples_played, sample_rate)
    elif tracker.silent():
        # Played to the end, but some text got no audio: not heard (the last segments), or
        # passed over (one between two that were heard; the history is a prefix).
        spoken = tracker.heard_text(tracker.samples_received, sample_rate)
    else:
        spoken = text
    heard = heard_characters(texts, spoken)
    unreported = 0
    if billed is not None and cut_short:
        # Cut short: the running response never reported its usage. Counted on the same basis
        # as billed and heard characters (the spaces joining segments are not billed).
        unreported = max(0, segments.billable_appended - billed)
    cost = None
    if price is not None and billed is not None:
        cost = TurnCost.of(price, billed=billed + unreported, heard=heard)
    return TurnResult(
        turn_id=turn_id,
        ttft_ms=moments.ttft_ms,
        first_segment_ms=moments.first_segment_ms,
        first_append_ms=moments.first_append_ms,
        first_audio_ms=moments.first_audio_ms,
        first_play_ms=moments.first_play_ms,
        llm_done_ms=moments.llm_done_ms,
        done_ms=moments.done_ms,
        audio_ms=samples_played / sample_rate * 1000,
        text=text,
        spoken_text=spoken,
        interrupted=interrupted,
        chars_appended=segments.chars_appended,
        chars_billed=billed,
        chars_unreported=unreported,
        chars_heard=heard,
        cost=cost,
        segments=segments.records(tracker.timings(sample_rate)),
        reconnects=reconnects,
        error=None if error is None else TurnFailure.of(error),
    )


def log_result(result: TurnResult, request_text: str | None) -> None:
    """The turn's INFO line (timeline, ids, sizes); its texts at DEBUG only, unless asked for
    (``--log-text``). ``request_text``: the user's message the turn answers, if known."""
    sizes = {} if request_text is None else {"request_chars": len(request_text)}
    log.info("turn", **result.log_fields(), **sizes)
    texts = _texts(result)
    if request_text is not None:
        texts = {"request_text": request_text, **texts}
    (log.info if text_logging() else log.debug)("turn.text", turn_id=result.turn_id, **texts)


def _texts(result: TurnResult) -> dict[str, Any]:
    """The text of a turn, for DEBUG only (the user's content)."""
    return {
        "text": result.text,
        "spoken_text": result.spoken_text,
        "segments": [s.text for s in result.segments],
        "error_message": None if result.error is None else result.error.message,
    }
