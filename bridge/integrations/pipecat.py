"""A Pipecat TTS service for Qwen-TTS Realtime, built on bridge's client and segmenter.

Install with the ``pipecat`` extra (``pip install 'bridge[pipecat]'``)::

    from bridge.integrations.pipecat import QwenTTSService

    tts = QwenTTSService(api_key=os.environ["DASHSCOPE_API_KEY"], voice="Cherry")
    pipeline = Pipeline([transport.input(), stt, user_agg, llm, tts, transport.output(), ...])

How it speaks a reply (one Pipecat turn = one Qwen-TTS session):

- LLM text frames are scrubbed (markdown) and cut by bridge's ``Scrubber`` and ``Segmenter``
  (first clause early, then whole sentences), not by Pipecat's sentence aggregator;
- the first segment of a turn opens a Qwen-TTS connection (``server_commit`` mode) and is
  committed at once so synthesis starts without waiting for more text; the end of the reply
  sends ``session.finish`` and the turn ends at ``session.finished``;
- an interruption sends ``input_text_buffer.clear`` and drops that connection; the next
  reply opens a new one, so no audio of the old reply can reach it;
- TTFB is measured by Pipecat's metrics (first text handed over -> first audio frame);
- word timing: Qwen-TTS sends none, so when a response ends its words are placed in its audio
  by their estimated speaking length and handed to Pipecat as word timestamps; Pipecat then
  pushes each word's ``TTSTextFrame`` in step with the audio, and an interrupted reply's
  unspoken words are not reported as spoken;
- voice, language and model follow ``TTSUpdateSettingsFrame`` from the next reply on;
- bridge's typed errors (``TTSAuthError``, ``TTSTimeoutError``, ``TTSServerError``, ...)
  become Pipecat ``ErrorFrame``\\ s pushed upstream; the reply ends without more audio.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    TTSAudioRawFrame,
)
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.transcriptions.language import Language
from pipecat.utils.text.base_text_aggregator import Aggregation, BaseTextAggregator, TextType

from bridge.core.errors import BridgeError
from bridge.integrations import _common
from bridge.integrations._common import for_tts, next_owed_event
from bridge.integrations._words import ReplyTiming
from bridge.qwen import DEFAULT_MODEL, DEFAULT_VOICE, SessionConfig, Timeouts, TTSSession, connect
from bridge.qwen.events import ResponseAudioDelta, ResponseCreated, ResponseDone, SessionFinished
from bridge.text import Scrubber, ScrubberOptions, Segmenter, SegmenterOptions

__all__ = ["BridgeTextAggregator", "QwenTTSService", "qwen_language"]

log = structlog.get_logger("bridge.pipecat")


def qwen_language(language: Language | str) -> str | None:
    """Qwen-TTS's ``language_type`` for a Pipecat language (``Language.EN_US`` -> ``English``),
    or ``None`` when Qwen-TTS does not list it."""
    code = str(language.value if isinstance(language, Language) else language)
    return _common.qwen_language(code)


class BridgeTextAggregator(BaseTextAggregator):
    """Pipecat's text-aggregator interface over bridge's ``Scrubber`` and ``Segmenter``.

    Each ``aggregate`` call feeds one LLM delta and yields the segments it completed; the first
    segment of a reply may end at a clause (bridge's first-clause rule), later ones at
    sentence ends. ``flush`` returns the rest of the reply as one aggregation.
    """

    def __init__(
        self,
        *,
        segmenter: SegmenterOptions | None = None,
        scrubber: ScrubberOptions | None = None,
    ) -> None:
        super().__init__(aggregation_type=TextType.SENTENCE)
        self._segmenter_options = segmenter or SegmenterOptions()
        self._scrubber_options = scrubber or ScrubberOptions()
        self._new()

    def _new(self) -> None:
        self._scrubber = Scrubber(
            code_placeholder=self._scrubber_options.code_placeholder,
            tables=self._scrubber_options.tables,
        )
        self._segmenter = Segmenter(self._segmenter_options)
        self._pending = ""  # scrubbed text fed since the end of the last segment

    @property
    def text(self) -> Aggregation:
        return Aggregation(text=self._pending, type=TextType.SENTENCE)

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        scrubbed = self._scrubber.feed(text)
        self._pending += scrubbed
        for segment in self._segmenter.feed(scrubbed):
            self._pending = ""
            if segment.text.strip():
                yield Aggregation(text=segment.text.strip(), type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        rest = self._segmenter.feed(self._scrubber.flush()) + self._segmenter.flush()
        self._new()
        text = " ".join(s.text.strip() for s in rest if s.text.strip())
        return Aggregation(text=text, type=TextType.SENTENCE) if text else None

    async def handle_interruption(self) -> None:
        self._new()

    async def reset(self) -> None:
        self._new()


@dataclass(eq=False)
class _Reply:
    """One Pipecat audio context being spoken over its own Qwen-TTS session."""

    context_id: str
    send: MemoryObjectSendStream[str]
    receive: MemoryObjectReceiveStream[str]
    task: asyncio.Task[None] | None = None
    commit_ids: set[str] = field(default_factory=set)
    timing: ReplyTiming | None = None  # word timing, at the session's sample rate


class QwenTTSService(TTSService):
    """Pipecat TTS service for Qwen-TTS Realtime (DashScope, or bridge's local emulator).

    ``url`` overrides ``region`` (e.g. the emulator's ``ws://127.0.0.1:PORT/api-ws/v1/realtime``).
    ``session`` carries further Qwen-TTS parameters (speech rate, instructions, ...); voice,
    language, model and the sample rate come from this service's settings and the pipeline.
    The pipeline's output sample rate is requested from Qwen-TTS when it offers it
    (8, 16, 24 or 48 kHz); other rates are resampled from the next offered rate above them.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        url: str | None = None,
        region: str = "beijing",
        workspace: str | None = None,
        model: str = DEFAULT_MODEL,
        voice: str = DEFAULT_VOICE,
        language: Language | str | None = None,
        sample_rate: int | None = None,
        session: SessionConfig | None = None,
        segmenter: SegmenterOptions | None = None,
        scrubber: ScrubberOptions | None = None,
        commit_first: bool = True,
        timeouts: Timeouts | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            push_text_frames=False,  # spoken text comes as word timestamps, with the audio
            sample_rate=sample_rate,
            settings=TTSSettings(model=model, voice=voice, language=language),
            **kwargs,
        )
        # Pipecat's own services swap the aggregator the same way (Cartesia, Rime); the base
        # class only uses the BaseTextAggregator interface.
        self._text_aggregator = BridgeTextAggregator(  # type: ignore[assignment]
            segmenter=segmenter, scrubber=scrubber
        )
        self._api_key = api_key
        self._url = url
        self._region = region
        self._workspace = workspace
        self._base_config = (session or SessionConfig()).with_changes(
            mode="server_commit", response_format="pcm"
        )
        self._commit_first = commit_first
        self._timeouts = timeouts or Timeouts()
        self._replies: dict[str, _Reply] = {}
        # Bad voice, model or parameters fail here, before the pipeline runs.
        self._session_config(24000).validate(model)

    def can_generate_metrics(self) -> bool:
        return True

    def language_to_service_language(self, language: Language) -> str | None:
        return qwen_language(language)

    # --- configuration --------------------------------------------------------------------

    def _qwen_rate(self) -> int:
        return _common.qwen_rate(self.sample_rate, self._model())

    def _session_config(self, rate: int) -> SessionConfig:
        settings = self._settings
        changes: dict[str, Any] = {"sample_rate": rate}
        if isinstance(settings.voice, str) and settings.voice:
            changes["voice"] = settings.voice
        if isinstance(settings.language, str) and settings.language:
            changes["language_type"] = settings.language
        return self._base_config.with_changes(**changes)

    def _model(self) -> str:
        model = self._settings.model
        return model if isinstance(model, str) and model else DEFAULT_MODEL

    # --- Pipecat's subclass interface -----------------------------------------------------

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Hand one segment to the context's Qwen-TTS session (opened by its first segment);
        the audio arrives on that session's receiving task."""
        reply = self._replies.get(context_id)
        if reply is None:
            reply = self._open_reply(context_id)
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            reply.send.send_nowait(text)
        yield None

    async def flush_audio(self, context_id: str | None = None) -> None:
        """The reply's text is complete: the session is told to finish."""
        reply = self._replies.get(context_id) if context_id else None
        if reply is not None:
            reply.send.close()

    async def on_audio_context_interrupted(self, context_id: str) -> None:
        """Barge-in: clear the server's buffer and drop the reply's connection."""
        await self._drop(context_id)

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)  # plays out what is queued first
        await self._drop_all()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._drop_all()

    async def cleanup(self) -> None:
        await super().cleanup()  # type: ignore[no-untyped-call]
        await self._drop_all()

    # --- one reply = one session ----------------------------------------------------------

    def _open_reply(self, context_id: str) -> _Reply:
        send, receive = anyio.create_memory_object_stream[str](math.inf)
        reply = _Reply(context_id=context_id, send=send, receive=receive)
        self._replies[context_id] = reply
        reply.task = self.create_task(self._speak(reply), name=f"qwen-tts-{context_id}")
        return reply

    async def _drop(self, context_id: str) -> None:
        reply = self._replies.pop(context_id, None)
        if reply is None:
            return
        reply.send.close()
        if reply.task is not None and not reply.task.done():
            await self.cancel_task(reply.task)

    async def _drop_all(self) -> None:
        for context_id in list(self._replies):
            await self._drop(context_id)

    async def _speak(self, reply: _Reply) -> None:
        rate = self._qwen_rate()
        reply.timing = ReplyTiming(rate)
        try:
            config = self._session_config(rate)
            async with connect(
                url=self._url,
                region=self._region,
                model=self._model(),
                api_key=self._api_key,
                workspace=self._workspace,
                config=config,
                timeouts=self._timeouts,
            ) as tts:
                failure: list[BridgeError] = []
                try:
                    async with anyio.create_task_group() as tg:

                        async def guarded(job: Callable[[], Awaitable[None]]) -> None:
                            try:
                                await job()
                            except BridgeError as exc:
                                # The first failure is the cause (a later one is a symptom).
                                failure.append(exc)
                                tg.cancel_scope.cancel()

                        tg.start_soon(guarded, partial(self._send_texts, tts, reply))
                        await guarded(partial(self._receive_audio, tts, reply, rate))
                        tg.cancel_scope.cancel()
                except anyio.get_cancelled_exc_class():
                    # Interrupted: drop the server's buffer, then the connection itself,
                    # without a closing handshake behind audio nobody will read.
                    with anyio.move_on_after(0.5, shield=True), suppress(BridgeError):
                        await tts.clear()
                    tts.abort()
                    raise
                if failure:
                    raise failure[0]
        except BridgeError as exc:
            log.info("pipecat.tts_error", error=type(exc).__name__)
            await self.push_error(f"Qwen-TTS: {exc}", exception=exc)
        finally:
            if self._replies.get(reply.context_id) is reply:
                del self._replies[reply.context_id]
            if self.audio_context_available(reply.context_id):
                await self.remove_audio_context(reply.context_id)

    async def _send_texts(self, tts: TTSSession, reply: _Reply) -> None:
        first = True
        async for segment in reply.receive:
            text = for_tts(segment)
            if not text:
                continue
            if reply.timing is not None:
                reply.timing.appended(text)
            await tts.append(text)
            if first and self._commit_first:
                reply.commit_ids.add(await tts.commit())
            first = False
        await tts.send_finish()

    async def _receive_audio(self, tts: TTSSession, reply: _Reply, rate: int) -> None:
        timing = reply.timing or ReplyTiming(rate)
        while True:
            event = await next_owed_event(tts, reply.commit_ids)
            if event is None:
                continue
            if isinstance(event, ResponseCreated):
                timing.response_started(event.response_id)
            elif isinstance(event, ResponseDone):
                await self._time_words(reply, timing, event)
            elif isinstance(event, ResponseAudioDelta) and event.audio:
                audio = event.audio
                timing.audio(event.response_id, audio)
                if rate != self.sample_rate:
                    audio = await self._resampler.resample(audio, rate, self.sample_rate)
                frame = TTSAudioRawFrame(
                    audio=audio,
                    sample_rate=self.sample_rate,
                    num_channels=1,
                    context_id=reply.context_id,
                )
                await self.append_to_audio_context(reply.context_id, frame)
            elif isinstance(event, SessionFinished):
                return

    async def _time_words(self, reply: _Reply, timing: ReplyTiming, done: ResponseDone) -> None:
        """A response ended: its words, placed in its audio, become Pipecat word timestamps
        (seconds from the reply's first audio, as Pipecat counts them)."""
        words = timing.response_done(done.response_id, done.usage.characters)
        if words:
            await self.add_word_timestamps(
                [(word, start) for word, start, _ in words],
                reply.context_id,
                includes_inter_frame_spaces=True,
            )
