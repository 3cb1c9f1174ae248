"""`bridge say` as a user runs it: a fake OpenAI-compatible model and the emulator."""

from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import pytest
from _procs import BRIDGE, clean_env, fake_model, tone_tts

from bridge.testing.fake_llm import FakeReply, tokens_for

REPLY = "**Sure!** Here is a short answer. It has two sentences, then a third one."


def say(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BRIDGE, "say", *args], capture_output=True, text=True, timeout=60, env=clean_env(**env)
    )


def test_say_prints_json_result_and_writes_wav(tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    with fake_model(FakeReply(tokens_for(REPLY), delay=0.02)) as base, tone_tts() as url:
        proc = say(
            "Hello?",
            "--json",
            "--out",
            str(out),
            "--tts-url",
            url,
            "--llm-base-url",
            base,
            "--llm-model",
            "m",
            "--prompt",
            "concise",
        )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["text"] == "Sure! Here is a short answer. It has two sentences, then a third one."
    assert result["first_audio_ms"] < result["llm_done_ms"]
    assert result["error"] is None and not result["interrupted"]
    for key in ("ttft_ms", "first_segment_ms", "first_append_ms", "first_play_ms", "done_ms"):
        assert isinstance(result[key], float), key
    with wave.open(str(out)) as w:
        assert w.getnframes() / 24 == pytest.approx(result["audio_ms"], abs=1)


def test_say_shows_the_text_as_it_is_spoken() -> None:
    with fake_model(FakeReply(tokens_for(REPLY))) as base, tone_tts() as url:
        proc = say("Hello?", "--tts-url", url, "--llm-base-url", base, "--llm-model", "m")
    assert proc.returncode == 0, proc.stderr
    assert "Here is a short answer." in proc.stdout
    assert "**" not in proc.stdout
    assert "no speaker playback" in proc.stderr  # said once, not an error


THINKING = "The user greets me, so I greet back.\n</think>\n\nHello there. Nice to meet you."


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--think-open"], {}), ([], {"BRIDGE_THINK_WINDOW": "200"})],
)
def test_say_does_not_speak_reasoning_the_chat_template_opened(
    args: list[str], env: dict[str, str]
) -> None:
    with fake_model(FakeReply(tokens_for(THINKING))) as base, tone_tts() as url:
        proc = say(
            "Hi", "--json", "--tts-url", url, "--llm-base-url", base, "--llm-model", "m", *args,
            **env,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["text"] == "Hello there. Nice to meet you."


def test_say_speaks_the_users_lexicon_from_the_flag_or_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "words.toml").write_text('[any_case]\nsure = "certainly"\n', encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text('lexicon = "words.toml"\n', encoding="utf-8")  # next to the file
    for args, env in (
        (["--lexicon", str(tmp_path / "words.toml")], {}),
        ([], {"BRIDGE_CONFIG": str(config)}),
    ):
        with fake_model(FakeReply(tokens_for(REPLY))) as base, tone_tts() as url:
            proc = say(
                "Hi", "--json", "--tts-url", url, "--llm-base-url", base, "--llm-model", "m",
                *args, **env,
            )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["text"].startswith("Certainly! Here is a short answer.")


def test_a_bad_lexicon_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[exact]\nSQL = ""\n', encoding="utf-8")
    for path, needle in ((bad, "replacement of 'SQL'"), (tmp_path / "no.toml", "not found")):
        proc = say(
            "Hi", "--llm-api-key", "k", "--tts-url", "ws://127.0.0.1:9", "--lexicon", str(path)
        )
        assert proc.returncode == 2, proc.stderr
        assert needle in proc.stderr and str(path) in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "env", "needle", "code"),
    [
        ([], {}, "no chat model configured", 2),
        (["--llm-base-url", "http://127.0.0.1:9/v1"], {}, "--llm-model", 2),
        (["--llm-api-key", "sk-x"], {}, "no speech service configured", 2),
        (["--local", "--llm-api-key", "k", "--prompt", "nope"], {}, "unknown prompt", 2),
        (
            ["--local", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m"],
            {},
            "cannot reach the llm endpoint",
            1,
        ),
    ],
)
def test_say_user_mistakes(args: list[str], env: dict[str, str], needle: str, code: int) -> None:
    proc = say("Hi", *args, **env)
    assert proc.returncode == code, proc.stderr
    assert needle.lower() in proc.stderr.lower()
    assert "Traceback" not in proc.stderr


