"""``timeout`` is the whole call's deadline; a call that runs out of it, or is cancelled, leaves
nothing behind: no task, no import held on the session, no count against the endpoint.

No assertion here is about elapsed time: outcomes, tasks and session tables only.
"""

from __future__ import annotations

import asyncio

import pytest

from dotdo.errors import DotDoTimeoutError

from .conftest import client, tasks_other_than
from .faults import FaultProxy
from .platform_process import PlatformProcess

pytestmark = pytest.mark.anyio


async def test_a_call_without_an_answer_times_out_and_releases_its_import(
    platform: PlatformProcess, proxy: FaultProxy
) -> None:
    async with client(platform, proxy.url) as dotdo:
        await dotdo.secrets.set("SLOW", "1")
        session = await dotdo._session()
        imports = session.stats()["imports"]
        baseline = tasks_other_than(set())
        proxy.delay(3.0)  # the answer comes, but long after the deadline
        with pytest.raises(DotDoTimeoutError):
            await dotdo.with_options(timeout=0.5).secrets.get("SLOW")
        assert tasks_other_than(baseline) == set()
        assert session.stats()["imports"] == imports
        proxy.delay(0)


async def test_retries_stop_at_the_total_deadline(
    platform: PlatformProcess, proxy: FaultProxy
) -> None:
    async with client(platform, proxy.url) as dotdo:
        await dotdo.secrets.set("GONE", "1")
        baseline = tasks_other_than(set())
        await proxy.refuse()
        proxy.reset()  # every attempt now fails at once, so only the deadline ends the call
        with pytest.raises(DotDoTimeoutError) as raised:
            await dotdo.with_options(timeout=1.0).secrets.get("GONE")
        assert raised.value.details["attempts"] > 1
        assert tasks_other_than(baseline) == set()


async def test_a_cancelled_call_is_not_retried_or_counted(
    platform: PlatformProcess, proxy: FaultProxy
) -> None:
    async with client(platform, proxy.url) as dotdo:
        await dotdo.secrets.set("CANCEL", "1")
        session = await dotdo._session()
        imports = session.stats()["imports"]
        breaker = dotdo._shared.breaker
        assert breaker is not None
        before = breaker.stats()
        proxy.delay(1.0)
        call = asyncio.ensure_future(dotdo.secrets.get("CANCEL"))
        await asyncio.sleep(0.2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        after = breaker.stats()
        assert (after.calls, after.failures) == (before.calls, before.failures)
        assert session.stats()["imports"] == imports
        proxy.delay(0)
        assert await dotdo.secrets.get("CANCEL") == "1"
