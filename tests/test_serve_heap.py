"""``bridge serve`` settles the collector once it is up (``commands.serve.settle_heap``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bridge.commands.serve import GC_YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_heap_freezes_the_start_up_heap_and_enlarges_the_young_generation(
    restored_gc: None,
) -> None:
    gc.unfreeze()
    start_up = [object(), {"a": [1]}]  # tracked objects alive when the server is up
    _young, middle, old = gc.get_threshold()
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, middle, old)  # older ones unchanged
    assert not any(obj is start_up[1] for obj in gc.get_objects())  # out of the collector's sight
    assert GC_YOUNG_THRESHOLD > 700  # larger than CPython's default
