"""`POST /v1/audio/speech` (OpenAI-compatible) on `bridge serve`, driven by the official
`openai` SDK (`audio.speech.with_streaming_response.create`) and by `curl`. The `exact` engine's
audio says which characters were spoken, so the tests compare text."""

from __future__ import annotations

import io
import json
import wave

import anyio
import openai
import pytest
from _serve import Stack, running
from _system import require_program

from bridge.local import LatencyModel
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.server import ServerLimits, ServerOptions
from bridge.text import Lexicon

pytestmark = pytest.mark.anyio

TEXT = "Streaming speech for tools that speak OpenAI. It starts before the end is made."
LONG_INPUT = " ".join([TEXT] * 14)  # over 1 KiB of JSON
REAL_TIME = LatencyModel(rtf=1.0, delta_ms=40)  # the emulator produces audio as it plays


def said(pcm: bytes, *, speed: float = 1.0) -> str:
    run = samples_per_char(24000, speech_rate=speed)
    return "".join(decode_speech(pcm, run_length=run).text.split())


def squash(text: str) -> str:
    return "".join(text.split())


def options(**changes: object) -> ServerOptions:
    return ServerOptions(port=0, audio_lead=None, speech_port=0, **changes)  # type: ignore[arg-type]


def sdk(stack: Stack, api_key: str = "unused") -> openai.AsyncOpenAI:
    assert stack.server.speech_url is not None
    return openai.AsyncOpenAI(base_url=stack.server.speech_url, api_key=api_key, max_retries=0)


async def test_the_openai_sdk_streams_wav_whose_first_bytes_come_before_synthesis_ends() -> None:
    async with running(engine="exact", chat=False, latency=REAL_TIME, options=options()) as stack:
        emulator = stack.emulator
        assert emulator is not None
        client = sdk(stack)
        chunks: list[bytes] = []
        producing_at_first_chunk = None
        async with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=TEXT, response_format="wav"
        ) as response:
            assert response.headers["content-type"] == "audio/wav"
            assert response.headers.get("transfer-encoding") == "chunked"
            async for chunk in response.iter_bytes():
                if not chunks:
                    # the speech service is still producing this text's audio
                    producing_at_first_chunk = emulator.active
                chunks.append(chunk)
        await client.close()
        producing_at_end = emulator.active
    assert producing_at_first_chunk == 1 and producing_at_end == 0
    assert len(chunks) > 2
    with wave.open(io.BytesIO(b"".join(chunks))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        pcm = wav.readframes(wav.getnframes())
    assert said(pcm) == squash(TEXT)


async def test_pcm_with_a_qwen_voice_and_a_speed_is_spoken_at_that_speed() -> None:
    async with running(engine="exact", chat=False, options=options()) as stack:
        client = sdk(stack)
        async with client.audio.speech.with_streaming_response.create(
            model="qwen3-tts-flash-realtime",
            voice="Ethan",
            input="Faster, please.",
            response_format="pcm",
            speed=1.5,
        ) as response:
            assert response.headers["content-type"] == "audio/pcm"
            pcm = await response.read()
        await client.close()
    assert said(pcm, speed=1.5) == squash("Faster, please.")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": "mp3"}, "response_format"),
        ({"response_format": "opus"}, "response_format"),
        ({"voice": "nobody"}, "voice"),
        ({"model": "some-other-model"}, "model"),
        ({"speed": 3.0}, "speed"),
        ({"instructions": "Whisper it."}, "instructions"),  # a flash model: no instructions
        ({"input": ""}, "input"),
    ],
)
async def test_bad_requests_are_a_400_in_openais_error_shape(
    fields: dict[str, object], param: str
) -> None:
    request: dict[str, object] = {"model": "tts-1", "voice": "alloy", "input": "Hello.", **fields}
    async with running(engine="exact", chat=False, options=options()) as stack:
        client = sdk(stack)
        with pytest.raises(openai.BadRequestError) as info:
            async with client.audio.speech.with_streaming_response.create(
                **request  # type: ignore[arg-type]
            ) as response:
                await response.read()
        await client.close()
    body = info.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == param
    assert info.value.status_code == 400


