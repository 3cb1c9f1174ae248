"""The command line as a user runs it: `bridge tts-server` and `bridge speak`, in subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import wave
from pathlib import Path

import anyio
import pytest
from _procs import BRIDGE, clean_env, tts_server

from bridge.core.errors import TTSConnectionError
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.qwen import SessionConfig, connect


def test_tts_server_prints_its_url_first_and_serves() -> None:
    with tts_server("--engine", "tone", "--api-key", "sk-cli-test") as (proc, url):
        assert url.startswith("ws://127.0.0.1:") and url.endswith("/api-ws/v1/realtime")

        async def use() -> int:
            cfg = SessionConfig(mode="commit")
            async with connect(url=url, api_key="sk-cli-test", config=cfg) as tts:
                return len(await tts.speak("Served from the command line."))

        assert anyio.run(use, backend="asyncio") > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_tts_server_rejects_bad_options_in_one_line() -> None:
    out = subprocess.run(
        [*BRIDGE, "tts-server", "--engine", "tone", "--rtf", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith("bridge: error:")
    assert "Traceback" not in out.stderr


def test_speak_starts_audio_before_stdin_closes(tmp_path: Path) -> None:
    """A slow writer: the first sentence is spoken (audio written) while stdin is still open."""
    out = tmp_path / "speech.wav"
    proc = subprocess.Popen(
        [*BRIDGE, "speak", "--local", "--out", str(out), "--json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write("**Hello** there, my friend. This is the first sentence. ")
        proc.stdin.flush()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if out.exists() and out.stat().st_size > 44 + 24000:
                break
            time.sleep(0.05)
        grew_early = out.exists() and out.stat().st_size > 44 + 24000
        assert proc.poll() is None  # still waiting for more text
        stdout, stderr = proc.communicate("然后是中文。And a last one", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert grew_early, "no audio was written before stdin closed"
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    texts = [s["text"] for s in summary["segments"]]
    joined = " ".join(texts)
    assert "**" not in joined and "Hello there" in joined
    assert texts[-1].endswith("And a last one")
    assert "然后是中文。" in joined
    assert summary["first_audio_ms"] < summary["llm_done_ms"]
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
        assert w.getnframes() / 24 == pytest.approx(summary["audio_ms"], abs=1)
        assert w.getnframes() > 24000  # more than a second of speech


def test_speak_from_a_file_to_raw_pcm_on_stdout(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("One. Two.", encoding="utf-8")
    with tts_server("--engine", "tone") as (_proc, url):
        out = subprocess.run(
            [*BRIDGE, "speak", str(src), "--url", url, "--out", "-", "--sample-rate", "16000"],
            capture_output=True,
            timeout=60,
            env=clean_env(),
        )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) > 9600  # raw PCM (more than 0.3 s at 16 kHz), no header
    assert len(out.stdout) % 2 == 0
    assert not out.stdout.startswith(b"RIFF")


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["speak", "--out", "x.wav"], {}, "DASHSCOPE_API_KEY"),
        (["speak", "--local", "--out", "x.wav", "--voice", "Nobody"], {}, "voice 'Nobody'"),
        (["speak", "/no/such/file", "--local", "--out", "x.wav"], {}, "cannot read"),
    ],
)
def test_speak_user_mistakes_get_one_actionable_message(
    tmp_path: Path, args: list[str], env: dict[str, str], needle: str
) -> None:
    out = subprocess.run(
        [*BRIDGE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**env),
        cwd=tmp_path,
        input="",
    )
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("bridge: error:")


def test_speak_wrong_key_is_an_auth_error_without_the_key(tmp_path: Path) -> None:
    with tts_server("--engine", "tone", "--api-key", "sk-right") as (_proc, url):
        out = subprocess.run(
            [*BRIDGE, "speak", "--url", url, "--out", "x.wav"],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(DASHSCOPE_API_KEY="sk-wrong-secret-999"),
            cwd=tmp_path,
            input="Hello.",
        )
    assert out.returncode == 1
    assert "region-specific" in out.stderr
    assert "sk-wrong-secret-999" not in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("out_args", [["--out", "w.wav"], []])
def test_speak_after_an_error_says_the_error_only(tmp_path: Path, out_args: list[str]) -> None:
    """A refused key: one error line, no success summary, no playback notice, no empty WAV
    (the file is created when audio arrives), exit 1."""
    (tmp_path / "old.wav").write_bytes(b"keep me")
    with tts_server("--engine", "tone", "--api-key", "sk-right") as (_proc, url):
        out = subprocess.run(
            [*BRIDGE, "speak", "--tts-url", url, *out_args],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(DASHSCOPE_API_KEY="sk-wrong"),
            cwd=tmp_path,
            input="Hello.",
        )
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("bridge: error:") and "refused the API key" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.wav"]


def test_speak_summary_counts_in_words(tmp_path: Path) -> None:
    with tts_server("--engine", "tone") as (_proc, url):
        out = subprocess.run(
            [*BRIDGE, "speak", "--tts-url", url, "--out", "w.wav"],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            cwd=tmp_path,
            input="Just one.",
        )
    assert out.returncode == 0, out.stderr
    assert "spoke 1 segment," in out.stderr
    assert (tmp_path / "w.wav").stat().st_size > 44


@pytest.mark.parametrize(
    ("text", "needle"),
    [("", "the input was empty"), ("```\nx = 1\n```\n", "the input had no speakable text")],
)
def test_speak_with_nothing_to_speak_fails(tmp_path: Path, text: str, needle: str) -> None:
    with tts_server("--engine", "tone") as (_proc, url):
        out = subprocess.run(
            [*BRIDGE, "speak", "--tts-url", url, "--out", "w.wav"],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            cwd=tmp_path,
            input=text,
        )
    assert out.returncode == 1, out.stderr
    assert needle in out.stderr and "spoke 0" not in out.stderr
    assert not (tmp_path / "w.wav").exists()


def test_tts_server_fault_flags_reach_the_client() -> None:
    from bridge.core.errors import TTSClosedError

    with tts_server("--engine", "tone", "--fault-close-after", "2") as (_proc, url):

        async def use() -> int:
            async with connect(url=url) as tts:
                await tts.append("A sentence long enough for several deltas of audio. ")
                try:
                    async for _ in tts.events():
                        pass
                except TTSClosedError as exc:
                    return exc.audio_bytes
            return -1

        assert anyio.run(use, backend="asyncio") == 2 * 4800


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"ELF header\x00\x00\x01 then text", "NUL bytes"),
        (bytes(range(0x80, 0x100)) * 4 + b" a little text", "not UTF-8 text"),
        (b"text, then control bytes: " + bytes(range(1, 9)) * 20, "not UTF-8 text"),
    ],
)
def test_speak_refuses_binary_input_and_speaks_nothing(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    with tts_server("--engine", "tone") as (_proc, url):
        out = subprocess.run(
            [*BRIDGE, "speak", "--tts-url", url, "--out", "w.wav"],
            capture_output=True,
            timeout=60,
            env=clean_env(),
            cwd=tmp_path,
            input=data,
        )
    stderr = out.stderr.decode()
    assert out.returncode == 2, stderr
    assert stderr.startswith("bridge: error: cannot speak stdin:") and reason in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "w.wav").exists()


def test_speak_sends_the_tts_text_without_control_characters(tmp_path: Path) -> None:
    text = "Bell\x07 and\x1b[1m escape.\r\nNext line\x7f here."
    with tts_server("--engine", "exact") as (_proc, url):
        out = subprocess.run(
            [*BRIDGE, "speak", "--tts-url", url, "--out", "-", "--sample-rate", "8000"],
            capture_output=True,
            timeout=60,
            env=clean_env(),
            cwd=tmp_path,
            input=text.encode(),
        )
    assert out.returncode == 0, out.stderr.decode()
    heard = decode_speech(out.stdout, run_length=samples_per_char(8000)).text
    # (The emulator synthesizes sentence by sentence, without the white space between them.)
    assert "".join(heard.split()) == "Belland[1mescape.Nextlinehere."


def test_a_server_whose_stdout_reader_is_gone_keeps_serving(tmp_path: Path) -> None:
    """The URL line cannot be written (the pipe's reader closed): no traceback, the server
    serves on and exits 0 on SIGINT."""
    import os
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read stdout
    proc = subprocess.Popen(
        [*BRIDGE, "tts-server", "--engine", "tone", "--port", str(port)],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    os.close(write_end)
    try:

        async def speak() -> int:
            for _ in range(300):  # the server starts: until its port answers (30 s at most)
                try:
                    url = f"ws://127.0.0.1:{port}/api-ws/v1/realtime"
                    cfg = SessionConfig(mode="commit")
                    async with connect(url=url, config=cfg) as tts:
                        return len(await tts.speak("Still here."))
                except TTSConnectionError:
                    await anyio.sleep(0.1)
            raise AssertionError("the server never answered")

        assert anyio.run(speak, backend="asyncio") > 0
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stdout is closed; serving at ws://" in err
