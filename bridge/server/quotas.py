"""What all sessions of one server share to enforce limits across connections (pure; the clock
is passed in):

- ``BucketTable``: a token bucket per key (client address), bounded in memory: a bucket that
  has refilled completely is the same as a new one and is dropped, and past ``max_keys`` the
  least recently used is dropped;
- ``ServerQuotas``: the turn rate per client address and for the whole server, checked
  together with a session's own bucket (a turn is taken from all three or from none), and the
  count of open sessions per client address.

Reconnecting does not reset a budget: the address buckets outlive the connections.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from bridge.server.limits import ServerLimits, TokenBucket

__all__ = ["BucketTable", "ServerQuotas", "TurnRefusal"]

Scope = Literal["session", "address", "server"]


@dataclass(slots=True)
class BucketTable:
    """One ``TokenBucket(capacity, rate)`` per key, at most ``max_keys`` of them."""

    capacity: float
    rate: float
    max_keys: int = 10_000
    _buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._buckets)

    def get(self, key: str, now: float) -> TokenBucket:
        """The bucket of ``key`` (a full one when it had none), marked as just used."""
        self.expire(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.capacity, self.rate)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    def expire(self, now: float) -> None:
        """Drop the buckets, least recently used first, that are full again by ``now``."""
        refill = self.capacity / self.rate
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            if bucket.updated is not None and now - bucket.updated < refill:
                return  # every later bucket was used more recently
            del self._buckets[key]


@dataclass(frozen=True, slots=True)
class TurnRefusal:
    """Why a turn was refused: which limit, its rate, and when to retry."""

    scope: Scope
    per_minute: float
    retry_after: float


class ServerQuotas:
    """The turn rates per client address and per server, and the sessions per address."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.addresses = BucketTable(
            limits.address_turn_burst,
            limits.address_turns_per_minute / 60,
            max_keys=limits.max_addresses,
        )
        self.server = TokenBucket(limits.server_turn_burst, limits.server_turns_per_minute / 60)
        self._sessions: dict[str, int] = {}

    def session_bucket(self) -> TokenBucket:
        """A new session's own turn bucket."""
        return TokenBucket(self.limits.turn_burst, self.limits.turns_per_minute / 60)

    def take_turn(self, session: TokenBucket, key: str, now: float) -> TurnRefusal | None:
        """Spend one turn from ``session``, the address ``key`` and the server, or from none
        of them: ``None`` when the turn may start, else the refusal of the limit that waits
        longest."""
        limits = self.limits
        checks: tuple[tuple[Scope, TokenBucket, float], ...] = (
            ("session", session, limits.turns_per_minute),
            ("address", self.addresses.get(key, now), limits.address_turns_per_minute),
            ("server", self.server, limits.server_turns_per_minute),
        )
        refusals = [
            TurnRefusal(scope, per_minute, wait)
            for scope, bucket, per_minute in checks
            if (wait := bucket.retry_after(now)) > 0
        ]
        if refusals:
            return max(refusals, key=lambda r: r.retry_after)
        for _scope, bucket, _rate in checks:
            bucket.take(now)
        return None

    # --- sessions per address ------------------------------------------------------------

    def open_session(self, key: str) -> bool:
        """Count a new session of ``key``; ``False`` (not counted) when it has its maximum."""
        count = self._sessions.get(key, 0)
        if count >= self.limits.max_sessions_per_address:
            return False
        self._sessions[key] = count + 1
        return True

    def close_session(self, key: str) -> None:
        count = self._sessions.get(key, 0) - 1
        if count > 0:
            self._sessions[key] = count
        else:
            self._sessions.pop(key, None)

    def sessions_of(self, key: str) -> int:
        return self._sessions.get(key, 0)
