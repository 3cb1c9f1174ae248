"""DashScope regions: the six the vendor SDK knows, their aliases, workspace endpoints, and
the options and hints that name them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bridge.commands.common import add_tts_options, resolve_tts
from bridge.core.errors import ConfigError
from bridge.qwen import build_url
from bridge.qwen.client import _auth_message
from bridge.qwen.models import REGION_URLS
from bridge.qwen.regions import (
    REGIONS,
    compatible_url,
    realtime_url,
    region_names,
    resolve_region,
)

SHARED = {
    "cn-beijing": "dashscope.aliyuncs.com",
    "ap-southeast-1": "dashscope-intl.aliyuncs.com",
    "cn-hongkong": "cn-hongkong.dashscope.aliyuncs.com",
    "us-east-1": "dashscope-intl.aliyuncs.com",
    "eu-central-1": "dashscope-intl.aliyuncs.com",
    "ap-northeast-1": "dashscope-intl.aliyuncs.com",
}
ALIASES = {
    "beijing": "cn-beijing",
    "singapore": "ap-southeast-1",
    "hongkong": "cn-hongkong",
    "virginia": "us-east-1",
    "frankfurt": "eu-central-1",
    "tokyo": "ap-northeast-1",
}


def test_six_regions_with_their_shared_endpoints() -> None:
    assert {r.id for r in REGIONS} == set(SHARED)
    for rid, host in SHARED.items():
        assert realtime_url(rid) == f"wss://{host}/api-ws/v1/realtime"
        assert compatible_url(rid) == f"https://{host}/compatible-mode/v1"


@pytest.mark.parametrize(("alias", "rid"), ALIASES.items())
def test_aliases_and_any_case(alias: str, rid: str) -> None:
    assert resolve_region(alias).id == rid
    assert resolve_region(alias.upper()).id == rid
    assert resolve_region(rid.upper()).id == rid
    assert REGION_URLS[alias] == REGION_URLS[rid] == realtime_url(rid)


def test_unknown_region_lists_every_choice() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_region("mars")
    assert info.value.field == "region"
    for name in region_names():
        assert name in str(info.value)


@pytest.mark.parametrize("rid", SHARED)
def test_workspace_endpoint_of_every_region(rid: str) -> None:
    url = build_url(None, rid, "m", workspace="ws-Ab_1")
    assert url == f"wss://ws-Ab_1.{rid}.maas.aliyuncs.com/api-ws/v1/realtime?model=m"
    assert compatible_url(rid, "ws-Ab_1") == (
        f"https://ws-Ab_1.{rid}.maas.aliyuncs.com/compatible-mode/v1"
    )


def test_an_explicit_url_wins_over_region_and_workspace() -> None:
    assert build_url("ws://h/p", "tokyo", "m", workspace="ws-1") == "ws://h/p?model=m"


@pytest.mark.parametrize(
    "workspace", ["", "a.b", "x/y", "ws@evil.com", "ws:1", "-ws", "w s", "a" * 65, "ws\n"]
)
def test_a_workspace_id_cannot_change_the_host(workspace: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_url(None, "singapore", "m", workspace=workspace)
    assert info.value.field == "workspace"


def test_refused_key_hints_name_the_region_and_the_workspace_option() -> None:
    hint = _auth_message(401, url=None, region="tokyo", workspace=None)
    assert "Japan (Tokyo)" in hint and "ap-northeast-1" in hint
    assert "--region" in hint and "--workspace" in hint and "region-specific" in hint
    assert "--workspace" not in _auth_message(401, url=None, region="tokyo", workspace="ws-1")
    by_url = _auth_message(403, url="ws://h/p", region="cn-beijing", workspace=None)
    assert "--tts-url" in by_url and "HTTP 403" in by_url


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_tts_options(p)
    return p.parse_args(list(argv))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_cli_region_and_workspace_reach_the_target(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "DASHSCOPE_API_KEY": "sk-x"}
    async with resolve_tts(_parse("--region", "Frankfurt", "--workspace", "ws-9"), env) as t:
        assert (t.region, t.workspace) == ("eu-central-1", "ws-9")
    env |= {"BRIDGE_TTS_REGION": "us-east-1", "DASHSCOPE_WORKSPACE": "ws-env"}
    async with resolve_tts(_parse(), env) as t:
        assert (t.region, t.workspace) == ("us-east-1", "ws-env")


def test_cli_rejects_an_unknown_region_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse("--region", "mars")
    assert "tokyo" in capsys.readouterr().err