async def test_the_token_rules_and_the_turn_rates_apply() -> None:
    limits = ServerLimits(address_turn_burst=1, address_turns_per_minute=1)
    async with running(
        engine="exact", chat=False, options=options(token="sesame", limits=limits)
    ) as stack:
        wrong = sdk(stack, api_key="guess")
        with pytest.raises(openai.AuthenticationError):
            await wrong.audio.speech.create(model="tts-1", voice="alloy", input="Hi.")
        await wrong.close()
        right = sdk(stack, api_key="sesame")
        first = await right.audio.speech.create(
            model="tts-1", voice="alloy", input="Hi.", response_format="pcm"
        )
        assert said(first.content) == "Hi."
        with pytest.raises(openai.RateLimitError) as info:
            await right.audio.speech.create(model="tts-1", voice="alloy", input="Again.")
        await right.close()
    assert info.value.response.headers["retry-after"]
    assert info.value.response.json()["error"]["code"] == "rate_limit_exceeded"


async def test_a_client_that_leaves_mid_stream_stops_the_synthesis() -> None:
    long_text = " ".join([TEXT] * 6)
    async with running(engine="exact", chat=False, latency=REAL_TIME, options=options()) as stack:
        emulator, speech = stack.emulator, stack.server.speech
        assert emulator is not None and speech is not None
        client = sdk(stack)
        async with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="nova", input=long_text, response_format="pcm"
        ) as response:
            async for _chunk in response.iter_bytes():
                break  # the first chunk, then gone
        await client.close()
        with anyio.fail_after(10):
            while speech.active or emulator.active:
                await anyio.sleep(0.02)
        turns = stack.server.metrics.render().decode()
    assert 'bridge_turns_total{outcome="interrupted"} 1.0' in turns.splitlines()


async def test_the_servers_default_lexicon_is_spoken() -> None:
    lexicons = {"tech": Lexicon.build(exact={"SQL": "sequel"})}
    async with running(
        engine="exact", chat=False, options=options(), lexicons=lexicons, default_lexicon="tech"
    ) as stack:
        client = sdk(stack)
        async with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="SQL is old, MySQL too.", response_format="pcm"
        ) as response:
            pcm = await response.read()
        await client.close()
    assert said(pcm) == squash("Sequel is old, MySQL too.")


async def test_instructions_reach_an_instruct_model() -> None:
    instruct = "qwen3-tts-instruct-flash-realtime"
    async with running(engine="exact", chat=False, options=options(), model=instruct) as stack:
        client = sdk(stack)
        async with client.audio.speech.with_streaming_response.create(
            model=instruct,
            voice="Cherry",
            input="Slowly now.",
            response_format="pcm",
            instructions="Speak slowly and warmly.",
        ) as response:
            pcm = await response.read()
        await client.close()
        assert stack.emulator is not None
        settings = stack.emulator.last_session
    assert said(pcm) == squash("Slowly now.")
    assert settings is not None and settings["instructions"] == "Speak slowly and warmly."


async def test_curl_streams_the_same_speech() -> None:
    curl = require_program("curl", "curl")
    async with running(engine="exact", chat=False, options=options()) as stack:
        url = f"{stack.server.speech_url}/audio/speech"
        json_type = ["-H", "Content-Type: application/json"]
        body = json.dumps({"model": "tts-1", "voice": "echo", "input": LONG_INPUT})
        # Asked to wait for "100 Continue" before the body (older curls do so for bodies over
        # 1 KiB), curl would wait longer than it may run without the server's answer.
        patience = ["-H", "Expect: 100-continue", "--expect100-timeout", "60", "--max-time", "30"]
        done = await anyio.run_process(
            [curl, "-sS", "-N", "--fail-with-body", *patience, *json_type, "-d", body, url],
            check=False,
        )
        wrong = json.dumps({"model": "tts-1", "voice": "echo", "input": "x", "speed": 9})
        bad = await anyio.run_process(
            [curl, "-sS", *json_type, "-w", "%{http_code}", "-d", wrong, url], check=False
        )
    assert done.returncode == 0, done.stderr
    with wave.open(io.BytesIO(done.stdout)) as wav:
        pcm = wav.readframes(wav.getnframes())
    assert said(pcm) == squash(LONG_INPUT)
    answer, status = bad.stdout[:-3], bad.stdout[-3:]
    assert status == b"400"
    assert json.loads(answer)["error"]["param"] == "speed"
