"""A LiveKit Agents TTS for Qwen-TTS Realtime, built on bridge's client and segmenter.

Install with the ``livekit`` extra (``pip install 'bridge[livekit]'``)::

    from livekit.agents import Agent, AgentSession
    from bridge.integrations.livekit import QwenTTS

    session = AgentSession(stt=..., llm=..., tts=QwenTTS(voice="Cherry", language="en"))

How it speaks a reply (one ``SynthesizeStream`` = one agent reply = one Qwen-TTS session):

- the stream opens its Qwen-TTS connection (``server_commit`` mode) as soon as it is
  created, while the LLM is still thinking;
- the text the agent pushes is scrubbed (markdown, emoji, code) and cut by bridge's
  ``Scrubber`` and ``Segmenter`` (first clause early, then whole sentences), not by a
  LiveKit tokenizer; a model that stalls mid-sentence gets its text cut after
  ``stall_timeout`` seconds;
- the first segment is committed at once, so synthesis starts without waiting for more
  text; the end of the input sends ``session.finish`` and the stream ends at
  ``session.finished``;
- an interruption (the agent closes the stream) sends ``input_text_buffer.clear`` and drops
  the connection; the next reply is a new stream on a new connection, so no audio of the old
  reply can reach it;
- ``synthesize(text)`` speaks one text the same way (a ``ChunkedStream``);
- word timing: Qwen-TTS sends none, so each finished response's words are placed in its
  audio by their estimated speaking length and pushed as LiveKit TimedStrings after it
  (``aligned_transcript``; ``AgentSession(use_tts_aligned_transcript=True)`` uses them);
- bridge's errors become LiveKit's: a refused key ``APIStatusError`` (401/403, not retried),
  timeouts ``APITimeoutError``, broken connections ``APIConnectionError``, server ``error``
  events ``APIError`` (retried by LiveKit only when no audio was delivered yet);
- any sample rate from 8 to 48 kHz: asked of Qwen-TTS when it offers it (8, 16, 24, 48 kHz),
  else resampled from the next offered rate above it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

import anyio
import structlog
from anyio.streams.memory import MemoryObjectSendStream
from livekit import rtc
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
    LanguageCode,
    tts,
    utils,
)
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
from livekit.agents.utils import aio
from livekit.agents.voice.io import TimedString

from bridge.core.errors import (
    BridgeError,
    ConfigError,
    TTSAuthError,
    TTSConnectionError,
    TTSServerError,
    TTSTimeoutError,
)
from bridge.integrations._common import (
    for_tts,
    next_owed_event,
    qwen_language,
    qwen_rate,
)
from bridge.integrations._words import ReplyTiming
from bridge.qwen import DEFAULT_MODEL, DEFAULT_VOICE, SessionConfig, Timeouts, TTSSession, connect
from bridge.qwen.events import ResponseAudioDelta, ResponseCreated, ResponseDone, SessionFinished
from bridge.qwen.regions import DEFAULT_REGION
from bridge.text import Scrubber, ScrubberOptions, Segment, Segmenter, SegmenterOptions

__all__ = ["ChunkedStream", "QwenTTS", "QwenTTSOptions", "SynthesizeStream", "api_error"]

log = structlog.get_logger("bridge.livekit")

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 48000


def api_error(exc: BridgeError) -> APIError:
    """LiveKit's error type for one of bridge's (the message carries no secret); raise it
    ``from`` the bridge error."""
    message = f"Qwen-TTS: {exc}"
    if isinstance(exc, TTSAuthError):
        return APIStatusError(message, status_code=exc.status or 401, retryable=False)
    # LiveKit's connection errors name their cause (``raise ... from exc``) in str().
    if isinstance(exc, TTSTimeoutError):
        return APITimeoutError("Qwen-TTS timed out")
    if isinstance(exc, TTSConnectionError):
        return APIConnectionError("Qwen-TTS connection failed")
    if isinstance(exc, TTSServerError):
        # Qwen's realtime APIs: an invalid request stays invalid; a server error may pass.
        invalid = exc.error_type == "invalid_request_error" or exc.code.startswith("invalid")
        body = {"code": exc.code, "param": exc.param, "type": exc.error_type}
        return APIError(message, body=body, retryable=not invalid)
    return APIError(message, retryable=False)


def _language(language: str | None) -> str | None:
    """Qwen's ``language_type`` for a LiveKit language (``en``, ``en-US``, ``english``) or a
    Qwen name (``English``, ``Auto``); ``None`` for the server's default."""
    if language is None:
        return None
    named = qwen_language(language)
    if named is None:
        with suppress(ValueError):
            named = qwen_language(LanguageCode(language).language)
    if named is None:
        raise ConfigError(
            f"Qwen-TTS does not speak language {language!r}: use a code such as en, zh, ja, "
            "de, fr, es, it, pt, ko, ru, or Auto",
            field="language",
        )
    return named


