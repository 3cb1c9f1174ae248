"""A small, seeded run of ``benchmarks/heard_accuracy.py``: random barge-ins (``interrupt()``,
``response.cancel``, a new ``user.message``; both modes; drops mixed in) measured against the
``exact`` engine's decoded audio. Clients here send acks (the library's sink is exact), so the
heard text must never claim a character that was not played, nor miss more than one word."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

pytestmark = pytest.mark.anyio

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "heard_accuracy.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("heard_accuracy", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["heard_accuracy"] = module
    spec.loader.exec_module(module)
    return module


def test_the_truth_is_how_far_the_listener_got_also_across_a_repeat() -> None:
    bench = _bench()
    reply = "One two three. Four five six."
    assert bench.furthest_heard("One two th", reply) == len("Onetwoth")
    # A drop after "Four fi", then "Four five six." re-sent whole and heard to "si".
    assert bench.furthest_heard("One two three.Four fiFour five si", reply) == len(
        "Onetwothree.Fourfivesi"
    )
    assert bench.word_cut(reply, len("Onetwothree.Fourfi")) == "One two three. Four"
    assert bench.word_cut(reply, len("Onetwothree")) == "One two three"
    with pytest.raises(ValueError, match="not in the reply"):
        bench.furthest_heard("Six", reply)


async def test_random_barge_ins_never_over_claim_and_miss_at_most_a_word() -> None:
    bench = _bench()
    plans = [p for p in bench.make_plans(60, seed=11) if p.acks in ("sink", "acks")][:14]
    assert {p.kind for p in plans} == set(bench.KINDS)
    assert {p.mode for p in plans} == set(bench.MODES) and any(p.drop for p in plans)
    outcomes = await bench.run_trials(plans, 7)
    assert len(outcomes) == len(plans)
    for o in outcomes:
        assert o.prefix and not o.over, o
        assert 0 <= o.word_error <= 1, o
    # Most barge-ins are exact to the word (a miss needs the response's end unknown).
    assert sum(o.exact for o in outcomes) >= len(outcomes) // 2
    assert any(o.truth_words > 0 for o in outcomes)


@pytest.mark.parametrize("mode", ["commit", "server_commit"])
async def test_a_barge_in_before_the_response_ended_is_settled_by_its_real_length(
    mode: str,
) -> None:
    """The emulator generates in real time, so when the listener stops 1 s into a 2.5 s
    sentence its end has not arrived: the turn reads on to it (its audio dropped) and cuts
    the heard text by the response's real length, exact to the word. Without settling
    (``settle_timeout=0``) the part heard is an estimate, and no usage is known."""
    from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
    from bridge.pipeline import PipelineOptions, Turn

    bench = _bench()
    reply = "We walk slowly to the quiet lake and then we rest by the green river together."
    latency = LatencyModel(first_packet=0.02, rtf=1.0, delta_ms=50)

    async def barge_in(settle: float) -> tuple[Any, tuple[int | None, int]]:
        async with serve_emulator(EmulatorOptions(engine="exact", latency=latency)) as emu:
            sink = bench.PlayerSink()
            turn = Turn(
                bench._tokens(reply),
                sink,
                target=bench._target(emu.url, mode),
                options=PipelineOptions(settle_timeout=settle),
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(turn.run)
                while sink.samples_played < bench.RATE:  # 1 s heard
                    await anyio.sleep(0.005)
                turn.interrupt()
            played = sink.player.freeze()
            assert turn.result is not None
            outcome = bench.score(
                "interrupt",
                mode,
                "sink",
                False,
                reply,
                bytes(sink.player.pcm),
                played,
                turn.result.spoken_text,
            )
            first = turn.result.segments[0].text
            return outcome, (turn.result.chars_billed, len(first))

    settled, billed = await barge_in(3.0)
    assert settled.exact and settled.truth_words >= 5, settled
    # The first response's usage arrived (its text, and the space sent after it).
    assert billed[0] is not None and billed[0] >= billed[1], billed
    estimated, billed = await barge_in(0.0)
    assert not estimated.over, estimated
    assert billed[0] is None


async def test_a_settle_waits_longer_while_nothing_waits_and_briefly_once_hurried() -> None:
    """A barge-in 0.3 s into a sentence the emulator speaks in real time (2.6 s at speech
    rate 2): its end arrives about 2.3 s later. ``settle_timeout`` (0.5 s) alone gives up
    (no usage known, the heard text estimated); with ``settle_idle_timeout`` the turn reads on
    to the end and cuts by the real length, unless something waits for it (``hurry()``):
    then the short bound holds again, counted from the settle's start."""
    from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
    from bridge.pipeline import PipelineOptions, Turn

    bench = _bench()
    reply = "We walk slowly to the quiet lake and then we rest by the green river for a while."
    latency = LatencyModel(first_packet=0.02, rtf=1.0, delta_ms=50)

    async def barge_in(
        idle: float | None, hurry_after: float | None, short: float = 0.5, outside: bool = False
    ) -> Any:
        async with serve_emulator(EmulatorOptions(engine="exact", latency=latency)) as emu:
            sink = bench.PlayerSink()
            turn = Turn(
                bench._tokens(reply),
                sink,
                target=bench._target(emu.url, "commit"),
                options=PipelineOptions(settle_timeout=short, settle_idle_timeout=idle),
            )
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(turn.run)
                    while sink.samples_played < int(0.3 * bench.RATE):
                        await anyio.sleep(0.005)
                    if outside:  # the scope that runs the turn is cancelled (a shutdown)
                        tg.cancel_scope.cancel()
                    else:
                        turn.interrupt()
                    if hurry_after is not None:
                        await anyio.sleep(hurry_after)
                        turn.hurry()
            assert turn.result is not None and turn.result.interrupted
            turn.hurry()  # after the settle ended: nothing to bring back, no error
            return turn.result

    assert (await barge_in(None, None)).chars_billed is None  # gave up after 0.5 s
    settled = await barge_in(6.0, None)
    assert settled.chars_billed is not None  # read on to the response's end
    assert (await barge_in(6.0, 0.2)).chars_billed is None  # hurried: 0.5 s from the start
    # settle_timeout 0 is "never wait", whatever settle_idle_timeout says
    assert (await barge_in(6.0, None, short=0)).chars_billed is None
    # a cancel from outside (a shutdown) is hurried: the short bound
    assert (await barge_in(6.0, None, outside=True)).chars_billed is None
