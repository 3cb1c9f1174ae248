"""`bridge serve` /metrics: real turns against the tone emulator and the fake model, scraped and
parsed with prometheus_client's own parser."""

from __future__ import annotations

from types import MappingProxyType

import httpx
import pytest
from _serve import LONG, RATE, SHORT, client, running, samples
from prometheus_client.parser import text_string_to_metric_families

from bridge.core.cost import Price, PriceTable
from bridge.local import Faults
from bridge.pipeline import PipelineOptions
from bridge.qwen.models import DEFAULT_MODEL
from bridge.server import ServerLimits, ServerOptions
from bridge.server.metrics import ACK_STAGE, STAGES
from bridge.testing.fake_llm import FakeReply, tokens_for

pytestmark = pytest.mark.anyio

TOKEN = "metrics-test-token-123"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(url: str, **headers: str) -> Samples:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def _get(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def _delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return _get(after, name, **labels) - _get(before, name, **labels)


async def test_a_turn_moves_the_counters_and_every_stage_histogram_once() -> None:
    async with running() as stack, client(stack.url) as c:
        url = stack.server.http_url + "metrics"
        before = await _scrape(url)
        assert _get(before, "bridge_sessions") == 1
        await c.send(type="user.message", text="Hello?")
        done = await c.until("response.done")
        after = await _scrape(url)
    result = done["result"]
    assert not result["interrupted"] and result["error"] is None
    assert _delta(before, after, "bridge_turns_total", outcome="done") == 1
    assert _delta(before, after, "bridge_turns_total", outcome="interrupted") == 0
    assert _get(after, "bridge_running_turns") == 0
    for stage in STAGES:
        assert _delta(before, after, "bridge_turn_stage_seconds_count", stage=stage) == 1, stage
        ms = result[STAGES[stage]]
        assert _delta(before, after, "bridge_turn_stage_seconds_sum", stage=stage) == pytest.approx(
            ms / 1000, abs=1e-3
        )
    assert _delta(before, after, "bridge_turn_duration_seconds_count") == 1
    assert _delta(before, after, "bridge_turn_duration_seconds_sum") == pytest.approx(
        result["done_ms"] / 1000, abs=1e-3
    )
    # No acks from this client: the stage the client reports is not observed.
    assert _delta(before, after, "bridge_turn_stage_seconds_count", stage=ACK_STAGE) == 0
    assert _delta(before, after, "bridge_chars_appended_total") == result["chars_appended"] > 0
    # Billed: what the TTS service's usage said (appends carry a separating space each).
    billed = _delta(before, after, "bridge_chars_billed_total")
    assert billed == result["chars_billed"] >= result["chars_appended"]
    # Played to the end: every billed character was heard, none wasted.
    assert _delta(before, after, "bridge_chars_heard_total") == result["chars_heard"] == billed
    assert _delta(before, after, "bridge_chars_wasted_total") == 0
    assert result["wasted_share"] == 0
    assert result["cost"] is None  # no price table
    assert not any(name.startswith("bridge_cost_") for name, _ in after)
    sent = _delta(before, after, "bridge_audio_sent_seconds_total")
    assert sent == pytest.approx(samples(c.frames) / RATE) and sent > 1
    assert _delta(before, after, "bridge_barge_in_seconds_count") == 0
    assert _delta(before, after, "bridge_tts_reconnects_total") == 0
    assert _delta(before, after, "bridge_sessions_accepted_total") == 0


async def test_a_barge_in_counts_an_interrupted_turn_and_only_the_heard_part() -> None:
    replies = [FakeReply(tokens_for(LONG), delay=0.002)]
    price = Price(per_10k_chars=0.8, currency="CNY")
    prices = PipelineOptions(prices=PriceTable(MappingProxyType({DEFAULT_MODEL: price})))
    options = ServerOptions(port=0, audio_lead=0.3, pipeline=prices)
    async with running(replies, options=options) as stack, client(stack.url) as c:
        url = stack.server.http_url + "metrics"
        before = await _scrape(url)
        await c.send(type="user.message", text="Plan a walk.")
        while samples(c.frames) < int(1.2 * RATE):
            await c.recv()
        rid = c.of("response.started")[-1]["response_id"]
        await c.send(type="playback.ack", response_id=rid, samples=RATE)
        await c.send(type="response.cancel")
        interrupted = await c.until("response.interrupted")
        await c.until("response.done")
        after = await _scrape(url)
    heard = interrupted["spoken_text"]
    assert heard and len(heard) < len(LONG) / 2
    assert _delta(before, after, "bridge_turns_total", outcome="interrupted") == 1
    assert _delta(before, after, "bridge_turns_total", outcome="done") == 0
    assert _delta(before, after, "bridge_barge_in_seconds_count") == 1
    done = c.of("response.done")[-1]["result"]
    heard_chars = done["chars_heard"]
    assert _delta(before, after, "bridge_chars_heard_total") == heard_chars
    # The heard text less the spaces that join its segments (they are not billed).
    joins = len(c.of("segment")) - 1
    assert len(heard) - joins <= heard_chars <= len(heard)
    # The response running at the cancel never reported its usage: what was appended past
    # the reported part counts as unreported (its upper bound).
    billed, unreported = done["chars_billed"], done["chars_unreported"]
    assert _delta(before, after, "bridge_chars_billed_total") == billed
    assert _delta(before, after, "bridge_chars_unreported_total") == unreported > 0
    assert billed + unreported == done["chars_appended"]  # the whole reply was appended
    wasted = _delta(before, after, "bridge_chars_wasted_total")
    assert wasted == done["chars_wasted"] == billed + unreported - heard_chars > 0
    assert done["wasted_share"] == pytest.approx(wasted / (billed + unreported), abs=1e-4)
    # In money, with the price table.
    cost = done["cost"]
    assert cost["currency"] == "CNY"
    assert cost["billed"] == pytest.approx(price.of(billed + unreported))
    assert cost["wasted"] == pytest.approx(price.of(int(wasted)))
    billed_money = _delta(before, after, "bridge_cost_billed_total", currency="CNY")
    assert billed_money == pytest.approx(cost["billed"])
    wasted_money = _delta(before, after, "bridge_cost_wasted_total", currency="CNY")
    assert wasted_money == pytest.approx(cost["wasted"]) and wasted_money > 0
    assert _delta(before, after, "bridge_audio_played_seconds_total") == pytest.approx(1.0)
    sent = _delta(before, after, "bridge_audio_sent_seconds_total")
    assert sent == pytest.approx(samples(c.frames) / RATE)
    # The interrupted turn's duration is recorded once too.
    assert _delta(before, after, "bridge_turn_duration_seconds_count") == 1


async def test_metrics_follow_the_token_rules_and_count_refusals_and_rate_limits() -> None:
    limits = ServerLimits(turn_burst=1, turns_per_minute=1)
    options = ServerOptions(port=0, token=TOKEN, audio_lead=None, limits=limits)
    async with running(options=options) as stack:
        url = stack.server.http_url + "metrics"
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(url)).status_code == 401
            assert (await http.get(url, headers={"Authorization": "Bearer no"})).status_code == 401
        async with client(stack.url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            await c.send(type="user.message", text="Hello?")
            await c.send(type="user.message", text="Again?")
            error = await c.until("error")
            assert error["code"] == "rate_limited"
            await c.until("response.done")
            found = await _scrape(url, Authorization=f"Bearer {TOKEN}")
        found_q = await _scrape(url + "?token=" + TOKEN)
    assert _get(found, "bridge_connections_refused_total", reason="unauthorized") == 2
    assert _get(found, "bridge_rate_limited_total", limit="turns") == 1
    assert _get(found, "bridge_sessions_accepted_total") == 1
    assert _get(found, "bridge_turns_total", outcome="done") == 1
    assert _get(found_q, "bridge_connections_refused_total", reason="unauthorized") == 2


async def test_the_first_play_stage_is_the_clients_first_ack_of_played_audio() -> None:
    options = ServerOptions(port=0, audio_lead=0.3)
    async with running(options=options) as stack, client(stack.url) as c:
        url = stack.server.http_url + "metrics"
        before = await _scrape(url)
        await c.send(type="user.message", text="Hello?")
        rid = (await c.until("response.started"))["response_id"]
        while True:
            got = await c.recv()
            if isinstance(got, bytes):
                # Acks of nothing played until 0.8 s of audio arrived, then of all of it.
                held = samples(c.frames)
                played = held if held >= 0.8 * RATE else 0
                await c.send(type="playback.ack", response_id=rid, samples=played)
            elif got["type"] == "response.done":
                break
        after = await _scrape(url)
    result = got["result"]
    assert _delta(before, after, "bridge_turn_stage_seconds_count", stage=ACK_STAGE) == 1
    first_play = _delta(before, after, "bridge_turn_stage_seconds_sum", stage=ACK_STAGE)
    # Paced 0.3 s ahead of playback, the frame that completes 0.8 s of audio (frames of 0.1 s)
    # leaves 0.4 s after the first one or later; the turn ends after that.
    assert result["first_play_ms"] / 1000 + 0.3 <= first_play <= result["done_ms"] / 1000


async def test_a_tts_reconnect_is_counted_and_the_turn_still_counts_once() -> None:
    faults = Faults(close_after_deltas=3, connections=1)
    async with running(faults=faults) as stack, client(stack.url) as c:
        url = stack.server.http_url + "metrics"
        before = await _scrape(url)
        await c.send(type="user.message", text="Hello?")
        done = await c.until("response.done")
        after = await _scrape(url)
    result = done["result"]
    assert result["reconnects"] == 1 and result["error"] is None
    assert _delta(before, after, "bridge_tts_reconnects_total") == 1
    assert _delta(before, after, "bridge_turns_total", outcome="done") == 1
    assert _delta(before, after, "bridge_turns_total", outcome="error") == 0
    assert _delta(before, after, "bridge_turn_duration_seconds_count") == 1
    assert _delta(before, after, "bridge_chars_heard_total") == result["chars_heard"] > 0
    # Billed: the usage of the responses that completed (the dropped one reported none).
    assert _delta(before, after, "bridge_chars_billed_total") == result["chars_billed"] > 0
    sent = _delta(before, after, "bridge_audio_sent_seconds_total")
    assert sent == pytest.approx(samples(c.frames) / RATE)


async def test_a_failed_turn_is_counted_by_its_error_code() -> None:
    replies = [FakeReply(tokens_for(SHORT), fail_after=0)]
    async with running(replies) as stack, client(stack.url) as c:
        url = stack.server.http_url + "metrics"
        before = await _scrape(url)
        await c.send(type="user.message", text="Hello?")
        error = await c.until("error")
        await c.until("response.done")
        after = await _scrape(url)
    assert _delta(before, after, "bridge_turns_total", outcome="error") == 1
    assert _delta(before, after, "bridge_turn_errors_total", code=error["code"]) == 1
    assert error["code"] == "llm_error"
    assert _delta(before, after, "bridge_turns_total", outcome="done") == 0
