"""Time limits for one call: a total deadline over every attempt, and shorter limits inside it.

The total deadline covers all attempts and the waits between them (gRPC: "the deadline applies
across all attempts"); each attempt gets ``min(remaining, attempt_timeout)`` so one hung attempt
cannot eat the whole budget; connecting gets its own, shorter limit, longer for a first connect
that may meet a backend starting from zero. Defaults from research §7a.1: Polly's standard
pipeline (30 s total, 10 s per attempt) and 5 s / 10 s connect (Neon suspends after 5 min idle,
``websockets`` waits 10 s to open).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from dotdo.errors import ValidationError

__all__ = ["Deadline", "TimeoutPolicy"]


def _check_seconds(name: str, value: float | None) -> None:
    if value is not None and not (value > 0):  # ``not (x > 0)`` also rejects NaN
        raise ValidationError(f"{name} must be a number of seconds > 0 or None, got {value!r}")


@dataclass(frozen=True, slots=True)
class TimeoutPolicy:
    """The time limits a client applies to each call, in seconds (``None`` means no limit).

    Attributes:
        total: the deadline for the whole call, retries and backoff included.
        attempt: the most one attempt may take (shortened to what the deadline leaves).
        connect: the most opening a connection may take once the backend is warm.
        cold_connect: the same for the first connection of a process or after a long idle.
    """

    total: float | None = 30.0
    attempt: float | None = 10.0
    connect: float = 5.0
    cold_connect: float = 10.0

    def __post_init__(self) -> None:
        for name in ("total", "attempt", "connect", "cold_connect"):
            _check_seconds(name, getattr(self, name))

    def connect_timeout(self, *, cold: bool) -> float:
        """The connect limit for a warm backend, or for one that may be starting (``cold``)."""
        return self.cold_connect if cold else self.connect


class Deadline:
    """A point on a monotonic clock by which a whole call must be finished."""

    __slots__ = ("_clock", "expires_at")

    def __init__(self, expires_at: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Create a deadline at a given clock reading.

        Args:
            expires_at: the clock reading at which time is up (``math.inf`` for never).
            clock: the monotonic clock ``expires_at`` is read on.
        """
        self.expires_at = expires_at
        self._clock = clock

    @classmethod
    def after(cls, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A deadline ``seconds`` from now, or one that never expires when ``seconds`` is None."""
        _check_seconds("seconds", seconds)
        if seconds is None:
            return cls(math.inf, clock)
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Seconds left, never negative (``math.inf`` for a deadline that never expires)."""
        return max(self.expires_at - self._clock(), 0.0)

    def expired(self) -> bool:
        """Whether no time is left."""
        return self._clock() >= self.expires_at

    def limit(self, cap: float | None) -> float:
        """How long the next step may take: the time left, but at most ``cap`` seconds."""
        remaining = self.remaining()
        if cap is None or remaining < cap:
            return remaining
        return cap

    def allows_wait(self, seconds: float) -> bool:
        """Whether waiting ``seconds`` would still leave time for another attempt."""
        return self._clock() + seconds < self.expires_at
