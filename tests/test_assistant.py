"""The assistant end to end: real openai SDK → fake endpoint; emulator; spoken history."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import structlog.testing

from bridge.adapters.llm import LLMClient, LLMConfig
from bridge.adapters.sinks import NullSink
from bridge.core.conversation import Conversation
from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
from bridge.pipeline import PipelineOptions, TTSTarget
from bridge.pipeline.assistant import Assistant
from bridge.qwen import Timeouts
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

pytestmark = pytest.mark.anyio

ANSWER = (
    "<think>The user wants a plan.</think>Sure. First, we check the weather report. "
    "Then we pack a small bag with water. After that we walk to the lake. "
    "We rest there for an hour. Finally we walk home before dark."
)
FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)


async def test_reply_streams_speaks_and_records_history() -> None:
    reply = FakeReply(tokens_for(ANSWER), delay=0.05, reasoning=["Let me think..."])
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, api_key="k", model="m")) as llm,
    ):
        assistant = Assistant(
            llm=llm,
            tts=TTSTarget(url=emu.url, timeouts=FAST),
            conversation=Conversation("Be brief."),
        )
        result = await assistant.say("Plan a walk for me.", NullSink())
    assert result.error is None
    assert "think" not in result.text and "Let me think" not in result.text
    assert result.first_audio_ms is not None and result.llm_done_ms is not None
    assert result.first_audio_ms < result.llm_done_ms  # speech began before the model finished
    msgs = assistant.conversation.messages()
    assert msgs[0] == {"role": "system", "content": "Be brief."}
    assert msgs[1] == {"role": "user", "content": "Plan a walk for me."}
    assert msgs[2]["role"] == "assistant" and msgs[2]["content"] == result.text
    assert fake.requests[0]["messages"][-1]["content"] == "Plan a walk for me."


async def test_interrupted_reply_records_only_what_was_heard() -> None:
    reply = FakeReply(tokens_for(ANSWER.split("</think>")[1]), delay=0.01)
    paced = LatencyModel(rtf=1.0, delta_ms=50)
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone", latency=paced)) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, api_key="k", model="m")) as llm,
    ):
        assistant = Assistant(llm=llm, tts=TTSTarget(url=emu.url, timeouts=FAST))
        sink = NullSink()
        turn = assistant.reply("Plan a walk.", sink)
        async with anyio.create_task_group() as tg:

            async def barge_in() -> None:
                while sink.samples_played < 24000 * 2:
                    await anyio.sleep(0.01)
                turn.interrupt()

            tg.start_soon(barge_in)
            result = await turn.run()
        second = await assistant.say("And then?", NullSink())
    assert result.interrupted
    assert result.spoken_text and result.spoken_text != result.text
    heard_turn = assistant.conversation.turns[1]
    assert heard_turn.interrupted and heard_turn.text == result.spoken_text
    # The model sees the heard prefix, marked as cut off, in the next request.
    sent = fake.requests[1]["messages"]
    assert sent[1]["content"] == result.spoken_text + " …"
    assert second.error is None


async def test_keep_full_text_option() -> None:
    reply = FakeReply(tokens_for("One sentence here. And another one there."), delay=0.0)
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone", latency=LatencyModel(rtf=1.0))) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, api_key="k", model="m")) as llm,
    ):
        assistant = Assistant(
            llm=llm,
            tts=TTSTarget(url=emu.url, timeouts=FAST),
            options=PipelineOptions(keep_full_text=True),
        )
        turn = assistant.reply("Hi", NullSink())
        with anyio.move_on_after(0.5):
            await turn.run()
    assert turn.result is not None and turn.result.interrupted
    assert assistant.conversation.turns[1].text == turn.result.text


async def test_model_failure_mid_reply_is_reported_and_spoken_so_far() -> None:
    reply = FakeReply(tokens_for("The first sentence arrives. Then the line drops"), fail_after=6)
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, api_key="k", model="m")) as llm,
    ):
        assistant = Assistant(llm=llm, tts=TTSTarget(url=emu.url, timeouts=FAST))
        result = await assistant.say("Go", NullSink())
    assert result.error is not None and result.error.type == "LLMConnectionError"
    assert result.text.startswith("The first sentence arrives.")
    assert result.audio_ms > 0


def test_a_new_reply_hurries_the_turn_still_running_and_no_other() -> None:
    class Model:
        def stream(self, messages: object, **options: object) -> object:
            return iter(())  # never run here

    assistant = Assistant(llm=Model(), tts=TTSTarget(url="ws://127.0.0.1:9"))  # type: ignore[arg-type]
    hurried: list[str] = []
    first = assistant.reply("One.", NullSink())
    first.hurry = lambda: hurried.append("first")  # type: ignore[method-assign]
    second = assistant.reply("Two.", NullSink())  # the first has no result yet: hurried
    assert hurried == ["first"]
    second.hurry = lambda: hurried.append("second")  # type: ignore[method-assign]
    second._result = object()  # type: ignore[assignment]  # as if it had ended
    assistant.reply("Three.", NullSink())
    assert hurried == ["first"]  # an ended turn is not hurried


async def test_a_reply_started_while_the_previous_plays_waits_for_its_heard_text() -> None:
    """Barge-in by a new reply while the previous turn settles: the new request carries the
    previous reply's heard text, and the history keeps user, assistant, user, assistant."""
    first = FakeReply(tokens_for(ANSWER.split("</think>")[1]), delay=0.01)
    second = FakeReply(tokens_for("Fine."), delay=0.0)
    paced = LatencyModel(rtf=1.0, delta_ms=50)
    async with (
        serve_fake_llm([first, second]) as fake,
        serve_emulator(EmulatorOptions(engine="tone", latency=paced)) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, api_key="k", model="m")) as llm,
    ):
        options = PipelineOptions(settle_timeout=2.0, settle_idle_timeout=5.0)
        assistant = Assistant(llm=llm, tts=TTSTarget(url=emu.url, timeouts=FAST), options=options)
        sink = NullSink()
        turn = assistant.reply("Plan a walk.", sink)
        results = []
        async with anyio.create_task_group() as tg:

            async def run_first() -> None:
                results.append(await turn.run())

            tg.start_soon(run_first)
            while sink.samples_played < 24000:
                await anyio.sleep(0.01)
            turn.interrupt()
            # The first turn is still settling (its result is not in yet) when the next starts.
            assert turn.result is None
            results.append(await assistant.say("Stop. Go on.", NullSink()))
    heard, answer = results
    assert heard.interrupted and heard.spoken_text
    roles = [(t.role, t.text) for t in assistant.conversation.turns]
    assert roles == [
        ("user", "Plan a walk."),
        ("assistant", heard.spoken_text),
        ("user", "Stop. Go on."),
        ("assistant", answer.text),
    ]
    sent = fake.requests[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == heard.spoken_text + " …"


async def test_a_reply_interrupted_before_its_request_still_keeps_the_order() -> None:
    """The next turn is stopped while it waits for the previous one: its message is still
    recorded, after the previous reply."""
    first = FakeReply(tokens_for("One sentence here. And another one there."), delay=0.01)
    paced = LatencyModel(rtf=1.0, delta_ms=50)
    async with (
        serve_fake_llm([first]) as fake,
        serve_emulator(EmulatorOptions(engine="tone", latency=paced)) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, api_key="k", model="m")) as llm,
    ):
        assistant = Assistant(llm=llm, tts=TTSTarget(url=emu.url, timeouts=FAST))
        sink = NullSink()
        turn = assistant.reply("Hi", sink)
        async with anyio.create_task_group() as tg:
            tg.start_soon(turn.run)
            while sink.samples_played == 0:
                await anyio.sleep(0.01)
            nxt = assistant.reply("Wait.", NullSink())
            nxt.interrupt()  # before its run: it never asks the model
            await nxt.run()
    assert len(fake.requests) == 1
    assert turn.result is not None and not turn.result.interrupted
    assert [(t.role, t.text) for t in assistant.conversation.turns] == [
        ("user", "Hi"),
        ("assistant", turn.result.text),
        ("user", "Wait."),
        ("assistant", ""),
    ]


