"""The one place resilience is applied to a call: deadline, breaker, attempts, retries, backoff.

Order, outermost first (research §7a, after Polly's standard pipeline)::

    total deadline
     └─ retry loop (classification, idempotency, full-jitter backoff, retry budget, cold start)
         └─ circuit breaker
             └─ per-attempt timeout: min(attempt_timeout_s, time left)

The happy path does as little as possible: read the clock, ask the breaker, enter one scope for
the attempt's timeout (:mod:`~dotdo.resilience.attempt_timer`: on asyncio, a set insert rather
than a timer per call), record the success. Everything needed to retry is built only after a
first failure. Cancellation is never caught, counted or retried: it propagates untouched, after
freeing any half-open probe slot the call held.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from dotdo.errors import DotDoError, DotDoTimeoutError
from dotdo.resilience.attempt_timer import move_on_after
from dotdo.resilience.breaker import CircuitBreaker
from dotdo.resilience.classify import FailureKind, classify_failure, request_was_sent
from dotdo.resilience.cold_start import ColdStart, WarmUp, is_warming_failure
from dotdo.resilience.deadline import Deadline
from dotdo.resilience.retry import RetryPolicy, kind_is_retryable, retry_after_hint
from dotdo.resilience.retry_budget import RetryBudget

__all__ = ["DEFAULT_RETRY_POLICY", "call_with_resilience"]

T = TypeVar("T")

DEFAULT_RETRY_POLICY = RetryPolicy()
_NEVER = math.inf
_RNG = random.Random()  # noqa: S311  (jitter needs no CSPRNG)

_BREAKER_FAILURES = frozenset({FailureKind.NOT_SENT, FailureKind.TIMED_OUT, FailureKind.AMBIGUOUS})


async def call_with_resilience(
    attempt: Callable[[float], Awaitable[T]],
    *,
    idempotent: bool,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    budget: RetryBudget | None = None,
    breaker: CircuitBreaker | None = None,
    cold_start: ColdStart | None = None,
    deadline_s: float | None = 30.0,
    attempt_timeout_s: float | None = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, a failure may not be retried, or time runs out.

    Args:
        attempt: makes the call once; it receives the seconds this attempt may take, so it can
            bound its own steps (connecting, for instance) by them.
        idempotent: running the call twice has the effect of running it once (a read, or a
            write with an idempotency key); only then are ambiguous failures retried.
        policy: how many retries, and the backoff between them.
        budget: the shared retry allowance; when it is empty, failures are not retried.
        breaker: the endpoint's circuit breaker; it is asked before every attempt.
        cold_start: whether the endpoint may be asleep; warming failures then follow its
            schedule instead of ``policy``.
        deadline_s: the total time for every attempt and wait, or None for no limit.
        attempt_timeout_s: the most one attempt may take, or None for no limit of its own.
        clock: the monotonic clock deadlines are read on.
        sleep: waits between attempts.
        rng: randomness for the jitter.

    Returns:
        what the successful attempt returned.

    Raises:
        DotDoTimeoutError: an attempt overran its limit and was not retried, or the deadline
            left no time for another attempt (the last failure is its ``__cause__``).
        CircuitOpenError: the breaker refused the call.
        DotDoError: the last failure, when it may not be retried or retries ran out.
    """
    # The deadline is two floats here, not a Deadline, because this is the path every successful
    # call takes; the slow path wraps them in a Deadline after the first failure.
    expires_at = _NEVER if deadline_s is None else clock() + deadline_s
    retrying: _Retrying | None = None
    while True:
        ticket = breaker.allow() if breaker is not None else 0
        try:
            limit = expires_at - clock()
            if attempt_timeout_s is not None and attempt_timeout_s < limit:
                limit = attempt_timeout_s
            with move_on_after(limit) as scope:
                result = await attempt(limit)
            if scope.cancelled_caught:
                raise DotDoTimeoutError(
                    f"the attempt got no answer within {limit:.3g} s",
                    details={"attempt_timeout_s": limit},
                )
        except Exception as exc:
            if retrying is None:
                retrying = _Retrying(
                    idempotent=idempotent,
                    policy=policy,
                    budget=budget,
                    breaker=breaker,
                    cold_start=cold_start,
                    deadline=Deadline(expires_at, clock),
                    deadline_s=deadline_s,
                    rng=rng or _RNG,
                )
            delay = retrying.after_failure(exc, ticket)
        except BaseException:
            if breaker is not None:
                breaker.record_ignored(ticket)
            raise
        else:
            if breaker is not None:
                breaker.record_success(ticket)
            if budget is not None:
                budget.record_success(retrying.taken if retrying is not None else 0)
            if cold_start is not None:
                cold_start.record_success()
            return result
        await sleep(delay)
        retrying.before_next_attempt()


