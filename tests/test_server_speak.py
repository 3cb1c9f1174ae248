"""Speak responses on `bridge serve`: a client brings its own text (``text.append`` ...
``text.done``) and gets segments, audio, barge-in and ``response.done`` with the heard text,
without a chat model. Driven by a real websockets client against a real server; the ``exact``
engine's audio says which characters were spoken, so the tests compare text, not durations."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from _serve import Client, client, running

from bridge.local import LatencyModel
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.server import ServerLimits, ServerOptions

pytestmark = pytest.mark.anyio

RATE_24K = 24000
RUN = samples_per_char(RATE_24K)
TEXT = (
    "The backend runs its own agent. Its text is streamed in as it is written, "
    "and the bridge speaks it. A rare character \U00020000 survives the split."
)
LONG = " ".join(f"Sentence number {n} is here to be spoken slowly." for n in range(12))


def pieces(text: str, size: int = 7) -> list[str]:
    """``text`` cut into small pieces, as a model streams it; a surrogate pair is split in
    two (``\\ud840`` then ``\\udc00``), as a JSON encoder that escapes it may send it."""
    escaped = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    units = "".join(
        chr(0xD800 + ((ord(c) - 0x10000) >> 10)) + chr(0xDC00 + ((ord(c) - 0x10000) & 0x3FF))
        if ord(c) > 0xFFFF
        else c
        for c in escaped
    )
    return [units[i : i + size] for i in range(0, len(units), size)]


def heard(frames: list[bytes]) -> str:
    """What the audio says (exact engine), white space left out: the segments' spaces are not
    spoken."""
    return "".join(decode_speech(b"".join(frames), run_length=RUN).text.split())


def squash(text: str) -> str:
    return "".join(text.split())


async def speak(c: Client, parts: list[str]) -> None:
    for part in parts:
        await c.send(type="text.append", text=part)
    await c.send(type="text.done")


async def response_frames(c: Client, rid: str) -> tuple[list[bytes], dict[str, Any]]:
    """The binary frames of response ``rid`` and its ``response.done``."""
    frames: list[bytes] = []
    current = None
    while True:
        got = await c.recv()
        if isinstance(got, bytes):
            if current == rid:
                frames.append(got)
        elif got["type"] == "audio.start":
            current = got["response_id"]
        elif got["type"] == "response.done" and got["response_id"] == rid:
            return frames, got


async def test_a_server_without_a_chat_model_speaks_the_clients_text_exactly() -> None:
    async with running(engine="exact", chat=False) as stack, client(stack.url) as c:
        assert c.events[0]["chat"] is False
        assert c.events[0]["limits"]["max_speak_chars"] == ServerLimits().max_speak_chars
        await c.send(type="user.message", text="Hello?")
        refused = await c.until("error")
        assert refused["code"] == "no_chat_model"
        # a control character is removed at the boundary, like user.message text
        await speak(c, [*pieces(TEXT[:40]), "\x07", *pieces(TEXT[40:])])
        started = await c.until("response.started")
        rid = started["response_id"]
        frames, done = await response_frames(c, rid)
        async with httpx.AsyncClient(timeout=10) as http:
            ready = await http.get(stack.server.http_url + "readyz")
    assert ready.status_code == 200  # ready without a chat model
    assert ready.json() == {"status": "ready", "tts": "ok", "llm": "not_configured"}
    assert heard(frames) == squash(TEXT)
    result = done["result"]
    assert result["spoken_text"] == TEXT and result["text"] == TEXT
    assert not result["interrupted"] and result["error"] is None
    segments = [e["text"] for e in c.of("segment") if e["response_id"] == rid]
    assert len(segments) >= 3 and squash("".join(segments)) == squash(TEXT)
    timed = {e["index"] for e in c.of("segment.timing") if e["response_id"] == rid}
    assert timed == set(range(len(segments)))  # captions, as for a chat reply
    assert not c.of("text.delta")  # the text is the client's own: not echoed
    assert stack.fake.requests == []  # no chat model involved


async def test_cancel_mid_text_stops_the_audio_and_the_next_text_is_a_new_response() -> None:
    paced = LatencyModel(rtf=1.0, delta_ms=40)  # audio arrives as fast as it plays
    options = ServerOptions(port=0, audio_lead=0.3)
    async with (
        running(engine="exact", chat=False, latency=paced, options=options) as stack,
        client(stack.url) as c,
    ):
        for part in pieces(LONG[: len(LONG) // 2], size=20):
            await c.send(type="text.append", text=part)  # the text stays open: no text.done
        rid = (await c.until("response.started"))["response_id"]
        await c.until("audio.start", response_id=rid)
        before: list[bytes] = []
        while len(before) < 40:  # 1.6 s: a few words
            got = await c.recv()
            if isinstance(got, bytes):
                before.append(got)
        await c.send(type="playback.ack", response_id=rid, samples=sum(len(f) // 2 for f in before))
        await c.send(type="response.cancel", response_id=rid)
        # the next text, sent right after the cancel: a new response, spoken whole
        await speak(c, ["And now ", "something else."])
        late: list[bytes] = []
        while True:  # frames in flight when the server read the cancel may still arrive
            got = await c.recv()
            if isinstance(got, bytes):
                late.append(got)
            elif got["type"] == "response.interrupted":
                interrupted = got
                break
        done = await c.until("response.done", response_id=rid)
        second = (await c.until("response.started"))["response_id"]
        frames, second_done = await response_frames(c, second)
    assert second != rid
    said = heard(before + late)
    assert 0 < len(said) < len(squash(LONG)) // 2
    assert squash(LONG).startswith(said)
    assert done["result"]["interrupted"] is True
    spoken = interrupted["spoken_text"]
    assert spoken and said.startswith(squash(spoken))
    assert heard(frames) == squash("And now something else.")
    assert second_done["result"]["spoken_text"] == "And now something else."
    assert stack.fake.requests == []


async def test_text_over_the_per_response_limit_is_cut_there_with_one_error() -> None:
    limits = ServerLimits(max_speak_chars=30)
    options = ServerOptions(port=0, audio_lead=None, limits=limits)
    async with (
        running(engine="exact", chat=False, options=options) as stack,
        client(stack.url) as c,
    ):
        await speak(c, ["Twenty characters ok. ", "This piece is over the limit.", "Yes."])
        refused = await c.until("error")
        rid = (await c.until("response.started"))["response_id"]
        frames, done = await response_frames(c, rid)
        await speak(c, ["Then a new one."])  # the limit is per response
        second = (await c.until("response.started"))["response_id"]
        frames2, _ = await response_frames(c, second)
    assert refused["code"] == "message_too_large" and "30 characters" in refused["message"]
    assert len(c.of("error")) == 1
    assert heard(frames) == squash("Twenty characters ok.")
    assert done["result"]["spoken_text"] == "Twenty characters ok."
    assert heard(frames2) == squash("Then a new one.")


async def test_speak_responses_take_turns_from_the_rate_limit_and_queue_in_order() -> None:
    limits = ServerLimits(turn_burst=2, turns_per_minute=1)
    options = ServerOptions(port=0, audio_lead=None, limits=limits)
    async with (
        running(engine="exact", chat=False, options=options) as stack,
        client(stack.url) as c,
    ):
        await speak(c, ["First one."])
        await speak(c, ["Second one."])  # queued behind the first: responses never overlap
        # over the turn rate: refused whole (one error), none of its pieces spoken
        await speak(c, ["Third ", "one, ", "in pieces."])
        refused = await c.until("error")
        first = (await c.until("response.started"))["response_id"]
        frames1, _ = await response_frames(c, first)
        second = (await c.until("response.started"))["response_id"]
        frames2, _ = await response_frames(c, second)
        with anyio.move_on_after(0.5):
            await c.until("response.started")
    assert refused["code"] == "rate_limited" and refused["limit"] == "session"
    assert len(c.of("error")) == 1
    assert heard(frames1) == squash("First one.")
    assert heard(frames2) == squash("Second one.")
    assert len(c.of("response.started")) == 2


async def test_a_user_message_interrupts_an_open_speak_response() -> None:
    paced = LatencyModel(rtf=1.0, delta_ms=40)
    async with running(latency=paced) as stack, client(stack.url) as c:
        assert c.events[0]["chat"] is True
        await c.send(type="text.append", text=LONG)
        rid = (await c.until("response.started"))["response_id"]
        await c.until("audio.start", response_id=rid)
        await c.send(type="user.message", text="Stop and answer me.")
        interrupted = await c.until("response.interrupted")
        await c.until("response.done", response_id=rid)
        reply = (await c.until("response.started"))["response_id"]
        await c.until("response.done", response_id=reply)
    assert interrupted["response_id"] == rid
    assert any(e["response_id"] == reply for e in c.of("text.delta"))
    # the speak response is not part of the conversation sent to the model
    sent = stack.fake.requests[-1]["messages"]
    assert all(LONG[:20] not in str(m.get("content")) for m in sent)


async def test_a_speak_response_left_open_without_text_is_closed_as_idle() -> None:
    limits = ServerLimits(idle_timeout=0.3)
    options = ServerOptions(port=0, audio_lead=None, limits=limits)
    async with (
        running(engine="exact", chat=False, options=options) as stack,
        client(stack.url) as c,
    ):
        await c.send(type="text.append", text="Hello there. ")  # then nothing: no text.done
        rid = (await c.until("response.started"))["response_id"]
        code, _reason = await c.closed(timeout=10)
    assert code == 4000
    assert c.of("error")[-1]["code"] == "idle_timeout"
    assert c.of("response.done")[-1]["response_id"] == rid  # it still ended properly


async def test_a_response_started_with_another_waiting_settles_briefly_after_a_cancel() -> None:
    # Speak responses queue. The second starts while a third waits behind it, so it is hurried
    # from its start: after response.cancel its heard text is settled within settle_timeout
    # (0.5 s), not read on to the end of its sentence (2 s away; the emulator speaks in real
    # time), and no usage arrives. Alone (nothing waiting) the same cancel reads on to the end.
    sentence = "We walk slowly to the quiet lake today."
    latency = LatencyModel(first_packet=0.02, rtf=1.0, delta_ms=50)
    billed: dict[bool, int | None] = {}
    for third in (False, True):
        async with (
            running(engine="exact", mode="commit", chat=False, latency=latency) as stack,
            client(stack.url) as c,
        ):
            await speak(c, ["Hi."])
            await speak(c, [sentence])
            if third:
                await speak(c, ["Then this."])
            first = (await c.until("response.started"))["response_id"]
            await c.until("response.done", response_id=first)
            rid = (await c.until("response.started"))["response_id"]
            await c.until("audio.start", response_id=rid)
            got = 0
            while got < int(0.3 * RATE_24K):
                frame = await c.recv()
                if isinstance(frame, bytes):
                    got += len(frame) // 2
            await c.send(type="playback.ack", response_id=rid, samples=got)
            await c.send(type="response.cancel", response_id=rid)
            done = await c.until("response.done", response_id=rid)
            assert done["result"]["interrupted"]
            billed[third] = done["result"]["chars_billed"]
    assert billed[False] is not None and billed[True] is None, billed
