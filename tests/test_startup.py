"""Instant commands: `import bridge`, `bridge speak --local` and `bridge tts-server` never import
openai (most of the start-up time). Each check runs in a fresh interpreter where importing
openai fails, so any import of it, however indirect, breaks the command.

The CLI builds its parser (every command's options) without the modules the commands run on:
`bridge --help` and a command's `--help` load no websockets, structlog, rich, numpy or openai, and
`bridge speak --local` / `bridge tts-server` load no rich or colorama (structlog would bring
them), no opentelemetry (no tracer provider is configured) and no openai; numpy, which local speech
loads for its resampler, starts no OpenBLAS threads.
Each probe is a fresh interpreter that, at exit, lists the modules it loaded."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import anyio
import pytest
from _procs import clean_env

import bridge
from bridge.qwen import SessionConfig, connect

# `python -m bridge ARGS`, with openai made unimportable (a None entry in sys.modules).
NO_OPENAI = [
    sys.executable,
    "-c",
    "import sys, runpy; sys.modules['openai'] = None; sys.argv[0] = 'bridge'; "
    "runpy.run_module('bridge', run_name='__main__')",
]


# The functions that compile a regex of the CJK ranges (milliseconds each) on first use.
CJK_REGEXES = [
    ("bridge.text._chars", "cjk_regex"),
    ("bridge.text.segmenter", "_first_marks"),
    ("bridge.local.engines.scripts", "_class_regex"),
]
# `python -m bridge ARGS` that prints, at exit, one JSON line to stderr: the modules it loaded,
# its $OPENBLAS_NUM_THREADS and which of CJK_REGEXES compiled one.
PROBE = [
    sys.executable,
    "-c",
    "import atexit, json, os, runpy, sys\n"
    "def compiled():\n"
    f"    return [m + '.' + f for m, f in {CJK_REGEXES!r} if m in sys.modules\n"
    "            and getattr(sys.modules[m], f).cache_info().currsize]\n"
    "atexit.register(lambda: print('LOADED ' + json.dumps({'modules': sorted(name for name, "
    "module in sys.modules.items() if module is not None), "
    "'blas': os.environ.get('OPENBLAS_NUM_THREADS'), 'compiled': compiled()}), "
    "file=sys.stderr, flush=True))\n"
    "sys.argv[0] = 'bridge'\n"
    "runpy.run_module('bridge', run_name='__main__')",
]
# What building the parser and printing help must not load.
NOT_FOR_THE_PARSER = {"openai", "httpx", "pydantic", "websockets", "structlog", "rich", "numpy"}
# tomllib: read only when a configuration or lexicon file is (there is none here).
NOT_FOR_LOCAL_SPEECH = {"openai", "httpx", "pydantic", "rich", "opentelemetry", "tomllib"}
if sys.platform != "win32":  # structlog needs colorama for colours on Windows only
    NOT_FOR_LOCAL_SPEECH.add("colorama")
# Modules of bridge that local speech does not run on: the test engines (the emulator makes
# espeak) and, without a lexicon, the lexicon file's reader.
NOT_FOR_LOCAL_SPEECH_MODULES = {
    "bridge.local.engines.tone",
    "bridge.local.engines.exact",
    "bridge.adapters.lexicon_file",
}
# bridge tts-server serves the emulator only: no turn, its result or its cost, no settings.
NOT_FOR_THE_TTS_SERVER_MODULES = {
    "bridge.pipeline",
    "bridge.core.result",
    "bridge.core.cost",
    "bridge.commands.settings",
}


def run_fresh(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter (this environment without keys), which must succeed."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert out.returncode == 0, out.stderr
    return out


def report(stderr: str) -> dict[str, Any]:
    """What a PROBE run reported in its stderr."""
    lines = [line for line in stderr.splitlines() if line.startswith("LOADED ")]
    assert len(lines) == 1, stderr
    found: dict[str, Any] = json.loads(lines[0].removeprefix("LOADED "))
    return found


def loaded(stderr: str) -> set[str]:
    """The top-level packages a PROBE run reported in its stderr."""
    return {name.split(".")[0] for name in report(stderr)["modules"]}


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["speak", "--help"], ["tts-server", "--help"], ["chat", "--help"], []],
    ids=["bridge", "speak", "tts-server", "chat", "no-command"],
)
def test_building_the_parser_loads_none_of_the_commands_modules(argv: list[str]) -> None:
    out = subprocess.run(
        [*PROBE, *argv], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert out.returncode in (0, 2), out.stderr
    assert "usage: bridge" in out.stdout + out.stderr
    assert not loaded(out.stderr) & NOT_FOR_THE_PARSER


def test_speak_local_loads_neither_rich_nor_the_chat_sdk(tmp_path: Path) -> None:
    for name in ("rich", "colorama", "opentelemetry"):  # installed here (dev dependencies)
        pytest.importorskip(name)  # structlog would load the first two, tracing the third
    wav = tmp_path / "speech.wav"
    out = subprocess.run(
        [*PROBE, "speak", "--local", "--out", str(wav), "--log-format", "console"],
        input="Spoken without rich. Two sentences.",
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(XDG_CONFIG_HOME=str(tmp_path)),  # no configuration file
    )
    assert out.returncode == 0, out.stderr
    assert wav.stat().st_size > 44
    modules = loaded(out.stderr)
    assert {"structlog", "websockets"} <= modules  # it did log and speak through the emulator
    assert not modules & NOT_FOR_LOCAL_SPEECH
    found = report(out.stderr)
    assert {"bridge.local.engines.espeak", "bridge.text.segmenter"} <= set(found["modules"])
    assert not set(found["modules"]) & NOT_FOR_LOCAL_SPEECH_MODULES
    assert found["compiled"] == []  # English text: no regex of the CJK ranges


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("3", "3")], ids=["default", "user"])
def test_a_command_loads_numpy_with_one_blas_thread_unless_told(
    given: str | None, seen: str, tmp_path: Path
) -> None:
    # OpenBLAS starts a spinning thread per core as numpy loads: bridge never needs one.
    env = clean_env(XDG_CONFIG_HOME=str(tmp_path))
    env.pop("OPENBLAS_NUM_THREADS", None)
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    out = subprocess.run(
        [*PROBE, "speak", "--local", "--out", str(tmp_path / "speech.wav")],
        input="One sentence.",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    found = report(out.stderr)
    assert "numpy" in found["modules"]  # the resampler's: loaded after the variable was set
    assert found["blas"] == seen


def test_import_bridge_loads_no_openai_until_a_model_name_is_used() -> None:
    code = (
        "import sys, bridge\n"
        "assert 'openai' not in sys.modules, 'import bridge imported openai'\n"
        "assert set(bridge.__all__) <= set(dir(bridge))\n"
        "bridge.Turn, bridge.TTSSession, bridge.serve_emulator, bridge.BridgeError\n"
        "assert 'openai' not in sys.modules, 'a TTS-only name imported openai'\n"
        "assert bridge.LLMClient.__module__ == 'bridge.adapters.llm'\n"
        "assert 'openai' in sys.modules\n"
        "try:\n"
        "    bridge.NoSuchName\n"
        "except AttributeError as exc:\n"
        "    assert 'NoSuchName' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    run_fresh(code)


def test_every_public_name_imports_from_bridge_in_a_fresh_interpreter() -> None:
    code = (
        "import bridge\n"
        "names = [n for n in bridge.__all__ if n != '__version__']\n"
        "assert set(names) == set(bridge._LAZY), set(names) ^ set(bridge._LAZY)\n"
        "for name in names:\n"
        "    exec(f'from bridge import {name} as value', {}, scope := {})\n"
        "    value = scope['value']\n"
        "    home = getattr(value, '__module__', None) or bridge._LAZY[name]\n"
        "    assert home.startswith('bridge.'), (name, home)\n"
        "from bridge import __version__\n"
        "print(len(names))\n"
    )
    out = run_fresh(code)
    assert int(out.stdout) == len(bridge.__all__) - 1


def test_speak_local_runs_without_openai(tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    out = subprocess.run(
        [*NO_OPENAI, "speak", "--local", "--out", str(wav)],
        input="Spoken without the chat SDK. Two sentences.",
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert out.returncode == 0, out.stderr
    with wave.open(str(wav)) as w:
        assert w.getnframes() > 2400  # more than 0.1 s of speech at 24 kHz


@pytest.mark.parametrize("probe", [NO_OPENAI, PROBE], ids=["no-openai", "loaded-packages"])
def test_tts_server_serves_without_openai(probe: list[str]) -> None:
    proc = subprocess.Popen(
        [*probe, "tts-server", "--api-key", "sk-startup"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:"), proc.communicate(timeout=10)

        async def use() -> int:
            cfg = SessionConfig(mode="commit")
            async with connect(url=url, api_key="sk-startup", config=cfg) as tts:
                return len(await tts.speak("Served without the chat SDK."))

        assert anyio.run(use, backend="asyncio") > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        if probe is PROBE:
            assert proc.stderr is not None
            found = report(proc.stderr.read())
            modules = {name.split(".")[0] for name in found["modules"]}
            assert {"structlog", "websockets"} <= modules
            assert not modules & NOT_FOR_LOCAL_SPEECH
            assert "bridge.local.engines.espeak" in found["modules"]
            assert not set(found["modules"]) & NOT_FOR_LOCAL_SPEECH_MODULES
            assert not set(found["modules"]) & NOT_FOR_THE_TTS_SERVER_MODULES
            assert found["compiled"] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_loading_espeak_imports_the_resampler_in_the_background() -> None:
    # The emulator's start (make_synthesizer) does not wait for numpy: soxr is imported in a
    # thread of its own, and a first conversion meanwhile waits for that import.
    code = (
        "import sys, threading\n"
        "from bridge.local.engines import make_synthesizer\n"
        "from bridge.local.engines.resample import resample_pcm16\n"
        "make_synthesizer('espeak')\n"
        "loaders = [t for t in threading.enumerate() if t.name == 'bridge-soxr-import']\n"
        "assert len(loaders) == 1, threading.enumerate()\n"
        "assert len(resample_pcm16(bytes(2 * 2205), 22050, 24000)) == 2 * 2400\n"
        "loaders[0].join(30)\n"
        "assert 'soxr' in sys.modules and 'numpy' in sys.modules\n"
        "make_synthesizer('espeak')\n"
        "assert not [t for t in threading.enumerate() if t.name == 'bridge-soxr-import']\n"
    )
    run_fresh(code)


def test_a_command_imports_no_other_commands_module() -> None:
    # `bridge speak ...` builds the options of speak only; the others are listed by name.
    code = (
        "import sys\n"
        "from bridge.cli import COMMANDS, build_parser\n"
        "build_parser('speak').parse_args(['speak', '--local', '-'])\n"
        "loaded = sorted(m for m in COMMANDS.values() if m in sys.modules)\n"
        "assert loaded == ['bridge.commands.speak'], loaded\n"
    )
    run_fresh(code)


@pytest.mark.parametrize("command", ["speak", "serve", "chat", None])
def test_the_help_of_bridge_is_the_same_whichever_command_is_built(command: str | None) -> None:
    from bridge.cli import build_parser

    assert build_parser(command).format_help() == build_parser().format_help()
    if command is not None:  # the command's own options are all there
        whole, alone = (_command_parser(build_parser(only), command) for only in (None, command))
        assert alone.format_help() == whole.format_help()


def _command_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command: argparse.ArgumentParser = sub.choices[name]
    return command


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["speak", "--local"], "speak"),
        (["--log-level", "debug", "serve", "--port", "0"], "serve"),
        (["--debug", "tts-server"], "tts-server"),
        (["say", "speak"], "say"),  # a question that is a command's name
        (["--help"], None),
        (["--", "speak"], None),
    ],
)
def test_the_command_is_the_first_word_that_names_one(argv: list[str], command: str | None) -> None:
    from bridge.cli import _command_in

    assert _command_in(argv) == command