async def test_the_speech_connection_opens_once_the_request_is_out_not_at_the_first_token() -> None:
    """The turn holds its segmenter and TTS connection until the model request is written
    (``LLMClient.stream``'s ``on_sent``): with a model slow to its first token, the speech
    connection is already open while no text has come."""
    reply = FakeReply(tokens_for("Hello there."), first_delay=1.5)
    texts: list[str] = []
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, api_key="k", model="m")) as llm,
    ):
        assistant = Assistant(llm=llm, tts=TTSTarget(url=emu.url, timeouts=FAST))
        turn = assistant.reply("Hi", NullSink(), on_text=texts.append)
        async with anyio.create_task_group() as tg:
            tg.start_soon(turn.run)
            with anyio.fail_after(10):
                while emu.connections == 0:
                    await anyio.sleep(0.01)
            assert texts == []  # connected before the first token
    assert turn.result is not None and turn.result.error is None
    assert "".join(texts) == "Hello there."


async def test_an_interrupted_reply_closes_the_models_stream_at_once() -> None:
    """The model's stream (an HTTP response) is closed by the time the interrupted turn's
    ``run()`` returns, not whenever it is garbage-collected (the model here keeps a
    reference to it, so only the turn can close it)."""
    closed = anyio.Event()
    streams: list[object] = []

    class Model:
        def stream(self, messages: object, **options: object) -> object:
            async def gen() -> Any:
                try:
                    yield "Hello there, this is a long"
                    await anyio.sleep_forever()
                finally:
                    closed.set()

            streams.append(made := gen())
            return made

    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        tts = TTSTarget(url=emu.url, timeouts=FAST)
        assistant = Assistant(llm=Model(), tts=tts)  # type: ignore[arg-type]
        turn = assistant.reply("Hi", NullSink())
        async with anyio.create_task_group() as tg:
            tg.start_soon(turn.run)
            await anyio.sleep(0.3)
            turn.interrupt()
        assert closed.is_set()
    assert turn.result is not None and turn.result.interrupted


