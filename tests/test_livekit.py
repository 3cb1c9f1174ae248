"""bridge.integrations.livekit driven by LiveKit Agents' own code against the local emulator.

The agent-level tests run a real ``AgentSession`` (no room, no LiveKit server: the TTS node
needs none) whose audio output is a capturing ``AudioOutput``; ``session.say()`` sends the
text through LiveKit's own ``tts_node`` into ``QwenTTS.stream()``. The other tests use the
TTS API the way LiveKit's own TTS tests do (``stream()``/``synthesize()``, collecting
``SynthesizedAudio``). With the ``exact`` engine the audio is decoded back into the text
that was heard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from livekit import rtc
from livekit.agents import (
    Agent,
    AgentSession,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
    tts,
)
from livekit.agents.metrics import TTSMetrics
from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities, TimedString

from bridge.core.errors import ConfigError
from bridge.integrations.livekit import QwenTTS
from bridge.local import Emulator, EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.qwen import SessionConfig, SessionState, Timeouts, TTSSession

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)
NO_RETRY = APIConnectOptions(max_retry=0, timeout=5)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # LiveKit Agents runs on asyncio


@asynccontextmanager
async def emulator(**options: Any) -> AsyncIterator[Emulator]:
    async with serve_emulator(EmulatorOptions(engine="exact", **options)) as emu:
        yield emu


def heard(frames: Iterable[rtc.AudioFrame], rate: int) -> str:
    """The text the ``exact`` engine's audio says (white space dropped: the emulator's own
    response cuts decide where spaces fall). All-zero frames are left out: LiveKit's emitter
    ends a segment whose tail it already released with a 10 ms silent frame, and the
    engine's audio never holds a zero sample."""
    pcm = b"".join(f.data.tobytes() for f in frames if any(f.data))
    return "".join(decode_speech(pcm, run_length=samples_per_char(rate)).text.split())


def squeeze(text: str) -> str:
    return "".join(text.split())


class Capture(AudioOutput):
    """The agent's audio output: keeps every frame and reports playout at once."""

    def __init__(self) -> None:
        super().__init__(label="capture", capabilities=AudioOutputCapabilities(pause=False))
        self.frames: list[rtc.AudioFrame] = []
        self.first_frame = asyncio.Event()
        self._pushed = 0.0

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._pushed:
            self.on_playback_started(created_at=time.time())
        self.frames.append(frame)
        self._pushed += frame.duration
        self.first_frame.set()

    def flush(self) -> None:
        super().flush()
        if not self._pushed:
            return
        pushed, self._pushed = self._pushed, 0.0
        self.on_playback_finished(playback_position=pushed, interrupted=False)

    def clear_buffer(self) -> None:
        if not self._pushed:
            return
        pushed, self._pushed = self._pushed, 0.0
        self.on_playback_finished(playback_position=pushed, interrupted=True)


@asynccontextmanager
async def agent(qwen: QwenTTS) -> AsyncIterator[tuple[AgentSession, Capture]]:
    session: AgentSession = AgentSession(tts=qwen)
    capture = Capture()
    session.output.audio = capture
    await session.start(Agent(instructions="You are a test."))
    try:
        yield session, capture
    finally:
        await session.aclose()


async def deltas(*parts: str) -> AsyncIterator[str]:
    for part in parts:
        yield part


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, TTSSession, Any]]:
    """What bridge's client was asked to send: (method, session, argument)."""
    seen: list[tuple[str, TTSSession, Any]] = []
    for name in ("append", "commit", "clear", "update"):
        original = getattr(TTSSession, name)

        def spy(original: Any = original, name: str = name) -> Any:
            async def call(self: TTSSession, *args: Any) -> Any:
                seen.append((name, self, args[0] if args else None))
                return await original(self, *args)

            return call

        monkeypatch.setattr(TTSSession, name, spy())
    return seen


REPLY = ["Hello **there** my good", " friend, how are ", "you today? I am ", "fine."]


