"""`bridge serve --workers N` as a user runs it: one port, N processes, one /metrics, SIGTERM
drains them all; a worker that dies stops the server. Emulator + scripted model, offline."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from _procs import BRIDGE, clean_env
from _serve import SHORT, Client, client
from anyio.abc import Process
from prometheus_client.parser import text_string_to_metric_families

from bridge.local import EmulatorOptions, serve_emulator
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

pytestmark = pytest.mark.anyio

CLIENTS = 16  # all on one of two workers by chance: 2 / 2**16


async def first_line(proc: Process, limit: float = 120) -> str:
    assert proc.stdout is not None
    data = b""
    with anyio.fail_after(limit):
        while b"\n" not in data:
            data += await proc.stdout.receive()
    return data.split(b"\n", 1)[0].decode().strip()


async def read_all(proc: Process) -> str:
    assert proc.stderr is not None
    out = b""
    with anyio.move_on_after(5):
        try:
            while True:
                out += await proc.stderr.receive()
        except anyio.EndOfStream:
            pass
    return out.decode(errors="replace")


@asynccontextmanager
async def serve_workers(
    llm_url: str, tts_url: str, *extra: str
) -> AsyncIterator[tuple[Process, str]]:
    argv = [*BRIDGE, "serve", "--port", "0", "--tts-url", tts_url, "--llm-base-url", llm_url]
    argv += ["--llm-model", "m", "--workers", "2", "--max-sessions-per-address", str(CLIENTS)]
    argv += ["--address-turn-burst", str(2 * CLIENTS), "--log-level", "warning", *extra]
    proc = await anyio.open_process(argv, env=clean_env())
    try:
        yield proc, await first_line(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            with anyio.move_on_after(10, shield=True):
                await proc.wait()


Samples = list[tuple[str, dict[str, str], float]]


async def scrape(ws_url: str) -> Samples:
    url = ws_url.replace("ws://", "http://").removesuffix("/ws") + "/metrics"
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    assert response.status_code == 200, response.text
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    ]


def value(found: Samples, name: str, **labels: str) -> float:
    return sum(v for n, lab, v in found if n == name and labels.items() <= lab.items())


def per_worker(found: Samples) -> dict[int, float]:
    """Open sessions by worker pid."""
    return {int(lab["pid"]): v for n, lab, v in found if n == "bridge_worker_sessions"}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def gone(pids: Sequence[int], limit: float = 15) -> bool:
    with anyio.move_on_after(limit):
        while any(alive(p) for p in pids):
            await anyio.sleep(0.1)
    return not any(alive(p) for p in pids)


def multiproc_dir(pid: int) -> Path:
    """The worker's PROMETHEUS_MULTIPROC_DIR, from its environment."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return Path(dict(v.split("=", 1) for v in environ if "=" in v)["PROMETHEUS_MULTIPROC_DIR"])


async def one_turn(c: Client) -> dict[str, object]:
    await c.send(type="user.message", text="Hello?")
    done = await c.until("response.done", timeout=60)
    result: dict[str, object] = done["result"]
    return result


async def test_two_workers_serve_one_port_count_together_and_drain_on_sigterm() -> None:
    reply = FakeReply(tokens_for(SHORT), delay=0.01)
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        serve_workers(fake.base_url, emu.url, "--audio-lead-ms", "300") as (proc, url),
        AsyncExitStack() as stack,
    ):
        assert url.startswith("ws://127.0.0.1:") and url.endswith("/ws"), url
        clients = [await stack.enter_async_context(client(url)) for _ in range(CLIENTS)]
        results: list[dict[str, object]] = []

        async def talk(c: Client) -> None:
            results.append(await one_turn(c))

        async with anyio.create_task_group() as tg:
            for c in clients:
                tg.start_soon(talk, c)
        assert len(results) == CLIENTS and all(r["error"] is None for r in results)

        found = await scrape(url)
        workers = per_worker(found)
        assert len(workers) == 2 and proc.pid not in workers
        assert all(v > 0 for v in workers.values()), workers  # both served clients
        assert sum(workers.values()) == CLIENTS
        assert value(found, "bridge_sessions") == CLIENTS
        assert value(found, "bridge_sessions_accepted_total") == CLIENTS
        assert value(found, "bridge_turns_total", outcome="done") == CLIENTS
        assert value(found, "bridge_turn_stage_seconds_count", stage="first_token") == CLIENTS
        metrics_dir = multiproc_dir(next(iter(workers)))
        assert metrics_dir.is_dir()

        # SIGTERM in the middle of a reply: it finishes, then every connection closes (1001).
        talker = clients[0]
        await talker.send(type="user.message", text="Hello again?")
        await talker.until("audio.start", timeout=30)
        proc.send_signal(signal.SIGTERM)
        done = await talker.until("response.done", timeout=30)
        assert done["result"]["interrupted"] is False and done["result"]["error"] is None
        for c in clients:
            code, _reason = await c.closed(timeout=30)
            assert code == 1001
        with anyio.fail_after(30):
            assert await proc.wait() == 0, await read_all(proc)
        assert await gone(list(workers))
        assert not metrics_dir.exists()  # the parent removed it


async def test_a_worker_that_dies_is_reported_and_the_server_exits_1() -> None:
    reply = FakeReply(tokens_for(SHORT), delay=0.01)
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        serve_workers(fake.base_url, emu.url) as (proc, url),
    ):
        workers = sorted(per_worker(await scrape(url)))
        assert len(workers) == 2
        os.kill(workers[1], signal.SIGKILL)
        with anyio.fail_after(30):
            code = await proc.wait()
        stderr = await read_all(proc)
        assert code == 1, stderr
        assert f"(pid {workers[1]}) exited with code -9 while serving" in stderr
        assert await gone(workers)


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (["--workers", "0"], {}, "--workers: must be at least 1"),
        ([], {"BRIDGE_SERVE_WORKERS": "0"}, "workers must be at least 1, got 0 (from env"),
        ([], {"BRIDGE_SERVE_WORKERS": "two"}, "BRIDGE_SERVE_WORKERS must be a whole number"),
    ],
)
def test_a_bad_worker_count_is_a_clear_error(
    flags: list[str], env: dict[str, str], message: str
) -> None:
    out = subprocess.run(
        [*BRIDGE, "serve", "--llm-api-key", "k", "--tts-url", "ws://127.0.0.1:9", *flags],
        capture_output=True,
        text=True,
        env=clean_env(**env),
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