class _Retrying:
    """The slow path of one call: decides whether and when to try again after a failure."""

    __slots__ = (
        "_breaker",
        "_budget",
        "_cold_start",
        "_deadline",
        "_deadline_s",
        "_idempotent",
        "_last_error",
        "_policy",
        "_rng",
        "_warm_up",
        "attempts",
        "retries",
        "taken",
    )

    def __init__(
        self,
        *,
        idempotent: bool,
        policy: RetryPolicy,
        budget: RetryBudget | None,
        breaker: CircuitBreaker | None,
        cold_start: ColdStart | None,
        deadline: Deadline,
        deadline_s: float | None,
        rng: random.Random,
    ) -> None:
        self._idempotent = idempotent
        self._policy = policy
        self._budget = budget
        self._breaker = breaker
        self._cold_start = cold_start
        self._deadline = deadline
        self._deadline_s = deadline_s
        self._rng = rng
        self._warm_up: WarmUp | None = None
        self._last_error: Exception | None = None
        self.attempts = 0
        self.retries = 0
        self.taken = 0

    def after_failure(self, exc: Exception, ticket: int) -> float:
        """Record the failed attempt; return the seconds to wait before the next one.

        Raises:
            Exception: ``exc`` itself, or a DotDoTimeoutError caused by it, when there will be
                no next attempt.
        """
        self.attempts += 1
        self._last_error = exc
        kind = classify_failure(exc, request_sent=request_was_sent(exc))
        cold_start = self._cold_start
        warming = cold_start is not None and is_warming_failure(exc) and cold_start.is_cold()
        self._record_outcome(kind, ticket, warming=warming)
        if not kind_is_retryable(kind, idempotent=self._idempotent):
            raise exc
        if warming:
            assert cold_start is not None
            return self._cold_start_wait(exc, cold_start)
        return self._retry_wait(exc, kind)

    def before_next_attempt(self) -> None:
        """Check, after a wait, that the deadline still leaves time to try again.

        Raises:
            DotDoTimeoutError: the wait overran the deadline.
        """
        if self._deadline.expired():
            raise self._deadline_error() from self._last_error

    def _record_outcome(self, kind: FailureKind, ticket: int, *, warming: bool) -> None:
        breaker = self._breaker
        if breaker is None:
            return
        if warming:
            breaker.record_ignored(ticket)  # a backend starting from zero is not failing
        elif kind in _BREAKER_FAILURES:
            breaker.record_failure(ticket, connection=kind is FailureKind.NOT_SENT)
        elif kind is FailureKind.DEFINITE:
            breaker.record_success(ticket)  # the endpoint answered, if only to say no
        else:
            breaker.record_ignored(ticket)

    def _retry_wait(self, exc: Exception, kind: FailureKind) -> float:
        if self.retries >= self._policy.max_retries:
            exc.add_note(f"dotdo: gave up after {self.attempts} attempts")
            raise exc
        delay = self._policy.delay_after(exc, self.retries + 1, self._rng)
        self._check_wait_fits(exc, delay)
        if self._budget is not None:
            cost = self._budget.try_acquire(kind)
            if cost is None:
                if isinstance(exc, DotDoError):
                    exc.details["retry_budget_exhausted"] = True
                exc.add_note("dotdo: not retried: the client's retry budget is used up")
                raise exc
            self.taken += cost
        self.retries += 1
        return delay

    def _cold_start_wait(self, exc: Exception, cold_start: ColdStart) -> float:
        if self._warm_up is None:
            self._warm_up = cold_start.warm_up()
        delay = self._warm_up.next_wait(self._rng)
        if delay is None:
            cold_start.record_gave_up()
            exc.add_note(f"dotdo: the backend did not start within {cold_start.policy.budget:g} s")
            raise exc
        self._check_wait_fits(exc, delay)
        return delay

    def _check_wait_fits(self, exc: Exception, delay: float) -> None:
        """Raise unless waiting ``delay`` seconds still leaves time before the deadline."""
        if self._deadline.allows_wait(delay):
            return
        hint = retry_after_hint(exc)
        if hint is not None and not self._deadline.allows_wait(hint):
            exc.add_note(
                f"dotdo: the server asked to wait {hint:g} s, more than the "
                f"{self._deadline.remaining():.3g} s left before the deadline"
            )
            raise exc
        raise self._deadline_error() from exc

    def _deadline_error(self) -> DotDoTimeoutError:
        last = self._last_error
        limit = "its deadline" if self._deadline_s is None else f"{self._deadline_s:g} s"
        return DotDoTimeoutError(
            f"the call did not succeed within {limit}: {self.attempts} attempt(s) failed, "
            f"the last with {type(last).__name__}: {last}",
            details={"attempts": self.attempts, "deadline_s": self._deadline_s},
        )