async def test_agent_reply_is_heard_exactly_segmented_by_bridge(
    calls: list[tuple[str, TTSSession, Any]],
) -> None:
    async with emulator() as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST, sample_rate=24000)
        metrics: list[TTSMetrics] = []
        qwen.on("metrics_collected", metrics.append)
        async with agent(qwen) as (session, capture):
            await session.say(deltas(*REPLY))
    assert emu.connections == 1
    # Every segment was heard, in order, markdown scrubbed.
    assert heard(capture.frames, 24000) == squeeze(
        "Hello there my good friend, how are you today? I am fine."
    )
    # bridge's segmenter cut the text (first clause early), and the first cut was committed
    # at once; LiveKit's tokenizer took no part.
    sent = [(name, arg) for name, _, arg in calls if name in ("append", "commit")]
    assert sent[0] == ("append", "Hello there my good friend, ")
    assert sent[1][0] == "commit"
    assert [arg for name, arg in sent if name == "append"][1:] == [
        "how are you today? ",
        "I am fine. ",
    ]
    # LiveKit measured the reply's time to first audio from the first text handed over.
    assert len(metrics) == 1 and metrics[0].ttfb > 0 and metrics[0].streamed


LONG = (
    "This first reply is long on purpose, so that it is still being spoken when the "
    "listener interrupts. It goes on for a while. And on. And on, sentence after sentence, "
    "so the server has plenty left to say. "
)


async def _interrupt_then_reply(qwen: QwenTTS, first: Iterable[str]) -> tuple[str, str]:
    """Interrupt the first reply at its first audio frame, then say a second one; return
    what was heard before the interruption and after it."""
    async with agent(qwen) as (session, capture):
        handle = session.say(deltas(*first))
        await asyncio.wait_for(capture.first_frame.wait(), timeout=30)
        handle.interrupt()
        await handle
        cut = len(capture.frames)
        await session.say(deltas("Second reply. ", "All of it."))
        frames = list(capture.frames)
    assert frames[:cut], "the interruption came after the first audio"
    return heard(frames[:cut], 24000), heard(frames[cut:], 24000)


async def test_interruption_clears_and_leaves_no_stale_audio(
    calls: list[tuple[str, TTSSession, Any]],
) -> None:
    # The first connection stalls after two audio deltas: the second reply can only be heard
    # on a new connection, and nothing more of the first can arrive.
    async with emulator(faults=Faults(stall_after_deltas=2, connections=1)) as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST, sample_rate=24000)
        before, after = await _interrupt_then_reply(qwen, [LONG * 3])
    assert squeeze(LONG).startswith(before)
    assert after == squeeze("Second reply. All of it.")  # nothing of the old reply
    cleared = [s for name, s, _ in calls if name == "clear"]
    assert len(cleared) == 1 and cleared[0].state is SessionState.CLOSED
    assert emu.connections == 2


async def test_interruption_with_a_flowing_server_leaks_no_stale_audio(
    calls: list[tuple[str, TTSSession, Any]],
) -> None:
    # No stall: the old reply's audio keeps coming in real time until the connection drops.
    async with emulator(latency=LatencyModel(rtf=1.0)) as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST, sample_rate=24000)
        before, after = await _interrupt_then_reply(qwen, (LONG * 3).split(" "))
    assert squeeze(LONG).startswith(before)
    assert after == squeeze("Second reply. All of it.")
    assert len([s for name, s, _ in calls if name == "clear"]) == 1
    assert emu.connections == 2


async def collect(stream: tts.SynthesizeStream, *parts: str) -> list[tts.SynthesizedAudio]:
    async with stream:
        for part in parts:
            stream.push_text(part)
        stream.end_input()
        return [ev async for ev in stream]


async def test_refused_key_is_livekits_status_error_and_not_retried() -> None:
    async with emulator(api_key="right") as emu:
        qwen = QwenTTS(url=emu.url, api_key="wrong", timeouts=FAST)
        errors: list[tts.TTSError] = []
        qwen.on("error", errors.append)
        with pytest.raises(APIStatusError) as info:
            await collect(qwen.stream(), "Hello there.")
        with pytest.raises(APIStatusError):
            await qwen.synthesize("Hello there.").collect()
    assert info.value.status_code == 401 and not info.value.retryable
    assert "refused the API key" in info.value.message and "wrong" not in info.value.message
    assert len(errors) == 2 and not any(e.recoverable for e in errors)
    assert emu.connections == 0  # refused at the handshake, once each: no retries


