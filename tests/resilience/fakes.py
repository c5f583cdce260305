"""Test doubles shared by the resilience tests."""

from __future__ import annotations

import anyio.lowlevel


class FakeClock:
    """A clock that moves only when told to, and a sleep that moves it instead of waiting.

    ``sleep`` records every wait and still checkpoints, so cancellation reaches a sleeping task.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()
