"""Conversations that survive a reconnect: the resume token of `session.ready`, `session.resume`
on a new connection (to the same server, or another one sharing a Redis store), the history
back, the model seeing it; tokens unguessable and stored hashed; stored history expires."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from _redis import redis_server
from _serve import SHORT, Client, client, running

from bridge.core.errors import ConfigError
from bridge.server import ServerOptions
from bridge.server.store import MemoryStore, StoredSession, hash_token
from bridge.testing.fake_llm import FakeReply, tokens_for

pytestmark = pytest.mark.anyio

REPLY = FakeReply(tokens_for(SHORT), delay=0.002)


async def turn(c: Client, text: str) -> dict[str, Any]:
    await c.send(type="user.message", text=text)
    return await c.until("response.done")


def user_texts(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


async def test_a_reconnecting_client_gets_its_conversation_and_settings_back() -> None:
    async with running([REPLY]) as stack:
        async with client(stack.url) as first:
            token = first.events[0]["resume_token"]
            await first.send(type="session.configure", voice="Ethan", playback_delay_ms=40)
            await first.until("session.ready", voice="Ethan")
            await turn(first, "My name is Ada.")
        async with client(stack.url) as again:
            assert again.events[0]["resume_token"] != token  # a new session has its own
            assert "history" not in again.events[0]
            await again.send(type="session.resume", resume_token=token)
            ready = await again.until("session.ready")
            await turn(again, "What is my name?")
    assert ready["resume_token"] == token and ready["voice"] == "Ethan"
    assert ready["playback_delay_ms"] == 40
    assert ready["history"] == [
        {"role": "user", "text": "My name is Ada.", "interrupted": False},
        {"role": "assistant", "text": SHORT, "interrupted": False},
    ]
    last = stack.fake.requests[-1]
    assert user_texts(last) == ["My name is Ada.", "What is my name?"]
    assert {"role": "assistant", "content": SHORT} in last["messages"]


async def test_unknown_tokens_late_resumes_and_bad_tokens_are_refused() -> None:
    async with running([REPLY]) as stack, client(stack.url) as c:
        await c.send(type="session.resume", resume_token="guessed-token")
        unknown = await c.until("error")
        await c.send(type="session.resume", resume_token=5)
        bad = await c.until("error")
        await turn(c, "Hello.")
        await c.send(type="session.resume", resume_token=c.events[0]["resume_token"])
        late = await c.until("error")
        await turn(c, "Still here?")  # the session goes on, with its own history
    assert unknown["code"] == "resume_not_found"
    assert bad["code"] == "invalid_message"
    assert late["code"] == "resume_too_late"
    assert user_texts(stack.fake.requests[-1]) == ["Hello.", "Still here?"]


async def test_tokens_are_unguessable_and_the_store_holds_only_their_hashes() -> None:
    async with running([REPLY]) as stack:
        tokens = []
        for text in ("One.", "Two."):
            async with client(stack.url) as c:
                tokens.append(c.events[0]["resume_token"])
                await turn(c, text)
        store = stack.server.backend.store
        assert isinstance(store, MemoryStore)
        keys = list(store._items)
    assert tokens[0] != tokens[1] and all(len(t) >= 43 for t in tokens)
    assert sorted(keys) == sorted(hash_token(t) for t in tokens)
    assert not any(t in k for t in tokens for k in keys)


async def test_the_memory_store_expires_and_bounds_what_it_holds() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0], max_entries=2)
    await store.save("a", "1", ttl=10)
    await store.save("b", "2", ttl=10)
    await store.save("c", "3", ttl=10)  # over the bound: the oldest goes
    assert [await store.load(k) for k in "abc"] == [None, "2", "3"]
    now[0] = 9.9
    assert await store.load("b") == "2"
    now[0] = 10.0
    assert await store.load("b") is None and len(store) == 1


def test_stored_sessions_round_trip_and_foreign_values_are_refused() -> None:
    from bridge.core.conversation import ConversationTurn
    from bridge.core.errors import StoreError

    stored = StoredSession({"voice": "Ethan"}, (ConversationTurn("user", "Hi", False),))
    assert StoredSession.from_json(stored.to_json()) == stored
    for junk in ("nope", "[]", '{"settings": 1, "turns": []}', '{"turns": [[1]]}'):
        with pytest.raises(StoreError):
            StoredSession.from_json(junk)


async def test_a_conversation_moves_between_servers_sharing_redis_and_expires(
    tmp_path: Path,
) -> None:
    async with redis_server(tmp_path) as url:
        options = ServerOptions(port=0, audio_lead=None, store=url, history_ttl=120)
        async with running([REPLY], options=options) as a, running([REPLY], options=options) as b:
            async with client(a.url) as first:
                token = first.events[0]["resume_token"]
                await turn(first, "Remember the number 42.")
            async with client(b.url) as moved:
                await moved.send(type="session.resume", resume_token=token)
                ready = await moved.until("session.ready")
                await turn(moved, "Which number?")
        check = redis.asyncio.Redis.from_url(url)
        keys = [k.decode() for k in await check.keys("*")]
        ttl = await check.ttl(hash_token(token))
        await check.aclose()
    assert [h["text"] for h in ready["history"]] == ["Remember the number 42.", SHORT]
    assert a.fake.requests and user_texts(b.fake.requests[-1]) == [
        "Remember the number 42.",
        "Which number?",
    ]
    assert keys == [hash_token(token)]  # only the hash: no token in the store
    assert 0 < ttl <= 120  # expires


async def test_a_store_that_cannot_be_used_is_a_config_error_at_start(tmp_path: Path) -> None:
    for url, says in (
        ("mysql://x", "redis://"),
        ("redis://127.0.0.1:9/0", "cannot use the store"),
    ):
        with pytest.raises(ConfigError, match=says):
            async with running([REPLY], options=ServerOptions(port=0, store=url)):
                pass
