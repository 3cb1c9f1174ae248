"""bridge.integrations.pipecat driven by Pipecat's own test runner against the local emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("pipecat")

from pipecat.frames.frames import (
    AggregatedTextFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    TTSUpdateSettingsFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.settings import TTSSettings
from pipecat.tests.utils import run_test
from pipecat.transcriptions.language import Language

from bridge.core.errors import ConfigError, TTSClosedError, TTSTimeoutError
from bridge.integrations.pipecat import (
    BridgeTextAggregator,
    QwenTTSService,
    qwen_language,
)
from bridge.local import Emulator, EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.qwen import SessionConfig, SessionState, Timeouts, TTSSession

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Pipecat runs on asyncio


@asynccontextmanager
async def emulator(**options: object) -> AsyncIterator[Emulator]:
    opts = EmulatorOptions(engine="tone", **options)  # type: ignore[arg-type]
    async with serve_emulator(opts) as emu:
        yield emu


def service(emu: Emulator, **kwargs: object) -> QwenTTSService:
    return QwenTTSService(url=emu.url, timeouts=FAST, sample_rate=24000, **kwargs)  # type: ignore[arg-type]


def reply(*deltas: str) -> list[Frame]:
    return [
        LLMFullResponseStartFrame(),
        *(LLMTextFrame(d) for d in deltas),
        LLMFullResponseEndFrame(),
    ]


def of(frames: Sequence[Frame], kind: type[Frame]) -> list[Frame]:
    return [f for f in frames if isinstance(f, kind)]


async def test_streamed_text_becomes_audio_frames_segmented_by_bridge() -> None:
    deltas = ["Hello **there** my good", " friend, how are ", "you today? I am ", "fine."]
    async with emulator() as emu:
        tts = service(emu)
        down, up = await run_test(
            tts,
            frames_to_send=reply(*deltas),
            pipeline_params=PipelineParams(enable_metrics=True),
        )
    assert emu.connections == 1
    assert not of(up, ErrorFrame)
    kinds = [type(f) for f in down if not isinstance(f, MetricsFrame)]
    first_audio = kinds.index(TTSAudioRawFrame)
    assert kinds.index(TTSStartedFrame) < first_audio
    assert kinds.count(TTSStartedFrame) == 1
    assert kinds[-1] is LLMFullResponseEndFrame
    assert TTSStoppedFrame in kinds
    audio = of(down, TTSAudioRawFrame)
    assert all(isinstance(a, TTSAudioRawFrame) and a.sample_rate == 24000 for a in audio)
    assert sum(len(a.audio) for a in audio if isinstance(a, TTSAudioRawFrame)) > 0
    # bridge's segmenter cut the reply (first clause early, markdown scrubbed), not Pipecat's.
    spoken = [f.text for f in of(down, AggregatedTextFrame) if not isinstance(f, TTSTextFrame)]
    assert spoken[0] == "Hello there my good friend,"
    assert "**" not in " ".join(spoken)
    assert (
        " ".join(spoken).replace("  ", " ")
        == "Hello there my good friend, how are you today? I am fine."
    )
    ttfb = [
        d
        for m in of(down, MetricsFrame)
        if isinstance(m, MetricsFrame)
        for d in m.data
        if isinstance(d, TTFBMetricsData)
    ]
    # Pipecat reports a zero TTFB for every service at start; then one per reply.
    measured = [d for d in ttfb if d.model is not None]
    assert len(measured) == 1 and measured[0].value > 0
    # Word timing: one TTSTextFrame per word, each after audio of its reply, in time order.
    words = of(down, TTSTextFrame)
    assert " ".join(w.text for w in words if isinstance(w, TTSTextFrame)) == (
        "Hello there my good friend, how are you today? I am fine."
    )
    assert all(any(isinstance(f, TTSAudioRawFrame) for f in down[: down.index(w)]) for w in words)
    times = [w.pts for w in words]
    assert all(t is not None for t in times) and times == sorted(times)
    assert len(set(times)) == len(times)


def spoken_words(frames: Sequence[Frame], contexts: set[str | None]) -> str:
    """The words Pipecat reported as spoken (TTSTextFrames) for these audio contexts."""
    return " ".join(
        f.text for f in frames if isinstance(f, TTSTextFrame) and f.context_id in contexts
    )


@dataclass
class _BargeIn(SystemFrame):
    """Sent upstream by the watcher at the first audio: "the user started talking"."""


class _BargeInOnFirstAudio(FrameProcessor):
    """Downstream of the TTS: at the first audio frame, asks for a barge-in upstream."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame) and not self.asked:
            self.asked = True
            await self.push_frame(_BargeIn(), FrameDirection.UPSTREAM)


