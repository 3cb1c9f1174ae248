"""Heard-text accuracy: ``spoken_text`` against what the listener really heard (prints figures).

Random barge-ins on random replies, spoken by the emulator's ``exact`` engine (every character
is a run of samples carrying its code point), so the truth is decoded from the very samples the
listener played:

- by ``Turn.interrupt()`` (the library; the sink plays in real time from the audio's arrival),
  and over ``bridge serve`` by ``response.cancel`` and by a new ``user.message`` (the client
  plays in real time from each frame's arrival and, with acks, acknowledges what it played
  every 100 ms and just before the barge-in; without acks the server models the playback,
  0.25 s behind what it sent unless the client declared its ``playback_delay_ms``: in a third
  of the server trials it declares ``--declared-delay-ms``, 50 ms (its own event loop, shared by
  the trials running at once, delays its reads by tens of milliseconds), and sends no acks);
- in ``commit`` and ``server_commit`` mode;
- with a dropped speech connection (the emulator closes it after a random number of audio
  deltas, the turn reconnects and re-sends what was not delivered) in a quarter of the trials.

For each trial the truth is the furthest point of the reply whose audio was played (a segment
re-sent after a drop is heard twice; what counts is how far the listener got), in characters
(white space aside: the server drops the spaces between segments) and in words (whole words
only, cut by the script-aware rule of ``bridge.text._chars``). The error is truth minus
``spoken_text``: positive = under-claimed, negative = over-claimed. Printed per group: median,
p99 and max of the error in characters and in words, over-claims, and the share of trials
where ``spoken_text`` is exactly the truth cut back to a whole word.

Run: ``uv run python benchmarks/heard_accuracy.py [--trials 500] [--seed 1] [--concurrency 12]
[--declared-delay-ms 50]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import anyio
from websockets.asyncio.client import connect

from bridge.adapters.llm import LLMConfig
from bridge.core.result import TurnResult
from bridge.local import EmulatorOptions, Faults, LatencyModel, serve_emulator
from bridge.local.engines.exact import decode_speech, samples_per_char
from bridge.logs import configure_logging
from bridge.pipeline import PipelineOptions, ReconnectPolicy, TTSTarget, Turn
from bridge.qwen import AudioChunk, SessionConfig, Timeouts
from bridge.server import ServerOptions, serve_bridge
from bridge.testing.fake_llm import FakeReply, serve_fake_llm, tokens_for
from bridge.text._chars import count_words, is_word_boundary

RATE = 24000
SPEECH_RATE = 2.0  # runs of 30 ms: the same figures in half the time
RUN = samples_per_char(RATE, speech_rate=SPEECH_RATE)
FAST = Timeouts(connect=5, update=5, first_audio=5, idle=5, close=1)
KINDS = ("interrupt", "cancel", "message")
# The library's sink knows what it played; a server client acknowledges it, or sends no acks
# (the server models its playback), or sends none but declares when it starts playing.
ACKS = ("sink", "acks", "no acks", "declared")
MODES = ("server_commit", "commit")

_WORDS = (
    "the a we you it plan walk lake river birds bread water weather coast morning evening "
    "quickly slowly together carefully small large green quiet bright wonderful tomorrow "
    "because before after then finally first second check pack cook rest visit call write"
).split()
_KOREAN = ["오늘 날씨가 정말 좋네요.", "내일 다시 만나요.", "천천히 걸어가요."]


def make_reply(rng: random.Random) -> str:
    """A reply of 3 to 7 sentences with commas, numbers, an abbreviation, now and then Korean."""
    sentences = []
    for _ in range(rng.randint(3, 7)):
        if rng.random() < 0.1:
            sentences.append(rng.choice(_KOREAN))
            continue
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 14))]
        if len(words) > 6 and rng.random() < 0.5:
            words[rng.randint(2, len(words) - 3)] += ","
        if rng.random() < 0.15:
            words.insert(rng.randint(0, len(words)), rng.choice(["Dr. Smith", "3.5", "12"]))
        sentence = " ".join(words)
        sentences.append(sentence[0].upper() + sentence[1:] + rng.choice(".!?."))
    return " ".join(sentences)


# --- the truth ------------------------------------------------------------------------------


def _squash(text: str) -> str:
    return "".join(text.split())


def furthest_heard(decoded: str, reply: str) -> int:
    """How far into ``reply`` (in non-space characters) the decoded audio got. After a drop a
    segment is spoken again from its start: the decoded text jumps back, and the furthest
    point reached counts."""
    target, heard = _squash(reply), _squash(decoded)
    pos = best = 0
    i = 0
    while i < len(heard):
        if pos < len(target) and target[pos] == heard[i]:
            pos += 1
            i += 1
            best = max(best, pos)
            continue
        # A jump back (a re-sent segment): to the earlier position from which the rest
        # matches longest.
        rest = heard[i:]

        def common(start: int, rest: str = rest) -> int:
            n = 0
            while n < len(rest) and start + n < len(target) and rest[n] == target[start + n]:
                n += 1
            return n

        start = max(range(pos), key=lambda s: (common(s), s), default=-1)
        if start < 0 or common(start) == 0:
            raise ValueError(f"decoded audio {decoded!r} is not in the reply")
        pos = start
    return best


def word_cut(reply: str, squashed: int) -> str:
    """The reply up to ``squashed`` non-space characters, cut back to a whole word."""
    count = cut = 0
    while cut < len(reply) and count < squashed:
        if not reply[cut].isspace():
            count += 1
        cut += 1
    while cut > 0 and not is_word_boundary(reply, cut):
        cut -= 1
    return reply[:cut].rstrip()


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    mode: str
    acks: str  # one of ACKS
    drop: bool
    truth_chars: int  # non-space characters heard
    spoken_chars: int
    truth_words: int  # whole words heard
    spoken_words: int
    prefix: bool  # spoken_text is a prefix of the reply (white space aside)
    exact: bool  # spoken_text is the truth cut back to a whole word
    truth_text: str  # the reply up to what was heard, cut back to a whole word
    spoken: str  # spoken_text

    @property
    def char_error(self) -> int:
        return self.truth_chars - self.spoken_chars

    @property
    def word_error(self) -> int:
        return self.truth_words - self.spoken_words

    @property
    def over(self) -> bool:
        return self.spoken_chars > self.truth_chars or not self.prefix


def score(
    kind: str, mode: str, acks: str, drop: bool, reply: str, pcm: bytes, played: int, spoken: str
) -> Outcome:
    decoded = decode_speech(pcm[: 2 * played], run_length=RUN).text
    truth = furthest_heard(decoded, reply)
    truth_text = word_cut(reply, truth)
    return Outcome(
        kind=kind,
        mode=mode,
        acks=acks,
        drop=drop,
        truth_chars=truth,
        spoken_chars=len(_squash(spoken)),
        truth_words=count_words(truth_text),
        spoken_words=count_words(spoken),
        prefix=_squash(reply).startswith(_squash(spoken)),
        exact=_squash(spoken) == _squash(truth_text),
        truth_text=truth_text,
        spoken=spoken,
    )


# --- playing in real time -------------------------------------------------------------------


class Player:
    """Plays what it is given in real time from its arrival (back to back, as a device),
    and keeps the samples to decode."""

    def __init__(self) -> None:
        self.pcm = bytearray()
        self._end = 0.0  # when what was written so far has been played
        self._spans: list[tuple[float, int, int]] = []  # (start time, first sample, samples)
        self._frozen: int | None = None

    def add(self, data: bytes) -> None:
        now = anyio.current_time()
        samples = len(data) // 2
        start = max(now, self._end)
        self._spans.append((start, len(self.pcm) // 2, samples))
        self._end = start + samples / RATE
        self.pcm += data

    def played(self) -> int:
        if self._frozen is not None:
            return self._frozen
        now = anyio.current_time()
        total = 0
        for start, first, samples in self._spans:
            if now <= start:
                break
            total = first + min(samples, int((now - start) * RATE))
        return total

    def freeze(self) -> int:
        if self._frozen is None:
            self._frozen = self.played()
        return self._frozen


class PlayerSink:
    """The library's sink: a real-time ``Player``."""

    def __init__(self) -> None:
        self.player = Player()

    @property
    def samples_played(self) -> int:
        return self.player.played()

    async def write(self, chunk: AudioChunk) -> None:
        if self.player._frozen is None:
            self.player.add(chunk.data)

    async def stop(self) -> None:
        self.player.freeze()

    async def close(self) -> None:
        while self.player.played() < len(self.player.pcm) // 2:
            await anyio.sleep(0.01)


