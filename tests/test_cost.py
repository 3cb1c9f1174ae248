"""The cost of a turn: heard characters counted as billed, the wasted share, the user's price
table from the configuration file, and /stats."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bridge.commands.chat_view import format_stats
from bridge.commands.common import load_settings, pipeline_options
from bridge.commands.settings import parse_config
from bridge.core.cost import Price, PriceTable, TurnCost, heard_characters, wasted_share
from bridge.core.errors import ConfigError
from bridge.core.heard import speakable_join
from bridge.core.result import TurnResult

PRICES = """
[prices.qwen3-tts-flash-realtime]
per_10k_chars = 0.8
currency = "CNY"
as_of = 2026-11-01

[prices."qwen-tts.v2"]
per_10k_chars = 2
currency = "USD"
"""


def test_heard_characters_skip_the_joining_spaces_and_count_chinese_twice() -> None:
    segments = ["Sure.", "Here is a short answer."]
    text = speakable_join(segments)
    assert heard_characters(segments, text) == len("Sure.") + len("Here is a short answer.")
    assert heard_characters(segments, "Sure. Here is") == len("Sure.") + len("Here is")
    assert heard_characters(segments, "Sure.") == 5
    assert heard_characters(segments, "") == 0
    chinese = ["你好。", "今天天气很好。"]
    assert heard_characters(chinese, speakable_join(chinese)) == 2 * 3 - 1 + 2 * 7 - 1
    assert heard_characters(chinese, "你好。今天") == 5 + 4


def test_wasted_share_counts_the_unreported_characters_and_never_goes_negative() -> None:
    assert wasted_share(None, 10) is None
    assert wasted_share(0, 0) is None
    assert wasted_share(100, 100) == 0
    assert wasted_share(100, 25) == 0.75
    assert wasted_share(20, 25, unreported=80) == 0.75
    assert wasted_share(10, 25) == 0  # heard more than reported: nothing wasted


def test_a_turn_cost_in_money() -> None:
    price = Price(per_10k_chars=0.8, currency="CNY")
    cost = TurnCost.of(price, billed=2500, heard=500)
    assert (cost.currency, cost.billed, cost.heard) == ("CNY", pytest.approx(0.2), 0.04)
    assert cost.wasted == pytest.approx(0.16)
    assert TurnCost.of(price, billed=100, heard=300).wasted == 0


def test_the_price_table_comes_from_the_configuration_file(tmp_path: Path) -> None:
    table = parse_config(PRICES, source="c.toml")["prices"]
    assert isinstance(table, PriceTable)
    flash = table.for_model("qwen3-tts-flash-realtime")
    assert flash == Price(per_10k_chars=0.8, currency="CNY", as_of="2026-11-01")
    assert table.for_model("qwen-tts.v2") == Price(per_10k_chars=2.0, currency="USD")
    assert table.for_model("another") is None
    cfg = tmp_path / "bridge" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text('voice = "Ethan"\n' + PRICES, encoding="utf-8")
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    settings = load_settings(argparse.Namespace(), env)
    assert settings.prices == table and settings.voice == "Ethan"
    assert settings.source("prices") == "file"
    # say, speak and chat build their turns' options from it.
    assert pipeline_options(argparse.Namespace(), env).prices == table
    assert (
        load_settings(argparse.Namespace(), {"XDG_CONFIG_HOME": str(tmp_path / "no")}).prices
        is None
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("prices = 3", "prices must be a table"),
        ("[prices]\nm = 3", "prices.m must be a table"),
        ('[prices.m]\ncurrency = "CNY"', "prices.m.per_10k_chars must be a number"),
        ('[prices.m]\nper_10k_chars = -1\ncurrency = "CNY"', "at least 0"),
        ('[prices.m]\nper_10k_chars = true\ncurrency = "CNY"', "must be a number"),
        ("[prices.m]\nper_10k_chars = 1", "prices.m.currency"),
        ('[prices.m]\nper_10k_chars = 1\ncurrency = "CNY"\nper_char = 2', "unknown key 'per_char'"),
    ],
)
def test_a_bad_price_is_a_config_error_naming_the_file_and_model(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=r"c\.toml") as info:
        parse_config(text, source="c.toml")
    assert needle in str(info.value)


def test_stats_show_the_heard_the_billed_and_the_cost() -> None:
    price = Price(per_10k_chars=0.8, currency="CNY")
    result = TurnResult(
        turn_id="t",
        interrupted=True,
        chars_billed=1000,
        chars_unreported=1500,
        chars_heard=500,
        cost=TurnCost.of(price, billed=2500, heard=500),
    )
    assert result.chars_wasted == 2000 and result.wasted_share == 0.8
    data = result.to_dict()
    assert (data["chars_wasted"], data["wasted_share"]) == (2000, 0.8)
    assert data["cost"] == {"currency": "CNY", "billed": 0.2, "heard": 0.04, "wasted": 0.16}
    stats = format_stats(result)
    assert "heard 500 of 2500 billed characters (at most; 1500 unreported) · 80% wasted" in stats
    assert "cost 0.2 CNY, 0.16 CNY of it unheard" in stats
    plain = format_stats(TurnResult(turn_id="t", chars_billed=28, chars_heard=28))
    assert "heard 28 of 28 billed characters · 0% wasted" in plain and "cost" not in plain
    assert "billed characters" not in format_stats(TurnResult(turn_id="t"))