@dataclass(frozen=True, slots=True, kw_only=True)
class QwenTTSOptions:
    """Everything one reply is spoken with (``QwenTTS.options``; a snapshot: each stream
    keeps the one of its start, ``update_options`` makes a new one)."""

    model: str
    voice: str
    language: str | None
    sample_rate: int
    session: SessionConfig
    segmenter: SegmenterOptions
    scrubber: ScrubberOptions
    commit_first: bool
    stall_timeout: float
    clear_timeout: float

    @property
    def qwen_rate(self) -> int:
        return qwen_rate(self.sample_rate, self.model)

    def config(self) -> SessionConfig:
        changes: dict[str, Any] = {"sample_rate": self.qwen_rate, "voice": self.voice}
        if self.language is not None:
            changes["language_type"] = self.language
        return self.session.with_changes(**changes)

    def validated(self) -> QwenTTSOptions:
        rate = self.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, int):
            raise ConfigError(f"sample_rate must be an integer, not {rate!r}", field="sample_rate")
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise ConfigError(
                f"sample_rate {rate} is out of range: use {MIN_SAMPLE_RATE} to "
                f"{MAX_SAMPLE_RATE} Hz",
                field="sample_rate",
            )
        if not (self.stall_timeout > 0 and math.isfinite(self.stall_timeout)):
            raise ConfigError("stall_timeout must be a positive number of seconds")
        self.config().validate(self.model)  # voice, model and parameters, before any stream
        return self


class QwenTTS(tts.TTS[Any]):
    """LiveKit Agents TTS for Qwen-TTS Realtime (DashScope, or bridge's local emulator).

    ``url`` overrides ``region`` (e.g. the emulator's ``ws://127.0.0.1:PORT/api-ws/v1/realtime``).
    ``session`` carries further Qwen-TTS parameters (speech rate, volume, instructions, ...);
    voice, language, model and the sample rate are this TTS's own options. Bad options raise
    ``bridge.ConfigError`` (a ``ValueError``) here, before any connection.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        url: str | None = None,
        region: str = DEFAULT_REGION,
        workspace: str | None = None,
        model: str = DEFAULT_MODEL,
        voice: str = DEFAULT_VOICE,
        language: str | None = None,
        sample_rate: int = 24000,
        session: SessionConfig | None = None,
        segmenter: SegmenterOptions | None = None,
        scrubber: ScrubberOptions | None = None,
        commit_first: bool = True,
        stall_timeout: float = 1.2,
        clear_timeout: float = 0.5,
        timeouts: Timeouts | None = None,
    ) -> None:
        opts = QwenTTSOptions(
            model=model,
            voice=voice,
            language=_language(language),
            sample_rate=sample_rate,
            session=(session or SessionConfig()).with_changes(
                mode="server_commit", response_format="pcm"
            ),
            segmenter=segmenter or SegmenterOptions(),
            scrubber=scrubber or ScrubberOptions(),
            commit_first=commit_first,
            stall_timeout=stall_timeout,
            clear_timeout=clear_timeout,
        ).validated()
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=True, aligned_transcript=True),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self._opts = opts
        self._api_key = api_key
        self._url = url
        self._region = region
        self._workspace = workspace
        self._timeouts = timeouts or Timeouts()

    @property
    def model(self) -> str:
        return self._opts.model

    @property
    def provider(self) -> str:
        return "qwen-tts-realtime"

    @property
    def options(self) -> QwenTTSOptions:
        return self._opts

    def update_options(
        self,
        *,
        voice: str | None = None,
        language: str | None = None,
        model: str | None = None,
        session: SessionConfig | None = None,
    ) -> None:
        """Change voice, language, model or Qwen-TTS parameters for the replies that start
        from now on (a reply being spoken keeps its own). Checked at once (``ConfigError``)."""
        changes: dict[str, Any] = {}
        if voice is not None:
            changes["voice"] = voice
        if language is not None:
            changes["language"] = _language(language)
        if model is not None:
            changes["model"] = model
        if session is not None:
            changes["session"] = session.with_changes(mode="server_commit", response_format="pcm")
        self._opts = replace(self._opts, **changes).validated()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> ChunkedStream:
        return ChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> SynthesizeStream:
        return SynthesizeStream(tts=self, conn_options=conn_options)

    @asynccontextmanager
    async def _session(
        self, opts: QwenTTSOptions, conn: APIConnectOptions
    ) -> AsyncIterator[TTSSession]:
        timeouts = replace(self._timeouts, connect=conn.timeout)
        async with connect(
            url=self._url,
            region=self._region,
            model=opts.model,
            api_key=self._api_key,
            workspace=self._workspace,
            config=opts.config(),
            timeouts=timeouts,
        ) as session:
            yield session


class _Resampler:
    """Qwen's rate -> the TTS's rate with LiveKit's resampler (whole samples only)."""

    def __init__(self, source: int, target: int) -> None:
        self._rtc = rtc.AudioResampler(source, target, num_channels=1) if source != target else None
        self._carry = b""

    def push(self, pcm: bytes) -> list[bytes]:
        if self._rtc is None:
            return [pcm]
        pcm, self._carry = self._carry + pcm, b""
        if len(pcm) % 2:
            pcm, self._carry = pcm[:-1], pcm[-1:]
        if not pcm:
            return []
        return [f.data.tobytes() for f in self._rtc.push(bytearray(pcm))]

    def flush(self) -> list[bytes]:
        if self._rtc is None:
            return []
        return [f.data.tobytes() for f in self._rtc.flush()]


