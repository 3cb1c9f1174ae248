"""The lean token path: SSE bytes decoded by ``SSEDecoder`` and parsed as JSON by the adapter.

The decoder is pure (bytes in, event data out); the adapter is tested with the real openai
SDK on top of the HTTP library's own ``MockTransport``, for streams cut at any byte. The same
error and malformed events over real HTTP, from the scripted chat server (``FakeReply.raw`` and
``error_event``), are in ``tests/test_llm.py``.
"""

from __future__ import annotations

import itertools
import json
from contextlib import aclosing, suppress
from typing import Any

import anyio
import anyio.abc
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.adapters.llm import LLMClient, LLMConfig
from bridge.adapters.sse import SSEDecoder
from bridge.core.errors import LLMError, LLMServerError
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

try:  # the HTTP library of the installed SDK (openai 3 ships a fork of httpx)
    import httpx2 as http
except ImportError:  # pragma: no cover - older SDKs
    import httpx as http  # type: ignore[no-redef]

HELLO = [{"role": "user", "content": "hello"}]


def decode(pieces: list[bytes]) -> list[bytes]:
    decoder = SSEDecoder()
    events = [data for piece in pieces for data in decoder.feed(piece)]
    return events + decoder.flush()


STREAM = (
    b": keep-alive comment\r\n"
    b"event: message\r\n"
    b'data: {"a": 1}\r\n'
    b"\r\n"
    b"data:no space\n"
    b"data:  two spaces\n"
    b"id: 7\n"
    b"\n"
    b"data\r"
    b"\r"
    b"data: x\r\ndata: y\r\n\r\n"
    b"retry: 100\n\n"  # an event with no data is not returned
    b"data: [DONE]\n\n"
)
EVENTS = [b'{"a": 1}', b"no space\n two spaces", b"", b"x\ny", b"[DONE]"]


def test_decoder_fields_line_ends_and_comments() -> None:
    assert decode([STREAM]) == EVENTS


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_split_of_the_bytes_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    assert decode([STREAM[i:j] for i, j in itertools.pairwise(bounds)]) == EVENTS


def test_an_unterminated_last_event_is_returned_at_the_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.flush() == [b"x"]
    assert decoder.flush() == []


# -- the adapter on a mock transport ------------------------------------------------------------


def chunk(content: str | None = None, **delta: Any) -> dict[str, Any]:
    if content is not None:
        delta["content"] = content
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


def sse(*events: Any, end: bytes = b"\n\n") -> bytes:
    out = b""
    for event in events:
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        out += b"data: " + data + end
    return out


async def stream_from(
    body: bytes,
    *,
    pieces: int = 1,
    requests: list[Any] | None = None,
    into: list[str] | None = None,
) -> tuple[list[str], LLMClient]:
    """Stream one reply whose SSE body is ``body``, sent in ``pieces`` parts; return the
    pieces of text (also collected in ``into`` as they come) and the client."""

    def handler(request: http.Request) -> http.Response:
        if requests is not None:
            requests.append(json.loads(request.content))
        size = max(1, len(body) // pieces)
        parts = [body[i : i + size] for i in range(0, len(body), size)]
        return http.Response(
            200, headers={"content-type": "text/event-stream"}, content=_Parts(parts)
        )

    transport = http.MockTransport(handler)
    sdk = openai.AsyncOpenAI(
        base_url="http://llm.test/v1",
        api_key="k",
        http_client=http.AsyncClient(transport=transport),
        max_retries=0,
    )
    got: list[str] = into if into is not None else []
    async with sdk:
        llm = LLMClient(LLMConfig(model="m"), client=sdk)
        async with aclosing(llm.stream(HELLO)) as reply:
            async for piece in reply:
                got.append(piece)
    return got, llm


class _Parts(http.AsyncByteStream):
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> Any:
        for part in self.parts:
            yield part


USAGE = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


@pytest.mark.anyio
@pytest.mark.parametrize("pieces", [1, 3, 1000])
async def test_content_usage_and_finish_reason_in_any_pieces(pieces: int) -> None:
    done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    body = sse(
        chunk(role="assistant"),
        chunk(reasoning_content="hmm"),
        chunk("Hi"),
        {"choices": [{"index": 1, "delta": {"content": "other choice"}}]},
        chunk(" there", refusal="."),
        done,
        USAGE,
        b"[DONE]",
        chunk("after done"),
        end=b"\r\n\r\n",
    )
    requests: list[Any] = []
    got, llm = await stream_from(body, pieces=pieces, requests=requests)
    assert "".join(got) == "Hi there."
    assert llm.last_finish_reason == "length"
    assert llm.last_usage is not None and llm.last_usage.total_tokens == 5
    assert requests[0]["messages"] == HELLO and requests[0]["model"] == "m"
    assert requests[0]["stream"] is True


@pytest.mark.anyio
async def test_an_emoji_sent_as_two_escaped_surrogate_halves_arrives_whole() -> None:
    got, _ = await stream_from(sse(chunk("Look "), chunk("\ud83d"), chunk("\ude00"), chunk("!")))
    assert "".join(got) == "Look \N{GRINNING FACE}!"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (sse(chunk("Hi"), {"error": {"message": "overloaded"}}), "reported an error: overloaded"),
        (sse(chunk("Hi"), b"{not json"), "malformed stream event"),
        (sse(chunk("Hi"), [1, 2]), "malformed stream event (a JSON list"),
    ],
)
async def test_error_and_malformed_events_after_the_text_that_arrived(
    body: bytes, says: str
) -> None:
    got: list[str] = []
    with pytest.raises(LLMError) as info:
        await stream_from(body, into=got)
    assert isinstance(info.value, LLMServerError)
    assert says in str(info.value)
    assert got == ["Hi"]


# -- connection reuse (against the scripted chat server, through a counting relay) ---------------


@pytest.mark.anyio
async def test_replies_read_to_done_reuse_one_connection() -> None:
    accepted = 0

    async def relay(client: anyio.abc.SocketStream, port: int) -> None:
        nonlocal accepted
        accepted += 1
        async with client, await anyio.connect_tcp("127.0.0.1", port) as upstream:

            async def pipe(src: anyio.abc.SocketStream, dst: anyio.abc.SocketStream) -> None:
                with suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    async for data in src:
                        await dst.send(data)
                with suppress(OSError, anyio.BrokenResourceError):
                    await dst.send_eof()

            async with anyio.create_task_group() as tg:
                tg.start_soon(pipe, client, upstream)
                tg.start_soon(pipe, upstream, client)

    async with serve_fake_llm([FakeReply(tokens_for("One. Two. Three."))]) as fake:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, lambda s: relay(s, fake.port))
            config = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m")
            async with LLMClient(config) as llm:
                for _ in range(3):
                    async with aclosing(llm.stream(HELLO)) as reply:
                        assert "".join([piece async for piece in reply]) == "One. Two. Three."
            tg.cancel_scope.cancel()
    assert accepted == 1
