"""move_on_after: the per-attempt limit, one timer per event loop instead of one per call."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from dotdo.resilience import attempt_timer
from dotdo.resilience.attempt_timer import move_on_after

pytestmark = pytest.mark.anyio

FOREVER = 3600.0


async def test_a_body_that_finishes_in_time_keeps_its_result() -> None:
    with move_on_after(FOREVER) as scope:
        await asyncio.sleep(0)
        result = 42
    assert result == 42
    assert not scope.cancelled_caught


async def test_a_body_that_overruns_is_cancelled_and_the_cancellation_absorbed() -> None:
    reached_the_end = False
    with move_on_after(0.01) as scope:
        await asyncio.sleep(FOREVER)
        reached_the_end = True
    assert scope.cancelled_caught
    assert not reached_the_end
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_a_cancellation_from_outside_passes_through() -> None:
    entered = asyncio.Event()
    scopes = []

    async def body() -> None:
        with move_on_after(FOREVER) as scope:
            scopes.append(scope)
            entered.set()
            await asyncio.sleep(FOREVER)

    task = asyncio.ensure_future(body())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not scopes[0].cancelled_caught


async def test_an_outside_cancellation_at_the_deadline_is_not_swallowed() -> None:
    entered = asyncio.Event()
    scopes: list[Any] = []  # the asyncio scope, whose expire() the watch calls

    async def body() -> None:
        with move_on_after(FOREVER) as scope:
            scopes.append(scope)
            entered.set()
            await asyncio.sleep(FOREVER)

    task = asyncio.ensure_future(body())
    await entered.wait()
    scopes[0].expire()  # what the watch does at the deadline...
    task.cancel()  # ...and a cancellation from outside, before the task runs again
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not scopes[0].cancelled_caught


async def test_scopes_with_different_deadlines_each_expire_on_their_own() -> None:
    async def attempt(seconds: float) -> bool:
        with move_on_after(seconds) as scope:
            await asyncio.sleep(0.2)
        return scope.cancelled_caught

    limits = [0.01, FOREVER, 0.05, FOREVER, 0.02] * 200
    outcomes = await asyncio.gather(*(attempt(limit) for limit in limits))
    assert outcomes == [limit < 1 for limit in limits]


async def test_the_watch_keeps_one_timer_for_many_scopes() -> None:
    scheduled_before = len(asyncio.get_running_loop()._scheduled)  # type: ignore[attr-defined]

    async def attempt() -> None:
        with move_on_after(FOREVER):
            await asyncio.sleep(0)

    await asyncio.gather(*(attempt() for _ in range(1_000)))
    scheduled = len(asyncio.get_running_loop()._scheduled)  # type: ignore[attr-defined]
    assert scheduled - scheduled_before <= 1


async def test_every_event_loop_gets_its_own_watch() -> None:
    def limited_sleep() -> bool:
        async def main() -> bool:
            with move_on_after(0.01) as scope:
                await asyncio.sleep(FOREVER)
            return scope.cancelled_caught

        return asyncio.run(main())

    assert await anyio.to_thread.run_sync(limited_sleep)
    assert await anyio.to_thread.run_sync(limited_sleep)
    with move_on_after(0.01) as scope:
        await asyncio.sleep(FOREVER)
    assert scope.cancelled_caught
    assert attempt_timer._last_watch is not None


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_outside_asyncio_it_is_anyio_move_on_after(anyio_backend: str) -> None:
    with move_on_after(0.01) as scope:
        await anyio.sleep(FOREVER)
    assert scope.cancelled_caught
    assert isinstance(scope, anyio.CancelScope)
