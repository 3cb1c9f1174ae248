"""The public test kit: its pytest plugin (run by pytest's own ``pytester``) and the scripted
chat server's HTTP (h11) seen from a raw socket."""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import anyio
import openai
import pytest
from anyio import wait_all_tasks_blocked

from bridge.core.errors import ConfigError
from bridge.testing import FakeReply, heard_text, serve_fake_llm
from bridge.testing.fake_llm import _MAX_BODY

pytest_plugins = ["pytester"]

# The generated tests run in a pytest of their own (a subprocess): an in-process run would drop
# the modules it imported from sys.modules afterwards, and the openai SDK of this process would
# then hold exception classes that no longer match the re-imported ones.

# A user's test module: their "app" asks a chat model and speaks the answer through bridge.
APP_TESTS = """
import io

import pytest

from bridge import Assistant, LLMClient, LLMConfig, PcmSink
from bridge.testing import FakeReply, heard_text, tokens_for

pytestmark = pytest.mark.anyio

REPLY = "Hello there. The **weather** is fine today."


async def speak_answer(base_url, target, question):
    out = io.BytesIO()
    config = LLMConfig(base_url=base_url, api_key="sk-app", model="m")
    async with LLMClient(config) as llm:
        result = await Assistant(llm=llm, tts=target).say(question, PcmSink(out))
    return result, out.getvalue()


async def test_the_app_speaks_the_answer(fake_llm, bridge_target):
    fake = await fake_llm([FakeReply(tokens_for(REPLY))], api_key="sk-app")
    result, pcm = await speak_answer(fake.base_url, bridge_target, "How is the weather?")
    assert result.error is None
    assert "The weather is fine today." in heard_text(pcm)
    assert fake.requests[0]["messages"][-1]["content"] == "How is the weather?"


async def test_wrong_audio_is_caught(fake_llm, bridge_target):
    fake = await fake_llm([FakeReply(tokens_for(REPLY))], api_key="sk-app")
    _, pcm = await speak_answer(fake.base_url, bridge_target, "How is the weather?")
    assert "The weather is bad." in heard_text(pcm)


async def test_the_fake_checks_the_key_and_serves_its_models(fake_llm, bridge_target):
    from bridge import LLMAuthError

    fake = await fake_llm([FakeReply(["Hi."])], api_key="sk-right", models=["mine"])
    result, pcm = await speak_answer(fake.base_url, bridge_target, "Hi")
    assert isinstance(result.error.exception, LLMAuthError) and pcm == b""
    assert fake.models == ("mine",) and fake.check_model


async def test_the_tone_emulator_serves_audio_that_is_not_exact(fake_llm, bridge_emulator):
    from bridge import TTSTarget

    fake = await fake_llm([FakeReply(["Hi", " there."])])
    result, pcm = await speak_answer(fake.base_url, TTSTarget(url=bridge_emulator.url), "Hi")
    assert result.error is None and pcm
    with pytest.raises(ValueError, match="no character run"):
        heard_text(pcm)
"""

FAULT_TESTS = """
import io

import pytest

from bridge import Faults, EmulatorOptions, PcmSink, ReconnectPolicy, PipelineOptions, Turn

pytestmark = pytest.mark.anyio


@pytest.fixture
def bridge_emulator_options():
    return EmulatorOptions(faults=Faults(error_after_deltas=1, error_message="boom"))


async def tokens():
    for token in ["A first sentence here. ", "And a second one, long enough to matter."]:
        yield token


async def test_an_injected_fault_reaches_the_app(bridge_target):
    options = PipelineOptions(reconnect=ReconnectPolicy(attempts=0))
    turn = Turn(tokens(), PcmSink(io.BytesIO()), target=bridge_target, options=options)
    result = await turn.run()
    assert result.error is not None
"""


def test_the_fixtures_test_a_users_app_and_catch_wrong_audio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=APP_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*FAILED test_app.py::test_wrong_audio_is_caught*"])


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Testing your app", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    pytester.makepyfile(test_readme=match.group(1))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_emulator_options_fixture_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_faults=FAULT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_plugin_is_loaded_through_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=APP_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:bridge")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(["*fixture 'fake_llm' not found*"])


