"""The raw request path (``bridge.adapters.llm_http``): taken for a client bridge built, with the
same request and the same errors as the SDK's path; the SDK's path for everything else."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import httpx2
import openai
import pytest
from openai.resources.chat.completions import AsyncCompletions

from bridge.adapters.llm import LLMClient, LLMConfig
from bridge.adapters.llm_http import RawChat
from bridge.adapters.openai_client import make_client
from bridge.core.errors import LLMAuthError, LLMConnectionError, LLMServerError
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

pytestmark = pytest.mark.anyio

HELLO = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def sdk_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records every request that goes through the SDK's ``create`` (and lets it run)."""
    calls: list[dict[str, Any]] = []
    original = AsyncCompletions.create

    def create(self: AsyncCompletions, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(AsyncCompletions, "create", create)
    return calls


async def _speak(llm: LLMClient) -> str:
    async with aclosing(llm.stream(HELLO)) as stream:
        return "".join([piece async for piece in stream])


async def test_a_client_bridge_built_sends_the_request_past_the_sdk(
    sdk_calls: list[dict[str, Any]],
) -> None:
    async with serve_fake_llm([FakeReply(tokens_for("Hello there."))], api_key="k1") as fake:
        config = LLMConfig(base_url=fake.base_url, api_key="k1", model="m", extra={"seed": 3})
        async with LLMClient(config) as llm:
            assert await _speak(llm) == "Hello there."
            assert llm.last_finish_reason == "stop"
            assert llm.last_usage is not None
    assert sdk_calls == []  # the raw path; the key went with it (the fake checks it)
    body = fake.requests[0]
    assert body["model"] == "m" and body["messages"] == HELLO and body["seed"] == 3
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "changes",
    [{"extra": {"extra_headers": {"X-Trace": "1"}}}, {"max_retries": 1}],
    ids=["per-call SDK option", "retries"],
)
async def test_sdk_options_and_retries_take_the_sdks_path(
    sdk_calls: list[dict[str, Any]], changes: dict[str, Any]
) -> None:
    async with serve_fake_llm([FakeReply(tokens_for("Hello there."))]) as fake:
        config = LLMConfig(base_url=fake.base_url, model="m", **changes)
        async with LLMClient(config) as llm:
            assert await _speak(llm) == "Hello there."
    assert len(sdk_calls) == 1


async def test_a_client_of_the_callers_own_takes_the_sdks_path(
    sdk_calls: list[dict[str, Any]],
) -> None:
    async with serve_fake_llm([FakeReply(tokens_for("Hello there."))]) as fake:
        own = openai.AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        async with own:
            llm = LLMClient(LLMConfig(base_url=fake.base_url, model="m"), client=own)
            assert await _speak(llm) == "Hello there."
    assert len(sdk_calls) == 1


async def test_errors_on_the_raw_path_read_as_on_the_sdks(
    sdk_calls: list[dict[str, Any]],
) -> None:
    async with serve_fake_llm([FakeReply(["x"], status=500)], api_key="right") as fake:
        async with LLMClient(LLMConfig(base_url=fake.base_url, api_key="wrong", model="m")) as llm:
            with pytest.raises(LLMAuthError) as auth:
                await _speak(llm)
        async with LLMClient(LLMConfig(base_url=fake.base_url, api_key="right", model="m")) as llm:
            with pytest.raises(LLMServerError) as server:
                await _speak(llm)
        url = fake.base_url
    assert auth.value.status == 401 and "wrong" not in str(auth.value)
    assert server.value.status == 500
    async with LLMClient(LLMConfig(base_url=url, model="m", connect_timeout=2)) as llm:
        with pytest.raises(LLMConnectionError, match="cannot reach the LLM endpoint"):
            await _speak(llm)  # the fake is gone: nothing listens there
    assert sdk_calls == []


@pytest.mark.parametrize(
    ("failure", "expected"),
    [("ConnectTimeout", openai.APITimeoutError), ("ConnectError", openai.APIConnectionError)],
)
async def test_transport_failures_become_the_sdks_exceptions(
    failure: str, expected: type[openai.APIError]
) -> None:
    # What the SDK raises for them, which Endpoint.error reads (a timeout says which timeout).
    client = make_client(base_url="http://127.0.0.1:9/v1", api_key=None, connect_timeout=1)
    raw = RawChat.of(client, {})
    assert raw is not None

    async def send(request: httpx2.Request, *, stream: bool) -> httpx2.Response:
        raise getattr(httpx2, failure)("no", request=request)

    raw._http = type("Stub", (), {"build_request": client._client.build_request})()
    raw._http.send = send
    with pytest.raises(openai.APIConnectionError) as info:
        async with raw.open({"model": "m"}):
            pass
    assert type(info.value) is expected
    await client.close()
