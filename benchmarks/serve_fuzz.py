"""Hostile input at a real `bridge serve` process, counted (prints numbers; not a test).

A seeded generator sends at least ``--frames`` (default 10,000) frames over many connections:
valid turns whose text holds lone surrogates, surrogate halves, control characters and emoji;
deeply nested JSON (valid and unterminated); invalid JSON and invalid UTF-8; binary frames;
wrong field types; unknown types; messages over the size limit; floods past the message
burst; cancels and acks at random. The server runs as a subprocess (JSON logs on stderr)
against the emulator (tone engine) and the scripted chat model.

It prints what came back (error codes, close codes) and what the server wrote: log lines
that are not JSON, tracebacks, records at ERROR or above, and unhandled exceptions, which
must all be 0, and closes other than the documented ones (docs/protocol.md), also 0.
The exit status is 1 when any of those is not 0.

Run: ``uv run python benchmarks/serve_fuzz.py [--frames 10000] [--seed 1]``
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bridge.local import EmulatorOptions, serve_emulator
from bridge.server.protocol import CloseCode, ErrorCode
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for

# docs/protocol.md: ours, and 1002/1007 from the WebSocket layer (a malformed frame, a text
# frame that is not UTF-8). 1011 (internal error) is never expected.
DOCUMENTED_CLOSES = ({int(c) for c in CloseCode} | {1002, 1007}) - {int(CloseCode.INTERNAL_ERROR)}
CODES = {c.value for c in ErrorCode}
HOSTILE_TEXT = [
    "lone \ud800 high",
    "lone \udfff low",
    "half \ud83d",
    "\ude00 half",
    "bell \x07 esc \x1b[31m del \x7f c1 \x85",
    "nul \x00 inside",
    "\u202e right-to-left override",
    "zero\u200bwidth",
    "\U0001f600\U0001f469\u200d\U0001f4bb emoji",
    "CRLF\r\nline\rbreaks",
    "`code` **bold** [link](http://x) $x^2$",
    "a" * 900,
]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(HOSTILE_TEXT) for _ in range(rng.randint(1, 3)))


def _nested(rng: random.Random) -> str:
    depth = rng.choice([50, 1000, 20000, 200000])
    kind = rng.choice(["list", "dict", "open"])
    if kind == "list":
        return "[" * depth + "]" * depth
    if kind == "dict":
        return '{"a":' * depth + "1" + "}" * depth
    return '{"type":"user.message","text":' + "[" * depth


def _json_frame(rng: random.Random) -> str:
    """A JSON text frame; json.dumps keeps lone surrogates as escapes (valid JSON)."""
    kind = rng.randrange(10)
    if kind < 3:
        return json.dumps({"type": "user.message", "text": _text(rng)})
    if kind == 3:
        return json.dumps({"type": "response.cancel", "response_id": rng.choice([None, 1, "x"])})
    if kind == 4:
        return json.dumps({"type": "playback.ack", "samples": rng.choice([-1, 1e308, "9", 5])})
    if kind == 5:
        field = rng.choice(["voice", "prompt", "sample_rate", "language"])
        value = rng.choice([None, 0, -5, "Nobody", "\ud800", [1], {"a": 1}, 1e999])
        return json.dumps({"type": "session.configure", field: value}, allow_nan=True)
    if kind == 6:
        return json.dumps({"type": _text(rng)[:30]})
    if kind == 7:
        return json.dumps({"type": "user.message", "text": rng.choice([None, 1, [], {}, ""])})
    if kind == 8:
        return json.dumps({"type": "user.message", "text": "x" * rng.randint(5000, 20000)})
    return json.dumps(rng.choice([[], 1, "s", None, {"no": "type"}]))


class TextBytes(bytes):
    """Bytes sent in a text frame (they may not be UTF-8: a lone surrogate encoded)."""


def frame(rng: random.Random) -> str | bytes:
    kind = rng.randrange(20)
    if kind < 12:
        return _json_frame(rng)
    if kind < 14:
        return _nested(rng)
    if kind == 14:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))  # binary frame
    if kind == 15:
        # Invalid JSON in a text frame whose bytes need not be UTF-8 (lone surrogates).
        return TextBytes(("{" + _text(rng)).encode("utf-8", "surrogatepass"))
    if kind == 16:
        return '{"type": "user.message", "text": "\\ud800\\udc00\\ud800"}'
    if kind == 17:
        return '{"type": "user.message", "text": "\\u0000\\u001b\\u009f"}'
    if kind == 18:
        return "b" * rng.randint(70_000, 80_000)  # over the frame limit
    return " " * rng.randint(0, 3)


async def _reader(ws: Any, seen: collections.Counter[str]) -> None:
    try:
        async for data in ws:
            if isinstance(data, bytes):
                seen["binary frames"] += 1
                continue
            event = json.loads(data)
            if event.get("type") == "error":
                code = event.get("code")
                seen[f"error {code}" if code in CODES else f"UNDOCUMENTED error {code}"] += 1
            else:
                seen[str(event.get("type"))] += 1
    except ConnectionClosed:
        pass


async def one_connection(
    url: str, rng: random.Random, count: int, seen: collections.Counter[str]
) -> tuple[int, int | None]:
    """Send ``count`` frames (some as a flood) on one connection; frames sent, close code."""
    sent = 0
    try:
        async with connect(url, max_size=None, open_timeout=20, close_timeout=5) as ws:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_reader, ws, seen)
                flood = rng.random() < 0.1
                try:
                    for _ in range(count):
                        data = frame(rng)
                        await ws.send(data, text=isinstance(data, TextBytes) or None)
                        sent += 1
                        if not flood:
                            await anyio.sleep(rng.choice([0, 0, 0.001, 0.01]))
                    await anyio.sleep(0.2)
                    await ws.close()
                except ConnectionClosed:
                    pass
            return sent, ws.close_code
    except InvalidStatus as exc:  # refused at the handshake (e.g. too many sessions: 503)
        seen[f"handshake HTTP {exc.response.status_code}"] += 1
        return sent, None


def scan_log(path: Path) -> collections.Counter[str]:
    found: collections.Counter[str] = collections.Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            found["non-JSON log lines"] += 1
            if "Traceback" in line:
                found["tracebacks"] += 1
            continue
        found["log lines"] += 1
        level = str(record.get("level", "")).lower()
        if level in ("error", "critical"):
            found["records at ERROR or above"] += 1
        if "exception" in record or "Traceback" in line:
            found["tracebacks"] += 1
    return found


async def main(total: int, seed: int) -> int:
    rng = random.Random(seed)
    replies = [FakeReply(tokens_for("Fine, thanks. And you?"), delay=0.001)]
    log = Path(tempfile.mkdtemp(prefix="bridge-fuzz-")) / "serve.log"
    started = time.perf_counter()
    async with (
        serve_fake_llm(replies * 100_000) as fake,
        serve_emulator(EmulatorOptions(engine="tone")) as emu,
    ):
        argv = [sys.executable, "-m", "bridge", "serve", "--port", "0", "--tts-url", emu.url]
        argv += ["--llm-base-url", fake.base_url, "--llm-model", "m", "--audio-lead-ms", "0"]
        argv += ["--log-format", "json", "--log-level", "info", "--max-message-bytes", "4096"]
        argv += ["--turns-per-minute", "100000", "--address-turns-per-minute", "100000"]
        argv += ["--server-turns-per-minute", "100000", "--max-sessions-per-address", "1000"]
        with log.open("w") as err:
            proc = await anyio.open_process(argv, stderr=err)
            assert proc.stdout is not None
            url = (await proc.stdout.receive()).decode().splitlines()[0].strip()
            sent = 0
            closes: collections.Counter[int | None] = collections.Counter()
            seen: collections.Counter[str] = collections.Counter()
            connections = 0
            while sent < total:
                batch = min(total - sent, rng.choice([1, 5, 20, 50, 120]))
                n, code = await one_connection(url, rng, batch, seen)
                sent += n
                connections += 1
                closes[code] += 1
            proc.send_signal(2)
            with anyio.move_on_after(30):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
    elapsed = time.perf_counter() - started
    found = scan_log(log)
    undocumented = sum(n for c, n in closes.items() if c is not None and c not in DOCUMENTED_CLOSES)
    bad_errors = sum(n for k, n in seen.items() if k.startswith("UNDOCUMENTED"))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; seed {seed}")
    print(f"frames sent: {sent} over {connections} connections in {elapsed:.0f} s")
    print("close codes: " + ", ".join(f"{c}: {n}" for c, n in sorted(closes.items(), key=str)))
    print("received: " + ", ".join(f"{k}: {n}" for k, n in sorted(seen.items())))
    print(f"server exit status: {proc.returncode}")
    checks = {
        "undocumented close codes": undocumented,
        "undocumented error codes": bad_errors,
        "tracebacks in the log": found["tracebacks"],
        "non-JSON log lines": found["non-JSON log lines"],
        "log records at ERROR or above": found["records at ERROR or above"],
        "server exit status (0 after SIGINT)": proc.returncode or 0,
    }
    for name, value in checks.items():
        print(f"{name}: {value}")
    print(f"(server log: {log}, {found['log lines']} JSON lines)")
    return 1 if any(checks.values()) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(anyio.run(main, args.frames, args.seed))
