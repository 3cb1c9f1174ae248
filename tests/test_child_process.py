"""Children of the CLI (the embedded model's server) are out of Ctrl-C's reach, yet never outlive
the CLI.

A script stands in for ``bridge chat --local``: in a process group of its own (as a shell job
in a terminal), it starts a dummy model server through ``serve_local_llm(command=...)`` - the
code path of the real one - under the CLI's signal handling (``until_exit_signal``), and holds
it like chat does, catching one SIGINT as "stop the reply". The test sends SIGINT to the
script's whole process group, as a terminal does on Ctrl-C: the server must survive and still
answer. Then the script ends in one of the ways a CLI ends, and the server must be gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.local.child import launcher_argv

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics"),
    pytest.mark.timeout(90),
]

WAIT = 30.0

DUMMY_SERVER = textwrap.dedent(
    """
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [
                {"id": "dummy", "object": "model", "owned_by": "me", "created": 0}
            ]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {server.server_address[1]}")
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()
    """
)

# The stand-in for the CLI. argv: dummy server file, its pid/port file, the port.
CLI = textwrap.dedent(
    """
    import signal, sys
    import anyio, openai
    from bridge.commands.signals import until_exit_signal
    from bridge.local.llm_server import serve_local_llm
    from bridge.logs import configure_logging

    configure_logging(debug=False, level="ERROR")  # as the CLI does: stdout stays ours
    server, info, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

    async def chat() -> int:
        async with serve_local_llm(
            command=[sys.executable, server, info, str(port)], port=port, ready_timeout=60.0
        ) as llm:
            with anyio.open_signal_receiver(signal.SIGINT) as signals:
                print("ready", flush=True)
                async for _ in signals:  # Ctrl-C during a reply: the reply stops, chat goes on
                    break
            async with openai.AsyncOpenAI(
                base_url=llm.base_url, api_key=llm.api_key, max_retries=0, timeout=10.0
            ) as client:
                page = await client.models.list()
            with anyio.open_signal_receiver(signal.SIGUSR1, signal.SIGUSR2) as signals:
                print("still answers:", page.data[0].id, flush=True)
                async for signum in signals:
                    if signum == signal.SIGUSR2:
                        raise RuntimeError("a failing command")
                    return 0
        return 0

    try:
        sys.exit(anyio.run(until_exit_signal, chat, backend="asyncio"))
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def _gone(pid: int) -> bool:
    """No such process, or only a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        _, err = proc.communicate(timeout=WAIT)
        raise AssertionError(f"the CLI stand-in ended (code {proc.returncode}):\n{err}")
    return line.strip()


def _end(proc: subprocess.Popen[str], how: str) -> None:
    signals = {
        "return": signal.SIGUSR1,
        "exception": signal.SIGUSR2,
        "sigterm": signal.SIGTERM,
        "sighup": signal.SIGHUP,
        "sigkill": signal.SIGKILL,
    }
    if how == "second-ctrl-c":  # no receiver any more: asyncio's KeyboardInterrupt
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signals[how])


EXIT_CODES = {
    "return": 0,
    "exception": 1,
    "sigterm": 128 + signal.SIGTERM,
    "sighup": 128 + signal.SIGHUP,
    "second-ctrl-c": 130,
    "sigkill": -signal.SIGKILL,
}


@pytest.mark.parametrize("how", list(EXIT_CODES))
def test_ctrl_c_spares_the_model_server_and_every_exit_stops_it(tmp_path: Path, how: str) -> None:
    server = tmp_path / "dummy_server.py"
    server.write_text(DUMMY_SERVER, encoding="utf-8")
    info = tmp_path / "server.info"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, str(server), str(info), str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job in a terminal
    )
    pid = 0
    try:
        assert _read_line(proc) == "ready"
        pid = int(info.read_text().split()[0])
        assert os.getpgid(pid) != proc.pid  # not in the terminal's (the script's) group

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        assert _read_line(proc) == "still answers: dummy"
        assert not _gone(pid)

        _end(proc, how)
        _, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == EXIT_CODES[how], err
        _wait_until(lambda: _gone(pid), f"the model server is gone after {how}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        if pid and not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_the_launcher_exits_when_its_parent_is_already_gone(tmp_path: Path) -> None:
    # The parent died before the child could ask to die with it: it must not run unowned.
    marker = tmp_path / "ran"
    argv = launcher_argv(
        [sys.executable, "-c", f"open({str(marker)!r}, 'w')"], parent=os.getpid() + 10**6
    )
    done = subprocess.run(argv, timeout=WAIT, check=False)
    assert done.returncode == 70
    assert not marker.exists()


def test_the_launcher_runs_the_command_when_its_parent_is_alive(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    argv = launcher_argv([sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    done = subprocess.run(argv, timeout=WAIT, check=False)
    assert done.returncode == 0
    assert marker.exists()


PING_PONG = textwrap.dedent(
    """
    import os, sys, time
    info = sys.argv[1]
    with open(info + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(info + ".tmp", info)
    while not os.path.exists(info + ".ping"):
        time.sleep(0.02)
    open(info + ".pong", "w").close()
    time.sleep(60)
    """
)


def test_the_child_outlives_the_thread_that_started_it_but_not_the_process(
    tmp_path: Path,
) -> None:
    """The kernel's parent-death signal comes when the *thread* that started the child ends
    (an event loop run in a thread): the child must go on while this process lives. It
    proves it is alive by answering a ping once that thread is gone (from /proc, not only
    joined)."""
    import threading

    info = tmp_path / "child.info"
    started: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        argv = launcher_argv([sys.executable, "-c", PING_PONG, str(info)])
        started.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True))
        _wait_until(info.exists, "the child runs (the launcher asked for the signal first)")

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    tid = thread.native_id
    _wait_until(lambda: not Path(f"/proc/self/task/{tid}").exists(), "the thread is gone")
    launcher = started[0]
    pid = int(info.read_text())
    try:
        Path(str(info) + ".ping").touch()
        pong = Path(str(info) + ".pong")
        _wait_until(lambda: pong.exists() or _gone(pid), "the child answers or is gone")
        assert pong.exists() and not _gone(pid), "the child died with its starting thread"
        assert launcher.poll() is None
        # stop_child's way: SIGTERM to the group; the launcher waits for the command and
        # ends as it did (by that signal).
        os.killpg(launcher.pid, signal.SIGTERM)
        assert launcher.wait(WAIT) == -signal.SIGTERM
        _wait_until(lambda: _gone(pid), "the child is gone")
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait(WAIT)
