"""`bridge serve` end to end over a real WebSocket: the tone emulator and the fake model."""

from __future__ import annotations

import anyio
import httpx
import pytest
from _serve import LONG, RATE, SHORT, Client, client, running, samples

from bridge.adapters.llm import LLMConfig
from bridge.adapters.prompts import load_prompt
from bridge.local import LatencyModel
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.server import ServerOptions
from bridge.testing.fake_llm import FakeReply, tokens_for
from bridge.text import Lexicon

pytestmark = pytest.mark.anyio

PACED = ServerOptions(port=0, audio_lead=0.3)


async def test_a_full_turn_streams_text_segments_and_announced_audio() -> None:
    async with running() as stack, client(stack.url) as c:
        assert c.events[0]["voice"] in c.events[0]["voices"]
        assert "assistant" in c.events[0]["prompts"]
        assert c.events[0]["sample_rate"] == RATE
        await c.send(type="user.message", text="Hello?")
        done = await c.until("response.done")
    rid = done["response_id"]
    kinds = [e if isinstance(e, bytes) else e["type"] for e in c.log]
    first_frame = next(i for i, k in enumerate(kinds) if isinstance(k, bytes))
    assert kinds.index("response.started") < kinds.index("audio.start") < first_frame
    assert all(e["response_id"] == rid for e in c.events if "response_id" in e)
    assert "".join(e["text"] for e in c.of("text.delta")) == SHORT
    assert [s["text"] for s in c.of("segment")] == ["Sure.", "Here is a short answer."]
    assert [s["index"] for s in c.of("segment")] == [0, 1]
    assert c.of("audio.start") == [{"type": "audio.start", "response_id": rid, "sample_rate": RATE}]
    result = done["result"]
    assert result["turn_id"] == rid and result["error"] is None and not result["interrupted"]
    assert result["text"] == result["spoken_text"] == SHORT
    assert samples(c.frames) > RATE  # over a second of tone audio
    assert not c.of("response.interrupted")


async def test_response_started_comes_once_the_model_request_is_out_not_with_its_answer() -> None:
    # It is sent after the request (so that the writer's send does not come before the
    # request's), woken by the request being out: not held until the model's first token.
    slow = [FakeReply(tokens_for(SHORT), first_delay=60)]
    async with running(slow) as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Hello?")
        started = await c.recv(timeout=8)
        assert isinstance(started, dict) and started["type"] == "response.started", started
        await c.send(type="response.cancel")
        done = await c.until("response.done")
    assert done["response_id"] == started["response_id"] and done["result"]["interrupted"]


async def test_barge_in_sends_no_audio_after_cancel_and_reports_the_heard_text() -> None:
    replies = [FakeReply(tokens_for(LONG), delay=0.002)] * 2 + [FakeReply(tokens_for(SHORT))]
    async with running(replies, options=PACED) as stack, client(stack.url) as c:
        spoken: list[str] = []
        audio_ms: list[float] = []
        for heard_seconds in (0.0, 1.0):
            await c.send(type="user.message", text="Plan a walk.")
            while samples(c.frames) < int(1.2 * RATE):
                await c.recv()
            rid = c.of("response.started")[-1]["response_id"]
            acked = int(heard_seconds * RATE)
            await c.send(type="playback.ack", response_id=rid, samples=acked)
            await c.send(type="response.cancel")
            asked = anyio.current_time()
            before = len(c.log)
            interrupted = await c.until("response.interrupted", timeout=5)
            took = anyio.current_time() - asked
            done = await c.until("response.done")
            after_cancel = c.log[before:]
            # Frames sent before the cancel was read may still arrive, never after the event.
            cut = after_cancel.index(interrupted)
            assert not any(isinstance(x, bytes) for x in after_cancel[cut:])
            assert took < 1.0, f"response.interrupted came {took:.2f} s after response.cancel"
            assert interrupted["response_id"] == rid == done["response_id"]
            assert done["result"]["interrupted"]
            spoken.append(interrupted["spoken_text"])
            audio_ms.append(done["result"]["audio_ms"])
            c.frames.clear()
        await c.send(type="user.message", text="And then?")
        await c.until("response.done", timeout=20)
        history = stack.fake.requests[2]["messages"]
    assert spoken[0] == ""  # nothing acknowledged: nothing heard
    assert spoken[1] and LONG.startswith(spoken[1]) and len(spoken[1]) < len(LONG) / 2
    assert audio_ms == [0.0, 1000.0]  # exactly what the client acknowledged
    # The model sees only what was heard, marked as cut off.
    assistant = [m["content"] for m in history if m["role"] == "assistant"]
    assert assistant[1] == spoken[1] + " …"


