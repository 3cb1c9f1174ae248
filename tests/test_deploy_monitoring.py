"""deploy/: the Grafana dashboard queries only metrics /metrics has (and shows all of them), and
the compose stack's Prometheus scrapes the bridge replicas with the stack's token (promtool is
not available: the configuration is parsed and checked against compose.yaml)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from _serve import client, running
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "bridge-dashboard.json"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
COMPOSE = ROOT / "compose.yaml"
_NAME = re.compile(r"\bbridge_[a-z0-9_]+\b")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _queried(dashboard: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            names.update(_NAME.findall(target["expr"]))
    return names


async def _exposed() -> tuple[set[str], set[str]]:
    """The series names /metrics of a real server exposes, and its metric families."""
    async with running() as stack, client(stack.url) as c:
        await c.send(type="user.message", text="Hello?")
        await c.until("response.done")
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(stack.server.http_url + "metrics")).text
    series: set[str] = set()
    families: set[str] = set()
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("bridge_") or family.name.endswith("_created"):
            continue  # (the creation times of counters and histograms are no metrics)
        families.add(family.name)
        series.update(family.name + suffix for suffix in _SUFFIXES[family.type])
        series.update(s.name for s in family.samples)
    return series, families


def test_the_dashboard_is_grafana_json_with_a_prometheus_query_in_every_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert _NAME.search(target["expr"]), (panel["title"], target["expr"])
            assert target["expr"].count("(") == target["expr"].count(")")
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]


@pytest.mark.anyio
async def test_every_metric_the_dashboard_queries_is_on_metrics_and_every_metric_is_shown() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = _queried(dashboard)
    series, families = await _exposed()
    assert queried - series == set()
    shown = {name for name in families if any(q.startswith(name) for q in queried)}
    assert families - shown == set()


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def test_prometheus_scrapes_every_bridge_replica_with_the_stacks_token() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    compose = _compose()
    services = compose["services"]
    prometheus = services["prometheus"]
    # Its configuration file is the one mounted where its command reads it.
    command = prometheus["command"]
    [config_file] = [a.split("=", 1)[1] for a in command if a.startswith("--config.file=")]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if v.startswith("./")}
    assert (ROOT / mounts[config_file]).resolve() == PROMETHEUS
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert len(jobs) == len(config["scrape_configs"])
    bridge = jobs["bridge"]
    assert bridge.get("metrics_path", "/metrics") == "/metrics"
    # Every replica: DNS service discovery of the compose service (one A record per replica).
    [sd] = bridge["dns_sd_configs"]
    assert sd["type"] == "A" and sd["names"] == ["bridge"]
    bridge_service = services["bridge"]
    assert bridge_service["deploy"]["replicas"] >= 2
    argv = bridge_service["command"]
    assert sd["port"] == int(argv[argv.index("--port") + 1])
    assert "bridge" not in str(bridge_service.get("ports", ""))  # not published: scraped inside
    # The token: a file compose mounts from a config holding the replicas' BRIDGE_SERVE_TOKEN.
    auth = bridge["authorization"]
    assert auth.get("type", "Bearer") == "Bearer"
    [mounted] = [c for c in prometheus["configs"] if c["target"] == auth["credentials_file"]]
    content = compose["configs"][mounted["source"]]["content"]
    assert content == bridge_service["environment"]["BRIDGE_SERVE_TOKEN"]
    assert content.startswith("${BRIDGE_SERVE_TOKEN")
    # Every static target is a compose service (or Prometheus itself) on a port it serves.
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                if host == "localhost":
                    assert job["job_name"] == "prometheus" and port == "9090"
                else:
                    assert host in services, target
    assert any(p.endswith(":9090") for p in prometheus["ports"])
    for key in ("scrape_interval", "scrape_timeout", "evaluation_interval"):
        assert re.fullmatch(r"\d+[smh]", config["global"][key]), key


def test_every_file_compose_mounts_exists() -> None:
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
        for check in [service.get("healthcheck", {}).get("test", [])]:
            assert not check or check[0] in ("CMD", "CMD-SHELL"), name