async def _speak(
    session: TTSSession,
    opts: QwenTTSOptions,
    produce: Callable[[MemoryObjectSendStream[str]], Coroutine[Any, Any, None]],
    emitter: tts.AudioEmitter,
    on_first_text: Callable[[], None],
) -> None:
    """Append each segment ``produce`` sends to ``session``, finish at the end of the input,
    push the audio up to ``session.finished`` to ``emitter``, and with it each finished
    response's words, timed (``TimedString``s, seconds from the reply's first audio).
    Cancelled (an interruption): clear the server's buffer and drop the connection, without
    a closing handshake behind audio nobody will read. Raises the first of bridge's errors
    (a later one is a symptom)."""
    commits: set[str] = set()
    out, segments = anyio.create_memory_object_stream[str](math.inf)
    resampler = _Resampler(opts.qwen_rate, opts.sample_rate)
    timing = ReplyTiming(opts.qwen_rate)
    failure: list[BridgeError] = []

    async def send() -> None:
        first = True
        async with segments:
            async for text in segments:
                timing.appended(text)
                await session.append(for_tts(text))
                if first:
                    on_first_text()
                    if opts.commit_first:
                        commits.add(await session.commit())
                    first = False
        await session.send_finish()

    async def receive() -> None:
        while True:
            event = await next_owed_event(session, commits)
            if event is None:
                continue
            if isinstance(event, ResponseCreated):
                timing.response_started(event.response_id)
            elif isinstance(event, ResponseAudioDelta) and event.audio:
                timing.audio(event.response_id, event.audio)
                for pcm in resampler.push(event.audio):
                    emitter.push(pcm)
            elif isinstance(event, ResponseDone):
                words = timing.response_done(event.response_id, event.usage.characters)
                emitter.push_timed_transcript(
                    [
                        TimedString(word, start_time=start, end_time=end)
                        for word, start, end in words
                    ]
                )
            elif isinstance(event, SessionFinished):
                for pcm in resampler.flush():
                    emitter.push(pcm)
                return

    try:
        async with anyio.create_task_group() as tg:

            async def guarded(job: Callable[[], Awaitable[None]]) -> None:
                try:
                    await job()
                except BridgeError as exc:
                    failure.append(exc)  # the first failure is the cause, later ones symptoms
                    tg.cancel_scope.cancel()

            tg.start_soon(produce, out)
            tg.start_soon(guarded, send)
            await guarded(receive)
            tg.cancel_scope.cancel()
    except anyio.get_cancelled_exc_class():
        with anyio.move_on_after(opts.clear_timeout, shield=True), suppress(BridgeError):
            await session.clear()
        session.abort()
        raise
    if failure:
        raise failure[0]


