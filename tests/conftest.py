"""Shared test set-up: anyio runs on asyncio (websockets' asyncio implementation needs it)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
