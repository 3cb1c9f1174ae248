"""The LLM adapter against the scripted fake endpoint, with the real openai SDK in between."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Sequence
from contextlib import aclosing
from typing import Any

import anyio
import openai
import pytest

from bridge.adapters.llm import LLMClient, LLMConfig, LLMUsage, ThinkFilter
from bridge.core.conversation import INTERRUPTED_MARKER, Conversation, ConversationTurn
from bridge.core.errors import (
    ConfigError,
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMServerError,
    LLMTimeoutError,
)
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

pytestmark = pytest.mark.anyio

HELLO = [{"role": "user", "content": "hello"}]
SECRET = "sk-test-SECRET-0123456789abcdef"


async def drain(
    llm: LLMClient, messages: Sequence[dict[str, Any]] = HELLO, into: list[str] | None = None
) -> list[str]:
    """Consume one stream (closing it in every case); return the pieces."""
    pieces = into if into is not None else []
    async with aclosing(llm.stream(messages)) as stream:
        async for piece in stream:
            pieces.append(piece)
    return pieces


async def collect(
    replies: Sequence[FakeReply], *, messages: Sequence[dict[str, Any]] = HELLO, **config: Any
) -> tuple[list[str], LLMClient, list[dict[str, Any]]]:
    """Stream one reply from a fresh fake; return the pieces, the client and the requests."""
    config.setdefault("model", "fake-llm")
    async with (
        serve_fake_llm(replies) as fake,
        LLMClient(LLMConfig(base_url=fake.base_url, **config)) as llm,
    ):
        pieces = await drain(llm, messages)
    return pieces, llm, fake.requests


async def failure(reply: FakeReply, **config: Any) -> tuple[LLMError, list[str]]:
    """Stream until the error; return it and what was yielded before it."""
    got: list[str] = []
    config.setdefault("model", "fake-llm")
    async with (
        serve_fake_llm([reply]) as fake,
        LLMClient(LLMConfig(base_url=fake.base_url, **config)) as llm,
    ):
        with pytest.raises(LLMError) as info:
            await drain(llm, into=got)
    return info.value, got


# -- streaming ------------------------------------------------------------------------------


async def test_content_streams_in_order_with_usage_and_finish_reason() -> None:
    text = "Hello there. The answer is 42, more or less. 你好，世界。"
    pieces, llm, requests = await collect([FakeReply(tokens_for(text))])
    assert "".join(pieces) == text
    assert len(pieces) > 10  # streamed, not buffered into one piece
    assert llm.last_finish_reason == "stop"
    assert isinstance(llm.last_usage, LLMUsage)
    assert llm.last_usage.completion_tokens == len(tokens_for(text))
    assert requests[0]["stream"] is True
    assert requests[0]["stream_options"] == {"include_usage": True}


async def test_server_that_ignores_include_usage_is_fine() -> None:
    pieces, llm, _ = await collect([FakeReply(["Hi", "."], usage=False)])
    assert pieces == ["Hi", "."]
    assert llm.last_usage is None
    assert llm.last_finish_reason == "stop"


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_is_never_yielded(field: str) -> None:
    reply = FakeReply(
        ["Four", "."], reasoning=["Two plus", " two", " is four."], reasoning_field=field
    )
    pieces, llm, _ = await collect([reply])
    assert pieces == ["Four", "."]
    assert llm.last_usage is not None and llm.last_usage.completion_tokens == 5


async def test_think_block_split_across_deltas_is_removed() -> None:
    tokens = ["<th", "ink>I should", " greet.</th", "ink>\n\nHi", " there", ".", " a <", " b"]
    pieces, _, _ = await collect([FakeReply(tokens)])
    assert "".join(pieces) == "Hi there. a < b"


async def test_unterminated_think_swallows_the_rest() -> None:
    pieces, llm, _ = await collect([FakeReply(["<think>", "pondering", " forever"])])
    assert pieces == []
    assert llm.last_finish_reason == "stop"


PREFILLED = ["The user wants", " a greeting. I will", " say hi.</th", "ink>\n\nHi", " there."]


async def test_reasoning_after_a_prefilled_opener_is_not_yielded_with_think_open() -> None:
    pieces, _, _ = await collect([FakeReply(PREFILLED)], think_open=True)
    assert "".join(pieces) == "Hi there."
    pieces, _, _ = await collect([FakeReply(PREFILLED)])  # without the option it is spoken
    assert "".join(pieces).startswith("The user wants")


async def test_a_closing_tag_with_no_opener_early_in_a_reply_drops_what_came_before() -> None:
    pieces, _, _ = await collect([FakeReply(PREFILLED)], think_window=200)
    assert "".join(pieces) == "Hi there."
    late = ["Sure. " * 40, "a literal </think> tag"]  # past the window: only the tag goes
    pieces, _, _ = await collect([FakeReply(late)], think_window=200)
    assert "".join(pieces) == "Sure. " * 40 + "a literal  tag"


def test_think_window_must_not_be_negative() -> None:
    with pytest.raises(ConfigError):
        LLMConfig(model="m", think_window=-1)


async def test_tool_call_deltas_are_not_yielded() -> None:
    pieces, llm, _ = await collect([FakeReply(["Let me check."], tool_call=True)])
    assert pieces == ["Let me check."]
    assert llm.last_finish_reason == "tool_calls"


async def test_extra_options_reach_the_request_body() -> None:
    extra = {"temperature": 0.2, "max_tokens": 50, "top_k": 5, "extra_body": {"seed_x": 1}}
    _, _, requests = await collect([FakeReply(["ok"])], extra=extra)
    body = requests[0]
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 50
    assert body["top_k"] == 5  # unknown to the SDK: sent through extra_body
    assert body["seed_x"] == 1
    assert body["messages"] == HELLO


async def test_replies_in_order_then_the_last_repeats_and_callable_replies() -> None:
    replies = [FakeReply(["one"]), FakeReply(["two"])]
    async with (
        serve_fake_llm(replies) as fake,
        LLMClient(LLMConfig(base_url=fake.base_url, model="m")) as llm,
    ):
        got = ["".join(await drain(llm)) for _ in range(3)]
    assert got == ["one", "two", "two"]

    def echo(messages: list[dict[str, Any]]) -> FakeReply:
        return FakeReply(tokens_for("you said " + messages[-1]["content"]))

    async with (
        serve_fake_llm(echo) as fake,
        LLMClient(LLMConfig(base_url=fake.base_url, model="m")) as llm,
    ):
        assert "".join(await drain(llm)) == "you said hello"


async def test_early_exit_closes_the_stream_and_the_server_keeps_serving() -> None:
    reply = FakeReply(tokens_for("one two three four five six"), delay=0.05)
    async with (
        serve_fake_llm([reply]) as fake,
        LLMClient(LLMConfig(base_url=fake.base_url, model="m")) as llm,
    ):
        async with aclosing(llm.stream(HELLO)) as stream:
            async for piece in stream:
                if piece.strip() == "two":
                    break
        assert "".join(await drain(llm)) == "one two three four five six"


# -- bounded waits ---------------------------------------------------------------------------


async def test_first_token_timeout() -> None:
    start = time.monotonic()
    exc, got = await failure(FakeReply(["late"], first_delay=5), first_token_timeout=0.2)
    assert isinstance(exc, LLMTimeoutError)
    assert isinstance(exc, TimeoutError)
    assert exc.what == "first_token"
    assert "first_token_timeout" in str(exc)
    assert got == []
    assert time.monotonic() - start < 3


async def test_inter_token_timeout_after_the_first_tokens() -> None:
    start = time.monotonic()
    exc, got = await failure(FakeReply(["Hello", " world"], delay=5), token_timeout=0.2)
    assert isinstance(exc, LLMTimeoutError)
    assert exc.what == "token"
    assert got == ["Hello"]
    assert time.monotonic() - start < 3


# -- typed errors ----------------------------------------------------------------------------


async def test_wrong_key_is_an_auth_error_without_the_key() -> None:
    async with serve_fake_llm([FakeReply(["never"])], api_key="sk-the-right-one-000000") as fake:
        config = LLMConfig(base_url=fake.base_url, api_key=SECRET, model="m")
        assert SECRET not in repr(config)
        async with LLMClient(config) as llm:
            with pytest.raises(LLMAuthError) as info:
                await drain(llm)
    message = str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert info.value.status == 401
    assert SECRET not in message and "SECRET" not in message
    assert "API key" in message and "\n" not in message


async def test_missing_key_says_so() -> None:
    exc, _ = await failure(FakeReply([], status=401))
    assert isinstance(exc, LLMAuthError)
    assert "no API key was set" in str(exc)


async def test_forbidden_is_an_auth_error() -> None:
    exc, _ = await failure(FakeReply([], status=403), api_key=SECRET)
    assert isinstance(exc, LLMAuthError)
    assert exc.status == 403
    assert SECRET not in str(exc)


async def test_rate_limit() -> None:
    exc, _ = await failure(FakeReply([], status=429))
    assert isinstance(exc, LLMRateLimitError)
    assert exc.retry_after == 1.0
    assert "429" in str(exc)


@pytest.mark.parametrize("status", [500, 503, 400])
async def test_server_errors_keep_their_status(status: int) -> None:
    exc, _ = await failure(FakeReply([], status=status))
    assert isinstance(exc, LLMServerError)
    assert exc.status == status
    assert isinstance(exc.__cause__, openai.APIStatusError)
    assert str(status) in str(exc)


async def test_unknown_model_names_the_model() -> None:
    async with (
        serve_fake_llm([FakeReply(["x"])], models=["real-model"]) as fake,
        LLMClient(LLMConfig(base_url=fake.base_url, model="no-such-model")) as llm,
    ):
        with pytest.raises(LLMServerError) as info:
            await drain(llm)
    assert info.value.status == 404
    assert "'no-such-model'" in str(info.value)


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = LLMConfig(base_url=f"http://user:pw@127.0.0.1:{port}/v1", model="m")
    async with LLMClient(config) as llm:
        with pytest.raises(LLMConnectionError) as info:
            await drain(llm)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "pw" not in str(info.value)


async def test_drop_mid_stream_after_the_tokens_that_arrived() -> None:
    exc, got = await failure(FakeReply(["One", " two", " three", " four"], fail_after=2))
    assert isinstance(exc, LLMConnectionError)
    assert got == ["One", " two"]
    assert "incomplete" in str(exc)


# Error and malformed events over real HTTP, from the scripted server (FakeReply.error_event/raw).


async def test_an_error_event_mid_stream_after_the_text_that_arrived() -> None:
    exc, got = await failure(FakeReply(["One", " two"], error_event="the model is overloaded"))
    assert isinstance(exc, LLMServerError)
    assert "reported an error: the model is overloaded" in str(exc)
    assert got == ["One", " two"]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"data: {not json\n\n", "malformed stream event"),
        (b"data: [1, 2]\r\n\r\n", "malformed stream event (a JSON list"),
    ],
)
async def test_a_malformed_event_mid_stream_after_the_text_that_arrived(
    raw: bytes, says: str
) -> None:
    exc, got = await failure(FakeReply(["Hi"], raw=[raw]))
    assert isinstance(exc, LLMServerError)
    assert says in str(exc)
    assert got == ["Hi"]


async def test_comments_crlf_and_split_events_in_the_stream_are_read() -> None:
    more = b'data: {"choices": [{"index": 0, "delta": {"content": " more"}}]}'
    raw = [b": keep-alive\r\n", more[:20], more[20:] + b"\r\n\r\n", b"event: x\n\n"]
    pieces, llm, _ = await collect([FakeReply(["Hi"], raw=raw)])
    assert "".join(pieces) == "Hi more"
    assert llm.last_finish_reason == "stop"


# -- configuration and lifetime ----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"model": " "},
        {"model": "m", "token_timeout": 0},
        {"model": "m", "first_token_timeout": -1},
        {"model": "m", "max_retries": -1},
        {"model": "m", "extra": {"stream": False}},
        {"model": "m", "extra": {"messages": []}},
    ],
)
def test_config_is_validated(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        LLMConfig(**options)


async def test_empty_messages_are_refused() -> None:
    async with LLMClient(LLMConfig(base_url="http://127.0.0.1:9/v1", model="m")) as llm:
        with pytest.raises(ConfigError):
            await drain(llm, [])


async def test_a_client_passed_in_is_not_closed() -> None:
    sdk = openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="x")
    async with LLMClient(LLMConfig(model="m"), client=sdk):
        pass
    assert not sdk.is_closed()
    await sdk.close()
    own = LLMClient(LLMConfig(model="m", api_key="x"))
    await own.aclose()
    assert own._client.is_closed()


# -- the fake endpoint itself ------------------------------------------------------------------


async def test_fake_serves_models_non_stream_and_healthz() -> None:
    reply = FakeReply(["Hi", "!"], reasoning=["think"], tool_call=True)
    async with serve_fake_llm([reply], models=["a", "b"]) as fake:
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="k") as sdk:
            models = await sdk.models.list()
            assert [m.id for m in models.data] == ["a", "b"]
            done = await sdk.chat.completions.create(model="a", messages=[])
            assert done.choices[0].message.content == "Hi!"
            assert done.choices[0].finish_reason == "tool_calls"
            assert done.usage is not None and done.usage.completion_tokens == 3
        stream = await anyio.connect_tcp("127.0.0.1", fake.port)
        async with stream:
            await stream.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            with anyio.fail_after(5):
                while True:
                    try:
                        data += await stream.receive()
                    except anyio.EndOfStream:
                        break
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok\n")


def test_tokens_for_splits_like_a_model_and_loses_nothing() -> None:
    text = "  Extraordinarily, 12345 cats said: “hello”!\n\n你好，世界。 end "
    tokens = tokens_for(text)
    assert "".join(tokens) == text
    assert " cats" in tokens and "\n\n你" in tokens and "好" in tokens
    assert all(len(t.strip()) <= 8 for t in tokens)


def test_fake_reply_is_validated() -> None:
    with pytest.raises(ConfigError):
        FakeReply("a string")
    with pytest.raises(ConfigError):
        FakeReply(["a"], delay=-1)
    with pytest.raises(ConfigError):
        FakeReply(["a"], status=99)


# -- the think filter (pure) -------------------------------------------------------------------


def run_filter(pieces: Sequence[str], **options: Any) -> str:
    f = ThinkFilter(**options)
    return "".join(f.feed(p) for p in pieces) + f.flush()


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("<think>plan</think>\n\nAnswer.", "Answer."),
        ("Before <think>x</think> after", "Before  after"),
        ("<think>never closed", ""),
        ("reasoning without opener</think>\nAnswer", "reasoning without opener\nAnswer"),
        ("</think>\n\nAnswer", "Answer"),
        ("a < b and c <th", "a < b and c <th"),
        ("<think></think>", ""),
        ("one<think>a</think>two<think>b</think>three", "onetwothree"),
    ],
)
def test_think_filter_any_split_gives_the_same_output(text: str, spoken: str) -> None:
    assert run_filter([text]) == spoken
    for cuts in itertools.combinations(range(1, len(text)), 2):
        pieces = [text[i:j] for i, j in zip((0, *cuts), (*cuts, len(text)), strict=True)]
        assert run_filter(pieces) == spoken, pieces
    assert run_filter(list(text)) == spoken


# -- conversation ------------------------------------------------------------------------------


def test_conversation_messages_and_interrupted_turns() -> None:
    conv = Conversation("Be brief.")
    conv.add_user("Tell me about the sea.")
    conv.add_assistant("The sea covers most of the planet. It is", interrupted=True)
    conv.add_user("Stop. What about rivers?")
    conv.add_assistant("Rivers flow to the sea.")
    assert conv.messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me about the sea."},
        {
            "role": "assistant",
            "content": "The sea covers most of the planet. It is" + INTERRUPTED_MARKER,
        },
        {"role": "user", "content": "Stop. What about rivers?"},
        {"role": "assistant", "content": "Rivers flow to the sea."},
    ]
    assert conv.turns[1] == ConversationTurn(
        "assistant", "The sea covers most of the planet. It is", True
    )
    assert conv.turns[1].interrupted and not conv.turns[3].interrupted
    assert isinstance(conv.turns, tuple)
    with pytest.raises(AttributeError):
        conv.turns[0].text = "changed"  # type: ignore[misc]
    conv.reset()
    assert conv.turns == () and len(conv) == 0
    assert conv.messages() == [{"role": "system", "content": "Be brief."}]


def test_conversation_edge_cases() -> None:
    conv = Conversation(max_turns=2)
    conv.add_user("a")
    conv.add_assistant("", interrupted=True)  # interrupted before anything was heard
    assert conv.messages() == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": INTERRUPTED_MARKER.strip()},
    ]
    conv.add_user("b")
    assert [t.text for t in conv.turns] == ["b"]  # a trimmed history starts with a user turn
    conv.system_prompt = "New prompt."
    assert conv.messages()[0] == {"role": "system", "content": "New prompt."}
    with pytest.raises(ConfigError):
        Conversation(max_turns=0)


@pytest.mark.parametrize(
    ("text", "options", "spoken"),
    [
        ("plan it</think>\n\nAnswer.", {"start_inside": True}, "Answer."),
        ("never closed", {"start_inside": True}, ""),
        ("plan it</think>Answer.<think>more</think> End", {"start_inside": True}, "Answer. End"),
        ("plan it</think>\n\nAnswer.", {"window": 20}, "Answer."),
        ("a long plain reply</think> x", {"window": 10}, "a long plain reply x"),
        ("<think>a</think>b</think>c", {"window": 50}, "bc"),
        ("short reply", {"window": 50}, "short reply"),
    ],
)
def test_think_filter_options_any_split(text: str, options: dict[str, Any], spoken: str) -> None:
    assert run_filter([text], **options) == spoken
    for cuts in itertools.combinations(range(1, len(text)), 2):
        pieces = [text[i:j] for i, j in zip((0, *cuts), (*cuts, len(text)), strict=True)]
        assert run_filter(pieces, **options) == spoken, pieces
    f = ThinkFilter(**options)
    assert f.feed(text) + f.flush() == spoken
    assert f.feed(text) + f.flush() == spoken  # flush() starts a new reply with the options
