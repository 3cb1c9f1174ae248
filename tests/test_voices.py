"""`bridge voices`: a model's voices with their languages, from flags, env or the config file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.commands.voices import format_voices, voices_of
from bridge.core.errors import ConfigError
from bridge.qwen.models import DEFAULT_MODEL, model_info

BRIDGE = [sys.executable, "-m", "bridge"]


def voices(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BRIDGE_") and k not in ("XDG_CONFIG_HOME", "DASHSCOPE_API_KEY")
    }
    clean.update(HOME=str(tmp_path), **env)
    return subprocess.run(
        [*BRIDGE, "voices", *args], capture_output=True, text=True, timeout=60, env=clean
    )


def test_default_model_lists_its_voices_with_languages(tmp_path: Path) -> None:
    proc = voices(tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Voices of {DEFAULT_MODEL} (49):"
    assert len(lines) == 50
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "zh, en, fr" in rows["Cherry"]
    assert "Cantonese" in rows["Rocky"]
    assert any("Eldric Sage" in line for line in lines)
    assert "--voice NAME" in proc.stderr


def test_model_flag_env_and_file_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / ".config" / "bridge" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('tts_model = "qwen3-tts-flash-realtime-2025-09-18"\n', encoding="utf-8")
    assert "(17)" in voices(tmp_path).stdout.splitlines()[0]  # from the file
    env_model = voices(tmp_path, BRIDGE_TTS_MODEL="qwen-tts-realtime")
    assert env_model.stdout.splitlines()[0] == "Voices of qwen-tts-realtime (7):"
    flag = voices(tmp_path, "--model", "qwen3-tts-instruct-flash-realtime", BRIDGE_TTS_MODEL="x")
    assert flag.stdout.splitlines()[0] == "Voices of qwen3-tts-instruct-flash-realtime (24):"


def test_json_output(tmp_path: Path) -> None:
    proc = voices(tmp_path, "--model", "qwen-tts-realtime", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["model"] == "qwen-tts-realtime" and data["family"] == "legacy"
    assert {"name": "Cherry", "languages": "zh, en"} in data["voices"]


def test_custom_voice_models_say_so(tmp_path: Path) -> None:
    proc = voices(tmp_path, "--model", "qwen3-tts-vc-realtime-2026-01-15")
    assert proc.returncode == 0
    assert "custom voice ids only" in proc.stdout


def test_unknown_model_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = voices(tmp_path, "--model", "qwen9-tts")
    assert proc.returncode == 2
    assert proc.stderr.startswith("bridge: error: unknown TTS model 'qwen9-tts'; known models:")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_current_voice_is_marked() -> None:
    info = model_info("qwen-tts-realtime")
    assert info is not None
    text = format_voices(info, current="Ethan")
    assert "*Ethan" in text and " Cherry" in text and "*Cherry" not in text


def test_dated_snapshots_are_known_by_family() -> None:
    assert voices_of("qwen3-tts-flash-realtime-2030-01-01").voice_names[0] == "Cherry"
    with pytest.raises(ConfigError, match="known models"):
        voices_of("whisper")
