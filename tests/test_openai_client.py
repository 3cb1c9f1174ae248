"""The one openai factory and the one mapping of openai's exceptions to bridge's error tree."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import openai
import pytest

from bridge.adapters.llm import LLMConfig
from bridge.adapters.openai_client import (
    DEFAULT_BASE_URL,
    Endpoint,
    chain,
    client_for,
    make_client,
    safe_url,
)
from bridge.core.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMServerError,
)

try:  # the HTTP library of the installed SDK (openai 3 ships a fork of httpx)
    import httpx2 as http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as http  # type: ignore[no-redef]

PACKAGE = Path(__file__).resolve().parent.parent / "bridge"
FACTORY = PACKAGE / "adapters" / "openai_client.py"
SECRET = "sk-test-SECRET-0123456789abcdef"
URL = "http://127.0.0.1:8000/v1"
REQUEST = http.Request("POST", URL + "/chat/completions")
# openai's exception classes that say what went wrong: only the factory module tells them apart.
SPECIFIC = {
    name
    for name in dir(openai)
    if isinstance(getattr(openai, name), type)
    and issubclass(getattr(openai, name), openai.APIError)
    and name != "APIError"
}


def _attribute_uses(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "openai":
                used.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module == "openai":
            used.update(alias.name for alias in node.names)
    return used


@pytest.mark.parametrize(
    "path", [p for p in sorted(PACKAGE.rglob("*.py")) if p != FACTORY], ids=lambda p: p.name
)
def test_only_the_factory_builds_clients_and_tells_openai_errors_apart(path: Path) -> None:
    used = _attribute_uses(path)
    assert "AsyncOpenAI" not in used or _only_annotations(path), f"{path} builds a client"
    assert not used & SPECIFIC, f"{path} maps openai exceptions itself: {used & SPECIFIC}"


def _only_annotations(path: Path) -> bool:
    """``openai.AsyncOpenAI`` named in annotations only, never called."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("AsyncOpenAI", "OpenAI"):
                return False
    return True


@pytest.mark.anyio
async def test_defaults_of_the_factory() -> None:
    async with make_client(base_url=None, api_key=None, connect_timeout=3) as client:
        assert str(client.base_url).rstrip("/") == DEFAULT_BASE_URL
        assert client.api_key == "no-key"
        assert client.max_retries == 0
        assert client.timeout.connect == 3 and client.timeout.read == 3
    config = LLMConfig(
        base_url=URL, api_key=SECRET, model="m", first_token_timeout=7, token_timeout=4
    )
    async with client_for(config) as client:
        assert str(client.base_url).rstrip("/") == URL
        assert client.api_key == SECRET
        assert client.timeout.connect == 10 and client.timeout.read == 17


def _status(cls: type[openai.APIStatusError], status: int, **headers: str) -> Any:
    body = {"error": {"message": f"bad key {SECRET} given\nsecond line"}}
    response = http.Response(status, headers=headers, json=body, request=REQUEST)
    return cls("error", response=response, body=body["error"])


CASES: list[tuple[Any, type[LLMError], int | None, str]] = [
    (_status(openai.AuthenticationError, 401), LLMAuthError, 401, "rejected the API key"),
    (_status(openai.PermissionDeniedError, 403), LLMAuthError, 403, "may use model 'm'"),
    (_status(openai.NotFoundError, 404), LLMServerError, 404, "model 'm' was not found"),
    (_status(openai.BadRequestError, 400), LLMServerError, 400, "rejected the request"),
    (_status(openai.InternalServerError, 503), LLMServerError, 503, "try again later"),
    (openai.APIConnectionError(request=REQUEST), LLMConnectionError, None, "cannot reach"),
    (openai.APITimeoutError(request=REQUEST), LLMConnectionError, None, "within connect_timeout"),
    (openai.APIError("odd", REQUEST, body=None), LLMServerError, None, "reported an error: odd"),
]


@pytest.mark.parametrize(("exc", "kind", "status", "says"), CASES)
def test_each_openai_error_maps_to_one_of_ours(
    exc: openai.APIError, kind: type[LLMError], status: int | None, says: str
) -> None:
    endpoint = Endpoint(url=URL, model="m", api_key=SECRET, connect_timeout=2)
    error = endpoint.error(exc)
    assert type(error) is kind
    assert getattr(error, "status", None) == status
    assert says in str(error)
    assert SECRET not in str(error) and "\n" not in str(error)
    assert chain(error, exc) is (None if kind is LLMAuthError else exc)


def test_rate_limit_keeps_retry_after_and_a_stream_break_counts_chunks() -> None:
    endpoint = Endpoint(url=URL)
    error = endpoint.error(_status(openai.RateLimitError, 429, **{"retry-after": "2.5"}))
    assert isinstance(error, LLMRateLimitError) and error.retry_after == 2.5
    broken = endpoint.error(openai.APIConnectionError(request=REQUEST), chunks=3)
    assert isinstance(broken, LLMConnectionError)
    assert "after 3 chunks" in str(broken) and "incomplete" in str(broken)


def test_missing_key_is_named_and_urls_lose_their_credentials() -> None:
    error = Endpoint(url=URL).error(_status(openai.AuthenticationError, 401))
    assert "no API key was set" in str(error)
    assert safe_url("http://user:pw@[::1]:8000/v1/?key=x#f") == "http://[::1]:8000/v1"
