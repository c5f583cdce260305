"""The circuit breaker stops dialling a platform that is down, and closes when it is back."""

from __future__ import annotations

import asyncio
import time

import pytest

from dotdo.errors import CircuitOpenError, DotDoError

from .conftest import client
from .faults import FaultProxy
from .platform_process import PlatformProcess

pytestmark = pytest.mark.anyio

CALLS = 1_000


async def test_a_dead_platform_opens_the_circuit_and_its_return_closes_it(
    platform: PlatformProcess, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After a drop the SDK first waits for a restart (the cold-start budget); keep that short.
    monkeypatch.setenv("DOTDO_COLD_START_TIMEOUT", "1")
    async with client(platform, proxy.url, timeout=5.0) as dotdo:
        await dotdo.secrets.set("UP", "1")
        await platform.kill()

        opened = False
        for _ in range(50):
            try:
                await dotdo.secrets.get("UP")
            except CircuitOpenError:
                opened = True
                break
            except DotDoError:
                continue
        assert opened, "the circuit never opened"
        health = await dotdo.health()
        assert health["circuit"]["state"] == "open"
        assert health["platform"]["status"] == "unavailable"

        dials_before = proxy.accepts
        outcomes = await asyncio.gather(
            *(dotdo.secrets.get("UP") for _ in range(CALLS)), return_exceptions=True
        )
        refused = [outcome for outcome in outcomes if isinstance(outcome, CircuitOpenError)]
        assert len(refused) == CALLS
        assert proxy.accepts == dials_before  # fail fast: not one connection attempt

        await platform.start()
        await asyncio.sleep(max((refused[0].retry_at or 0.0) - time.monotonic(), 0.0))
        answers = []
        for _ in range(100):
            try:
                answers.append(await dotdo.secrets.get("UP"))
            except CircuitOpenError as refused:
                await asyncio.sleep(max((refused.retry_at or 0.0) - time.monotonic(), 0.05))
            if len(answers) >= 2:
                break
        assert answers == ["1", "1"]
        health = await dotdo.health()
        assert health["circuit"]["state"] == "closed"
        assert health["platform"]["status"] == "ok"
