"""The stages' handoff: an item goes over at once when it can (no event-loop pass: another
ready task has not run yet), and waits like the stream's own calls when it cannot."""

from __future__ import annotations

import anyio
import pytest

from bridge.pipeline.handoff import Channel, consuming, put, take

pytestmark = pytest.mark.anyio


async def test_put_and_take_hand_over_without_yielding_to_the_loop() -> None:
    send, receive = anyio.create_memory_object_stream[int](2)
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with send, receive, anyio.create_task_group() as tg:
        tg.start_soon(other)  # ready: runs at the first pass of the loop
        await put(send, 1)
        await put(send, 2)
        assert await take(receive) == 1
        assert await take(receive) == 2
        assert ran == []  # neither call gave the loop a pass
    assert ran == ["other"]


async def test_put_waits_for_room_and_take_for_an_item_and_the_end() -> None:
    send, receive = anyio.create_memory_object_stream[int](1)
    got: list[int] = []

    async def consumer() -> None:
        async with receive:
            while True:
                try:
                    got.append(await take(receive))
                except anyio.EndOfStream:
                    return

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        async with send:
            for i in range(5):  # the buffer holds one: put waits for the consumer
                await put(send, i)
    assert got == [0, 1, 2, 3, 4]


async def test_a_cancelled_task_gets_its_cancellation_not_the_end_of_the_stream() -> None:
    send, receive = anyio.create_memory_object_stream[int](1)
    await receive.aclose()  # no receiver left: put would raise BrokenResourceError
    with anyio.CancelScope() as scope:
        scope.cancel()
        await put(send, 1)
    assert scope.cancelled_caught
    with pytest.raises(anyio.BrokenResourceError):  # not cancelled: the stream's error
        await put(send, 1)

    send, receive = anyio.create_memory_object_stream[int](1)
    await send.aclose()  # the end
    with anyio.CancelScope() as scope:
        scope.cancel()
        await take(receive)
    assert scope.cancelled_caught
    with pytest.raises(anyio.EndOfStream):
        await take(receive)


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_a_waiting_channel_consumer_wakes_once_per_item() -> None:
    # The player waits for audio: the item it is handed costs it one wake-up (no checkpoint
    # first, unlike anyio's receive), so a task that became ready at the same time as the
    # item has not run yet when the item is taken.
    channel: Channel[int] = Channel(4)
    ran: list[str] = []
    got: list[int] = []

    async def consume() -> None:
        got.append(await channel.get())
        ran.append(f"got {got[-1]}")

    async def other() -> None:
        ran.append("other")

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        channel.put_nowait(7)  # wakes the consumer ...
        tg.start_soon(other)  # ... which then runs before a task made ready after it
    assert got == [7]
    assert ran == ["got 7", "other"]


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_a_channel_keeps_order_bounds_its_queue_and_ends() -> None:
    channel: Channel[int] = Channel(2)
    channel.put_nowait(1)
    channel.put_nowait(2)
    with pytest.raises(anyio.WouldBlock):
        channel.put_nowait(3)
    assert len(channel) == 2
    with anyio.move_on_after(0.05) as scope:
        await channel.put(3)  # full: waits
    assert scope.cancelled_caught
    async with anyio.create_task_group() as tg:
        tg.start_soon(channel.put, 3)  # waits for room ...
        await anyio.wait_all_tasks_blocked()
        assert await channel.get() == 1  # ... made here
    assert len(channel) == 2
    channel.close()
    with pytest.raises(anyio.ClosedResourceError):
        channel.put_nowait(4)
    with pytest.raises(anyio.ClosedResourceError):
        await channel.put(4)  # full and closed: refused at once, not after room is made
    assert [await channel.get(), await channel.get()] == [2, 3]  # what was queued, then
    with pytest.raises(anyio.EndOfStream):
        await channel.get()


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_a_stopped_channel_drops_its_items_and_refuses_more() -> None:
    channel: Channel[int] = Channel(1)
    channel.put_nowait(1)
    channel.stop()
    with pytest.raises(anyio.BrokenResourceError):
        channel.put_nowait(3)
    assert len(channel) == 0
    with pytest.raises(anyio.EndOfStream):
        await channel.get()
    with pytest.raises(ValueError, match=r"^size must be at least 1$"):
        Channel(0)


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_a_waiting_put_refused_when_the_consumer_stops() -> None:
    channel: Channel[int] = Channel(1)
    channel.put_nowait(1)
    raised: list[type[BaseException]] = []

    async def produce() -> None:
        try:
            await channel.put(2)
        except anyio.BrokenResourceError as exc:
            raised.append(type(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(produce)
        await anyio.wait_all_tasks_blocked()
        channel.stop()
    assert raised == [anyio.BrokenResourceError]


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_a_closed_channel_wakes_a_waiting_consumer_with_the_end() -> None:
    channel: Channel[int] = Channel(1)
    ended: list[bool] = []

    async def consume() -> None:
        try:
            await channel.get()
        except anyio.EndOfStream:
            ended.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        channel.close()
    assert ended == [True]


@pytest.mark.timeout(10)  # a missed wake-up hangs
async def test_get_nowait_iteration_and_the_consumers_block() -> None:
    channel: Channel[str] = Channel(4)
    with pytest.raises(anyio.WouldBlock):
        channel.get_nowait()
    channel.put_nowait("a")
    channel.put_nowait("b")
    assert channel.get_nowait() == "a"
    channel.close()
    assert [item async for item in channel] == ["b"]
    with pytest.raises(anyio.EndOfStream):
        channel.get_nowait()
    # Leaving the consumer's block, however it is left, refuses the producer from then on.
    other: Channel[str] = Channel(1)
    with pytest.raises(RuntimeError):
        async with consuming(other):
            raise RuntimeError("the consumer failed")
    with pytest.raises(anyio.BrokenResourceError):
        other.put_nowait("late")


async def test_a_cancelled_consumer_sees_its_cancellation_before_the_end() -> None:
    channel: Channel[str] = Channel(1)
    channel.close()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await channel.get()  # cancelled here, at the checkpoint, not EndOfStream
        pytest.fail("the end came before the cancellation")
    assert scope.cancelled_caught


async def test_a_cancelled_producer_sees_its_cancellation_before_the_refusal() -> None:
    # A barge-in cancels the turn: the segmenter has stopped its channel while the model's
    # reader still holds a delta; the reader must end with the cancellation, as with anyio's
    # streams, not with BrokenResourceError (which the session would log as a failure).
    channel: Channel[str] = Channel(1)
    channel.stop()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await channel.put("late")
        pytest.fail("refused before the cancellation")
    assert scope.cancelled_caught
    with pytest.raises(anyio.BrokenResourceError):
        await channel.put("late")  # not cancelled: refused


async def test_channel_put_and_get_hand_over_without_yielding_while_they_can() -> None:
    channel: Channel[int] = Channel(2)
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)  # ready: runs at the first pass of the loop
        await channel.put(1)
        await channel.put(2)
        assert [await channel.get(), await channel.get()] == [1, 2]
        assert ran == []  # none of the four calls gave the loop a pass
    assert ran == ["other"]


async def test_waiting_is_true_only_while_the_consumer_waits_with_nothing_queued() -> None:
    channel: Channel[int] = Channel(4)
    got: list[int] = []
    assert not channel.waiting  # no consumer yet
    async with anyio.create_task_group() as tg:

        async def consume() -> None:
            async for item in channel:
                got.append(item)

        tg.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        assert channel.waiting
        channel.put_nowait(1)
        assert not channel.waiting  # woken for the item: it is on its way
        await anyio.wait_all_tasks_blocked()
        assert got == [1] and channel.waiting
        channel.close()
        assert not channel.waiting
    assert got == [1]


async def test_a_get_cancelled_by_a_timeout_is_no_longer_waiting() -> None:
    channel: Channel[int] = Channel(4)
    with anyio.move_on_after(0.01):
        await channel.get()
    assert not channel.waiting  # the consumer went on to other work
    channel.put_nowait(1)
    assert await channel.get() == 1
