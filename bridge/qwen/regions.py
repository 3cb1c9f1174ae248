"""DashScope (Model Studio) regions and the endpoints bridge builds from them (pure).

Facts from the vendor's Python SDK 2.x (its configuration module, read December 2026): the
service runs in six regions, ``cn-beijing`` being the default; every region has a
workspace-scoped gateway ``{workspace}.{region}.maas.aliyuncs.com`` (the endpoint the vendor
recommends); without a workspace the SDK uses a shared gateway: its own for Beijing,
Singapore and Hong Kong, the international one (Singapore's host) for the other three. The
realtime path is ``/api-ws/v1/realtime`` on every gateway. Whether Qwen-TTS Realtime itself is
served in each region is not confirmed by any document we could read; ``url=`` remains the
escape hatch for any other endpoint.

API keys belong to one region: a key works only against its own region's endpoints, so the
hints for a refused key name the region and the workspace option.

Region names: the SDK's ids (``cn-beijing``, ``ap-southeast-1``, ...) and, for convenience, the
city each one is in (``beijing``, ``singapore``, ``hongkong``, ``virginia``, ``frankfurt``,
``tokyo``), case-insensitive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.core.errors import ConfigError

__all__ = [
    "DEFAULT_REGION",
    "REALTIME_PATH",
    "REGIONS",
    "Region",
    "check_workspace",
    "compatible_url",
    "realtime_url",
    "region_names",
    "resolve_region",
]

REALTIME_PATH = "/api-ws/v1/realtime"
COMPATIBLE_PATH = "/compatible-mode/v1"
_INTL = "dashscope-intl.aliyuncs.com"


@dataclass(frozen=True, slots=True)
class Region:
    """One region: its id, where it is, its alias and the shared gateway host."""

    id: str
    place: str
    alias: str
    shared_host: str
    own_shared_host: bool = True  # False: the shared host is the international one

    def host(self, workspace: str | None = None) -> str:
        """The gateway host: the workspace-scoped one when ``workspace`` is given."""
        if workspace:
            return f"{check_workspace(workspace)}.{self.id}.maas.aliyuncs.com"
        return self.shared_host


REGIONS: tuple[Region, ...] = (
    Region("cn-beijing", "China mainland (Beijing)", "beijing", "dashscope.aliyuncs.com"),
    Region("ap-southeast-1", "Singapore", "singapore", _INTL),
    Region("cn-hongkong", "Hong Kong (China)", "hongkong", "cn-hongkong.dashscope.aliyuncs.com"),
    Region("us-east-1", "US (Virginia)", "virginia", _INTL, own_shared_host=False),
    Region("eu-central-1", "Germany (Frankfurt)", "frankfurt", _INTL, own_shared_host=False),
    Region("ap-northeast-1", "Japan (Tokyo)", "tokyo", _INTL, own_shared_host=False),
)
DEFAULT_REGION = "cn-beijing"

_BY_NAME: dict[str, Region] = {r.id: r for r in REGIONS} | {r.alias: r for r in REGIONS}

# A workspace id becomes a DNS label of the host: letters, digits, '-' and '_' only, so it can
# never move the connection to another host (no '.', '/', '@', ':' ...).
_WORKSPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def region_names() -> tuple[str, ...]:
    """Every accepted name: the ids, then the aliases."""
    return tuple(r.id for r in REGIONS) + tuple(r.alias for r in REGIONS)


def resolve_region(name: str) -> Region:
    """The region called ``name`` (an id or an alias, any case); ``ConfigError`` otherwise."""
    found = _BY_NAME.get(name.strip().lower())
    if found is None:
        choices = ", ".join(f"{r.id} ({r.alias})" for r in REGIONS)
        raise ConfigError(f"unknown region {name!r}: choose one of {choices}", field="region")
    return found


def check_workspace(workspace: str) -> str:
    """``workspace`` if it is a well-formed Model Studio workspace id; ``ConfigError`` else."""
    if not _WORKSPACE.fullmatch(workspace):
        raise ConfigError(
            f"invalid workspace id {workspace!r}: letters, digits, '-' and '_' only "
            "(at most 64), as shown in the Model Studio console",
            field="workspace",
        )
    return workspace


def realtime_url(region: str = DEFAULT_REGION, workspace: str | None = None) -> str:
    """The Qwen-TTS Realtime URL (without ``?model=``) of ``region``'s gateway."""
    return f"wss://{resolve_region(region).host(workspace)}{REALTIME_PATH}"


def compatible_url(region: str = DEFAULT_REGION, workspace: str | None = None) -> str:
    """The OpenAI-compatible chat base URL of ``region``'s gateway."""
    return f"https://{resolve_region(region).host(workspace)}{COMPATIBLE_PATH}"
