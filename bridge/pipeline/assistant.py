"""A spoken assistant: a conversation whose replies come from a chat model and are spoken.

``Assistant.reply(text, sink)`` adds the user's message, streams the model's reply through the
turn pipeline, and when the turn ends records in the conversation what the listener heard
(flagged as interrupted), or the whole reply with ``keep_full_text``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

import anyio

from bridge.adapters.llm import LLMClient
from bridge.adapters.sinks import AudioSink
from bridge.core.conversation import Conversation
from bridge.core.pace import VoicePace
from bridge.core.result import SegmentTiming, TurnResult
from bridge.pipeline import PipelineOptions, TTSTarget, Turn
from bridge.text import Segment

__all__ = ["Assistant"]


class Assistant:
    def __init__(
        self,
        *,
        llm: LLMClient,
        tts: TTSTarget,
        conversation: Conversation | None = None,
        options: PipelineOptions | None = None,
        pace: VoicePace | None = None,
    ) -> None:
        """``pace``: the voices' pace to start from and add to (shared, e.g. by all sessions
        of a server); by default this assistant's own."""
        self.llm = llm
        self.tts = tts
        self.conversation = conversation if conversation is not None else Conversation()
        self.options = options or PipelineOptions()
        self.pace = pace if pace is not None else VoicePace()  # learned over the turns
        self._last: Turn | None = None
        self._recorded = anyio.Event()  # the last turn's reply is recorded (unused until then)

    def reply(
        self,
        user_text: str,
        sink: AudioSink,
        *,
        on_segment: Callable[[Segment], None] | None = None,
        on_text: Callable[[str], None] | None = None,
        on_timing: Callable[[SegmentTiming], None] | None = None,
        traceparent: str | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> Turn:
        """A turn that answers ``user_text``; run it with ``await turn.run()``.
        ``traceparent``: the parent of its trace span (W3C Trace Context). ``on_sent`` is
        called once the model request is out (``LLMClient.stream``'s ``on_sent``), if the
        turn gets that far.

        A previous turn still running when this one starts is hurried (``Turn.hurry``), and
        this one waits for it to record its reply (what was heard, after a barge-in) before
        it adds ``user_text`` and sends the history to the model: the conversation keeps its
        order and the model sees the previous reply."""
        previous = self._last
        if previous is not None and previous.result is None:
            previous.hurry()
        before = self._recorded
        self._recorded = recorded = anyio.Event()  # this turn's reply is in the conversation
        sent = anyio.Event()  # the model request is out: the rest of the turn may start
        request_out = sent.set
        if on_sent is not None:

            def request_out() -> None:
                sent.set()
                on_sent()

        added = False

        async def after_previous() -> None:
            nonlocal added
            if previous is not None and previous.started and not before.is_set():
                await before.wait()  # set once its reply is recorded (it was hurried above)
            if not added:
                added = True
                self.conversation.add_user(user_text)

        async def text() -> AsyncIterator[str]:
            await after_previous()
            stream = self.llm.stream(self.conversation.messages(), on_sent=request_out)
            async with aclosing(stream):  # its HTTP response is closed with this source
                async for delta in stream:
                    yield delta

        async def record(result: TurnResult) -> None:
            try:
                await after_previous()  # the request never went out: the message still counts
                heard = result.spoken_text
                keep_all = self.options.keep_full_text or not (result.interrupted or result.error)
                self.conversation.add_assistant(
                    result.text if keep_all else heard, interrupted=result.interrupted
                )
            finally:
                recorded.set()

        self._last = turn = Turn(
            text(),
            sink,
            target=self.tts,
            options=self.options,
            on_segment=on_segment,
            on_result=record,
            on_text=on_text,
            on_timing=on_timing,
            request_text=user_text,
            traceparent=traceparent,
            pace=self.pace,
            request_sent=sent,
        )
        return turn

    async def say(self, user_text: str, sink: AudioSink) -> TurnResult:
        """Answer ``user_text`` and return the turn's result."""
        return await self.reply(user_text, sink).run()
