"""`bridge serve` under hostile input and faults: every accepted message gets its documented
events, nothing a client or a model sends ends the connection or writes a traceback."""

from __future__ import annotations

import json

import pytest
from _serve import SHORT, client, running

from bridge.testing.fake_llm import FakeReply, tokens_for

pytestmark = pytest.mark.anyio

EMOJI = "\U0001f600"


async def test_a_lone_surrogate_in_a_user_message_is_replaced_not_a_crash() -> None:
    async with running() as stack, client(stack.url) as c:
        # Valid JSON: the escape decodes to a lone surrogate, which UTF-8 cannot encode.
        await c.ws.send('{"type":"user.message","text":"Hi \\ud800 there\\u0007"}')
        done = await c.until("response.done")
        assert done["result"]["error"] is None and done["result"]["text"] == SHORT
        assert not c.of("error")
        await c.send(type="user.message", text="Again?")  # the connection is still good
        again = await c.until("response.done")
        sent = stack.fake.requests[0]["messages"][-1]
    assert again["result"]["error"] is None
    assert sent == {"role": "user", "content": "Hi \ufffd there"}


async def test_an_emoji_streamed_as_two_surrogate_halves_arrives_whole() -> None:
    # The fake model JSON-encodes each chunk, so each half is sent as its own escape.
    tokens = ["Look ", "\ud83d", "\ude00", " a smile.", "\x1b[0m Done."]
    async with running([FakeReply(tokens)]) as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Smile?")
        done = await c.until("response.done")
    text = "".join(e["text"] for e in c.of("text.delta"))
    assert text == f"Look {EMOJI} a smile.[0m Done."
    assert done["result"]["error"] is None
    assert json.dumps(c.events, ensure_ascii=False).encode()  # all valid UTF-8


async def test_a_model_reply_ending_in_half_an_emoji_still_completes() -> None:
    tokens = [*tokens_for("Fine."), "\ud83d"]
    async with running([FakeReply(tokens)]) as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Hi")
        done = await c.until("response.done")
    assert "".join(e["text"] for e in c.of("text.delta")) == "Fine.\ufffd"
    assert done["result"]["error"] is None