class _UserSide(FrameProcessor):
    """Upstream of the TTS, where a user's barge-in comes from in a real pipeline: on the
    watcher's request it broadcasts the interruption (which then flows down through the TTS
    like a user turn's would), sends the next reply and lets the test's EndFrame (held until
    then) follow it. No sleeps: the order of frames decides."""

    def __init__(self, frames: list[Frame]) -> None:
        super().__init__()
        self.frames = frames
        self.interrupted = False
        self._released = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, _BargeIn):
            self.interrupted = True
            await self.broadcast_interruption()
            for f in self.frames:
                await self.push_frame(f)
            self._released.set()
            return
        if isinstance(frame, EndFrame):
            # A bound, not a timing assumption: the barge-in comes at the first audio.
            await asyncio.wait_for(self._released.wait(), timeout=30)
        await self.push_frame(frame, direction)


@pytest.fixture
def cleared(monkeypatch: pytest.MonkeyPatch) -> list[TTSSession]:
    """The sessions that were sent ``input_text_buffer.clear``."""
    sessions: list[TTSSession] = []
    original = TTSSession.clear

    async def clear(self: TTSSession) -> None:
        sessions.append(self)
        await original(self)

    monkeypatch.setattr(TTSSession, "clear", clear)
    return sessions


LONG = (
    "This first reply is long on purpose, so that it is still being spoken when the "
    "listener interrupts. It goes on for a while. And on. And on, sentence after sentence, "
    "so the server has plenty left to say. "
)


async def test_interruption_mid_reply_clears_and_the_next_reply_uses_a_new_connection(
    cleared: list[TTSSession],
) -> None:
    # The first connection stalls after two audio deltas: the only way the second reply can
    # be heard is on a new connection, and nothing more of the first reply can arrive.
    faults = Faults(stall_after_deltas=2, connections=1)
    async with emulator(faults=faults) as emu:
        tts = service(emu)
        watcher = _BargeInOnFirstAudio()
        user = _UserSide([*reply("Second reply. ", "All of it.")])
        down, up = await run_test(
            Pipeline([user, tts, watcher]),
            frames_to_send=reply(LONG * 3),
        )
    assert watcher.asked and user.interrupted
    # The interrupted reply's session was cleared and dropped.
    assert len(cleared) == 1 and cleared[0].state is SessionState.CLOSED
    assert emu.connections == 2
    assert not of(up, ErrorFrame)
    cut = next(i for i, f in enumerate(down) if isinstance(f, InterruptionFrame))
    before = [f for f in down[:cut] if isinstance(f, TTSAudioRawFrame)]
    after = [f for f in down[cut:] if isinstance(f, TTSAudioRawFrame)]
    assert before and after
    old = {f.context_id for f in before}
    assert len(old) == 1
    # No audio of the interrupted reply after the interruption: all of it is the new reply's.
    assert not [f for f in after if f.context_id in old]
    new = {f.context_id for f in after}
    assert len(new) == 1
    # None of the interrupted reply's words was reported as spoken (none of its responses
    # finished playing); every word of the new reply was.
    assert spoken_words(down, set(old)) == ""
    assert spoken_words(down, set(new)) == "Second reply. All of it."


async def test_interruption_with_a_flowing_server_leaks_no_stale_audio(
    cleared: list[TTSSession],
) -> None:
    # No stall: the old reply's audio keeps coming, paced in real time (its many seconds
    # cannot all arrive before the barge-in), until the connection is dropped.
    async with emulator(latency=LatencyModel(rtf=1.0)) as emu:
        tts = service(emu)
        watcher = _BargeInOnFirstAudio()
        user = _UserSide(reply("Short answer."))
        down, _ = await run_test(
            Pipeline([user, tts, watcher]),
            frames_to_send=reply(*((LONG * 3).split(" "))),
        )
    cut = next(i for i, f in enumerate(down) if isinstance(f, InterruptionFrame))
    old = {f.context_id for f in down[:cut] if isinstance(f, TTSAudioRawFrame)}
    after = [f for f in down[cut:] if isinstance(f, TTSAudioRawFrame)]
    assert old and after
    assert not [f for f in after if f.context_id in old]
    assert emu.connections == 2
    assert len(cleared) == 1 and cleared[0].state is SessionState.CLOSED


async def test_server_error_becomes_an_error_frame() -> None:
    faults = Faults(error_after_deltas=1, error_code="internal_error")
    async with emulator(faults=faults) as emu:
        tts = service(emu)
        _, up = await run_test(tts, frames_to_send=reply("Hello there. This will fail."))
    errors = of(up, ErrorFrame)
    assert len(errors) == 1
    assert isinstance(errors[0], ErrorFrame)
    assert "Qwen-TTS" in errors[0].error and "injected fault" in errors[0].error