async def test_the_turn_waits_for_the_request_to_be_out_before_it_connects_its_speech() -> None:
    """Until the text source says its request is out (``on_sent``), the turn opens no speech
    connection (its set-up would come between the request's bytes); then it does."""
    release = anyio.Event()

    class Model:
        def stream(self, messages: object, *, on_sent: Any = None) -> Any:
            async def gen() -> Any:
                await release.wait()
                on_sent()
                await anyio.sleep(0.3)  # the model's time to first token
                yield "Hello there."

            return gen()

    async with serve_emulator(EmulatorOptions(engine="tone")) as emu:
        assistant = Assistant(llm=Model(), tts=TTSTarget(url=emu.url, timeouts=FAST))  # type: ignore[arg-type]
        turn = assistant.reply("Hi", NullSink())
        async with anyio.create_task_group() as tg:
            tg.start_soon(turn.run)
            await anyio.sleep(0.3)
            assert emu.connections == 0  # the request is not out yet
            release.set()
            with anyio.fail_after(10):
                while emu.connections == 0:
                    await anyio.sleep(0.01)
    assert turn.result is not None and turn.result.text == "Hello there."


async def test_the_assistants_turns_learn_its_voice_pace_and_log_the_request_size() -> None:
    reply = FakeReply(tokens_for("One sentence here. And another one there."))
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, api_key="k", model="m")) as llm,
    ):
        tts = TTSTarget(url=emu.url, timeouts=FAST)
        assistant = Assistant(llm=llm, tts=tts)
        with structlog.testing.capture_logs() as logs:
            result = await assistant.say("Tell me two things.", NullSink())
    assert result.error is None and not result.interrupted
    assert assistant.pace.sums(tts.model, tts.config.voice).audio > 0
    line = next(e for e in logs if e["event"] == "turn")
    assert line["request_chars"] == len("Tell me two things.")
    assert "Tell me" not in str(line)  # the text itself is not at INFO
