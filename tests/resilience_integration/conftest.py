"""Fixtures: a real platform process, a fault proxy in front of it, and clients that use them.

Each test gets its own data and config directories, so the dev login the platform saves never
touches the user's, and no DOTDO_* variable from the environment leaks into a client.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dotdo._client import DotDo

from .faults import FaultProxy
from .platform_process import PlatformProcess


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DOTDO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DOTDO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("DOTDO_NO_KEYCHAIN", "1")


@pytest.fixture
def platform_process(tmp_path: Path) -> PlatformProcess:
    """A platform process, not started yet."""
    return PlatformProcess(tmp_path / "data", tmp_path / "platform-config")


@pytest.fixture
async def platform(platform_process: PlatformProcess) -> AsyncIterator[PlatformProcess]:
    """A running platform process, SIGKILLed at the end of the test."""
    await platform_process.start()
    try:
        yield platform_process
    finally:
        await platform_process.kill()


@pytest.fixture
async def proxy(platform: PlatformProcess) -> AsyncIterator[FaultProxy]:
    """A fault proxy in front of the running platform."""
    async with FaultProxy(platform.port) as fault_proxy:
        yield fault_proxy


def client(platform: PlatformProcess, url: str | None = None, **options: Any) -> DotDo:
    """A client for ``platform`` (through ``url``, a proxy, when given) with its dev API key."""
    assert platform.api_key is not None, platform.output()
    return DotDo(api_key=platform.api_key, endpoint=url or platform.url, **options)


def tasks_other_than(baseline: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks of this event loop that are still pending and were not in ``baseline``."""
    return {task for task in asyncio.all_tasks() if not task.done()} - baseline