def test_heard_text_refuses_audio_the_exact_engine_did_not_make() -> None:
    with pytest.raises(ValueError, match="no character run"):
        heard_text(b"\x01\x00" * 100)
    assert heard_text(b"") == ""


# -- the scripted chat server's HTTP, from a raw socket --------------------------------------


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, half-close, and read until the server closes."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(data)
        await stream.send_eof()
        got = b""
        with anyio.fail_after(10):
            while True:
                try:
                    got += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return got


def post(body: bytes, *, headers: str = "") -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + headers.encode()
        + b"\r\n"
        + body
    )


@pytest.mark.anyio
async def test_keep_alive_then_close_on_one_connection() -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    one = post(body, headers=f"Content-Length: {len(body)}\r\n")
    last = post(body, headers=f"Content-Length: {len(body)}\r\nConnection: close\r\n")
    async with serve_fake_llm([FakeReply(["one"]), FakeReply(["two"])]) as fake:
        got = await exchange(fake.port, one + last)
    assert got.count(b"HTTP/1.1 200 OK") == 2
    assert b'"content": "one"' in got and b'"content": "two"' in got
    assert b"connection: close" in got.lower()
    assert fake.served == 2


@pytest.mark.anyio
async def test_a_chunked_request_body_is_read() -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    async with serve_fake_llm([FakeReply(["ok"])]) as fake:
        got = await exchange(
            fake.port, post(chunked, headers="Transfer-Encoding: chunked\r\nConnection: close\r\n")
        )
    assert got.startswith(b"HTTP/1.1 200") and b'"content": "ok"' in got
    assert fake.requests == [json.loads(body)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", b"400"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n", b"400"),
        (post(b"", headers=f"Content-Length: {_MAX_BODY + 1}\r\n"), b"413"),
    ],
)
async def test_a_request_that_cannot_be_served_gets_an_error_status(
    request_bytes: bytes, status: bytes
) -> None:
    async with serve_fake_llm([FakeReply(["never"])]) as fake:
        got = await exchange(fake.port, request_bytes)
        assert got.startswith(b"HTTP/1.1 " + status)
        assert fake.served == 0
        # the server goes on serving
        async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="k") as sdk:
            done = await sdk.chat.completions.create(model="m", messages=[])
    assert done.choices[0].message.content == "never"


@pytest.mark.anyio
async def test_an_error_event_of_a_non_streamed_request_is_an_http_500() -> None:
    async with (
        serve_fake_llm([FakeReply(["Hi"], error_event="overloaded")]) as fake,
        openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0) as sdk,
    ):
        with pytest.raises(openai.InternalServerError) as info:
            await sdk.chat.completions.create(model="m", messages=[])
    assert info.value.status_code == 500
    assert "overloaded" in str(info.value)


def test_raw_must_be_bytes() -> None:
    with pytest.raises(ConfigError):
        FakeReply(["a"], raw=b"data: x\n\n")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        FakeReply(["a"], raw=["data: x\n\n"])  # type: ignore[list-item]


@pytest.mark.anyio
async def test_received_is_when_the_requests_first_byte_was_read() -> None:
    # The head goes first, the body once the fake waits for it: ``received`` is the head's
    # read, set before the replies callable is asked.
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = post(body, headers=f"Content-Length: {len(body)}\r\nConnection: close\r\n")
    head, _, rest = request.partition(b"\r\n\r\n")
    asked: list[tuple[float | None, float]] = []

    def answer(messages: list[dict[str, object]]) -> FakeReply:
        asked.append((fake.received, time.monotonic()))
        return FakeReply(["ok"])

    async with serve_fake_llm(answer) as fake, await anyio.connect_tcp("127.0.0.1", fake.port) as s:
        await s.send(head + b"\r\n\r\n")
        await wait_all_tasks_blocked()  # the fake has read the head, waits for the body
        between = time.monotonic()
        await s.send(rest)
        got = b""
        with anyio.fail_after(10), contextlib.suppress(anyio.EndOfStream):
            while True:
                got += await s.receive()
    assert got.startswith(b"HTTP/1.1 200") and b'"ok"' in got
    [(received, called)] = asked
    assert received is not None and received < between < called
