"""Configuration: flags > environment > the TOML file > defaults, and the file's errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
import pytest

from bridge.adapters.sinks import PcmSink, WavSink
from bridge.commands.common import add_tts_options, load_settings, make_sink, resolve_tts
from bridge.commands.say import add_llm_options, resolve_llm
from bridge.commands.settings import (
    KEYS,
    config_path,
    history_path,
    merge_settings,
    parse_config,
    read_config,
)
from bridge.core.errors import ConfigError
from bridge.qwen.client import AudioChunk

HOME = Path("/home/someone")


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_llm_options(p)
    add_tts_options(p)
    p.add_argument("--out")
    return p.parse_args(list(argv))


# --- where the file is --------------------------------------------------------------------


def test_config_path_default_xdg_and_explicit() -> None:
    assert config_path({}, HOME) == (HOME / ".config/bridge/config.toml", False)
    assert config_path({"XDG_CONFIG_HOME": "/x/cfg"}, HOME) == (
        Path("/x/cfg/bridge/config.toml"),
        False,
    )
    # A relative XDG_CONFIG_HOME is invalid by the spec: ignored.
    assert config_path({"XDG_CONFIG_HOME": "rel"}, HOME)[0] == HOME / ".config/bridge/config.toml"
    assert config_path({"BRIDGE_CONFIG": "/etc/b.toml", "XDG_CONFIG_HOME": "/x"}, HOME) == (
        Path("/etc/b.toml"),
        True,
    )


def test_history_path() -> None:
    assert history_path({}, HOME) == HOME / ".local/state/bridge/chat_history"
    assert history_path({"XDG_STATE_HOME": "/s"}, HOME) == Path("/s/bridge/chat_history")
    assert history_path({"BRIDGE_HISTORY": "/h/hist"}, HOME) == Path("/h/hist")
    assert history_path({"BRIDGE_HISTORY": ""}, HOME) is None


# --- parsing the file ---------------------------------------------------------------------


def test_parse_accepts_every_key_with_dashes_or_underscores() -> None:
    text = """
