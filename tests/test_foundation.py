"""Project foundation: public API surface, packaging, entry points, secret-free logs."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
import structlog

import bridge
from bridge.core.errors import BridgeError
from bridge.logs import REDACTED, configure_logging, redact

ROOT = Path(__file__).resolve().parent.parent


def test_public_api_is_explicit_and_importable() -> None:
    assert len(bridge.__all__) == len(set(bridge.__all__))
    for name in bridge.__all__:
        assert hasattr(bridge, name), name
    public = {n for n in vars(bridge) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(bridge, n)).__name__ == "module"}
    # Everything public that is not a submodule is listed in __all__.
    assert public - modules - {"annotations"} <= set(bridge.__all__)
    for name in ("connect", "SessionConfig", "serve_emulator", "Segmenter", "split_speech"):
        assert name in bridge.__all__, name


def test_error_tree_has_one_root() -> None:
    errors = [getattr(bridge, n) for n in bridge.__all__ if n.endswith("Error")]
    assert errors
    assert all(issubclass(e, BridgeError) for e in errors)


def test_py_typed_and_license_ship() -> None:
    assert (ROOT / "bridge" / "py.typed").exists()
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "GPL-3.0-or-later" in readme


@pytest.mark.parametrize("argv", [["bridge"], [sys.executable, "-m", "bridge"]])
def test_entry_points_show_help(argv: list[str]) -> None:
    exe = Path(sys.executable).parent / "bridge" if argv[0] == "bridge" else None
    cmd = [str(exe), *argv[1:]] if exe else argv
    out = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=30, check=True)
    assert "tts-server" in out.stdout


def test_user_mistake_is_one_line_without_traceback() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge",
            "tts-server",
            "--engine",
            "tone",
            "--port",
            "1",
            "--host",
            "256.1.1.1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("bridge: error:")


SECRET = "sk-live-secret-abcdef123456"


def test_redact_helper() -> None:
    assert SECRET not in redact(f"Authorization: Bearer {SECRET}")
    assert redact({"api_key": SECRET, "ok": 1}) == {"api_key": REDACTED, "ok": 1}
    assert SECRET not in str(redact(["x", {"headers": {"Authorization": f"Bearer {SECRET}"}}]))
    assert SECRET not in redact(f"wss://h/p?model=m&api_key={SECRET}")


def test_api_keys_and_authorization_headers_never_reach_the_logs() -> None:
    """Drive a real authenticated session with debug logging on; no secret may be printed."""
    from bridge.local import EmulatorOptions, serve_emulator
    from bridge.qwen import connect

    stream = io.StringIO()
    configure_logging(debug=True, stream=stream, json=True)
    for name in ("websockets", "websockets.client", "websockets.server"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    log = structlog.get_logger("test")
    try:
        log.info("with key", api_key=SECRET, headers={"Authorization": f"Bearer {SECRET}"})
        log.info(f"a message that mentions Bearer {SECRET}")
        log.info("nested", request={"token": SECRET, "url": f"wss://x?api_key={SECRET}"})

        async def session() -> None:
            async with serve_emulator(EmulatorOptions(engine="tone", api_key=SECRET)) as emu:
                async with connect(url=emu.url, api_key=SECRET) as tts:
                    await tts.append("Hello. ")
                    await tts.finish()
                try:
                    async with connect(url=emu.url, api_key=SECRET + "x"):
                        pass
                except BridgeError as exc:
                    log.warning("connect failed", error=str(exc))

        anyio.run(session, backend="asyncio")
    finally:
        structlog.reset_defaults()
        logging.basicConfig(force=True)
    text = stream.getvalue()
    assert "with key" in text and "nested" in text  # the logging really happened
    assert "connect failed" in text
    assert SECRET not in text
    for line in text.splitlines():
        if line.startswith("{"):
            json.loads(line)


def test_compose_file_follows_the_compose_specification() -> None:
    exe = Path(sys.executable).parent / "check-jsonschema"
    out = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.compose-spec", str(ROOT / "compose.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
