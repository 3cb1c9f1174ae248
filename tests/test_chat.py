"""`bridge chat`: its parts, a whole session driven by a script, and every start-up mistake.

The real-terminal tests (tmux: typing, Ctrl-C mid-reply, Ctrl-D) are in test_chat_tmux.py.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import wave
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from _procs import BRIDGE, clean_env, fake_endpoint, fake_model, tone_tts

from bridge.adapters.llm import LLMClient, LLMConfig
from bridge.adapters.prompts import load_prompt
from bridge.adapters.sinks import NullSink
from bridge.commands.chat import ChatSession, Console
from bridge.commands.chat_view import (
    Captions,
    Playback,
    RecordingSink,
    SilentSpeaker,
    format_stats,
    quiet_summary,
)
from bridge.commands.repl import Completer, help_text, parse_slash
from bridge.core.conversation import Conversation
from bridge.core.result import SegmentRecord, TurnResult
from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
from bridge.pipeline import TTSTarget, Turn
from bridge.pipeline.assistant import Assistant
from bridge.qwen.client import AudioChunk
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

SHORT = "**Sure!** Here is a short answer. It has two sentences."
LONG = " ".join(f"This is sentence number {i} of a long story." for i in range(1, 21))


# --- the parts ------------------------------------------------------------------------------


def test_parse_slash() -> None:
    assert parse_slash("hello") is None
    assert parse_slash("//not a command") is None
    assert parse_slash("/") is None
    cmd = parse_slash("  /voice  Eldric Sage ")
    assert cmd is not None and (cmd.name, cmd.arg, cmd.known) == ("voice", "Eldric Sage", True)
    exit_cmd = parse_slash("/EXIT")
    assert exit_cmd is not None and exit_cmd.name == "quit" and exit_cmd.known
    unknown = parse_slash("/bogus x")
    assert unknown is not None and not unknown.known and unknown.name == "bogus"


def test_help_lists_every_command() -> None:
    text = help_text()
    for name in ("voice NAME", "voices", "prompt", "reset", "save FILE.wav", "stats", "quit"):
        assert f"/{name}" in text


def test_completer_candidates() -> None:
    complete = Completer(lambda cmd: ["Cherry", "Chelsie", "Ethan"] if cmd == "voice" else [])
    assert complete.candidates("/vo") == ["/voice", "/voices"]
    assert complete.candidates("/voice Ch") == ["/voice Cherry", "/voice Chelsie"]
    assert complete.candidates("hello") == []


def _chunk(rid: str, samples: int) -> AudioChunk:
    return AudioChunk(data=b"\x01\x00" * samples, sample_rate=24000, response_id=rid)


def test_recording_sink_keeps_the_audio_and_where_responses_start() -> None:
    async def main() -> RecordingSink:
        sink = RecordingSink(NullSink(), 24000, max_seconds=1)
        await sink.write(_chunk("a", 100))
        await sink.write(_chunk("a", 50))
        await sink.write(_chunk("b", 24000))
        await sink.close()
        return sink

    sink = anyio.run(main, backend="asyncio")
    assert sink.response_starts == [0, 150]
    assert sink.samples_played == 24150
    assert len(sink.pcm()) == 24000 * 2  # bounded by max_seconds


def test_recording_sink_saves_only_what_was_heard() -> None:
    async def main() -> RecordingSink:
        sink = RecordingSink(NullSink(), 24000)
        await sink.write(_chunk("a", 100))
        await sink.stop()  # barge-in: the NullSink counts nothing more
        await sink.write(_chunk("a", 100))
        return sink

    assert len(anyio.run(main, backend="asyncio").pcm()) == 200


def test_captions_follow_the_audio() -> None:
    out: list[str] = []
    captions = Captions(out.append)
    for text in ("Hello there.", "How are you?", "你好。", "再见。", "Bye."):
        captions.add(text)
    captions.update([0], 0)
    assert out == []  # nothing played yet
    captions.update([0, 1000], 10)
    assert out == ["Hello there."]
    captions.update([0, 1000, 2000, 3000], 3001)
    assert "".join(out) == "Hello there. How are you?你好。再见。"  # no space next to CJK
    captions.finish(complete=False)
    assert captions.shown == 4
    captions.finish(complete=True)
    assert "".join(out).endswith("再见。Bye.")


def test_silent_speaker_plays_in_real_time() -> None:
    now = [100.0]
    speaker = SilentSpeaker(24000, clock=lambda: now[0])

    async def main() -> None:
        await speaker.write(_chunk("a", 24000))  # 1 s, from t=100
        await speaker.write(_chunk("a", 12000))  # queued behind it: from t=101
        now[0] = 100.5
        assert speaker.samples_played == 12000
        now[0] = 103.0  # everything played; then an underrun
        assert speaker.samples_played == 36000
        await speaker.write(_chunk("b", 24000))  # plays from its arrival, t=103
        now[0] = 103.25
        assert speaker.samples_played == 36000 + 6000
        await speaker.stop()  # barge-in: frozen where it was
        now[0] = 110.0
        assert speaker.samples_played == 42000
        await speaker.write(_chunk("b", 24000))
        assert speaker.samples_played == 42000

    anyio.run(main, backend="asyncio")


@pytest.mark.anyio
async def test_ctrl_c_after_all_audio_arrived_still_stops_the_playback() -> None:
    """A fast speech service sends the whole reply at once; the speaker (here its silent
    stand-in) plays it out afterwards. An interrupt then must stop it at once, and only what
    was played counts as heard."""
    options = EmulatorOptions(engine="tone")  # as fast as it synthesizes
    async with serve_emulator(options) as emu:
        sink = SilentSpeaker(24000)

        async def text() -> AsyncIterator[str]:
            yield LONG

        turn = Turn(text(), sink, target=TTSTarget(url=emu.url))
        async with anyio.create_task_group() as tg:

            async def interrupt_while_playing() -> None:
                with anyio.fail_after(30):
                    while (
                        turn._speech.samples_written < 24000 * 20 or sink.samples_played < 24000 * 3
                    ):
                        await anyio.sleep(0.02)
                turn.interrupt()

            tg.start_soon(interrupt_while_playing)
            with anyio.fail_after(20):  # the whole reply would take about a minute to play
                result = await turn.run()
    assert result.interrupted
    assert 3.0 <= result.audio_ms / 1000 < 15  # over a sentence, far from the whole reply
    assert result.spoken_text.startswith("This is sentence number 1 of a long story.")
    assert len(result.spoken_text) < len(result.text) / 2


def test_summary_and_stats_lines() -> None:
    result = TurnResult(
        turn_id="turn_x",
        ttft_ms=100,
        first_audio_ms=400,
        first_play_ms=410,
        done_ms=2000,
        audio_ms=4200,
        interrupted=True,
        segments=(SegmentRecord(text="Hello.", kind="sentence", appended_ms=150, ready_ms=140),),
    )
    assert quiet_summary(result).startswith("first audio 410 ms · 4.2 s of audio · interrupted")
    assert quiet_summary(TurnResult(turn_id="t")) == "no audio · 0.0 s of audio"
    stats = format_stats(result)
    assert "turn turn_x (interrupted)" in stats
    assert "first audio received" in stats and "400 ms" in stats
    assert "Hello." in stats and "model done" in stats and "—" in stats
    assert "· 1 segment ·" in stats and "· 0 reconnects" in stats
    assert quiet_summary(replace(result, reconnects=1)).endswith("· 1 reconnect")


# --- a whole session, driven by a script ------------------------------------------------------


class ScriptedReader:
    def __init__(self, lines: list[str | None]) -> None:
        self.lines = lines
        self.prompts = 0

    async def read(self, prompt: str) -> str | None:
        self.prompts += 1
        return self.lines.pop(0) if self.lines else None


@pytest.mark.anyio
async def test_a_scripted_session_uses_every_command(tmp_path: Path) -> None:
    seen: list[list[dict[str, Any]]] = []

    def reply(messages: list[dict[str, Any]]) -> FakeReply:
        seen.append(messages)
        return FakeReply(tokens_for(SHORT))

    wav = tmp_path / "last"
    lines: list[str | None] = [
        "/save nothing.wav",
        "/stats",
        "Hello?",
        "/stats",
        "/voice Nobody",
        "/voice Ethan",
        "/voice",
        "/voices",
        "/prompt",
        "/prompt concise",
        f"/save {wav}",
        "/reset",
        "Again?",
        "/bogus",
        "/help",
        "//slash text",
        "/quit",
        "never read",
    ]
    reader = ScriptedReader(lines)
    screen = io.StringIO()
    options = EmulatorOptions(engine="tone")
    async with serve_fake_llm(reply) as fake, serve_emulator(options) as emu:
        target = TTSTarget(url=emu.url)
        async with LLMClient(LLMConfig(base_url=fake.base_url, model="m")) as llm:
            assistant = Assistant(
                llm=llm, tts=target, conversation=Conversation(load_prompt("assistant"))
            )
            session = ChatSession(
                assistant=assistant,
                reader=reader,
                console=Console(color=False, out=screen),
                playback=Playback(24000, paced=False),
                prompt_name="assistant",
            )
            assert await session.run() == 0
    out = screen.getvalue()
    assert reader.lines == ["never read"]
    assert "nothing to save yet" in out and "no turn yet" in out
    assert "Sure! Here is a short answer. It has two sentences." in out
    assert "first audio" in out and "s of audio" in out
    assert "voice 'Nobody' is not available for model qwen3-tts-flash-realtime" in out
    assert session.voice == "Ethan" and "voice: Ethan (qwen3-tts-flash-realtime)" in out
    assert "*Ethan" in out and "Cantonese" in out
    assert "assistant (current)" in out and "storyteller.zh" in out
    assert "unknown command /bogus" in out and "/save FILE.wav" in out
    # The conversation: the first request has the default prompt, the one after /prompt and
    # /reset has the new prompt and no history; "//" sends a message starting with "/".
    assert [m["role"] for m in seen[0]] == ["system", "user"]
    assert seen[0][0]["content"] == load_prompt("assistant")
    assert seen[1] == [
        {"role": "system", "content": load_prompt("concise")},
        {"role": "user", "content": "Again?"},
    ]
    assert seen[2][-1] == {"role": "user", "content": "/slash text"}
    with wave.open(str(wav.with_name("last.wav"))) as w:
        assert w.getframerate() == 24000 and w.getnframes() > 24000  # over a second of speech
    assert "saved the last reply" in out


@pytest.mark.anyio
async def test_sigint_while_speaking_interrupts_and_the_session_goes_on() -> None:
    seen: list[list[dict[str, Any]]] = []

    def reply(messages: list[dict[str, Any]]) -> FakeReply:
        seen.append(messages)
        text = LONG if len(seen) == 1 else SHORT
        return FakeReply(tokens_for(text), delay=0.01)

    reader = ScriptedReader(["Tell me a long story.", "What did you say?", None])
    screen = io.StringIO()
    options = EmulatorOptions(engine="tone", latency=LatencyModel(rtf=1.0))
    async with (
        serve_fake_llm(reply) as fake,
        serve_emulator(options) as emu,
        LLMClient(LLMConfig(base_url=fake.base_url, model="m")) as llm,
    ):
        assistant = Assistant(llm=llm, tts=TTSTarget(url=emu.url))
        session = ChatSession(
            assistant=assistant,
            reader=reader,
            console=Console(color=False, out=screen),
            playback=Playback(24000),
            prompt_name="assistant",
        )

        async def press_ctrl_c() -> None:
            # Inside run(): the signal receiver is open while a turn exists. Wait until the
            # second sentence starts to play, so the first one was heard whole.
            with anyio.fail_after(30):
                while session.captions is None or session.captions.shown < 2:
                    await anyio.sleep(0.02)
            os.kill(os.getpid(), signal.SIGINT)

        async with anyio.create_task_group() as tg:
            tg.start_soon(press_ctrl_c)
            with anyio.fail_after(60):
                await session.run()
    out = screen.getvalue()
    assert "interrupted" in out
    assert "number 20" not in out
    assert session.last is not None and session.last[0].error is None
    heard = seen[1][-2]
    assert heard["role"] == "assistant"
    assert heard["content"].startswith("This is sentence number 1 of a long story.")
    assert heard["content"].endswith("…") and "number 20" not in heard["content"]


# --- start-up mistakes, as a user meets them --------------------------------------------------


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = clean_env(HOME=str(tmp_path), BRIDGE_HISTORY="", **extra)
    env.pop("XDG_CONFIG_HOME", None)
    return env


def run_bridge(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BRIDGE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path, **env),
        input="",
        cwd=tmp_path,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("bridge: error:"), proc.stderr
    assert needle in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_keys_explains_what_to_set(tmp_path: Path) -> None:
    proc = run_bridge(tmp_path, "chat")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "bridge: error: no chat model configured."
    assert 2 <= len(lines) <= 3
    assert "OPENAI_API_KEY" in proc.stderr and "DASHSCOPE_API_KEY" in proc.stderr
    assert "--local" in proc.stderr and "~/.config/bridge/config.toml" in proc.stderr


def test_a_chat_key_without_speech_explains_what_to_set(tmp_path: Path) -> None:
    proc = run_bridge(tmp_path, "chat", OPENAI_API_KEY="sk-x")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "bridge: error: no speech service configured."
    assert 2 <= len(lines) <= 3 and "--local" in proc.stderr and "DASHSCOPE_API_KEY" in lines[1]


def test_unreachable_chat_endpoint(tmp_path: Path) -> None:
    with tone_tts() as url:
        proc = run_bridge(
            tmp_path,
            "chat",
            "--tts-url",
            url,
            "--llm-base-url",
            "http://127.0.0.1:9/v1",
            "--llm-model",
            "m",
        )
    _one_line_error(proc, 1, "cannot reach the LLM endpoint http://127.0.0.1:9/v1")


def test_unreachable_speech_service(tmp_path: Path) -> None:
    with fake_model(FakeReply(tokens_for(SHORT))) as base:
        proc = run_bridge(
            tmp_path,
            "chat",
            "--tts-url",
            "ws://127.0.0.1:9/api-ws/v1/realtime",
            "--llm-base-url",
            base,
            "--llm-model",
            "m",
        )
    _one_line_error(proc, 1, "cannot reach the speech service")
    assert "--tts-url" in proc.stderr


def test_wrong_region_key_for_speech(tmp_path: Path) -> None:
    with fake_model(FakeReply(tokens_for(SHORT))) as base, tone_tts("--api-key", "sk-r") as url:
        proc = run_bridge(
            tmp_path,
            "chat",
            "--tts-url",
            url,
            "--llm-base-url",
            base,
            "--llm-model",
            "m",
            DASHSCOPE_API_KEY="sk-wrong-region-777",
        )
    _one_line_error(proc, 1, "region-specific")
    assert "sk-wrong-region-777" not in proc.stderr + proc.stdout


def test_wrong_chat_key(tmp_path: Path) -> None:
    reply = FakeReply(tokens_for(SHORT))
    with fake_model(reply, api_key="sk-right") as base, tone_tts() as url:
        proc = run_bridge(
            tmp_path,
            "chat",
            "--tts-url",
            url,
            "--llm-base-url",
            base,
            "--llm-model",
            "m",
            OPENAI_API_KEY="sk-wrong-chat-555",
        )
    _one_line_error(proc, 1, "rejected the API key")
    assert "sk-wrong-chat-555" not in proc.stderr + proc.stdout


def test_bad_voice_for_the_model(tmp_path: Path) -> None:
    proc = run_bridge(
        tmp_path,
        "chat",
        "--local",
        "--llm-base-url",
        "http://127.0.0.1:9/v1",
        "--llm-model",
        "m",
        "--voice",
        "Nobody",
    )
    _one_line_error(proc, 2, "voice 'Nobody' is not available for model")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = run_bridge(
        tmp_path, "--debug", "chat", "--local", "--llm-api-key", "k", "--voice", "Nobody"
    )
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "voice 'Nobody'" in proc.stderr


def test_local_without_the_llm_extra_says_how_to_get_it(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("the local-llm extra is installed here")
    proc = run_bridge(tmp_path, "chat", "--local")
    assert proc.returncode == 2
    assert "uv run --extra local-llm bridge chat --local" in proc.stderr
    assert "5 minutes" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["chat", "say", "speak"])
def test_every_command_reads_the_config_file(tmp_path: Path, command: str) -> None:
    cfg = tmp_path / ".config" / "bridge" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('local = true\nllm_api_key = "k"\nvoice = "Nobody"\n', encoding="utf-8")
    args = [command, "Hi"] if command == "say" else [command]
    _one_line_error(run_bridge(tmp_path, *args), 2, "voice 'Nobody'")
    # The environment beats the file, and a flag beats both.
    proc = run_bridge(tmp_path, *args, "--voice", "Nobody2", BRIDGE_VOICE="Nobody1")
    _one_line_error(proc, 2, "voice 'Nobody2'")
    cfg.write_text("voise = 1\n", encoding="utf-8")
    _one_line_error(run_bridge(tmp_path, *args), 2, "unknown key 'voise'")


def test_prompt_from_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('prompt = "no-such-prompt"\nlocal = true\nllm_api_key = "k"\n', "utf-8")
    proc = run_bridge(tmp_path, "say", "Hi", BRIDGE_CONFIG=str(cfg))
    _one_line_error(proc, 2, "unknown prompt 'no-such-prompt'")
    proc = run_bridge(tmp_path, "say", "Hi", BRIDGE_CONFIG=str(tmp_path / "missing.toml"))
    _one_line_error(proc, 2, "configuration file not found")


def test_chat_reads_piped_lines_too(tmp_path: Path) -> None:
    with fake_model(FakeReply(tokens_for(SHORT))) as base, tone_tts() as url:
        proc = subprocess.run(
            [*BRIDGE, "chat", "--tts-url", url, "--llm-base-url", base, "--llm-model", "m"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(tmp_path),
            input="Hello?\n/stats\n",
        )
    assert proc.returncode == 0, proc.stderr
    assert "Here is a short answer." in proc.stdout
    assert "first audio received" in proc.stdout
    assert "no speaker playback" in proc.stdout


def test_chat_sends_a_bounded_history(tmp_path: Path) -> None:
    """A long conversation: what is sent to the model stays within the history budget."""
    from bridge.core.conversation import HISTORY_MAX_CHARS

    lines = "".join(f"Message {i}: " + "word " * 3000 + "\n" for i in range(4))  # 15 000 each
    with fake_endpoint(FakeReply(tokens_for(SHORT))) as fake, tone_tts() as url:
        llm = ["--llm-base-url", fake.base_url, "--llm-model", "m"]
        proc = subprocess.run(
            [*BRIDGE, "chat", "--tts-url", url, *llm],
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(tmp_path),
            input=lines,
        )
        sent = [r["messages"] for r in fake.requests if "messages" in r]
    assert proc.returncode == 0, proc.stderr
    assert len(sent) == 4
    sizes = [sum(len(m["content"]) for m in messages) for messages in sent]
    assert max(sizes) <= HISTORY_MAX_CHARS, sizes
    last = sent[-1]
    assert last[-1]["content"].startswith("Message 3:")
    assert [m["role"] for m in last[:2]] == ["system", "user"]


def test_chat_shows_a_reply_with_nothing_to_speak(tmp_path: Path) -> None:
    code = "```python\nprint('hello')\n```\n"
    with fake_model(FakeReply(tokens_for(code))) as base, tone_tts() as url:
        proc = subprocess.run(
            [*BRIDGE, "chat", "--tts-url", url, "--llm-base-url", base, "--llm-model", "m"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(tmp_path),
            input="Code?\n",
        )
    assert proc.returncode == 0, proc.stderr
    assert "print('hello')" in proc.stdout
    assert "the reply had no speakable text" in proc.stdout
    assert "no audio ·" not in proc.stdout
