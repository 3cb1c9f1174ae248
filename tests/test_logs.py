"""Logs as an operator reads them: a JSON run is one JSON object a line on stderr, whatever
wrote the record (structlog, the stdlib's loggers, a finalizer, a thread, an uncaught bug);
``--log-level`` / ``--log-format`` on every command; one INFO line per turn without text."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from typing import Any

import anyio
import pytest
from _procs import BRIDGE, clean_env
from anyio.streams.text import TextReceiveStream
from websockets.asyncio.client import connect

from bridge.local import EmulatorOptions, serve_emulator
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line of ``stderr`` as a JSON object; fails on the first line that is not one."""
    records = []
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}\n--- stderr ---\n{stderr}")
        assert isinstance(record, dict), line
        records.append(record)
    return records


# Everything that used to print around the renderer: a library's own stream handler, a
# stdlib record with an exception, a finalizer's RecursionError (also with no stack left to
# log it with), a thread's exception, a warning, a task exception never retrieved, a bug.
PROVOKE = textwrap.dedent(
    """
    import asyncio, gc, logging, sys, threading, warnings
    import structlog
    own = logging.getLogger("uvicorn.error")
    own.addHandler(logging.StreamHandler(sys.stderr))
    own.propagate = False
    from bridge.logs import configure_logging
    configure_logging(json=True, level="info")
    logging.getLogger("websockets.server").info("connection %s", "open")
    own.info("uvicorn-like")
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("httpx").exception("stdlib failed")
    try:
        raise ValueError("structlog")
    except ValueError:
        structlog.get_logger("bridge.test").exception("structlog failed")

    class Finalizer:
        def __del__(self):
            raise RecursionError("maximum recursion depth exceeded")

    Finalizer()
    gc.collect()

    def deep(n):
        if n == 0:
            x = Finalizer()
            del x
            return
        deep(n - 1)

    sys.setrecursionlimit(400)
    try:
        deep(390)
    except RecursionError:
        pass
    sys.setrecursionlimit(1000)
    t = threading.Thread(target=lambda: 1 / 0, name="worker")
    t.start()
    t.join()
    warnings.warn("a warning")

    async def main():
        async def fail():
            raise LookupError("never retrieved")
        task = asyncio.ensure_future(fail())
        await asyncio.sleep(0.01)
        del task
        gc.collect()

    asyncio.run(main())
    raise SystemError("uncaught")
    """
)


def test_every_stderr_line_of_a_json_run_is_one_json_object() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROVOKE],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert proc.returncode == 1, proc.stderr
    records = _json_lines(proc.stderr)
    events = {r["event"]: r for r in records}
    assert events["connection open"]["logger"] == "websockets.server"
    assert events["uvicorn-like"]["logger"] == "uvicorn.error"
    assert "KeyError" in events["stdlib failed"]["exception"]
    assert "ValueError: structlog" in events["structlog failed"]["exception"]
    unraisable = [r for r in records if r["event"] == "exception.unraisable"]
    assert len(unraisable) == 2, proc.stderr  # the plain one and the one with no stack left
    assert all("RecursionError" in r["exception"] for r in unraisable)
    assert events["exception.thread"]["thread"] == "worker"
    assert "ZeroDivisionError" in events["exception.thread"]["exception"]
    assert any("a warning" in r["event"] and r["logger"] == "py.warnings" for r in records)
    never = [r for r in records if r.get("logger") == "asyncio"]
    assert never and "LookupError: never retrieved" in never[0]["exception"]
    assert "SystemError: uncaught" in events["exception.uncaught"]["exception"]


USER_TEXT = "Tell me about the zebrafish quokka 4711"
MODEL_TEXT = "Platypus marmalade nine nine three eight."


async def _serve_one_turn(*options: str) -> str:
    """`bridge serve OPTIONS` with the scripted model: a turn with USER_TEXT, then SIGTERM;
    returns stderr."""
    reply = FakeReply(tokens_for(MODEL_TEXT), delay=0.005)
    async with (
        serve_fake_llm([reply]) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
    ):
        argv = [
            *BRIDGE,
            "serve",
            "--port",
            "0",
            "--tts-url",
            emu.url,
            "--llm-base-url",
            fake.base_url,
            "--llm-model",
            "m",
            *options,
        ]
        async with await anyio.open_process(argv, env=clean_env()) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            err = b""

            async def drain() -> None:
                nonlocal err
                assert proc.stderr is not None
                async for chunk in proc.stderr:
                    err += chunk

            async with anyio.create_task_group() as tg:
                tg.start_soon(drain)
                with anyio.fail_after(30):
                    first = ""
                    async for chunk in TextReceiveStream(proc.stdout):
                        first += chunk
                        if "\n" in first:
                            break
                    url = first.splitlines()[0]
                    async with connect(url, open_timeout=10) as ws:
                        assert json.loads(await ws.recv())["type"] == "session.ready"
                        await ws.send(json.dumps({"type": "user.message", "text": USER_TEXT}))
                        async for msg in ws:
                            if isinstance(msg, str) and json.loads(msg)["type"] == "response.done":
                                break
                    proc.send_signal(signal.SIGTERM)
                    assert await proc.wait() == 0
    return err.decode()


