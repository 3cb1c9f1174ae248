"""What a turn cost: characters billed, heard and wasted, and their price (pure).

Characters are counted as the speech service bills them (``usage.characters`` of each
``response.done``; a Chinese character counts 2, see ``bridge.qwen.protocol``):

- billed: what the service reported;
- unreported: a turn cut short (barge-in, error) closes its connection before the running
  response reports its usage; the characters appended beyond what was reported count here, as
  an upper bound of what the service billed besides (text still in its buffer is cleared);
- heard: the characters of the segments the listener heard (the spaces that join segments in
  ``spoken_text`` are not sent, so not billed);
- wasted: billed + unreported - heard, never below zero.

Prices are the user's, never built in: a table per model, per 10,000 billed characters, from the
``[prices.MODEL]`` tables of the configuration file (``bridge.commands.settings``)::

    [prices.qwen3-tts-flash-realtime]
    per_10k_chars = 0.8
    currency = "CNY"
    as_of = "2026-11-01"    # optional: when you read the price list
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bridge.core.errors import ConfigError
from bridge.qwen.protocol import billable_characters

__all__ = [
    "Price",
    "PriceTable",
    "TurnCost",
    "heard_characters",
    "wasted_characters",
    "wasted_share",
]

_PRICE_KEYS = frozenset({"per_10k_chars", "currency", "as_of"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """The price of 10,000 billed characters of one model."""

    per_10k_chars: float
    currency: str
    as_of: str | None = None

    def of(self, characters: int) -> float:
        return characters * self.per_10k_chars / 10_000


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices by model name."""

    prices: Mapping[str, Price] = field(default_factory=lambda: MappingProxyType({}))

    def for_model(self, model: str) -> Price | None:
        return self.prices.get(model)

    @classmethod
    def parse(cls, data: Any, *, source: str) -> PriceTable:
        """The ``prices`` table of a configuration file; ``ConfigError`` naming ``source``
        and the model for anything that is not a valid price."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{source}: prices must be a table of [prices.MODEL] tables", field="prices"
            )
        prices: dict[str, Price] = {}
        for model, entry in data.items():
            where = f"{source}: prices.{model}"
            if not isinstance(entry, Mapping):
                raise ConfigError(
                    f"{where} must be a table with per_10k_chars and currency", field="prices"
                )
            unknown = sorted(set(entry) - _PRICE_KEYS)
            if unknown:
                raise ConfigError(
                    f"{where}: unknown key {unknown[0]!r}; known keys: as_of, currency, "
                    "per_10k_chars",
                    field="prices",
                )
            amount = entry.get("per_10k_chars")
            if (
                isinstance(amount, bool)
                or not isinstance(amount, int | float)
                or not math.isfinite(amount)
                or amount < 0
            ):
                raise ConfigError(
                    f"{where}.per_10k_chars must be a number of at least 0, got {amount!r}",
                    field="prices",
                )
            currency = entry.get("currency")
            if not isinstance(currency, str) or not currency.strip():
                raise ConfigError(
                    f'{where}.currency must be a currency name such as "CNY", got {currency!r}',
                    field="prices",
                )
            as_of = entry.get("as_of")
            if as_of is not None and not isinstance(as_of, str):
                as_of = str(as_of)  # a TOML date
            prices[str(model)] = Price(
                per_10k_chars=float(amount), currency=currency.strip(), as_of=as_of
            )
        return cls(MappingProxyType(prices))


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnCost:
    """A turn's characters in money."""

    currency: str
    billed: float
    heard: float
    wasted: float

    @classmethod
    def of(cls, price: Price, *, billed: int, heard: int) -> TurnCost:
        """``billed``: reported and unreported characters together."""
        heard = min(heard, billed)
        return cls(
            currency=price.currency,
            billed=price.of(billed),
            heard=price.of(heard),
            wasted=price.of(billed - heard),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "billed": round(self.billed, 8),
            "heard": round(self.heard, 8),
            "wasted": round(self.wasted, 8),
        }


def heard_characters(segments: Sequence[str], spoken: str) -> int:
    """Billable characters of ``segments`` that ``spoken`` covers. ``spoken`` is a prefix of
    the segments joined (``speakable_join``); the joining spaces count nothing."""
    total = 0
    at = 0
    for text in segments:
        while at < len(spoken) and spoken[at].isspace():
            at += 1  # the space that joined it to the previous segment
        covered = spoken[at : at + len(text)]
        if not covered or not text.startswith(covered):
            break
        total += billable_characters(covered)
        at += len(covered)
    return total


def wasted_characters(billed: int | None, heard: int, unreported: int = 0) -> int | None:
    """Characters billed (reported or not) that the listener did not hear (None: the service
    reports no characters)."""
    if billed is None:
        return None
    return max(0, billed + unreported - heard)


def wasted_share(billed: int | None, heard: int, unreported: int = 0) -> float | None:
    """The share of the billed characters (reported or not) the listener did not hear (None:
    the service reports no characters, or none were billed)."""
    wasted = wasted_characters(billed, heard, unreported)
    if wasted is None or billed is None or billed + unreported == 0:
        return None
    return wasted / (billed + unreported)