def test_say_wrong_llm_key_is_one_line_without_the_key() -> None:
    with fake_model(FakeReply(tokens_for(REPLY)), api_key="sk-right") as base, tone_tts() as url:
        proc = say(
            "Hi",
            "--tts-url",
            url,
            "--llm-base-url",
            base,
            "--llm-model",
            "m",
            OPENAI_API_KEY="sk-wrong-secret-42",
        )
    assert proc.returncode == 1
    assert "sk-wrong-secret-42" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.local_llm
def test_say_local_uses_the_embedded_model(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    proc = say(
        "Say hello in one short sentence.", "--local", "--json", "--out", str(tmp_path / "a.wav")
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["audio_ms"] > 0


CODE_ONLY = "```python\nprint('hello')\n```\n"


@pytest.mark.parametrize("debug", [False, True])
def test_say_a_reply_with_nothing_to_speak_says_so(tmp_path: Path, debug: bool) -> None:
    """A reply that is only a code block: its text is shown, the error says why nothing was
    spoken, no empty WAV is left, and the exit is not 0 (with --debug too)."""
    out = tmp_path / "reply.wav"
    with fake_model(FakeReply(tokens_for(CODE_ONLY))) as base, tone_tts() as url:
        args = ["--tts-url", url, "--llm-base-url", base, "--llm-model", "m", "--out", str(out)]
        proc = subprocess.run(
            [*BRIDGE, *(["--debug"] if debug else []), "say", "Code?", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
        )
    assert proc.returncode == 1, proc.stderr
    assert "print('hello')" in proc.stdout
    assert "the reply had no speakable text" in proc.stderr
    assert "code" in proc.stderr and "nothing was spoken" in proc.stderr
    assert not out.exists()
    assert "first audio" not in proc.stderr and "Traceback" not in proc.stderr


def test_say_json_reports_nothing_to_speak_as_the_error() -> None:
    with fake_model(FakeReply(tokens_for(CODE_ONLY))) as base, tone_tts() as url:
        proc = say("Code?", "--json", "--tts-url", url, "--llm-base-url", base, "--llm-model", "m")
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["error"]["type"] == "NothingToSpeak"
    assert "no speakable text" in result["error"]["message"]


def test_the_local_llm_hint_is_the_users_own_command_line_with_the_fix(tmp_path: Path) -> None:
    import importlib.util
    import shlex

    if importlib.util.find_spec("llama_cpp") is not None:
        pytest.skip("the local-llm extra is installed here")
    question = 'What\'s a "good" $HOME?'
    proc = say(question, "--local", "--voice", "Cherry", HOME=str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.strip().startswith("run: "))
    pasted = shlex.split(line.strip().removeprefix("run: "))
    assert pasted == [
        *("uv", "run", "--extra", "local-llm", "bridge"),
        *("say", question, "--local", "--voice", "Cherry"),
    ]


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--voice", "Nobody"], "voice"),
        (["--tts-url", "http://127.0.0.1:9/api-ws/v1/realtime"], "ws:// or wss://"),
        (["--language", "Klingon"], "language_type"),
        (["--workspace", "no good!"], "workspace"),
    ],
)
def test_say_refuses_bad_speech_settings_before_the_embedded_model(
    flags: list[str], needle: str
) -> None:
    proc = say("Hi", "--local", *flags)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr.lower()
    # Neither started nor asked for: the chat model is not reached before the mistake is told.
    assert "embedded chat model" not in proc.stderr
    assert "Traceback" not in proc.stderr
