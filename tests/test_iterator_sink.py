"""An ``IteratorSink`` whose consumer goes away: the turn stops and records only what it took."""

from __future__ import annotations

import anyio
import pytest

from bridge.adapters.sinks import IteratorSink, LeavesEarly
from bridge.local import EmulatorOptions, LatencyModel, serve_emulator
from bridge.pipeline import Turn
from bridge.qwen import AudioChunk
from tests.test_pipeline import REPLY, assert_heard, scripted, target

pytestmark = pytest.mark.anyio


def chunk(samples: int = 240) -> AudioChunk:
    return AudioChunk(data=b"\x01\x00" * samples, sample_rate=24000, response_id="r1")


# --- the sink alone ---------------------------------------------------------------------------


async def test_a_consumer_that_takes_everything_has_not_left() -> None:
    sink = IteratorSink(max_chunks=4)
    assert isinstance(sink, LeavesEarly)
    for _ in range(3):
        await sink.write(chunk())
    taken: list[AudioChunk] = []
    async with anyio.create_task_group() as tg:

        async def consume() -> None:
            async for c in sink:
                taken.append(c)

        tg.start_soon(consume)
        with anyio.fail_after(5):
            await sink.close()  # waits for the consumer to take the buffer
        assert len(taken) == 3  # taken before close() returned
    assert sink.samples_played == 720
    assert not sink.listener_left


async def test_a_consumer_that_breaks_with_audio_buffered_has_left() -> None:
    sink = IteratorSink(max_chunks=4)
    for _ in range(3):
        await sink.write(chunk())
    iterator = sink.__aiter__()
    await iterator.__anext__()
    assert not sink.listener_left  # still iterating
    await iterator.aclose()  # what a ``break`` out of ``async for`` ends in
    assert sink.listener_left
    assert sink.samples_played == 240
    with anyio.fail_after(5):
        await sink.close()  # does not wait for a consumer that is gone


async def test_a_write_after_the_consumer_left_says_so() -> None:
    sink = IteratorSink(max_chunks=4)
    await sink.write(chunk())
    iterator = sink.__aiter__()
    await iterator.__anext__()
    await iterator.aclose()  # left with nothing buffered: nothing lost yet
    assert not sink.listener_left
    await sink.write(chunk())  # no one will take it
    assert sink.listener_left
    assert sink.samples_played == 240


async def test_a_write_blocked_on_a_full_buffer_learns_the_consumer_left() -> None:
    sink = IteratorSink(max_chunks=1)
    await sink.write(chunk())
    iterator = sink.__aiter__()
    async with anyio.create_task_group() as tg:

        async def write() -> None:
            await sink.write(chunk())
            await sink.write(chunk())  # blocks: the buffer is full

        tg.start_soon(write)
        await iterator.__anext__()
        await anyio.wait_all_tasks_blocked()
        await iterator.aclose()
    assert sink.listener_left and sink.samples_played == 240


async def test_a_stopped_sink_has_not_left() -> None:
    """A barge-in drops the buffer on purpose: that is the turn's doing, not the listener's."""
    sink = IteratorSink(max_chunks=4)
    for _ in range(3):
        await sink.write(chunk())
    sink.stop_now()
    assert not sink.listener_left
    assert [c async for c in sink] == []
    await sink.close()
    assert not sink.listener_left


async def test_audio_untaken_when_the_sink_closes_counts_as_not_heard() -> None:
    """Nobody took what is buffered by the end (the turn bounds close's wait)."""
    sink = IteratorSink(max_chunks=4)
    await sink.write(chunk())
    with anyio.move_on_after(0.05):
        await sink.close()
    assert sink.listener_left


# --- in a turn --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["commit", "server_commit"])
@pytest.mark.parametrize("keep", [3, 9])
async def test_a_listener_that_stops_iterating_mid_turn_ends_the_turn(keep: int, mode: str) -> None:
    """The consumer breaks out after ``keep`` chunks without calling interrupt(): the turn is
    cut short as at a barge-in, its history is what the consumer took (decoded), and the
    speech stops instead of running to the end of the reply."""
    paced = LatencyModel(rtf=1.0, delta_ms=50)
    async with serve_emulator(EmulatorOptions(engine="exact", latency=paced)) as emu:
        sink = IteratorSink(max_chunks=2)
        turn = Turn(scripted(REPLY, rate=200), sink, target=target(emu.url, mode=mode))
        taken: list[AudioChunk] = []

        async def listen() -> None:
            async for c in sink:
                taken.append(c)
                if len(taken) == keep:
                    break

        with anyio.fail_after(8):  # the whole reply is about 13 s of audio
            async with anyio.create_task_group() as tg:
                tg.start_soon(listen)
                result = await turn.run()
    assert result.interrupted
    assert sink.samples_played == sum(c.samples for c in taken)
    assert result.spoken_text != result.text
    assert_heard(result, taken, mode)


class _ClosingSink(IteratorSink):
    """Says when the turn has come to ``close`` it: all the audio has been written."""

    def __init__(self, max_chunks: int) -> None:
        super().__init__(max_chunks=max_chunks)
        self.closing = anyio.Event()

    async def close(self) -> None:
        self.closing.set()
        await super().close()


async def test_a_listener_that_leaves_with_the_last_audio_buffered_is_not_credited() -> None:
    """All the audio reached the sink's buffer and the turn is closing it, but the consumer
    takes one chunk and leaves: the reply was not heard to its end."""
    async with serve_emulator(EmulatorOptions(engine="exact")) as emu:
        sink = _ClosingSink(max_chunks=64)
        turn = Turn(
            scripted("One. Two three four.", rate=200), sink, target=target(emu.url, mode="commit")
        )
        taken: list[AudioChunk] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(turn.run)
            with anyio.fail_after(10):
                await sink.closing.wait()
            async for c in sink:
                taken.append(c)
                break
    result = turn.result
    assert result is not None and result.interrupted
    assert result.spoken_text != result.text
    assert_heard(result, taken, "commit")
