"""Waiting for a backend that scales to zero to start, and telling "starting" from "paused".

A backend that has been idle may be asleep: the first connection is refused, or the edge answers
502/503/504, for a few hundred milliseconds (Neon) up to about 10 s (Cloud Run queueing, Lambda
Init). Until the first success after an idle period those failures are *warming up*, not an
outage: they get their own schedule of short, quickly growing waits (0.1, 0.2, 0.4, 0.8, 1.6 s,
then 2 s repeating, ±20 % jitter) inside a total warm-up budget of 30 s, they do not count
against the circuit breaker or the retry budget, and they are not limited by ``max_retries``
(research §3 and §7a.6). A backend that says it is *paused* never wakes by itself (Supabase free
tier), so that fails at once.

What counts as warming up:

- :class:`~dotdo.errors.DotDoConnectionError`: the connection was refused or dropped;
- :class:`~dotdo.errors.DotDoTimeoutError` marked ``details["request_sent"] = False``: connecting
  took too long;
- :class:`~dotdo.errors.ServiceError` with code ``"unavailable"``, or with ``details["status"]``
  502, 503 or 504: how transports report an edge or orchestrator that is not ready.

Whether such a failure is *retried* is still decided by the retry rules: a write is sent again
only if the request never left the client (``details["request_sent"] = False``) or the call is
idempotent. A paused backend is a :class:`~dotdo.errors.ServiceError` with code ``"paused"``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from dotdo.errors import DotDoConnectionError, DotDoTimeoutError, ServiceError, ValidationError
from dotdo.resilience.classify import request_was_sent

__all__ = ["ColdStart", "ColdStartPolicy", "WarmUp", "is_warming_failure"]

logger = logging.getLogger("dotdo")

_GATEWAY_STATUSES = frozenset({502, 503, 504})
_ANNOUNCE_AFTER_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ColdStartPolicy:
    """The wait schedule and limits for a backend that may be starting from zero.

    Attributes:
        delays: the waits before the first retries, in seconds.
        repeat_delay: the wait before every later retry.
        jitter: each wait is scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
        budget: the most time, in seconds, one call spends waiting for the backend to start.
        idle_after: after this many seconds without a success the backend is presumed asleep.
    """

    delays: tuple[float, ...] = (0.1, 0.2, 0.4, 0.8, 1.6)
    repeat_delay: float = 2.0
    jitter: float = 0.2
    budget: float = 30.0
    idle_after: float = 300.0

    def __post_init__(self) -> None:
        for value in (*self.delays, self.repeat_delay):
            if not (math.isfinite(value) and value >= 0):
                raise ValidationError(f"cold-start delays must be seconds >= 0, got {value!r}")
        if not (0 <= self.jitter < 1):
            raise ValidationError(f"jitter must be in [0, 1), got {self.jitter!r}")
        for name in ("budget", "idle_after"):
            if not (getattr(self, name) > 0):
                raise ValidationError(f"{name} must be seconds > 0, got {getattr(self, name)!r}")

    def delay_for(self, attempt: int, rng: random.Random) -> float:
        """The jittered wait before retry number ``attempt`` (``1`` is the first)."""
        base = self.delays[attempt - 1] if attempt <= len(self.delays) else self.repeat_delay
        return base * (1.0 + self.jitter * (2.0 * rng.random() - 1.0))


def is_warming_failure(exc: BaseException) -> bool:
    """Whether ``exc`` looks like a backend that is still starting (see the module docstring)."""
    if isinstance(exc, DotDoConnectionError):
        return True
    if isinstance(exc, DotDoTimeoutError):
        return not request_was_sent(exc)
    if isinstance(exc, ServiceError):
        return exc.code == "unavailable" or exc.details.get("status") in _GATEWAY_STATUSES
    return False


class WarmUp:
    """One call's wait for a cold backend: where it is in the schedule and what budget is left."""

    __slots__ = ("_announced", "_clock", "_endpoint", "_policy", "_started_at", "_waits")

    def __init__(self, policy: ColdStartPolicy, endpoint: str, clock: Callable[[], float]) -> None:
        """Start the schedule now.

        Args:
            policy: the schedule and budget.
            endpoint: the backend waited for, named in log lines.
            clock: the monotonic clock the budget is measured on.
        """
        self._policy = policy
        self._endpoint = endpoint
        self._clock = clock
        self._started_at = clock()
        self._waits = 0
        self._announced = False

    def next_wait(self, rng: random.Random) -> float | None:
        """The seconds to wait before trying again, or None when the warm-up budget is spent."""
        waited = self._clock() - self._started_at
        delay = self._policy.delay_for(self._waits + 1, rng)
        if waited + delay > self._policy.budget:
            return None
        self._waits += 1
        if not self._announced and waited >= _ANNOUNCE_AFTER_SECONDS:
            self._announced = True
            logger.info("dotdo backend %s is starting (scale from zero)", self._endpoint)
        logger.debug(
            "waiting for a cold start of %s: retry %d in %.2f s (%.1f s waited so far)",
            self._endpoint,
            self._waits,
            delay,
            waited,
        )
        return delay


class ColdStart:
    """Knows whether an endpoint may be asleep: never reached yet, idle for too long, or its
    connection was just lost (a restart looks like that, research §7a.7).

    The runner reports every success with :meth:`record_success`; while :meth:`is_cold` holds,
    warming failures follow a :class:`WarmUp` schedule instead of the normal retry policy. A
    warm-up that spends its whole budget means the backend is down, not starting: it is reported
    with :meth:`record_gave_up`, and normal policies (breaker included) apply from then on.
    """

    __slots__ = ("_clock", "_settled_at", "endpoint", "policy")

    def __init__(
        self,
        endpoint: str,
        policy: ColdStartPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start cold: nothing has succeeded yet.

        Args:
            endpoint: the backend, named in log lines (no secrets).
            policy: the warm-up schedule, budget and idle limit.
            clock: a monotonic clock.
        """
        self.endpoint = endpoint
        self.policy = policy or ColdStartPolicy()
        self._clock = clock
        # When the backend last stopped being "possibly asleep": a success, or a spent warm-up.
        self._settled_at: float | None = None

    def is_cold(self) -> bool:
        """Whether the backend may be asleep: no success yet, or none for ``idle_after``."""
        settled = self._settled_at
        return settled is None or self._clock() - settled >= self.policy.idle_after

    def record_success(self) -> None:
        """Note that the backend answered: it is warm for the next ``idle_after`` seconds."""
        self._settled_at = self._clock()

    def record_lost(self) -> None:
        """Note that an open connection was lost: the backend may be restarting, so treat it as
        cold (waiting on the warm-up schedule, not tripping the breaker) until the next success.
        """
        self._settled_at = None

    def record_gave_up(self) -> None:
        """Note that a warm-up spent its budget: treat failures as an outage from now on."""
        self._settled_at = self._clock()
        logger.warning(
            "dotdo backend %s did not start within %g s; treating it as down",
            self.endpoint,
            self.policy.budget,
        )

    def warm_up(self) -> WarmUp:
        """A fresh warm-up schedule for one call that met a cold backend."""
        return WarmUp(self.policy, self.endpoint, self._clock)