async def test_server_error_is_an_api_error_and_not_retried_after_audio() -> None:
    async with emulator(faults=Faults(error_after_deltas=1, error_code="internal_error")) as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST)
        with pytest.raises(APIError, match="injected fault") as info:
            await collect(qwen.stream(), "Hello there. This will fail.")
    assert info.value.retryable and emu.connections == 1  # audio had come: no retry


async def test_stalled_server_is_a_timeout_error() -> None:
    stall = Timeouts(connect=5, update=5, first_audio=5, stall=0.5, idle=5, close=1)
    async with emulator(faults=Faults(stall_after_deltas=1)) as emu:
        qwen = QwenTTS(url=emu.url, timeouts=stall)
        stream = qwen.stream(conn_options=NO_RETRY)
        with pytest.raises(APITimeoutError) as info:
            await collect(stream, "Hello there, this goes quiet.")
    assert "Qwen-TTS timed out" in str(info.value) and "sent nothing for 0.5 s" in str(info.value)


async def test_a_retry_replays_the_text_on_a_new_connection() -> None:
    # The first handshake fails (HTTP 503) after the text was pushed: LiveKit retries, and
    # bridge speaks all of the replayed reply on the second connection.
    faults = Faults(refuse_handshake=503, connections=1)
    async with emulator(faults=faults) as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST)
        options = APIConnectOptions(max_retry=1, retry_interval=0, timeout=5)
        events = await collect(qwen.stream(conn_options=options), *REPLY)
    assert emu.connections == 1  # the refused handshake is not a connection
    assert heard([e.frame for e in events], 24000) == squeeze(
        "Hello there my good friend, how are you today? I am fine."
    )


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
async def test_offered_sample_rates_are_asked_of_qwen(rate: int) -> None:
    async with emulator() as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST, sample_rate=rate)
        events = await collect(qwen.stream(), *REPLY)
        chunked = await qwen.synthesize("A whole text. In two sentences.").collect()
    assert {e.frame.sample_rate for e in events} == {rate} and chunked.sample_rate == rate
    assert heard([e.frame for e in events], rate) == squeeze(
        "Hello there my good friend, how are you today? I am fine."
    )
    assert heard([chunked], rate) == squeeze("A whole text. In two sentences.")


@pytest.mark.parametrize(("rate", "asked"), [(11025, 16000), (22050, 24000), (44100, 48000)])
async def test_other_sample_rates_are_resampled(rate: int, asked: int) -> None:
    text = "Resampled speech, all of it."
    async with emulator() as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST, sample_rate=rate)
        assert qwen.options.qwen_rate == asked
        out = await qwen.synthesize(text).collect()
        native = (
            await QwenTTS(url=emu.url, timeouts=FAST, sample_rate=asked).synthesize(text).collect()
        )
    assert out.sample_rate == rate
    # The same speech, converted: as long as at the asked rate (within one 10 ms frame).
    assert abs(out.duration - native.duration) < 0.01
    assert len(heard([native], asked)) == len(squeeze(text))


def test_sample_rates_outside_8_to_48_khz_are_refused() -> None:
    for rate in (4000, 96000):
        with pytest.raises(ConfigError, match="8000 to 48000"):
            QwenTTS(url="ws://127.0.0.1:9/x", sample_rate=rate)


def test_bad_options_fail_at_construction_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="speech_rate"):
        QwenTTS(url="ws://127.0.0.1:9/x", session=SessionConfig(speech_rate=9.0))
    with pytest.raises(ConfigError, match="not available for model"):
        QwenTTS(url="ws://127.0.0.1:9/x", voice="Nobody")
    with pytest.raises(ConfigError, match="language"):
        QwenTTS(url="ws://127.0.0.1:9/x", language="sw")