async def test_refused_key_becomes_an_error_frame() -> None:
    async with emulator(api_key="right") as emu:
        tts = service(emu, api_key="wrong")
        down, up = await run_test(tts, frames_to_send=reply("Hello there."))
    errors = of(up, ErrorFrame)
    assert len(errors) == 1 and isinstance(errors[0], ErrorFrame)
    assert "refused the API key" in errors[0].error
    assert not of(down, TTSAudioRawFrame)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """What bridge's client was asked to send: (method, argument)."""
    calls: list[tuple[str, object]] = []
    for name in ("append", "commit", "update"):
        original = getattr(TTSSession, name)

        def spy(original: Any = original, name: str = name) -> Any:
            async def call(self: TTSSession, *args: Any) -> Any:
                calls.append((name, args[0] if args else None))
                return await original(self, *args)

            return call

        monkeypatch.setattr(TTSSession, name, spy())
    return calls


async def test_first_segment_is_committed_at_once(sent: list[tuple[str, object]]) -> None:
    async with emulator() as emu:
        tts = service(emu)
        await run_test(tts, frames_to_send=reply("Well, this is it, ok. ", "Then more."))
    texts = [(name, arg) for name, arg in sent if name != "update"]
    assert texts[:2] == [("append", "Well, this is it, "), ("commit", None)]
    assert [name for name, _ in texts].count("commit") == 1


async def test_settings_update_changes_voice_and_language_of_the_next_reply(
    sent: list[tuple[str, object]],
) -> None:
    async with emulator() as emu:
        tts = service(emu, voice="Cherry", language=Language.EN_US)
        assert tts._session_config(24000).language_type == "English"
        update = TTSUpdateSettingsFrame(delta=TTSSettings(voice="Ethan", language=Language.ZH))
        down, up = await run_test(tts, frames_to_send=[update, *reply("你好，今天怎么样？")])
        config = tts._session_config(24000)
    assert not of(up, ErrorFrame)
    assert config.voice == "Ethan" and config.language_type == "Chinese"
    # ... and that is what the reply's session was configured with.
    updates = [arg for name, arg in sent if name == "update"]
    assert [(c.voice, c.language_type) for c in updates if isinstance(c, SessionConfig)] == [
        ("Ethan", "Chinese")
    ]
    assert of(down, TTSAudioRawFrame)


async def test_pipeline_sample_rate_is_requested_or_resampled() -> None:
    async with emulator() as emu:
        tts = QwenTTSService(url=emu.url, timeouts=FAST, sample_rate=16000)
        down, _ = await run_test(tts, frames_to_send=reply("Hello there, at sixteen kilohertz."))
        odd = QwenTTSService(url=emu.url, timeouts=FAST, sample_rate=22050)
        down2, _ = await run_test(odd, frames_to_send=reply("Hello there, resampled."))
    # 16 kHz is asked of Qwen-TTS; 22.05 kHz is not offered, so 24 kHz is resampled.
    assert tts._qwen_rate() == 16000 and odd._qwen_rate() == 24000
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert audio and {f.sample_rate for f in audio} == {16000}
    audio2 = [f for f in down2 if isinstance(f, TTSAudioRawFrame)]
    assert audio2 and {f.sample_rate for f in audio2} == {22050}


def test_bad_settings_fail_at_construction_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"speech_rate"):
        QwenTTSService(
            url="ws://127.0.0.1:9/x",
            session=SessionConfig(speech_rate=9.0),
        )


def test_language_mapping() -> None:
    assert qwen_language(Language.EN_GB) == "English"
    assert qwen_language(Language.ZH) == "Chinese"
    assert qwen_language("ja-JP") == "Japanese"
    assert qwen_language(Language.SW) is None


async def test_aggregator_uses_bridge_segmenter() -> None:
    agg = BridgeTextAggregator()
    out = [a.text async for a in agg.aggregate("Well, this is *it*, ok. Then more")]
    assert out == ["Well, this is it,"]
    rest = await agg.flush()
    assert rest is not None and rest.text == "ok. Then more"


async def test_stalled_server_becomes_a_timeout_error_frame() -> None:
    stall = Timeouts(connect=5, update=5, first_audio=5, stall=0.5, idle=5, close=1)
    async with emulator(faults=Faults(stall_after_deltas=1)) as emu:
        tts = QwenTTSService(url=emu.url, timeouts=stall, sample_rate=24000)
        _, up = await run_test(tts, frames_to_send=reply("Hello there, this goes quiet."))
    errors = [f for f in of(up, ErrorFrame) if isinstance(f, ErrorFrame)]
    assert len(errors) == 1 and "sent nothing for 0.5 s" in errors[0].error
    assert isinstance(errors[0].exception, TTSTimeoutError)


async def test_connection_dropped_mid_reply_becomes_an_error_frame() -> None:
    async with emulator(faults=Faults(close_after_deltas=1)) as emu:
        tts = service(emu)
        _, up = await run_test(tts, frames_to_send=reply("Hello there, this breaks off."))
    errors = [f for f in of(up, ErrorFrame) if isinstance(f, ErrorFrame)]
    assert len(errors) == 1 and isinstance(errors[0].exception, TTSClosedError)
    assert "connection closed" in errors[0].error
