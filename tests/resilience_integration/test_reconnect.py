"""A lost WebSocket is replaced for the next call, authenticated anew, and calls caught in the
loss are retried only when that is safe."""

from __future__ import annotations

import asyncio

import pytest

from dotdo.errors import DotDoConnectionError, DotDoTimeoutError

from .conftest import client
from .faults import FaultProxy
from .platform_process import PlatformProcess

pytestmark = pytest.mark.anyio


async def test_a_reset_session_is_replaced_and_authenticated_for_the_next_call(
    platform: PlatformProcess, proxy: FaultProxy
) -> None:
    async with client(platform, proxy.url) as dotdo:
        await dotdo.secrets.set("BEFORE", "1")
        first = await dotdo._session()
        proxy.reset()
        await dotdo.secrets.set("AFTER", "2")
        second = await dotdo._session()
        assert second is not first
        assert not first.is_open
        assert proxy.accepts == 2
        assert await dotdo.secrets.get("BEFORE") == "1"


async def test_calls_in_flight_at_a_reset_are_retried_and_a_write_lands_once(
    platform: PlatformProcess, proxy: FaultProxy
) -> None:
    async with client(platform, proxy.url) as dotdo:
        await dotdo.secrets.set("WARM", "1")
        proxy.delay(0.3)
        write = asyncio.ensure_future(dotdo.secrets.set("IN_FLIGHT", "v"))
        read = asyncio.ensure_future(dotdo.secrets.get("WARM"))
        await asyncio.sleep(0.1)
        assert proxy.reset() == 1
        proxy.delay(0)
        info = await write
        assert await read == "1"
        assert info.version == 1
        assert (await dotdo.secrets.list("IN_FLIGHT"))[0].version == 1


async def test_a_call_not_known_to_be_safe_fails_with_a_connection_error(
    platform: PlatformProcess, proxy: FaultProxy
) -> None:
    async with client(platform, proxy.url) as dotdo:
        await dotdo.secrets.set("WARM", "1")
        proxy.delay(0.3)
        # A write without an idempotency key stands for any call the SDK cannot prove safe to
        # repeat (dotdo.call on a user service): once sent, it must not be sent again.
        unsafe = asyncio.ensure_future(
            dotdo._call(("secrets", "set"), ("UNSAFE", "v", None), idempotent=False)
        )
        await asyncio.sleep(0.1)
        proxy.reset()
        proxy.delay(0)
        with pytest.raises(DotDoConnectionError):
            await unsafe
        assert await dotdo.secrets.get("WARM") == "1"


async def test_a_silently_dead_session_is_replaced_after_a_call_times_out(
    platform: PlatformProcess, proxy: FaultProxy
) -> None:
    async with client(platform, proxy.url) as dotdo:
        await dotdo.secrets.set("WARM", "1")
        assert proxy.drop() == 1
        with pytest.raises(DotDoTimeoutError):
            await dotdo.with_options(timeout=1.0).secrets.get("WARM")
        assert await dotdo.with_options(timeout=5.0).secrets.get("WARM") == "1"
        assert proxy.accepts == 2
