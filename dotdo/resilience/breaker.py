"""A circuit breaker for one endpoint: stop calling it while it keeps failing.

    CLOSED ──(failure rate over the window, or N consecutive connection failures)──> OPEN
    OPEN ──(retry_at reached, on the next allow())──> HALF_OPEN
    HALF_OPEN ──(successes_to_close probe successes)──> CLOSED
    HALF_OPEN ──(a probe fails)──> OPEN, for twice as long (capped)

Defaults are sized for a client, not a server (research §1 and §7a.5): the server-side minimum of
100 calls (resilience4j, Polly) would never trip at CLI traffic, so the breaker opens when a 30 s
window holds at least 10 calls and 5 failures making at least half of them, or after 5
connection failures in a row. It stays open 5 s (Polly, Hystrix), doubling on each re-open up to
60 s (resilience4j's wait), with ±20 % jitter so clients that failed together do not probe
together. Half-open admits one probe at a time (the thundering-herd bug of pybreaker and
friends, §1.4) and closes after 2 successes. Time is a monotonic clock; nothing here awaits, so
no lock is ever held across a call.

Callers follow one protocol: ``ticket = breaker.allow()`` before the call, then exactly one of
``record_success(ticket)``, ``record_failure(ticket)`` or ``record_ignored(ticket)``. The ticket
ties an outcome to the state it was admitted in, so a slow call admitted while closed cannot
count as a half-open probe.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from dotdo.errors import CircuitOpenError, ValidationError
from dotdo.resilience.window import OutcomeWindow

__all__ = ["BreakerConfig", "BreakerStats", "CircuitBreaker", "CircuitState"]

logger = logging.getLogger("dotdo")


class CircuitState(enum.Enum):
    """Whether calls to an endpoint go through."""

    CLOSED = "closed"
    """Calls go through; outcomes are counted."""
    OPEN = "open"
    """Calls are refused with CircuitOpenError until ``retry_at``."""
    HALF_OPEN = "half_open"
    """A few probe calls go through to test whether the endpoint recovered."""


_CLOSED = CircuitState.CLOSED  # read on every call; a module constant is the cheapest lookup


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When a :class:`CircuitBreaker` opens, and for how long.

    Attributes:
        window_seconds: how far back failures are counted for the failure rate.
        window_buckets: how many slots the window is split into (1 s each by default).
        minimum_calls: calls the window must hold before the failure rate is judged.
        minimum_failures: failures the window must hold before the failure rate is judged.
        failure_rate: the fraction of failed calls (0 to 1) that opens the circuit.
        consecutive_connection_failures: connection failures in a row that open it regardless.
        open_seconds: how long it stays open the first time.
        max_open_seconds: the longest it stays open, however often it re-opens.
        open_jitter: the open time is scaled by a random factor in ``[1 - j, 1 + j]``.
        half_open_probes: probe calls allowed at the same time while half-open.
        successes_to_close: probe successes that close it again.
    """

    window_seconds: float = 30.0
    window_buckets: int = 30
    minimum_calls: int = 10
    minimum_failures: int = 5
    failure_rate: float = 0.5
    consecutive_connection_failures: int = 5
    open_seconds: float = 5.0
    max_open_seconds: float = 60.0
    open_jitter: float = 0.2
    half_open_probes: int = 1
    successes_to_close: int = 2

    def __post_init__(self) -> None:
        if not (0 < self.failure_rate <= 1):
            raise ValidationError(f"failure_rate must be in (0, 1], got {self.failure_rate!r}")
        if not (0 <= self.open_jitter < 1):
            raise ValidationError(f"open_jitter must be in [0, 1), got {self.open_jitter!r}")
        if not (0 < self.open_seconds <= self.max_open_seconds):
            raise ValidationError(
                "open_seconds must be > 0 and at most max_open_seconds, got "
                f"{self.open_seconds!r} and {self.max_open_seconds!r}"
            )
        for name in ("consecutive_connection_failures", "half_open_probes", "successes_to_close"):
            if getattr(self, name) < 1:
                raise ValidationError(f"{name} must be 1 or more, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """A snapshot of a breaker, for health checks and logs.

    Attributes:
        state: closed, open or half-open.
        calls: calls counted in the current window.
        failures: failures among them.
        consecutive_connection_failures: connection failures since the last success or other
            failure.
        opened_at: clock reading when it last opened, or None while closed.
        retry_at: clock reading from which a probe is allowed, or None while closed.
    """

    state: CircuitState
    calls: int
    failures: int
    consecutive_connection_failures: int
    opened_at: float | None
    retry_at: float | None


class CircuitBreaker:
    """Refuses calls to one endpoint while it keeps failing, and probes it to find recovery.

    Not thread-safe: no method awaits, so it is consistent within one event loop.
    """

    __slots__ = (
        "_clock",
        "_config",
        "_consecutive",
        "_generation",
        "_opened_at",
        "_probe_successes",
        "_probes_in_flight",
        "_reopens",
        "_retry_at",
        "_rng",
        "_state",
        "_window",
        "endpoint",
    )

    def __init__(
        self,
        endpoint: str,
        config: BreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        """Start closed.

        Args:
            endpoint: the origin this breaker guards, used in messages and logs (no secrets).
            config: thresholds and durations; the defaults suit a client.
            clock: a monotonic clock; ``CircuitOpenError.retry_at`` is read on it.
            rng: randomness for the open-time jitter.
        """
        self.endpoint = endpoint
        self._config = config or BreakerConfig()
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311  (jitter needs no CSPRNG)
        self._window = OutcomeWindow(self._config.window_seconds, self._config.window_buckets)
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._consecutive = 0
        self._reopens = 0
        self._opened_at: float | None = None
        self._retry_at: float | None = None
        self._probes_in_flight = 0
        self._probe_successes = 0

    @property
    def state(self) -> CircuitState:
        """The current state (an open breaker turns half-open only on the next :meth:`allow`)."""
        return self._state

    def allow(self) -> int:
        """Ask to make one call.

        Returns:
            a ticket to pass to the ``record_*`` method that reports the call's outcome.

        Raises:
            CircuitOpenError: the circuit is open, or half-open with its probes all in flight.
        """
        if self._state is _CLOSED:
            return self._generation
        now = self._clock()
        if self._state is CircuitState.OPEN:
            assert self._retry_at is not None
            if now < self._retry_at:
                raise self._open_error(now)
            self._half_open()
        if self._probes_in_flight >= self._config.half_open_probes:
            raise CircuitOpenError(
                f"calls to {self.endpoint} are held while a probe call checks whether it has "
                "recovered; try again in a moment",
                retry_at=self._retry_at,
                details={"endpoint": self.endpoint, "state": self._state.value},
            )
        self._probes_in_flight += 1
        return self._generation

    def record_success(self, ticket: int) -> None:
        """Report that the call admitted with ``ticket`` got an answer from the endpoint."""
        if ticket != self._generation:
            return
        if self._state is _CLOSED:
            self._window.record(self._clock(), failed=False)
            self._consecutive = 0
            return
        self._probes_in_flight -= 1
        self._probe_successes += 1
        if self._probe_successes >= self._config.successes_to_close:
            self._close()

    def record_failure(self, ticket: int, *, connection: bool = False) -> None:
        """Report that the call admitted with ``ticket`` failed in a way that blames the endpoint.

        Args:
            ticket: what :meth:`allow` returned for this call.
            connection: the failure was a connection that could not be made; enough of these in
                a row open the circuit whatever the failure rate.
        """
        if ticket != self._generation:
            return
        now = self._clock()
        if self._state is CircuitState.HALF_OPEN:
            self._reopens += 1
            self._open(now, "a probe call failed")
            return
        self._window.record(now, failed=True)
        self._consecutive = self._consecutive + 1 if connection else 0
        if self._consecutive >= self._config.consecutive_connection_failures:
            self._open(now, f"{self._consecutive} connection failures in a row")
            return
        calls, failures = self._window.counts(now)
        config = self._config
        if (
            calls >= config.minimum_calls
            and failures >= config.minimum_failures
            and failures >= config.failure_rate * calls
        ):
            self._open(
                now, f"{failures} of the last {calls} calls failed in {config.window_seconds:g} s"
            )

    def record_ignored(self, ticket: int) -> None:
        """Report an outcome that says nothing about the endpoint's health (cancelled,
        throttled, paused); a half-open probe slot is freed for the next caller."""
        if ticket == self._generation and self._state is CircuitState.HALF_OPEN:
            self._probes_in_flight -= 1

    def stats(self) -> BreakerStats:
        """A snapshot of the state and the counts behind it."""
        calls, failures = self._window.counts(self._clock())
        return BreakerStats(
            state=self._state,
            calls=calls,
            failures=failures,
            consecutive_connection_failures=self._consecutive,
            opened_at=self._opened_at,
            retry_at=self._retry_at,
        )

    def _open_error(self, now: float) -> CircuitOpenError:
        assert self._retry_at is not None
        wait = self._retry_at - now
        return CircuitOpenError(
            f"calls to {self.endpoint} are paused because it keeps failing; "
            f"dotdo will try it again in {wait:.1f} s",
            retry_at=self._retry_at,
            details={"endpoint": self.endpoint, "state": self._state.value},
        )

    def _open_seconds(self) -> float:
        config = self._config
        base = config.open_seconds * 2.0 ** min(self._reopens, 32)
        jitter = 1.0 + config.open_jitter * (2.0 * self._rng.random() - 1.0)
        return min(base * jitter, config.max_open_seconds)

    def _open(self, now: float, reason: str) -> None:
        seconds = self._open_seconds()
        self._state = CircuitState.OPEN
        self._generation += 1
        self._opened_at = now
        self._retry_at = now + seconds
        self._probes_in_flight = 0
        self._probe_successes = 0
        logger.warning(
            "circuit for %s opened (%s); next try in %.1f s", self.endpoint, reason, seconds
        )

    def _half_open(self) -> None:
        self._state = CircuitState.HALF_OPEN
        self._generation += 1
        self._probes_in_flight = 0
        self._probe_successes = 0
        logger.info(
            "circuit for %s half-open: letting %d probe call(s) through",
            self.endpoint,
            self._config.half_open_probes,
        )

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._generation += 1
        self._window.clear()
        self._consecutive = 0
        self._reopens = 0
        self._opened_at = None
        self._retry_at = None
        logger.info(
            "circuit for %s closed: %d probe calls succeeded",
            self.endpoint,
            self._probe_successes,
        )