llm-base-url = "http://127.0.0.1:8080/v1"
llm_model = "m"
tts_api_key = "sk-file"
region = "singapore"
voice = "Ethan"
sample-rate = 16000
local = true
"""
    values = parse_config(text, source="c.toml")
    assert values == {
        "llm_base_url": "http://127.0.0.1:8080/v1",
        "llm_model": "m",
        "tts_api_key": "sk-file",
        "region": "singapore",
        "voice": "Ethan",
        "sample_rate": 16000,
        "local": True,
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('voise = "Ethan"', "unknown key 'voise'"),
        ("voice = 3", "voice must be a string"),
        ('sample_rate = "16000"', "sample_rate must be a whole number"),
        ("sample_rate = true", "sample_rate must be a whole number"),
        ('local = "yes"', "local must be true or false"),
        ("voice = ", "is not valid TOML"),
        ('[llm]\nmodel = "m"', "unknown key 'llm'"),
        ('voice = "A"\n"voice" = "B"', "is not valid TOML"),
        ('voice = "A"\nvoice-x = 1', "unknown key"),
    ],
)
def test_parse_errors_name_the_file_and_the_key(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="/cfg/bridge/config.toml")
    assert needle in str(info.value)
    assert "/cfg/bridge/config.toml" in str(info.value)


def test_the_same_key_spelled_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="set twice"):
        parse_config('llm_model = "a"\nllm-model = "b"', source="c.toml")


def test_read_config_missing_file(tmp_path: Path) -> None:
    assert read_config(tmp_path / "none.toml") == {}
    with pytest.raises(ConfigError, match=r"not found.*BRIDGE_CONFIG"):
        read_config(tmp_path / "none.toml", explicit=True)


def test_read_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'voice = "\xff"')
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_config(path)


# --- merging ------------------------------------------------------------------------------


def test_flags_beat_env_beat_file_per_key() -> None:
    file_values = {"voice": "FileVoice", "region": "singapore", "llm_model": "file-m"}
    env = {"BRIDGE_VOICE": "EnvVoice", "BRIDGE_LLM_MODEL": "env-m"}
    flags = {"voice": "FlagVoice"}
    s = merge_settings(flags, env, file_values, config_path=Path("/c.toml"))
    assert (s.voice, s.llm_model, s.region) == ("FlagVoice", "env-m", "singapore")
    assert s.sources == {"voice": "flag", "llm_model": "env", "region": "file"}
    assert s.tts_model is None and s.source("tts_model") == "default"
    assert s.config_file == Path("/c.toml")


def test_empty_values_count_as_unset() -> None:
    s = merge_settings({"voice": ""}, {"BRIDGE_VOICE": ""}, {"voice": "FromFile"})
    assert s.voice == "FromFile"
    assert merge_settings({}, {}, {}).config_file is None


def test_every_key_has_its_environment_variable() -> None:
    env = {
        "OPENAI_BASE_URL": "http://h/v1",
        "OPENAI_API_KEY": "sk-o",
        "BRIDGE_LLM_MODEL": "m",
        "BRIDGE_LLM_THREADS": "2",
        "BRIDGE_PROMPT": "concise",
        "BRIDGE_TTS_URL": "ws://h/x",
        "DASHSCOPE_API_KEY": "sk-d",
        "BRIDGE_TTS_REGION": "singapore",
        "DASHSCOPE_WORKSPACE": "ws-1",
        "BRIDGE_TTS_MODEL": "qwen-tts-realtime",
        "BRIDGE_VOICE": "Ethan",
        "BRIDGE_LANGUAGE": "English",
        "BRIDGE_SAMPLE_RATE": "16000",
        "BRIDGE_TTS_STALL_MS": "2500",
        "BRIDGE_LOCAL": "yes",
        "BRIDGE_SERVE_WORKERS": "3",
        "BRIDGE_THINK_OPEN": "1",
        "BRIDGE_THINK_WINDOW": "500",
        "BRIDGE_LEXICON": "words.toml",
    }
    s = merge_settings({}, env, {})
    assert {k.env for k in KEYS} == set(env)
    assert s.sample_rate == 16000 and s.local is True and s.llm_threads == 2
    assert s.workers == 3 and s.tts_stall_ms == 2500
    assert s.think_open is True and s.think_window == 500 and s.lexicon == "words.toml"
    assert s.llm_api_key == "sk-o" and s.tts_api_key == "sk-d"
    assert set(s.sources.values()) == {"env"}
    assert "sk-o" not in repr(s) and "sk-d" not in repr(s)


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [("BRIDGE_SAMPLE_RATE", "fast", "whole number"), ("BRIDGE_LOCAL", "maybe", "1 or 0")],
)
def test_bad_environment_values(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        merge_settings({}, {name: value}, {})


def test_local_off_in_env_does_not_hide_the_file() -> None:
    assert merge_settings({}, {"BRIDGE_LOCAL": "0"}, {"local": True}).local is True
    assert merge_settings({"local": False}, {}, {}).local is False


def test_outranks_compares_sources() -> None:
    s = merge_settings({"local": True}, {"BRIDGE_TTS_URL": "ws://h"}, {})
    assert not s.outranks("tts_url", "local")
    s = merge_settings({"local": True, "tts_url": "ws://h"}, {}, {})
    assert s.outranks("tts_url", "local")


# --- the commands' use of it ----------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> dict[str, str]:
    cfg = tmp_path / "cfg" / "bridge" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(text, encoding="utf-8")
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}


def test_load_settings_reads_the_file_in_the_config_dir(tmp_path: Path) -> None:
    env = _write(tmp_path, 'voice = "Ethan"\nllm_model = "file-m"\nprompt = "concise"\n')
    s = load_settings(_args("--llm-model", "flag-m"), {**env, "BRIDGE_PROMPT": "storyteller"})
    assert (s.voice, s.llm_model, s.prompt) == ("Ethan", "flag-m", "storyteller")
    assert s.config_file == tmp_path / "cfg" / "bridge" / "config.toml"


def test_resolve_tts_takes_voice_rate_and_url_from_the_file(tmp_path: Path) -> None:
    env = _write(tmp_path, 'voice = "Ethan"\nsample_rate = 16000\ntts_url = "ws://127.0.0.1:1/x"')

    async def main() -> None:
        async with resolve_tts(_args(), env) as target:
            assert target.config.voice == "Ethan"
            assert target.config.sample_rate == 16000
            assert target.url == "ws://127.0.0.1:1/x"
        async with resolve_tts(_args("--voice", "Cherry"), env) as target:
            assert target.config.voice == "Cherry"

    anyio.run(main, backend="asyncio")


def test_a_bad_voice_in_the_file_is_a_config_error(tmp_path: Path) -> None:
    env = _write(tmp_path, 'voice = "Nobody"\ntts_url = "ws://127.0.0.1:1/x"')

    async def main() -> None:
        async with resolve_tts(_args(), env):
            pass

    with pytest.raises(ConfigError, match="voice 'Nobody'"):
        anyio.run(main, backend="asyncio")


def test_resolve_llm_from_the_file_and_dashscope_mode(tmp_path: Path) -> None:
    env = _write(tmp_path, 'llm_base_url = "http://127.0.0.1:1/v1"\nllm_model = "m"')

    async def main() -> None:
        async with resolve_llm(_args(), env) as cfg:
            assert (cfg.base_url, cfg.model) == ("http://127.0.0.1:1/v1", "m")
        only_key = {
            "HOME": str(tmp_path),
            "DASHSCOPE_API_KEY": "sk-d",
            "BRIDGE_TTS_REGION": "singapore",
        }
        async with resolve_llm(_args(), only_key) as cfg:
            assert cfg.base_url is not None and "dashscope-intl" in cfg.base_url
            assert cfg.model == "qwen-plus"

    anyio.run(main, backend="asyncio")


def test_the_think_options_reach_the_llm_config_from_flag_env_or_file(tmp_path: Path) -> None:
    env = _write(tmp_path, 'llm_base_url = "http://127.0.0.1:1/v1"\nllm_model = "m"\n')
    in_file = _write(tmp_path / "f", 'llm_api_key = "k"\nthink_open = true\nthink-window = 80\n')

    async def config(args: argparse.Namespace, env: dict[str, str]) -> tuple[bool, int]:
        async with resolve_llm(args, env) as cfg:
            return cfg.think_open, cfg.think_window

    async def main() -> None:
        assert await config(_args(), env) == (False, 0)
        assert await config(_args("--think-open", "--think-window", "300"), env) == (True, 300)
        assert await config(_args(), {**env, "BRIDGE_THINK_OPEN": "yes"}) == (True, 0)
        assert await config(_args(), {**env, "BRIDGE_THINK_WINDOW": "64"}) == (False, 64)
        assert await config(_args(), in_file) == (True, 80)
        assert await config(_args("--think-window", "0"), in_file) == (True, 0)
        with pytest.raises(ConfigError, match=r"think_window .* got -1 \(from env\)"):
            await config(_args(), {**env, "BRIDGE_THINK_WINDOW": "-1"})

    anyio.run(main, backend="asyncio")
    with pytest.raises(SystemExit):
        _args("--think-window", "-5")  # argparse: not a negative number


@pytest.mark.parametrize("command", ["chat", "say", "serve"])
def test_every_command_that_asks_a_model_takes_the_think_flags(command: str) -> None:
    from bridge.cli import build_parser

    extra = ["question"] if command == "say" else []
    args = build_parser().parse_args([command, *extra, "--think-open", "--think-window", "9"])
    s = load_settings(args, {"HOME": "/nonexistent"})
    assert (s.think_open, s.think_window) == (True, 9)
    assert s.source("think_open") == "flag"


def test_the_missing_keys_message_points_at_the_config_file(tmp_path: Path) -> None:
    async def main() -> None:
        async with resolve_llm(_args(), {"HOME": str(tmp_path)}):
            pass

    with pytest.raises(ConfigError) as info:
        anyio.run(main, backend="asyncio")
    message = str(info.value)
    assert "~/.config/bridge/config.toml" in message and "--local" in message
    assert 2 <= message.count("\n") + 1 <= 3


def test_make_sink_prefers_the_speaker_and_says_once_when_there_is_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import bridge.adapters.speaker

    notes: list[str] = []
    monkeypatch.setattr(bridge.adapters.speaker, "open_speaker", lambda rate: None)
    silent = make_sink(_args(), 24000, notes.append)
    assert notes == []  # said when audio comes, not before (a failing command never says it)

    async def play() -> None:
        for _ in range(3):
            await silent.write(AudioChunk(data=b"\0\0" * 240, sample_rate=24000, response_id="r"))
        await silent.close()

    anyio.run(play, backend="asyncio")
    assert silent.samples_played == 720
    assert len(notes) == 1 and "no speaker playback" in notes[0]

    speaker = object()
    monkeypatch.setattr(bridge.adapters.speaker, "open_speaker", lambda rate: speaker)
    assert make_sink(_args(), 24000, notes.append) is speaker
    assert len(notes) == 1
    assert isinstance(make_sink(_args("--out", "-"), 24000, notes.append), PcmSink)
    wav = make_sink(_args("--out", str(tmp_path / "a.wav")), 24000, notes.append)
    assert isinstance(wav, WavSink)


def test_the_tts_stall_bound_comes_from_flag_env_or_file_and_is_checked(tmp_path: Path) -> None:
    from bridge.cli import build_parser

    async def stall_of(argv: list[str], env: dict[str, str]) -> float:
        args = build_parser().parse_args(["speak", "--tts-url", "ws://127.0.0.1:9/x", *argv])
        async with resolve_tts(args, {"HOME": str(tmp_path), **env}) as target:
            return target.timeouts.stall

    assert anyio.run(stall_of, [], {}) == 3.0
    assert anyio.run(stall_of, ["--tts-stall-ms", "1500"], {}) == 1.5
    assert anyio.run(stall_of, [], {"BRIDGE_TTS_STALL_MS": "700"}) == 0.7
    with pytest.raises(ConfigError, match="tts_stall_ms must be at least 1, got 0"):
        anyio.run(stall_of, ["--tts-stall-ms", "0"], {})


def test_serve_offers_the_lexicon_dir_by_name_and_the_lexicon_file_as_the_default(
    tmp_path: Path,
) -> None:
    from bridge.cli import build_parser
    from bridge.commands.serve import _lexicons

    folder = tmp_path / "lex"
    folder.mkdir()
    (folder / "tech.toml").write_text('[exact]\nSQL = "sequel"\n', encoding="utf-8")
    own = tmp_path / "mine.toml"
    own.write_text('[exact]\nQwen = "chwen"\n', encoding="utf-8")
    env = {"HOME": str(tmp_path)}

    def lexicons(*argv: str, **more: str) -> tuple[list[str], str]:
        found, default = _lexicons(build_parser().parse_args(["serve", *argv]), {**env, **more})
        return list(found), default

    assert lexicons() == ([], "none")
    assert lexicons("--lexicon-dir", str(folder)) == (["tech"], "none")
    assert lexicons(BRIDGE_LEXICON_DIR=str(folder)) == (["tech"], "none")
    assert lexicons("--lexicon-dir", str(folder), "--lexicon", str(own)) == (
        ["tech", "mine"],
        "mine",
    )
    assert lexicons("--lexicon-dir", str(folder), "--lexicon", str(folder / "tech.toml")) == (
        ["tech"],
        "tech",
    )
    clash = tmp_path / "tech.toml"
    clash.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="a name --lexicon-dir has too"):
        lexicons("--lexicon-dir", str(folder), "--lexicon", str(clash))
