"""OpenTelemetry traces of turns: the span tree and attributes of a turn, a barge-in and a TTS
reconnect, recorded with the SDK's in-memory exporter; the client's traceparent as parent; and
bridge without OpenTelemetry installed."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import anyio
import pytest
from _serve import LONG, RATE, SHORT, client, running, samples
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from bridge.adapters.tracing import STAGE_SPANS, TurnTrace
from bridge.core import errors
from bridge.local import EmulatorOptions, Faults, serve_emulator
from bridge.pipeline import Turn
from bridge.server import ServerOptions
from bridge.testing.fake_llm import FakeReply, tokens_for
from tests.test_iterator_sink import _ClosingSink
from tests.test_pipeline import scripted, target

pytestmark = pytest.mark.anyio

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the first SDK provider of this process
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


def _turn_spans(
    exporter: InMemorySpanExporter, turn_id: str
) -> tuple[ReadableSpan, list[ReadableSpan]]:
    spans = exporter.get_finished_spans()
    [turn] = [
        s for s in spans if s.name == "bridge.turn" and s.attributes["bridge.turn_id"] == turn_id
    ]
    assert turn.context is not None
    children = [
        s for s in spans if s.parent is not None and s.parent.span_id == turn.context.span_id
    ]
    return turn, sorted(children, key=lambda s: (s.start_time or 0, s.name))


def _texts_absent(span: ReadableSpan, *texts: str) -> None:
    """No attribute value of the span or its events holds a word of ``texts``."""
    values = [v for v in (span.attributes or {}).values() if isinstance(v, str)]
    for event in span.events:
        values += [v for v in (event.attributes or {}).values() if isinstance(v, str)]
    assert values  # there are string attributes to look at
    for text in texts:
        assert not any(text in value for value in values), text
        for word in (w.strip(".,?!") for w in text.split()):
            if len(word) >= 5:
                assert not any(word in value for value in values), word


async def test_a_turn_is_one_span_with_a_child_per_stage_under_the_clients_span(
    exporter: InMemorySpanExporter,
) -> None:
    async with running() as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Hello there?", traceparent=TRACEPARENT)
        done = await c.until("response.done")
    result = done["result"]
    turn, children = _turn_spans(exporter, result["turn_id"])
    # The client's span is the parent: same trace, its span id.
    assert format(turn.context.trace_id, "032x") == TRACE_ID
    assert turn.parent is not None and format(turn.parent.span_id, "016x") == PARENT_ID
    assert turn.parent.is_remote
    attrs = turn.attributes or {}
    assert attrs["bridge.outcome"] == "done" and attrs["bridge.interrupted"] is False
    assert attrs["bridge.chars.billed"] == result["chars_billed"] > 0
    assert attrs["bridge.chars.heard"] == result["chars_heard"]
    assert attrs["bridge.segments"] == len(result["segments"]) == len(c.of("segment"))
    assert attrs["bridge.reconnects"] == 0
    assert turn.status.is_ok
    # One child per stage, one after the other, each ending at its stage's time.
    stages = [s for s in children if s.name in STAGE_SPANS]
    assert [s.name for s in stages] == list(STAGE_SPANS)
    assert turn.start_time is not None and turn.end_time is not None
    for span in stages:
        assert span.start_time is not None and span.end_time is not None
        ms = result[STAGE_SPANS[span.name]]
        assert (span.end_time - turn.start_time) / 1e6 == pytest.approx(ms, abs=0.2)
        assert turn.start_time <= span.start_time <= span.end_time <= turn.end_time
    for before, after in itertools.pairwise(stages):
        assert before.end_time == after.start_time
    [stream] = [s for s in children if s.name == "llm.stream"]
    assert stream.end_time is not None
    assert (stream.end_time - turn.start_time) / 1e6 == pytest.approx(
        result["llm_done_ms"], abs=0.2
    )
    assert (turn.end_time - turn.start_time) / 1e6 == pytest.approx(result["done_ms"], abs=0.2)
    # An event per segment, at the moment it was cut; no text anywhere.
    segments = [e for e in turn.events if e.name == "segment"]
    assert [e.attributes["bridge.segment.index"] for e in segments] == list(
        range(len(result["segments"]))
    )
    assert [e.attributes["bridge.segment.chars"] for e in segments] == [
        len(s["text"]) for s in result["segments"]
    ]
    assert not [e for e in turn.events if e.name in ("barge_in", "tts.reconnect")]
    _texts_absent(turn, SHORT, "Hello there?")


async def test_a_barge_in_is_an_event_of_an_interrupted_turn_under_the_handshake_traceparent(
    exporter: InMemorySpanExporter,
) -> None:
    replies = [FakeReply(tokens_for(LONG), delay=0.002)]
    options = ServerOptions(port=0, audio_lead=0.3)
    headers = {"traceparent": TRACEPARENT}
    async with (
        running(replies, options=options) as stack,
        client(stack.url, additional_headers=headers) as c,
    ):
        await c.send(type="user.message", text="Plan a walk.")
        while samples(c.frames) < int(1.2 * RATE):
            await c.recv()
        rid = c.of("response.started")[-1]["response_id"]
        await c.send(type="playback.ack", response_id=rid, samples=RATE)
        await c.send(type="response.cancel")
        done = await c.until("response.done")
    result = done["result"]
    assert result["interrupted"]
    turn, children = _turn_spans(exporter, rid)
    assert format(turn.context.trace_id, "032x") == TRACE_ID  # from the handshake header
    attrs = turn.attributes or {}
    assert attrs["bridge.outcome"] == "interrupted" and attrs["bridge.interrupted"] is True
    assert attrs["bridge.chars.heard"] == result["chars_heard"]
    assert attrs["bridge.wasted_share"] == result["wasted_share"] > 0
    [barge_in] = [e for e in turn.events if e.name == "barge_in"]
    assert turn.start_time is not None and turn.end_time is not None
    # After the first audio went out, before the turn ended.
    first_sent = turn.start_time + result["first_play_ms"] * 1e6
    assert first_sent <= barge_in.timestamp <= turn.end_time
    # Stages the turn reached are there; a cut turn still ends its span.
    assert {"llm.first_token", "tts.first_packet", "audio.first_sent"} <= {s.name for s in children}
    _texts_absent(turn, LONG)


async def test_a_tts_reconnect_is_an_event_and_a_bad_traceparent_starts_a_new_trace(
    exporter: InMemorySpanExporter,
) -> None:
    faults = Faults(close_after_deltas=3, connections=1)
    async with running(faults=faults) as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Hello?", traceparent="00-not-a-trace-01")
        done = await c.until("response.done")
        await c.send(type="user.message", text="Again?", traceparent=42)
        error = await c.until("error")
    assert error["code"] == "invalid_message" and "traceparent" in error["message"]
    result = done["result"]
    assert result["reconnects"] == 1
    turn, _ = _turn_spans(exporter, result["turn_id"])
    assert turn.parent is None  # invalid: ignored, a new trace
    [event] = [e for e in turn.events if e.name == "tts.reconnect"]
    # A dropped connection: one of the connection errors, by its class name.
    error_type = getattr(errors, str(event.attributes["bridge.error.type"]))
    assert issubclass(error_type, errors.TTSConnectionError)
    assert event.attributes["bridge.segments.resent"] >= 1
    assert (turn.attributes or {})["bridge.reconnects"] == 1


@pytest.mark.parametrize("configured", ["proxy", "no-op", "sampled out", "sdk"])
def test_a_turn_starts_a_span_only_when_an_sdk_would_record_it(
    configured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    providers: dict[str, trace.TracerProvider] = {
        "proxy": trace.ProxyTracerProvider(),
        "no-op": trace.NoOpTracerProvider(),
        "sampled out": TracerProvider(sampler=ALWAYS_OFF),
        "sdk": TracerProvider(),
    }
    provider = providers[configured]
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    turn = TurnTrace(traceparent=TRACEPARENT, model="qwen3-tts-flash-realtime")
    turn.start()
    assert turn.recording is (configured == "sdk")
    turn.barge_in(1.0)  # no-ops without a span
    turn.reconnect(2.0, error="TTSConnectionError", resend=1)


def test_bridge_runs_a_turn_without_opentelemetry_installed() -> None:
    script = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, Block())
        import anyio
        import bridge
        from bridge.adapters import tracing
        from bridge.adapters.sinks import NullSink
        from bridge.local import EmulatorOptions, serve_emulator
        from bridge.pipeline import TTSTarget, Turn

        async def main():
            async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
                async def text():
                    yield "Hello there. This is a test."
                turn = Turn(text(), NullSink(), target=TTSTarget(url=emu.url),
                            traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                result = await turn.run()
            assert not tracing.available()
            assert "opentelemetry" not in " ".join(sys.modules)
            print("RESULT", result.chars_billed, result.interrupted, result.error)

        anyio.run(main)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    billed, interrupted, error = line.split()[1:]
    assert int(billed) > 0 and interrupted == "False" and error == "None"


async def test_a_listener_that_left_before_the_end_is_a_barge_in_of_the_turn(
    exporter: InMemorySpanExporter,
) -> None:
    """All the audio is buffered and the turn is closing its ``IteratorSink`` when the
    consumer takes one chunk and leaves: the turn is interrupted, and its span says when."""
    async with serve_emulator(EmulatorOptions(engine="exact")) as emu:
        sink = _ClosingSink(max_chunks=64)
        turn = Turn(scripted("One. Two three four.", rate=200), sink, target=target(emu.url))
        async with anyio.create_task_group() as tg:
            tg.start_soon(turn.run)
            with anyio.fail_after(10):
                await sink.closing.wait()
            async for _ in sink:
                break
    assert turn.result is not None and turn.result.interrupted
    span, _ = _turn_spans(exporter, turn.turn_id)
    [barge_in] = [e for e in span.events if e.name == "barge_in"]
    assert span.start_time is not None and span.end_time is not None
    assert span.start_time <= barge_in.timestamp <= span.end_time