async def test_barge_in_while_the_client_still_plays_the_sent_audio_is_exact() -> None:
    # A lead longer than the reply: all its audio is sent at once, then the server waits for
    # the client to play it before the response ends.
    options = ServerOptions(port=0, audio_lead=5.0)
    async with running(options=options) as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Hi")
        await c.until("audio.start")
        rid = c.of("response.started")[0]["response_id"]
        with anyio.move_on_after(0.5):
            while True:
                await c.recv()
        total = samples(c.frames)
        assert total > RATE  # all of it arrived, the reply lasts longer than that wait
        assert not c.of("response.done")
        await c.send(type="playback.ack", response_id=rid, samples=RATE // 2)
        await c.send(type="response.cancel", response_id=rid)
        interrupted = await c.until("response.interrupted")
        done = await c.until("response.done")
    assert done["result"]["interrupted"] and done["result"]["audio_ms"] == 500.0
    assert interrupted["spoken_text"] == "Sure."  # 0.5 s of "Sure. Here is a short answer."
    assert samples(c.frames) == total


async def test_a_new_message_interrupts_the_running_response() -> None:
    replies = [FakeReply(tokens_for(LONG), delay=0.002), FakeReply(tokens_for(SHORT))]
    async with running(replies, options=PACED) as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Plan a walk.")
        await c.until("audio.start")
        first = c.of("response.started")[0]["response_id"]
        await c.send(type="playback.ack", response_id=first, samples=RATE // 2)
        await c.send(type="user.message", text="Stop, just say hi.")
        interrupted = await c.until("response.interrupted")
        done_first = await c.until("response.done", response_id=first)
        started = await c.until("response.started")
        done_second = await c.until("response.done", response_id=started["response_id"])
        messages = stack.fake.requests[1]["messages"]
    assert interrupted["response_id"] == first and done_first["result"]["interrupted"]
    assert done_second["result"]["text"] == SHORT and not done_second["result"]["interrupted"]
    # History in order: the first answer as heard, then the new question.
    roles = [m["role"] for m in messages]
    assert roles[-3:] == ["user", "assistant", "user"]
    assert messages[-2]["content"] == interrupted["spoken_text"] + " …"
    assert messages[-1]["content"] == "Stop, just say hi."


async def test_pacing_keeps_the_client_at_most_the_lead_ahead() -> None:
    async with (
        running([FakeReply(tokens_for(LONG))], options=PACED) as stack,
        client(stack.url) as c,
    ):
        await c.send(type="user.message", text="Go.")
        await c.until("audio.start")
        start = anyio.current_time()
        await anyio.sleep(1.0)
        elapsed = anyio.current_time() - start
        with anyio.move_on_after(0.2):
            while True:
                await c.recv()
        got = samples(c.frames)
    # Without acks the server models real-time playback: at most ~lead + elapsed sent (and
    # some was: 0 would pass the bound).
    assert 0 < got / RATE <= elapsed + 0.2 + 0.3 + 0.25


async def test_session_configure_changes_voice_and_prompt_and_rejects_unknown_values() -> None:
    async with running() as stack, client(stack.url) as c:
        ready = c.events[0]
        other = next(v for v in ready["voices"] if v != ready["voice"])
        await c.send(type="session.configure", voice=other, prompt="concise", sample_rate=16000)
        again = await c.until("session.ready")
        assert (again["voice"], again["prompt"], again["sample_rate"]) == (other, "concise", 16000)
        await c.send(type="user.message", text="Hi")
        start = await c.until("audio.start")
        await c.until("response.done")
        system = stack.fake.requests[0]["messages"][0]
        for bad in ({"voice": "Nobody"}, {"prompt": "../../etc/passwd"}, {"sample_rate": 44100}):
            await c.send(type="session.configure", **bad)
            error = await c.until("error")
            assert error["code"] == "invalid_config", bad
    assert start["sample_rate"] == 16000
    assert system == {"role": "system", "content": load_prompt("concise")}


async def test_a_client_without_acks_declares_when_it_plays_and_the_response_ends_then() -> None:
    # The response of a client that sends no acks ends when its modelled playback does: the
    # declared playback_delay_ms after the modelled end of the audio sent (0.25 s undeclared).
    gaps: dict[int | None, float] = {}
    for declared in (None, 1500):
        async with running(options=PACED) as stack, client(stack.url) as c:
            assert c.events[0]["playback_delay_ms"] == 250
            if declared is not None:
                await c.send(type="session.configure", playback_delay_ms=declared)
                assert (await c.until("session.ready"))["playback_delay_ms"] == declared
                await c.send(type="session.configure", playback_delay_ms=2001)
                assert (await c.until("error"))["code"] == "invalid_config"
            await c.send(type="user.message", text="Hi")
            last_frame = 0.0
            while True:
                event = await c.recv()
                if isinstance(event, bytes):
                    last_frame = anyio.current_time()
                elif event["type"] == "response.done":
                    break
            gaps[declared] = anyio.current_time() - last_frame
    # The last frame is sent at most the lead (0.3 s) before the modelled end.
    assert gaps[None] < 1.5 <= gaps[1500]


async def test_after_a_cancel_heard_text_waits_for_the_response_end_unless_a_message_does() -> None:
    # The emulator speaks in real time, so 0.3 s into a 2.3 s sentence its end is 2 s away:
    # after response.cancel the session reads on to it (nothing waits: SETTLE_IDLE_TIMEOUT)
    # and the usage arrives; after a new user.message it gives up at settle_timeout (0.5 s).
    sentence = "We walk slowly to the quiet lake today."
    latency = LatencyModel(first_packet=0.02, rtf=1.0, delta_ms=50)
    billed: dict[str, int | None] = {}
    for how in ("cancel", "message"):
        replies = [FakeReply(tokens_for(sentence)), FakeReply(tokens_for(SHORT))]
        async with (
            running(replies, engine="exact", mode="commit", latency=latency) as stack,
            client(stack.url) as c,
        ):
            await c.send(type="user.message", text="Go.")
            rid = (await c.until("response.started"))["response_id"]
            while samples(c.frames) < int(0.3 * RATE):
                await c.recv()
            await c.send(type="playback.ack", response_id=rid, samples=int(0.3 * RATE))
            if how == "cancel":
                await c.send(type="response.cancel")
            else:
                await c.send(type="user.message", text="Stop.")
            done = await c.until("response.done", response_id=rid)
            billed[how] = done["result"]["chars_billed"]
            assert done["result"]["interrupted"]
    assert billed["cancel"] is not None and billed["message"] is None, billed


async def test_session_configure_chooses_a_lexicon_by_name_only() -> None:
    lexicons = {"tech": Lexicon.build(exact={"short": "brief"}), "other": Lexicon.build()}
    replies = [FakeReply(tokens_for(SHORT))] * 3
    async with running(replies, lexicons=lexicons) as stack, client(stack.url) as c:
        ready = c.events[0]
        assert (ready["lexicon"], ready["lexicons"]) == ("none", ["none", "tech", "other"])
        await c.send(type="session.configure", lexicon="tech")
        assert (await c.until("session.ready"))["lexicon"] == "tech"
        await c.send(type="user.message", text="Hi")
        await c.until("response.done")
        assert [s["text"] for s in c.of("segment")] == ["Sure.", "Here is a brief answer."]
        for bad in ("missing", "/etc/passwd", "tech.toml"):
            await c.send(type="session.configure", lexicon=bad)
            error = await c.until("error")
            assert error["code"] == "invalid_config"
            assert error["message"] == "unknown lexicon; choose one of: none, tech, other"
            c.events.clear()
        await c.send(type="session.configure", lexicon="none")
        assert (await c.until("session.ready"))["lexicon"] == "none"
        c.events.clear()
        await c.send(type="user.message", text="Hi")
        await c.until("response.done")
        assert [s["text"] for s in c.of("segment")] == ["Sure.", "Here is a short answer."]


async def test_a_default_lexicon_applies_from_the_first_turn() -> None:
    lexicons = {"tech": Lexicon.build(any_case={"sure": "certainly"})}
    async with (
        running(lexicons=lexicons, default_lexicon="tech") as stack,
        client(stack.url) as c,
    ):
        assert c.events[0]["lexicon"] == "tech"
        await c.send(type="user.message", text="Hi")
        await c.until("response.done")
        assert c.of("segment")[0]["text"] == "Certainly."


async def test_health_ready_and_static_routes() -> None:
    async with running() as stack:
        base = stack.server.http_url.rstrip("/")
        async with httpx.AsyncClient(timeout=10) as http:
            health = await http.get(base + "/healthz")
            ready = await http.get(base + "/readyz")
            page = await http.get(base + "/")
            script = await http.get(base + "/static/demo.js")
            worklet = await http.get(base + "/static/player-worklet.js")
            traversal = await http.get(base + "/static/..%2Fapp.py")
            plain_ws = await http.get(base + "/ws")
    assert health.status_code == 200 and health.text.strip() == "ok"
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready",
        "tts": "ok",
        "llm": "ok",
    }
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert 'id="stop"' in page.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert "registerProcessor" in worklet.text
    assert traversal.status_code == 404
    assert plain_ws.status_code == 426


async def test_readyz_reports_an_unreachable_model_without_its_address() -> None:
    dead = LLMConfig(base_url="http://127.0.0.1:9/v1", api_key="sk-never-shown", model="m")
    async with running(llm=dead) as stack, httpx.AsyncClient(timeout=10) as http:
        ready = await http.get(stack.server.http_url + "readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "tts": "ok", "llm": "unreachable"}
    assert "127.0.0.1:9" not in ready.text and "sk-never" not in ready.text


async def _turn_then_shutdown(grace: float) -> tuple[Client, tuple[int | None, str]]:
    reply = [FakeReply(tokens_for(SHORT), delay=0.01)]
    async with (
        running(reply, options=PACED, latency=LatencyModel(rtf=1.0)) as stack,
        client(stack.url) as c,
    ):
        await c.send(type="user.message", text="Hi")
        await c.until("audio.start")
        async with anyio.create_task_group() as tg:
            tg.start_soon(stack.server.shutdown, grace)
            code = await c.closed(timeout=15)
            with anyio.fail_after(5):
                async with httpx.AsyncClient(timeout=2) as http:
                    with pytest.raises(httpx.ConnectError):
                        await http.get(stack.server.http_url + "healthz")
        return c, code


async def test_graceful_shutdown_lets_the_running_reply_finish_then_closes_1001() -> None:
    c, (code, reason) = await _turn_then_shutdown(grace=10)
    assert code == 1001 and "shutting down" in reason
    done = c.of("response.done")
    assert len(done) == 1 and not done[0]["result"]["interrupted"]
    assert c.log[-1] == done[0]  # nothing after the result but the close


async def test_graceful_shutdown_interrupts_what_runs_past_the_deadline() -> None:
    c, (code, _reason) = await _turn_then_shutdown(grace=0.2)
    assert code == 1001
    assert len(c.of("response.interrupted")) == 1
    assert c.of("response.done")[0]["result"]["interrupted"]


async def test_segment_timing_events_locate_each_sentence_in_the_audio_sent() -> None:
    # The exact engine: the frames' samples in a segment.timing range decode to its text.
    async with running(engine="exact", mode="commit") as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Hello?")
        done = await c.until("response.done")
    rid = done["response_id"]
    segments = {s["index"]: s["text"] for s in c.of("segment")}
    timings = {t["index"]: t for t in c.of("segment.timing")}  # the latest of each index
    assert set(timings) == set(segments) == {0, 1}
    assert all(t["response_id"] == rid and not t["estimated"] for t in timings.values())
    pcm = b"".join(c.frames)
    for index, text in segments.items():
        t = timings[index]
        piece = pcm[2 * t["start"] : 2 * t["end"]]
        assert decode_speech(piece, run_length=samples_per_char(RATE)).text.rstrip() == text
    assert [s["timing_estimated"] for s in done["result"]["segments"]] == [False, False]
    assert [s["start_sample"] for s in done["result"]["segments"]] == [0, timings[1]["start"]]
    # Each timing comes after its segment event, and before the response ends.
    kinds = [(e["type"], e.get("index")) for e in c.events]
    for index in segments:
        assert kinds.index(("segment", index)) < kinds.index(("segment.timing", index))
    assert max(i for i, k in enumerate(kinds) if k[0] == "segment.timing") < kinds.index(
        ("response.done", None)
    )