async def test_update_options_changes_the_next_reply(
    calls: list[tuple[str, TTSSession, Any]],
) -> None:
    async with emulator() as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST, voice="Cherry", language="en-US")
        await collect(qwen.stream(), "Hello there.")
        qwen.update_options(voice="Ethan", language="zh", session=SessionConfig(speech_rate=1.5))
        await collect(qwen.stream(), "你好，今天怎么样？")
        with pytest.raises(ConfigError):
            qwen.update_options(voice="Nobody")
    configs = [arg for name, _, arg in calls if name == "update"]
    assert [(c.voice, c.language_type, c.speech_rate) for c in configs] == [
        ("Cherry", "English", None),
        ("Ethan", "Chinese", 1.5),
    ]
    assert qwen.options.voice == "Ethan"  # the refused update changed nothing


async def test_a_reply_with_nothing_speakable_is_silence_not_an_error() -> None:
    # Only a code block, which bridge's scrubber drops: LiveKit must not see a failed
    # request (it would retry it and report an error), just no speech.
    async with emulator() as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST)
        errors: list[tts.TTSError] = []
        qwen.on("error", errors.append)
        options = APIConnectOptions(max_retry=2, retry_interval=0, timeout=5)
        events = await collect(qwen.stream(conn_options=options), "```python\nprint(1)\n```\n")
        chunked = await qwen.synthesize("```\ncode\n```", conn_options=options).collect()
    assert not errors and emu.connections == 2  # one each, no retries
    assert not any(any(e.frame.data) for e in events) and not any(chunked.data)


async def test_livekits_fallback_adapter_moves_on_from_a_refused_key() -> None:
    # LiveKit's own FallbackAdapter reads our errors: the refused key is final for that TTS,
    # so it moves to the next one, which speaks the whole reply.
    async with emulator(api_key="right") as emu:
        wrong = QwenTTS(url=emu.url, api_key="wrong", timeouts=FAST)
        right = QwenTTS(url=emu.url, api_key="right", timeouts=FAST)
        errors: list[tts.TTSError] = []
        wrong.on("error", errors.append)
        fallback = tts.FallbackAdapter([wrong, right])
        events = await collect(fallback.stream(), *REPLY)
        await fallback.aclose()
    # One attempt on the refused key (a status error is not retried), then the next TTS.
    assert len(errors) == 1 and isinstance(errors[0].error, APIStatusError)
    assert not errors[0].recoverable
    assert emu.connections == 1
    assert heard([e.frame for e in events], 24000) == squeeze(
        "Hello there my good friend, how are you today? I am fine."
    )


async def test_words_come_timed_within_the_reply_audio() -> None:
    # Qwen-TTS sends no timestamps: each finished response's words are placed in its audio
    # (LiveKit's aligned transcript, TimedStrings on the frames after that audio).
    async with emulator() as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST, sample_rate=16000)
        assert qwen.capabilities.aligned_transcript
        events = await collect(qwen.stream(), *REPLY)
    words: list[TimedString] = []
    played = 0.0
    for event in events:
        timed = event.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT) or []
        # A word is handed over after its audio: never ahead of the frames pushed by more
        # than LiveKit's emitter holds back (a part-filled 200 ms frame and a 10 ms tail).
        assert all(w.end_time <= played + event.frame.duration + 0.21 for w in timed)
        words += timed
        played += event.frame.duration
    assert "".join(words).strip() == "Hello there my good friend, how are you today? I am fine."
    starts = [w.start_time for w in words]
    assert starts[0] == 0.0 and starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(w.start_time < w.end_time for w in words)
    assert abs(words[-1].end_time - played) < 0.02  # the last word ends with the audio


async def test_text_that_stalls_mid_sentence_is_cut_and_spoken() -> None:
    # The model stops mid-sentence (no end of input yet): after stall_timeout bridge cuts at
    # the last word and speaks what it has, instead of holding it for the rest.
    async with emulator() as emu:
        qwen = QwenTTS(url=emu.url, timeouts=FAST, stall_timeout=0.05)
        async with qwen.stream() as stream:
            stream.push_text("and then we walk")
            first = await asyncio.wait_for(stream.__anext__(), timeout=10)
            stream.push_text(" home.")
            stream.end_input()
            events = [first, *[ev async for ev in stream]]
    assert heard([e.frame for e in events], 24000) == squeeze("and then we walk home.")
