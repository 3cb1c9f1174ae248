"""A spoken assistant: a conversation whose replies come from a chat model and are spoken.

``Assistant.reply(text, sink)`` adds the user's message, streams the model's reply through the
turn pipeline, and when the turn ends records in the conversation what the listener heard
(flagged as interrupted), or the whole reply with ``keep_full_text``.
"""

from __future__ import annotations

from collections.abc import Callable

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
    ) -> None:
        self.llm = llm
        self.tts = tts
        self.conversation = conversation if conversation is not None else Conversation()
        self.options = options or PipelineOptions()
        self.pace = VoicePace()  # the voices' pace, learned over this assistant's turns
        self._last: Turn | None = None

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
        ``traceparent``: the parent of its trace span (W3C Trace Context). A previous turn
        still running is hurried (``Turn.hurry``): this one waits for its heard text.
        ``on_sent`` is called once the model request is out (``LLMClient.stream``'s
        ``on_sent``), if the turn gets that far."""
        if self._last is not None and self._last.result is None:
            self._last.hurry()
        self.conversation.add_user(user_text)
        messages = self.conversation.messages()
        sent = anyio.Event()  # the model request is out: the rest of the turn may start
        request_out = sent.set
        if on_sent is not None:

            def request_out() -> None:
                sent.set()
                on_sent()

        def record(result: TurnResult) -> None:
            heard = result.spoken_text
            keep_all = self.options.keep_full_text or not (result.interrupted or result.error)
            self.conversation.add_assistant(
                result.text if keep_all else heard, interrupted=result.interrupted
            )

        self._last = turn = Turn(
            self.llm.stream(messages, on_sent=request_out),
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
