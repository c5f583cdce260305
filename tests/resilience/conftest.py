"""Fixtures for the resilience tests: the anyio backend and a fake monotonic clock."""

from __future__ import annotations

import pytest

from .fakes import FakeClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
