"""Where conversations wait for their client to come back: resumable sessions of ``bridge serve``.

Each session gets a resume token (``secrets.token_urlsafe(32)``: 256 random bits) in
``session.ready``. After every response and ``session.configure`` the session saves its
settings and its conversation (what the user said, what the listener heard) under the key
``bridge:conversation:<sha256 of the token>``, with an expiry of ``history_ttl`` seconds that
each save renews. A client that reconnects, to this replica or any other sharing the store,
sends ``session.resume {resume_token}`` and gets the conversation back.

Only the token's hash is stored, so the store's contents (a Redis dump, a ``KEYS`` listing) do
not hold a token that would resume anything; a conversation can be read only by presenting
its token, which only its client was sent.

Stores:

- ``MemoryStore`` (the default): in this process, bounded (``max_entries``, the least
  recently saved dropped first), expired by the clock; a restart or another replica does not
  see it;
- ``RedisStore`` (``--store redis://host:port/db``, ``rediss://`` for TLS, ``unix://``): the
  ``redis`` package's asyncio client (extra ``redis``), ``SET key value EX ttl`` and ``GET``;
  its errors become ``StoreError`` here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bridge.core.conversation import ConversationTurn
from bridge.core.errors import ConfigError, StoreError

__all__ = [
    "ConversationStore",
    "MemoryStore",
    "RedisStore",
    "StoredSession",
    "hash_token",
    "new_token",
    "open_store",
]

KEY_PREFIX = "bridge:conversation:"
MAX_TOKEN = 128
_TIMEOUT = 2.0  # seconds for one store operation


def new_token() -> str:
    """A fresh resume token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The store key of ``token`` (its SHA-256, so stored keys reveal no token)."""
    return KEY_PREFIX + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredSession:
    """What a session keeps for a reconnect: its settings and its conversation's turns."""

    settings: dict[str, Any]
    turns: tuple[ConversationTurn, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "settings": self.settings,
                "turns": [[t.role, t.text, t.interrupted] for t in self.turns],
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, data: str | bytes) -> StoredSession:
        """Parse a stored value; ``StoreError`` when it is not one (another program's key)."""
        try:
            obj = json.loads(data)
            settings = obj["settings"]
            turns = tuple(
                ConversationTurn(role, str(text), bool(interrupted))
                for role, text, interrupted in obj["turns"]
                if role in ("user", "assistant")
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError("a stored conversation could not be read") from exc
        if not isinstance(settings, dict):
            raise StoreError("a stored conversation could not be read")
        return cls(settings, turns)


class ConversationStore(Protocol):
    """Keyed values with an expiry; what ``bridge serve`` needs from a store."""

    async def load(self, key: str) -> str | None: ...

    async def save(self, key: str, value: str, ttl: float) -> None: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """A store in this process (the default), bounded and expired by ``clock``."""

    def __init__(self, *, clock: Callable[[], float], max_entries: int = 10_000) -> None:
        self._clock = clock
        self._max = max_entries
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def load(self, key: str) -> str | None:
        found = self._items.get(key)
        if found is None:
            return None
        expires, value = found
        if self._clock() >= expires:
            del self._items[key]
            return None
        return value

    async def save(self, key: str, value: str, ttl: float) -> None:
        self._items.pop(key, None)
        self._items[key] = (self._clock() + ttl, value)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    async def aclose(self) -> None:
        self._items.clear()


class RedisStore:
    """A store in Redis, shared by every replica pointed at it."""

    def __init__(self, url: str) -> None:
        import redis.asyncio

        self._redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=_TIMEOUT, socket_connect_timeout=_TIMEOUT
        )

    async def check(self) -> None:
        """Raise ``StoreError`` unless Redis answers."""
        await self._call(self._redis.ping())

    async def load(self, key: str) -> str | None:
        value = await self._call(self._redis.get(key))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def save(self, key: str, value: str, ttl: float) -> None:
        await self._call(self._redis.set(key, value, ex=max(1, math.ceil(ttl))))

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def _call(self, pending: Any) -> Any:
        import redis

        try:
            return await pending
        except (redis.RedisError, OSError) as exc:
            # The library's message may name the host; ours does not.
            raise StoreError(f"the Redis store failed ({type(exc).__name__})") from exc


async def open_store(url: str | None, *, clock: Callable[[], float]) -> ConversationStore:
    """The store ``url`` names (``None`` or ``memory``: in-process); a Redis store is checked
    (``PING``) so a wrong address is a ``ConfigError`` at start-up."""
    if url is None or url == "memory":
        return MemoryStore(clock=clock)
    scheme = url.partition("://")[0].lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            "--store must be memory or a redis://, rediss:// or unix:// URL", field="store"
        )
    if importlib.util.find_spec("redis") is None:
        raise ConfigError(
            "--store redis://... needs the redis extra: uv run --extra redis bridge serve ...",
            field="store",
        )
    try:
        store = RedisStore(url)
    except ValueError:
        raise ConfigError("--store: not a valid Redis URL", field="store") from None
    try:
        await store.check()
    except StoreError as exc:
        await store.aclose()
        raise ConfigError(f"cannot use the store: {exc}", field="store") from None
    return store
