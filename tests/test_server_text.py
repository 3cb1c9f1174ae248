"""Coalesced ``text.delta`` frames: every character once, in order, in fewer frames, never after
the response's other events (``segment``, ``audio.start``, ``response.done``)."""

from __future__ import annotations

import json

import anyio
import pytest
from _serve import LONG, client, running

from bridge.server.outbox import Outbox
from bridge.testing.fake_llm import FakeReply, tokens_for

pytestmark = pytest.mark.anyio


async def _drain(box: Outbox) -> list[str | bytes]:
    out: list[str | bytes] = []
    with anyio.fail_after(5):
        while (frame := await box.get()) is not None:
            out.append(frame)
    return out


def _text(frame: str | bytes) -> tuple[str, str, str]:
    assert isinstance(frame, str)
    event = json.loads(frame)
    return event["type"], event.get("response_id", ""), event.get("text", "")


async def test_deltas_are_joined_until_the_next_control_event() -> None:
    box = Outbox()
    for piece in ("Hel", "lo", " there"):
        box.put_text("r1", piece)
    box.put({"type": "segment", "response_id": "r1", "index": 0, "text": "Hello there"})
    box.put_text("r1", ".")
    box.put_text("r2", "Next")  # another response: its own frame
    assert await box.put_audio("r2", b"\x00\x00")
    box.close()  # what is still collecting goes out before the end
    got = [f if isinstance(f, bytes) else _text(f) for f in await _drain(box)]
    assert got == [
        ("text.delta", "r1", "Hello there"),
        ("segment", "r1", "Hello there"),
        ("text.delta", "r1", "."),
        b"\x00\x00",  # audio frames do not wait for the text collecting meanwhile
        ("text.delta", "r2", "Next"),
    ]
    assert box.text_frames == 3


async def test_text_alone_goes_out_when_its_window_ends() -> None:
    box = Outbox(text_window=0.05)
    box.put_text("r1", "a")
    box.put_text("r1", "b")
    with anyio.fail_after(5):
        frame = await box.get()  # nothing else is queued: the window's end sends it
    assert frame is not None and _text(frame) == ("text.delta", "r1", "ab")
    box.put_text("r1", "c")
    box.close()
    assert [_text(f) for f in await _drain(box)] == [("text.delta", "r1", "c")]


async def test_a_zero_window_sends_every_delta_as_it_comes() -> None:
    box = Outbox(text_window=0)
    for piece in ("a", "b", "", "c"):
        box.put_text("r1", piece)
    box.close()
    assert [_text(f)[2] for f in await _drain(box)] == ["a", "b", "c"]


async def test_clients_get_every_character_once_in_order_in_fewer_frames() -> None:
    tokens = tokens_for(LONG)
    replies = [FakeReply(tokens, delay=0.001)]
    async with running(replies) as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Plan a walk.")
        done = await c.until("response.done")
    rid = done["response_id"]
    mine = [e for e in c.events if e.get("response_id") == rid]
    assert mine[-1] is done  # response.done is still the last event of the response
    deltas = [e["text"] for e in mine if e["type"] == "text.delta"]
    assert "".join(deltas) == LONG == done["result"]["text"]
    assert all(deltas)
    assert len(deltas) < len(tokens)  # coalesced
    # each segment's text has arrived in the text.delta frames before it
    sent = ""
    for e in mine:
        if e["type"] == "text.delta":
            sent += e["text"]
        elif e["type"] == "segment":
            assert e["text"] in sent
