"""Hypothesis throws bad input at a running `bridge serve`: it answers with documented error
codes, keeps or closes the connection with documented close codes, and never falls over."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _serve import running
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bridge.server import BridgeServer, ErrorCode, ServerLimits, ServerOptions

CODES = {c.value for c in ErrorCode}
CLOSE_CODES = {1008, 1009}  # flood, frame over the hard limit
LIMITS = ServerLimits(
    max_message_bytes=1024,
    max_frame_bytes=4096,
    message_burst=60,
    messages_per_second=30,
    turn_burst=1000,
    turns_per_minute=6000,
)
TYPES = ["session.configure", "user.message", "response.cancel", "playback.ack"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | st.text(max_size=30)},
    optional={
        "text": json_values,
        "samples": json_values,
        "voice": json_values,
        "prompt": json_values,
        "sample_rate": json_values,
        "response_id": json_values,
        "language": json_values,
    },
)
frames = st.one_of(
    messages.map(lambda m: json.dumps(m, allow_nan=True)),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(1025, 3000).map(lambda n: json.dumps({"type": "user.message", "text": "a" * n})),
    st.integers(4097, 6000).map(lambda n: "b" * n),
    st.just("[" * 1000),
)
# A batch of frames, sometimes repeated into a flood (past the 60-message burst).
floods = st.tuples(st.lists(frames, min_size=1, max_size=6), st.sampled_from([1, 1, 3, 40])).map(
    lambda pair: pair[0] * pair[1]
)


@pytest.fixture(scope="module")
def server() -> Iterator[BridgeServer]:
    with start_blocking_portal(backend="asyncio") as portal:
        options = ServerOptions(port=0, limits=LIMITS, audio_lead=None)
        with portal.wrap_async_context_manager(running(options=options)) as stack:
            yield stack.server


def _drain(ws: ClientConnection, seen: list[dict[str, Any]], *, until: str | None) -> None:
    while True:
        data = ws.recv(timeout=10)
        if isinstance(data, str):
            event = json.loads(data)
            seen.append(event)
            if event["type"] == until:
                return


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=floods)
def test_bad_input_never_takes_the_server_down(server: BridgeServer, batch: list[Any]) -> None:
    seen: list[dict[str, Any]] = []
    with connect(server.url, open_timeout=10, close_timeout=3, max_size=None) as ws:
        _drain(ws, seen, until="session.ready")  # the greeting
        try:
            for frame in batch:
                ws.send(frame)
            # Still open: the session must answer a valid message.
            ws.send(json.dumps({"type": "session.configure"}))
            _drain(ws, seen, until="session.ready")
        except ConnectionClosed:
            with contextlib.suppress(ConnectionClosed):
                _drain(ws, seen, until=None)
            assert ws.close_code in CLOSE_CODES, (ws.close_code, ws.close_reason)
            event(f"closed {ws.close_code}")
        else:
            event("kept open")
    for got in seen:
        if got["type"] == "error":
            assert got["code"] in CODES, got
            assert set(got) <= {"type", "code", "message", "response_id", "retry_after"}
            event(got["code"])


def test_the_server_is_healthy_after_the_fuzzing(server: BridgeServer) -> None:
    assert httpx.get(server.http_url + "healthz", timeout=5).text.strip() == "ok"
    with connect(server.url, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "session.ready"