# --- trials -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    kind: str
    mode: str
    acks: str  # one of ACKS
    drop: bool
    reply: str
    stop_at: float  # fraction of the reply's audio played before the barge-in
    drop_after: int  # audio deltas before the connection drops (when ``drop``)
    delta_ms: int
    declared_ms: int  # the playback_delay_ms a "declared" client declares


def make_plans(trials: int, seed: int, declared_ms: int = 50) -> list[Plan]:
    rng = random.Random(seed)
    plans = []
    for i in range(trials):
        kind = KINDS[i % 3]
        plans.append(
            Plan(
                kind=kind,
                mode=MODES[(i // 3) % 2],
                acks="sink" if kind == "interrupt" else ACKS[1:][(i // 6) % 3],
                drop=rng.random() < 0.25,
                reply=make_reply(rng),
                stop_at=rng.uniform(0.02, 0.9),
                drop_after=rng.randint(1, 30),
                delta_ms=rng.choice([20, 50, 100]),
                declared_ms=declared_ms,
            )
        )
    return plans


def _emulator(plan: Plan) -> EmulatorOptions:
    faults = Faults(close_after_deltas=plan.drop_after, connections=1) if plan.drop else Faults()
    latency = LatencyModel(first_packet=0.02, rtf=0.5, delta_ms=plan.delta_ms)
    return EmulatorOptions(engine="exact", latency=latency, faults=faults)


def _target(url: str, mode: str) -> TTSTarget:
    config = SessionConfig(mode=mode, speech_rate=SPEECH_RATE)  # type: ignore[arg-type]
    return TTSTarget(url=url, config=config, timeouts=FAST)


def _stop_samples(plan: Plan) -> int:
    return int(plan.stop_at * len(plan.reply) * RUN)


async def _tokens(text: str) -> AsyncIterator[str]:
    for token in tokens_for(text):
        await anyio.sleep(0.002)
        yield token


OPTIONS = PipelineOptions(reconnect=ReconnectPolicy(attempts=2, delay=0))


async def library_trial(plan: Plan) -> Outcome:
    async with serve_emulator(_emulator(plan)) as emu:
        sink = PlayerSink()
        turn = Turn(_tokens(plan.reply), sink, target=_target(emu.url, plan.mode), options=OPTIONS)
        result: list[TurnResult] = []

        async def run() -> None:
            result.append(await turn.run())

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            stop = _stop_samples(plan)
            while not result and sink.samples_played < stop:
                await anyio.sleep(0.005)
            turn.interrupt()
    spoken = result[0].spoken_text
    played = sink.player.freeze()
    return score(
        plan.kind, plan.mode, "sink", plan.drop, plan.reply, bytes(sink.player.pcm), played, spoken
    )


async def server_trial(plan: Plan) -> Outcome:
    replies = [FakeReply(tokens_for(plan.reply), delay=0.002), FakeReply(tokens_for("Okay."))]
    async with (
        serve_fake_llm(replies) as fake,
        serve_emulator(_emulator(plan)) as emu,
        serve_bridge(
            ServerOptions(port=0, audio_lead=1.0),
            llm=LLMConfig(base_url=fake.base_url, api_key="k", model="m"),
            tts=_target(emu.url, plan.mode),
        ) as srv,
        connect(srv.url, open_timeout=10, close_timeout=2) as ws,
    ):
        player = Player()
        state: dict[str, str] = {}
        barged = anyio.Event()
        finished = anyio.Event()

        async def read() -> None:
            # Frames go to the player the moment they arrive (a client's audio callback).
            while True:
                data = await ws.recv()
                if isinstance(data, bytes):
                    if not barged.is_set():
                        player.add(data)
                    continue
                event = json.loads(data)
                if event["type"] == "response.started":
                    state.setdefault("rid", event["response_id"])
                elif event["type"] == "response.interrupted" or (
                    event["type"] == "response.done" and event["response_id"] == state.get("rid")
                ):
                    # (response.done first: the reply ended before the barge-in)
                    state.setdefault("spoken", event.get("spoken_text", ""))
                    if event["type"] == "response.done":
                        state["spoken"] = event["result"]["spoken_text"]
                    finished.set()
                    return

        async def send(**event: object) -> None:
            await ws.send(json.dumps(event))

        stop = _stop_samples(plan)
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read)
                if plan.acks == "declared":  # applies to the response the next message starts
                    await send(type="session.configure", playback_delay_ms=plan.declared_ms)
                await send(type="user.message", text="Go.")
                acked, next_ack = 0, 0.0
                while not finished.is_set():
                    await anyio.sleep(0.005)
                    now, played = anyio.current_time(), player.played()
                    if plan.acks == "acks" and now >= next_ack and played > acked:
                        acked, next_ack = played, now + 0.1
                        await send(type="playback.ack", samples=played)
                    if played >= stop:
                        played = player.freeze()
                        barged.set()
                        if plan.acks == "acks":  # the last ack, just before the barge-in
                            await send(type="playback.ack", samples=played)
                        if plan.kind == "cancel":
                            await send(type="response.cancel")
                        else:
                            await send(type="user.message", text="Stop.")
                        break
                await finished.wait()
        spoken = state["spoken"]
    played = player.freeze()
    return score(
        plan.kind, plan.mode, plan.acks, plan.drop, plan.reply, bytes(player.pcm), played, spoken
    )


async def run_trials(plans: Sequence[Plan], concurrency: int) -> list[Outcome]:
    limiter = anyio.CapacityLimiter(concurrency)
    outcomes: list[Outcome] = []

    async def one(plan: Plan) -> None:
        async with limiter:
            trial = library_trial if plan.kind == "interrupt" else server_trial
            try:
                outcomes.append(await trial(plan))
            except TimeoutError:
                print("timed out:", plan, file=sys.stderr)

    async with anyio.create_task_group() as tg:
        for plan in plans:
            tg.start_soon(one, plan)
    return outcomes


# --- figures ----------------------------------------------------------------------------------


def _p99(values: Sequence[int]) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def summary(outcomes: Sequence[Outcome]) -> dict[str, float]:
    chars = [o.char_error for o in outcomes]
    words = [o.word_error for o in outcomes]
    return {
        "n": len(outcomes),
        "chars_median": statistics.median(chars),
        "chars_p99": _p99(chars),
        "chars_max": max(chars),
        "words_median": statistics.median(words),
        "words_p99": _p99(words),
        "words_max": max(words),
        "over_claims": sum(o.over for o in outcomes),
        "exact": sum(o.exact for o in outcomes) / len(outcomes),
    }


def groups(outcomes: Sequence[Outcome]) -> list[tuple[str, list[Outcome]]]:
    out: list[tuple[str, list[Outcome]]] = []
    for mode in MODES:
        for kind in KINDS:
            for acks in ACKS:
                chosen = [o for o in outcomes if (o.mode, o.kind, o.acks) == (mode, kind, acks)]
                if chosen:
                    label = f"{mode:13} {kind:9} {acks:8}"
                    out.append((label, chosen))
        with_drop = [o for o in outcomes if o.mode == mode and o.drop]
        if with_drop:
            out.append((f"{mode:13} {'(drops)':9} {'any':8}", with_drop))
        out.append((f"{mode:13} {'all':9} {'any':8}", [o for o in outcomes if o.mode == mode]))
    return out


def report(outcomes: Sequence[Outcome]) -> str:
    lines = [
        "error = truth - spoken_text (positive: under-claimed); characters without white space",
        f"{'mode':13} {'barge-in':9} {'acks':8} {'n':>4}  chars med/p99/max  "
        "words med/p99/max  over  exact",
    ]
    for label, chosen in groups(outcomes):
        s = summary(chosen)
        lines.append(
            f"{label} {s['n']:4d}  {s['chars_median']:5.1f} {s['chars_p99']:4d} {s['chars_max']:4d}"
            f"      {s['words_median']:5.1f} {s['words_p99']:4d} {s['words_max']:4d}"
            f"  {s['over_claims']:4d}  {s['exact']:5.0%}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument(
        "--declared-delay-ms",
        type=int,
        default=50,
        help="the playback_delay_ms the 'declared' clients declare (they play from arrival)",
    )
    args = parser.parse_args(argv)
    configure_logging(level="ERROR")
    plans = make_plans(args.trials, args.seed, args.declared_delay_ms)
    outcomes = anyio.run(run_trials, plans, args.concurrency)
    print(f"heard-text accuracy: {len(outcomes)} barge-ins, seed {args.seed}, exact engine")
    print(report(outcomes))
    for o in outcomes:  # each over-claim in full: what was heard, what was recorded
        if o.over:
            print(
                f"over-claim ({o.mode}, {o.kind}, acks {o.acks}, drop {o.drop}):\n"
                f"  heard    {o.truth_text!r}\n  recorded {o.spoken!r}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