@pytest.mark.anyio
async def test_serve_logs_one_turn_line_at_info_without_the_texts() -> None:
    stderr = await _serve_one_turn("--log-format", "json")  # INFO: serve's default level
    records = _json_lines(stderr)
    assert USER_TEXT not in stderr and "zebrafish" not in stderr
    assert "Platypus" not in stderr and "marmalade" not in stderr
    turns = [r for r in records if r["event"] == "turn"]
    assert len(turns) == 1, stderr
    turn = turns[0]
    assert turn["level"] == "info" and turn["turn_id"].startswith("turn_")
    assert turn["session_id"].startswith("sess_")
    assert turn["request_chars"] == len(USER_TEXT)
    assert turn["text_chars"] == len(MODEL_TEXT) and turn["segments"] >= 1
    for key in ("ttft_ms", "first_audio_ms", "done_ms", "audio_ms", "chars_appended"):
        assert isinstance(turn[key], int | float), key
    assert not any(r["event"] == "turn.text" for r in records)
    # A library's own records are JSON too, and so are the command's own messages.
    assert any(r.get("logger", "").startswith("websockets") for r in records)
    assert any("demo page" in r["event"] for r in records)
    assert "Traceback" not in "".join(line[:20] for line in stderr.splitlines())


@pytest.mark.anyio
@pytest.mark.parametrize("options", [("--log-text",), ("--log-level", "debug")])
async def test_serve_logs_the_texts_at_debug_or_when_asked(options: tuple[str, ...]) -> None:
    stderr = await _serve_one_turn("--log-format", "json", *options)
    records = _json_lines(stderr)
    texts = [r for r in records if r["event"] == "turn.text"]
    assert len(texts) == 1, stderr
    assert texts[0]["request_text"] == USER_TEXT
    assert texts[0]["text"] == MODEL_TEXT


COMMANDS = ["chat", "say", "serve", "speak", "voices", "tts-server"]


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_command_takes_the_log_options(command: str) -> None:
    argv = [*BRIDGE, *([command] if command else []), "--help"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=clean_env())
    assert out.returncode == 0, out.stderr
    for flag in ("--log-level", "--log-format", "--debug"):
        assert flag in out.stdout, (command, flag)


def test_the_log_options_parse_before_and_after_the_command() -> None:
    from bridge.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["--log-level", "INFO", "serve", "--log-format", "json"])
    assert (args.log_level, args.log_format) == ("info", "json")
    args = parser.parse_args(["say", "--log-level", "warning", "hi"])
    assert args.log_level == "warning" and not hasattr(args, "log_format")


def test_a_bad_log_level_is_a_one_line_error() -> None:
    out = subprocess.run(
        [*BRIDGE, "voices", "--log-level", "loud"],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert out.returncode == 2 and "--log-level" in out.stderr
    assert "Traceback" not in out.stderr
    env = clean_env(BRIDGE_LOG_LEVEL="loud")
    out = subprocess.run([*BRIDGE, "voices"], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 2 and out.stderr.startswith("bridge: error: $BRIDGE_LOG_LEVEL")


def test_a_failed_command_in_json_mode_ends_with_a_json_line_and_debug_keeps_the_traceback() -> (
    None
):
    argv = [*BRIDGE, "tts-server", "--engine", "tone", "--rtf", "-1"]
    run = lambda *extra: subprocess.run(  # noqa: E731
        [*argv, *extra], capture_output=True, text=True, timeout=30, env=clean_env()
    )
    plain = run("--debug", "--log-format", "console")
    assert plain.returncode == 2 and "Traceback" in plain.stderr
    assert plain.stderr.rstrip().splitlines()[-1].startswith("bridge: error:")
    as_json = run("--log-format", "json")
    (record,) = _json_lines(as_json.stderr)
    assert as_json.returncode == 2 and record["level"] == "error"
    assert record["event"].startswith("error:")
    debug = run("--debug", "--log-format", "json")
    records = _json_lines(debug.stderr)
    assert debug.returncode == 2
    assert any("Traceback" in r.get("exception", "") for r in records), debug.stderr