class _Text:
    """bridge's scrubber and segmenter for one reply; ``pending`` says whether text waits
    past the last segment (what the stall timer cuts)."""

    def __init__(self, opts: QwenTTSOptions) -> None:
        self._scrubber = Scrubber(opts.scrubber)
        self._segmenter = Segmenter(opts.segmenter)
        self._fed = 0
        self._tail = ""  # text fed since the end of the last segment

    @property
    def pending(self) -> bool:
        return bool(self._tail.strip())

    def _out(self, segments: list[Segment]) -> list[str]:
        if segments:
            keep = self._fed - segments[-1].end
            self._tail = self._tail[len(self._tail) - keep :] if keep > 0 else ""
        return [s.text.strip() for s in segments if s.text.strip()]

    def feed(self, delta: str) -> list[str]:
        clean = self._scrubber.feed(delta)
        self._fed += len(clean)
        self._tail += clean
        return self._out(self._segmenter.feed(clean))

    def cut(self) -> list[str]:
        return self._out(self._segmenter.cut())

    def flush(self) -> list[str]:
        rest = self._scrubber.flush()
        self._fed += len(rest)
        self._tail += rest
        out = self._out(self._segmenter.feed(rest))
        out += self._out(self._segmenter.flush())
        self._tail = ""
        return out


async def _run_speech(
    tts_: QwenTTS,
    opts: QwenTTSOptions,
    conn: APIConnectOptions,
    produce: Callable[[MemoryObjectSendStream[str]], Coroutine[Any, Any, None]],
    emitter: tts.AudioEmitter,
    on_first_text: Callable[[], None],
) -> bool:
    """Connect, then speak what ``produce`` sends; bridge's errors become LiveKit's.
    Returns whether any text was spoken (``produce`` may find nothing speakable)."""
    spoke = False

    def first_text() -> None:
        nonlocal spoke
        spoke = True
        on_first_text()

    try:
        async with tts_._session(opts, conn) as session:
            await _speak(session, opts, produce, emitter, first_text)
    except BridgeError as exc:
        log.info("livekit.tts_error", error=type(exc).__name__)
        raise api_error(exc) from exc
    return spoke


def _silence(rate: int) -> bytes:
    """10 ms of silence: the answer to text with nothing speakable in it (only a code block,
    say, which the scrubber drops). LiveKit takes a request that pushed text and got no
    audio for a failure, and would retry it and report an error for a reply that is simply
    silent."""
    log.debug("livekit.nothing_speakable")
    return b"\0\0" * (rate // 100)


class ChunkedStream(tts.ChunkedStream):
    """``QwenTTS.synthesize(text)``: one text, segmented by bridge, over one session."""

    def __init__(self, *, tts: QwenTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._qwen = tts
        self._opts = tts.options

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        opts = self._opts
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=opts.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )

        async def produce(out: MemoryObjectSendStream[str]) -> None:
            text = _Text(opts)
            with out:
                for segment in text.feed(self._input_text) + text.flush():
                    await out.send(segment)

        spoke = await _run_speech(
            self._qwen, opts, self._conn_options, produce, output_emitter, lambda: None
        )
        if not spoke and self._input_text.strip():
            output_emitter.push(_silence(opts.sample_rate))
        # No flush(): LiveKit's emitter ends the request on its last frame (a flush first
        # would end it on 10 ms of added silence).


class SynthesizeStream(tts.SynthesizeStream):
    """``QwenTTS.stream()``: one agent reply, pushed as it is written, over one session."""

    def __init__(self, *, tts: QwenTTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self._qwen = tts
        self._opts = tts.options  # the options of the moment the reply starts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        opts = self._opts
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=opts.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
            stream=True,
        )
        output_emitter.start_segment(segment_id=utils.shortuuid())
        inputs = self._input_ch  # a retry gets a fresh channel with the input replayed

        async def produce(out: MemoryObjectSendStream[str]) -> None:
            text = _Text(opts)
            with out:
                while True:
                    wait = opts.stall_timeout if text.pending else math.inf
                    with anyio.move_on_after(wait) as scope:
                        try:
                            item = await inputs.recv()
                        except aio.ChanClosed:
                            break
                    if scope.cancelled_caught:
                        segments = text.cut()  # the model stalled mid-sentence
                    elif isinstance(item, str):
                        segments = text.feed(item)
                    else:
                        break  # flush(): the reply's text is complete (one reply per stream)
                    for segment in segments:
                        await out.send(segment)
                for segment in text.flush():
                    await out.send(segment)

        spoke = await _run_speech(
            self._qwen, opts, self._conn_options, produce, output_emitter, self._mark_started
        )
        if not spoke and self._pushed_text.strip():
            output_emitter.push(_silence(opts.sample_rate))
        output_emitter.end_segment()
