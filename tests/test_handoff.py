"""The stages' handoff: an item goes over at once when it can (no event-loop pass: another
ready task has not run yet), and waits like the stream's own calls when it cannot."""

from __future__ import annotations

import anyio
import pytest

from bridge.pipeline.handoff import put, take

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
