"""espeak-ng in several processes: the way to run more than one synthesis at a time.

espeak-ng keeps its state in C globals, one copy per process, behind one lock
(``bridge.local.engines.espeak``), so one process synthesizes one text at a time. An
``EspeakPool`` of ``processes`` runs up to that many at once: one in this process (the library
it already has) and the others in worker processes, each a ``python -m
bridge.local.engines.espeak_pool`` that loads its own espeak-ng and answers requests on its
stdin/stdout, one at a time. A call takes whichever process is free: this one first (so a lone
synthesis never waits for a worker to start), then an idle worker, then a new worker while there
are fewer than ``processes``; otherwise it waits. Workers resample too, so the audio they send
back is final; it is the same, byte for byte, as this process would make.

A worker runs in a session of its own (no terminal signal reaches it) and exits when its stdin
closes, which is also what happens when this process dies, however it dies (its pipes are
inherited by no other child). Not ``bridge.local.child``'s launcher and its parent-death
signal, which the kernel sends when the *thread* that started the child ends (workers are
started from short-lived threads): the launcher would be one more process per worker. A
worker that dies during a synthesis fails that call with ``TTSError`` naming its exit status
(never a hang); one found dead when picked is replaced. Nothing of it is shared with other
pools.

Wire format (both directions little-endian): a request is ``<II`` (header length, text length),
a JSON header ``{"voice", "rate", "pitch", "volume", "sample_rate"}`` and the UTF-8 text; a reply
is ``<BI`` (kind: 0 audio, 1 ``TTSError``, 2 ``ConfigError``; payload length) and the payload
(s16le PCM, or the error's message).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Final

from bridge.core.errors import ConfigError, TTSError
from bridge.local.engines.espeak import EspeakSettings, synthesize_pcm

__all__ = ["EspeakPool", "main", "read_reply", "read_request", "reply", "request"]

_REQUEST: Final = struct.Struct("<II")
_REPLY: Final = struct.Struct("<BI")
_AUDIO: Final = 0
_TTS_ERROR: Final = 1
_CONFIG_ERROR: Final = 2
_MODULE: Final = "bridge.local.engines.espeak_pool"
_STOP_GRACE: Final = 2.0


def request(text: bytes, settings: EspeakSettings, sample_rate: int) -> bytes:
    """One synthesis request in the wire format."""
    header = json.dumps(
        {
            "voice": settings.voice,
            "rate": settings.rate,
            "pitch": settings.pitch,
            "volume": settings.volume,
            "sample_rate": sample_rate,
        }
    ).encode("utf-8")
    return _REQUEST.pack(len(header), len(text)) + header + text


def read_request(stream: IO[bytes]) -> tuple[bytes, EspeakSettings, int] | None:
    """The next request on ``stream``: ``(text, settings, sample_rate)``; ``None`` at its end."""
    head = _read_exactly(stream, _REQUEST.size)
    if head is None:
        return None
    header_length, text_length = _REQUEST.unpack(head)
    body = _read_exactly(stream, header_length + text_length)
    if body is None:
        return None
    header = json.loads(body[:header_length])
    settings = EspeakSettings(
        voice=str(header["voice"]),
        rate=int(header["rate"]),
        pitch=int(header["pitch"]),
        volume=int(header["volume"]),
    )
    return body[header_length:], settings, int(header["sample_rate"])


def reply(kind: int, payload: bytes) -> bytes:
    """One reply in the wire format (``kind``: 0 audio, 1 TTSError, 2 ConfigError)."""
    return _REPLY.pack(kind, len(payload)) + payload


def read_reply(stream: IO[bytes]) -> bytes | None:
    """The audio of the next reply on ``stream``; ``None`` if the stream ended first (the
    worker died). An error reply is raised as the error it names."""
    head = _read_exactly(stream, _REPLY.size)
    if head is None:
        return None
    kind, length = _REPLY.unpack(head)
    payload = _read_exactly(stream, length)
    if payload is None:
        return None
    if kind == _AUDIO:
        return payload
    message = payload.decode("utf-8", "replace")
    if kind == _CONFIG_ERROR:
        raise ConfigError(message, field="engine")
    raise TTSError(message)


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    data = stream.read(n)
    if len(data) < n:  # a pipe's read returns short only at its end
        return None
    return data


def _exit_status(code: int | None) -> str:
    if code is None:
        return "closed its output"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


class _Worker:
    """One worker process; used by one thread at a time (the pool hands it out)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[3])  # the folder that holds ``bridge``
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", _MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def synthesize(self, message: bytes) -> bytes:
        process = self.process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(message)
            process.stdin.flush()
            audio = read_reply(process.stdout)
        except (BrokenPipeError, ConnectionResetError):
            audio = None
        if audio is None:
            self.stop()
            raise TTSError(
                f"the espeak worker process (pid {process.pid}) "
                f"{_exit_status(process.returncode)} during a synthesis"
            )
        return audio

    def stop(self) -> None:
        """Close its stdin (it exits), kill it if it does not within a grace period; reap it."""
        process = self.process
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            process.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EspeakPool:
    """Up to ``processes`` espeak-ng syntheses at once (see the module docstring). Thread-safe."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.processes = processes
        self._cond = threading.Condition()
        self._local_free = True
        self._idle: list[_Worker] = []
        self._workers = 0  # started and not stopped: idle or busy
        self._generation = 0  # bumped by close(): workers of an older one stop when released
        self._born: dict[int, int] = {}  # id(worker) -> generation it was started in

    def worker_pids(self) -> list[int]:
        """The process ids of the idle workers (for tests and diagnostics)."""
        with self._cond:
            return [w.process.pid for w in self._idle]

    @property
    def busy(self) -> int:
        """How many syntheses are running now."""
        with self._cond:
            return (0 if self._local_free else 1) + self._workers - len(self._idle)

    def synthesize(self, text: bytes, settings: EspeakSettings, sample_rate: int) -> bytes:
        worker = self._acquire()
        if worker is None:
            try:
                return synthesize_pcm(text, settings, sample_rate)
            finally:
                with self._cond:
                    self._local_free = True
                    self._cond.notify()
        try:
            return worker.synthesize(request(text, settings, sample_rate))
        finally:
            self._release(worker)

    def close(self) -> None:
        """Stop every idle worker now, and each busy one when its synthesis ends."""
        with self._cond:
            self._generation += 1
            idle, self._idle = self._idle, []
            self._workers -= len(idle)
        for worker in idle:
            self._born.pop(id(worker), None)
            worker.stop()

    def _acquire(self) -> _Worker | None:
        """A free process: ``None`` for this one, else a worker (started if need be)."""
        with self._cond:
            while True:
                if self._local_free:
                    self._local_free = False
                    return None
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        return worker
                    self._workers -= 1  # died while idle: replace it
                    self._born.pop(id(worker), None)
                    worker.stop()
                if 1 + self._workers < self.processes:
                    self._workers += 1
                    generation = self._generation
                    break
                self._cond.wait()
        try:
            worker = _Worker()
        except OSError as exc:
            with self._cond:
                self._workers -= 1
                self._cond.notify()
            raise TTSError(f"could not start an espeak worker process: {exc}") from exc
        with self._cond:
            self._born[id(worker)] = generation
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            current = self._born.get(id(worker)) == self._generation
            if current and worker.alive:
                self._idle.append(worker)
                self._cond.notify()
                return
            self._workers -= 1
            self._born.pop(id(worker), None)
            self._cond.notify()
        worker.stop()


def main() -> int:
    """A worker: answer synthesis requests on stdin until it closes."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the replies
    while (incoming := read_request(sys.stdin.buffer)) is not None:
        text, settings, sample_rate = incoming
        try:
            answer = reply(_AUDIO, synthesize_pcm(text, settings, sample_rate))
        except ConfigError as exc:
            answer = reply(_CONFIG_ERROR, str(exc).encode("utf-8"))
        except TTSError as exc:
            answer = reply(_TTS_ERROR, str(exc).encode("utf-8"))
        try:
            replies.write(answer)
            replies.flush()
        except BrokenPipeError:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
