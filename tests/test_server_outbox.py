"""The outbox's direct sends: while pumped, an audio frame that finds nothing queued and nothing
on its way is sent by its producer; order, back-pressure and barge-in stay as they were."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import TaskGroup

from bridge.server.outbox import Outbox

pytestmark = pytest.mark.anyio


class Wire:
    """A stand-in connection: records each frame and the task that sent it; can be held (a
    slow client whose buffer is full) or made to fail (the connection closed)."""

    def __init__(self) -> None:
        self.frames: list[str | bytes] = []
        self.senders: list[int] = []
        self.hold: anyio.Event | None = None
        self.fail: Exception | None = None

    async def send(self, frame: str | bytes) -> None:
        if self.fail is not None:
            raise self.fail
        self.frames.append(frame)  # written first, like websockets: then it may wait
        self.senders.append(anyio.get_current_task().id)
        if self.hold is not None:
            await self.hold.wait()


@asynccontextmanager
async def pumped(box: Outbox, wire: Wire) -> AsyncIterator[TaskGroup]:
    """``box`` drained into ``wire`` by its writer (the pump), which waits for frames."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(box.pump, wire.send)
        await anyio.wait_all_tasks_blocked()
        yield tg


def _kinds(frames: list[str | bytes]) -> list[str]:
    return [f.hex() if isinstance(f, bytes) else json.loads(f)["type"] for f in frames]


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_a_lone_audio_frame_is_sent_by_its_producer_in_order() -> None:
    box, wire = Outbox(), Wire()
    async with pumped(box, wire):
        me = anyio.get_current_task().id
        box.put({"type": "audio.start"})
        assert await box.put_audio("r1", b"\x01\x00")  # queued behind audio.start
        await anyio.wait_all_tasks_blocked()
        assert wire.senders and wire.senders[-1] != me  # the writer sent both
        assert await box.put_audio("r1", b"\x02\x00")  # nothing queued: sent here, now
        assert wire.frames[-1] == b"\x02\x00" and wire.senders[-1] == me
        box.put({"type": "response.done"})
        box.close()
    assert _kinds(wire.frames) == ["audio.start", "0100", "0200", "response.done"]
    assert box.sent_frames == 4 and box.sent_audio_bytes == 4


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_frames_wait_behind_a_direct_send_that_waits() -> None:
    box, wire = Outbox(max_audio_frames=1), Wire()
    async with pumped(box, wire) as tg:
        wire.hold = anyio.Event()
        done: list[bool] = []

        async def produce() -> None:
            done.append(await box.put_audio("r1", b"\x01\x00"))

        tg.start_soon(produce)
        await anyio.wait_all_tasks_blocked()  # the direct send is waiting for the client
        assert wire.frames == [b"\x01\x00"] and done == []
        box.put({"type": "segment"})  # queued: the writer must not overtake the waiting send
        tg.start_soon(box.put_audio, "r1", b"\x02\x00")  # queued too, not sent directly
        await anyio.wait_all_tasks_blocked()
        assert wire.frames == [b"\x01\x00"]
        hold, wire.hold = wire.hold, None
        hold.set()
        await anyio.wait_all_tasks_blocked()
        box.close()
    assert done == [True]
    assert _kinds(wire.frames) == ["0100", "segment", "0200"]


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_a_refused_response_is_never_sent_directly() -> None:
    box, wire = Outbox(), Wire()
    async with pumped(box, wire):
        assert await box.put_audio("r1", b"\x01\x00")
        box.drop_audio("r1")  # response.cancel
        assert not await box.put_audio("r1", b"\x02\x00")
        assert await box.put_audio("r2", b"\x03\x00")
        box.close()
    assert wire.frames == [b"\x01\x00", b"\x03\x00"]


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_a_failed_direct_send_closes_the_outbox_and_the_writer_raises_it() -> None:
    box, wire = Outbox(), Wire()
    raised: list[BaseException] = []
    try:
        async with pumped(box, wire):
            wire.fail = ConnectionError("gone")
            assert not await box.put_audio("r1", b"\x01\x00")  # not sent: not counted
            assert box.closed
            box.put({"type": "late"})  # dropped once closed
    except* ConnectionError as group:
        raised.extend(group.exceptions)
    assert [str(exc) for exc in raised] == ["gone"]  # raised by the writer, once
    assert wire.frames == [] and box.sent_frames == 0 and box.sent_audio_bytes == 0


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_without_a_pump_audio_is_queued_for_get() -> None:
    box = Outbox()
    assert await box.put_audio("r1", b"\x01\x00")
    box.close()
    assert await box.get() == b"\x01\x00"
    assert await box.get() is None


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_a_second_frame_queues_while_a_direct_send_waits() -> None:
    # A slow client holds the first frame: the next one must wait in the (bounded) queue, not
    # pile up in the connection's buffer behind it.
    box, wire = Outbox(max_audio_frames=1), Wire()
    async with pumped(box, wire) as tg:
        wire.hold = anyio.Event()
        tg.start_soon(box.put_audio, "r1", b"\x01\x00")
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(box.put_audio, "r1", b"\x02\x00")
        tg.start_soon(box.put_audio, "r1", b"\x03\x00")  # the queue is full: this one waits
        await anyio.wait_all_tasks_blocked()
        assert wire.frames == [b"\x01\x00"]
        hold, wire.hold = wire.hold, None
        hold.set()
        await anyio.wait_all_tasks_blocked()
        box.close()
    assert wire.frames == [b"\x01\x00", b"\x02\x00", b"\x03\x00"]
