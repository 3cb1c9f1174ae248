"""An "ideal relay": the least a server must do to speak ``bridge serve``'s client protocol.

The baseline of ``benchmarks/relay_compare.py``, written in the same stack (asyncio +
websockets, httpx for the model's HTTP stream) and sharing no code with bridge. Per turn it:

- sends the chat completion request first (on one pooled keep-alive connection: the stream is
  read to its end, so the connection goes back to the pool for the next turn), and once its
  body is written (httpcore's ``trace`` events) sends ``response.started`` and opens a TTS
  WebSocket (Qwen-TTS Realtime, ``server_commit``), sends ``session.update``;
- streams the chat completion (SSE lines, ``json.loads`` each), appends the text to the TTS
  at each sentence end (``. ! ?``; in ``server_commit`` mode the service starts synthesizing
  there), appends the rest and sends ``session.finish`` when the model is done;
- per audio delta: ``json.loads``, ``base64`` decode, one binary frame to the client, paced so
  that at most ``--lead-ms`` of audio is ahead of real time since the first frame.

The client protocol subset: ``session.ready`` on connect; ``user.message`` →
``response.started``, ``audio.start``, binary PCM frames, ``response.done`` (its ``result``
holds ``segments[0].ready_ms``/``appended_ms``, like bridge's); other messages (acks) are read
and ignored. No barge-in, no limits, no history, no scrubbing: it is a yardstick, not a server.

Run: ``python benchmarks/ideal_relay.py --tts-url WS --llm-base-url HTTP [--port 0]``; prints
its ws URL on the first stdout line, serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import signal
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

RATE = 24000
_ENDS = (".", "!", "?")
# httpcore trace events after which the request is out (or a connect comes first)
_OUT_EVENTS = ("send_request_body.complete", "send_request_body.failed", "connect_tcp.started")
_ids = itertools.count(1)


def _event(kind: str, **body: Any) -> str:
    return json.dumps({"event_id": f"ev{next(_ids)}", "type": kind, **body})


class Relay:
    def __init__(self, args: argparse.Namespace) -> None:
        sep = "&" if "?" in args.tts_url else "?"
        self.tts_url = f"{args.tts_url}{sep}model={args.tts_model}"
        self.llm_url = args.llm_base_url.rstrip("/") + "/chat/completions"
        self.model = args.llm_model
        self.lead = args.lead_ms / 1000
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(60, connect=10))

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.ready", "session_id": f"s{next(_ids)}"}))
        running: asyncio.Task[None] | None = None
        try:
            async for message in ws:  # read on while a turn runs (acks are ignored)
                if isinstance(message, bytes):
                    continue
                event = json.loads(message)
                if event.get("type") == "user.message":
                    if running is not None:
                        await running  # no barge-in: the next turn waits for this one
                    running = asyncio.create_task(self.turn(ws, str(event.get("text", ""))))
        except ConnectionClosed:
            pass
        finally:
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await running

    async def turn(self, ws: ServerConnection, text: str) -> None:
        rid = f"resp_{next(_ids)}"
        start = time.monotonic()
        timeline: dict[str, float] = {}
        sent = asyncio.Event()  # the model request is out: nothing else comes before it
        tts_ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        speak = asyncio.create_task(self.speak(tts_ready, sent, text, start, timeline))
        try:
            await sent.wait()
            await ws.send(json.dumps({"type": "response.started", "response_id": rid}))
            async with connect(self.tts_url, compression=None, max_size=None) as tts:
                await tts.send(
                    _event(
                        "session.update",
                        session={
                            "voice": "Cherry",
                            "mode": "server_commit",
                            "response_format": "pcm",
                            "sample_rate": RATE,
                        },
                    )
                )
                tts_ready.set_result(tts)
                await self.relay_audio(ws, tts, rid)
        finally:
            tts_ready.cancel()  # no-op once set
            speak.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await speak
        ms = {k: round((v - start) * 1000, 3) for k, v in timeline.items()}
        result = {
            "turn_id": rid,
            "error": None,
            "interrupted": False,
            "segments": [{"ready_ms": ms.get("ready"), "appended_ms": ms.get("appended")}],
        }
        await ws.send(json.dumps({"type": "response.done", "response_id": rid, "result": result}))

    async def speak(
        self,
        tts_ready: asyncio.Future[Any],
        sent: asyncio.Event,
        text: str,
        start: float,
        timeline: dict[str, float],
    ) -> None:
        body = {
            "model": self.model,
            "stream": True,
            "messages": [{"role": "user", "content": text}],
        }

        async def trace(event: str, info: Any) -> None:
            # the body written, or a new connection to open first (long enough to go on)
            if event.endswith(_OUT_EVENTS):
                sent.set()

        buffer = ""
        first = True
        tts: Any = None
        try:
            async with self.http.stream(
                "POST", self.llm_url, json=body, extensions={"trace": trace}
            ) as response:
                sent.set()
                async for line in response.aiter_lines():
                    # read on past [DONE] to the body's end: the connection is then reused
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    choices = json.loads(line[6:]).get("choices") or ()
                    token = choices[0].get("delta", {}).get("content") if choices else None
                    if not token:
                        continue
                    buffer += token
                    if token.rstrip().endswith(_ENDS):
                        if first:
                            timeline["ready"] = time.monotonic()
                        if tts is None:
                            tts = await tts_ready
                        await tts.send(_event("input_text_buffer.append", text=buffer))
                        buffer = ""
                        if first:  # server_commit: a sentence end starts its synthesis
                            timeline["appended"] = time.monotonic()
                            first = False
        finally:
            sent.set()
        if tts is None:
            tts = await tts_ready
        if buffer.strip():
            await tts.send(_event("input_text_buffer.append", text=buffer))
        await tts.send(_event("session.finish"))

    async def relay_audio(self, ws: ServerConnection, tts: Any, rid: str) -> None:
        began: float | None = None
        sent = 0.0  # seconds of audio sent
        async for message in tts:
            event = json.loads(message)
            kind = event.get("type")
            if kind == "response.audio.delta":
                pcm = base64.b64decode(event["delta"])
                now = time.monotonic()
                if began is None:
                    began = now
                    await ws.send(
                        json.dumps({"type": "audio.start", "response_id": rid, "sample_rate": RATE})
                    )
                ahead = sent - (now - began) - self.lead
                if ahead > 0:
                    await asyncio.sleep(ahead)
                await ws.send(pcm)
                sent += len(pcm) / 2 / RATE
            elif kind in ("session.finished", "error"):
                return


async def main(args: argparse.Namespace) -> None:
    relay = Relay(args)
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(relay.handler, "127.0.0.1", args.port, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"ws://127.0.0.1:{port}/ws", flush=True)
        await stop
        server.close()
    await relay.http.aclose()


def _run(args: argparse.Namespace) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args))
        return
    uvloop.run(main(args))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tts-url", required=True)
    parser.add_argument("--tts-model", default="qwen3-tts-flash-realtime")
    parser.add_argument("--llm-base-url", required=True)
    parser.add_argument("--llm-model", default="fake")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lead-ms", type=float, default=1000.0)
    _run(parser.parse_args())
