"""A call made while the platform is still starting waits for it instead of failing."""

from __future__ import annotations

import asyncio
import logging

import pytest

from .conftest import client
from .platform_process import PlatformProcess

pytestmark = pytest.mark.anyio


async def test_a_call_made_before_the_platform_is_up_succeeds_once_it_starts(
    platform_process: PlatformProcess, caplog: pytest.LogCaptureFixture
) -> None:
    await platform_process.start()  # once, to create the dev tenant and learn its key
    await platform_process.kill()
    caplog.set_level(logging.DEBUG, logger="dotdo")
    async with client(platform_process) as dotdo:
        first_call = asyncio.ensure_future(dotdo.secrets.set("COLD", "started"))
        await asyncio.sleep(3.0)
        assert not first_call.done()
        await platform_process.start()
        try:
            info = await first_call
        finally:
            await platform_process.kill()
    assert info.version == 1
    assert any("waiting for a cold start" in record.getMessage() for record in caplog.records)


async def test_a_dropped_session_waits_for_a_restarting_platform(
    platform: PlatformProcess,
) -> None:
    async with client(platform) as dotdo:
        await dotdo.secrets.set("BEFORE", "1")
        await platform.kill()
        during = asyncio.ensure_future(dotdo.secrets.set("DURING", "2"))
        await asyncio.sleep(1.0)
        await platform.start()
        assert (await during).version == 1
        assert await dotdo.secrets.get("BEFORE") == "1"
