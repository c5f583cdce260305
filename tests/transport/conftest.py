"""Fixtures for the transport tests: the anyio backend and the session test harness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from .harness import TestHarness


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def make_harness() -> AsyncIterator[Callable[..., TestHarness]]:
    """Builds harnesses for one test and closes them afterwards (tests call check_all_released)."""
    made: list[TestHarness] = []

    def make(server_main: Any, **options: Any) -> TestHarness:
        harness = TestHarness(server_main, **options)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.close()
