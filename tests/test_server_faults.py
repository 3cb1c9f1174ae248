"""`bridge serve` under hostile input and faults: every accepted message gets its documented
events, nothing a client or a model sends ends the connection or writes a traceback."""

from __future__ import annotations

import json

import pytest
from _serve import LONG, SHORT, client, running

from bridge.server import ServerLimits, ServerOptions
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


async def test_a_cancel_sent_right_after_the_message_always_cancels() -> None:
    limits = ServerLimits(turn_burst=50, turns_per_minute=600)
    replies = [FakeReply(tokens_for(LONG))] * 8
    options = ServerOptions(port=0, audio_lead=None, limits=limits)
    async with running(replies, options=options) as stack, client(stack.url) as c:
        for _ in range(8):
            # Back to back: the cancel is read before the response has started.
            await c.ws.send(json.dumps({"type": "user.message", "text": "Plan a walk."}))
            await c.ws.send(json.dumps({"type": "response.cancel"}))
            done = await c.until("response.done")
            assert done["result"]["interrupted"], done["result"]
            rid = done["response_id"]
            assert c.of("response.interrupted")[-1]["response_id"] == rid
        await c.send(type="user.message", text="And now?")  # a later turn is not cancelled
        last = await c.until("response.done")
    assert not last["result"]["interrupted"] and last["result"]["text"] == LONG
    assert [e["type"] for e in c.events].count("response.started") == 9


async def test_the_history_sent_starts_with_system_and_user_and_fits_the_budget() -> None:
    limits = ServerLimits(turn_burst=50, turns_per_minute=600)
    options = ServerOptions(
        port=0, audio_lead=None, limits=limits, max_history_turns=6, max_history_chars=2000
    )
    replies = [FakeReply(tokens_for(SHORT))] * 6
    prompt = "Be brief."
    async with (
        running(replies, options=options, prompts={"p": prompt}) as stack,
        client(stack.url) as c,
    ):
        for i in range(6):
            await c.send(type="user.message", text=f"Question {i}: " + "x" * 900)
            await c.until("response.done")
        requests = [r["messages"] for r in stack.fake.requests]
    assert len(requests) == 6
    for messages in requests:
        assert [m["role"] for m in messages[:2]] == ["system", "user"], messages
        assert sum(len(m["content"]) for m in messages) <= 2000
    # Within both bounds: the newest two exchanges' worth of ~910-character questions.
    assert [m["role"] for m in requests[-1]] == ["system", "user", "assistant", "user"]


async def test_a_response_that_fails_on_the_server_still_ends_with_response_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bridge.pipeline.turn import Turn

    async def broken(self: Turn) -> None:
        raise RuntimeError("a bug in the turn")

    monkeypatch.setattr(Turn, "run", broken)
    async with running() as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Hi")
        done = await c.until("response.done")
        started = c.of("response.started")
        errors = await c.until("error")
    assert done["response_id"] == started[0]["response_id"]
    assert done["result"]["error"]["code"] == "internal_error"
    assert done["result"]["spoken_text"] == ""
    assert "bug" not in json.dumps(c.events)  # the exception's text stays on the server
    assert errors["code"] == "internal_error"
