"""How often and how long to wait before trying a failed call again.

Backoff is exponential with *full jitter* (AWS "Exponential Backoff and Jitter", gRPC A6,
google-api-core): the wait before retry ``n`` is uniform in ``[0, min(max, delay * mult**(n-1))]``,
which spreads a crowd of clients that failed together far better than fixed or "equal" jitter.
A server's ``retry_after`` hint is a floor on the wait, clamped like stripe-python's
``MAX_RETRY_AFTER``; the caller still refuses any wait that would end past the call's deadline.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from dotdo.errors import RateLimitError, ValidationError
from dotdo.resilience.classify import FailureKind, classify_failure

__all__ = ["RetryPolicy", "is_retryable", "kind_is_retryable", "retry_after_hint"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to retry and how long to wait between attempts.

    Attributes:
        max_retries: retries after the first attempt (so ``3`` means at most 4 attempts).
        retry_delay: the backoff cap, in seconds, before the first retry.
        retry_multiplier: how much the cap grows with each further retry.
        retry_max_delay: the cap never grows past this many seconds.
        max_retry_after: a server ``retry_after`` hint longer than this is clamped to it.
    """

    max_retries: int = 3
    retry_delay: float = 0.1
    retry_multiplier: float = 2.0
    retry_max_delay: float = 30.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValidationError(f"max_retries must be 0 or more, got {self.max_retries!r}")
        for name in ("retry_delay", "retry_max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValidationError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if not (math.isfinite(self.retry_multiplier) and self.retry_multiplier >= 1):
            raise ValidationError(
                f"retry_multiplier must be a number >= 1, got {self.retry_multiplier!r}"
            )

    def backoff_cap(self, attempt: int) -> float:
        """The longest wait before retry number ``attempt`` (``1`` is the first retry)."""
        try:
            cap = self.retry_delay * self.retry_multiplier ** max(attempt - 1, 0)
        except OverflowError:
            return self.retry_max_delay
        return min(cap, self.retry_max_delay)

    def delay_for(self, attempt: int, rng: random.Random) -> float:
        """A full-jitter wait before retry number ``attempt``: uniform in ``[0, backoff_cap]``."""
        return rng.random() * self.backoff_cap(attempt)

    def delay_after(self, exc: BaseException, attempt: int, rng: random.Random) -> float:
        """The wait before retry ``attempt`` after ``exc``: the jittered backoff, or longer if the
        server asked for it with ``retry_after`` (clamped to ``max_retry_after``)."""
        delay = self.delay_for(attempt, rng)
        hint = retry_after_hint(exc)
        if hint is not None:
            delay = max(delay, min(hint, self.max_retry_after))
        return delay


def retry_after_hint(exc: BaseException) -> float | None:
    """The positive number of seconds the server asked us to wait, if it said so."""
    if isinstance(exc, RateLimitError):
        hint = exc.retry_after
        # ``hint > 0`` is also False for NaN, so a garbled hint is ignored rather than obeyed.
        if hint is not None and hint > 0:
            return hint
    return None


def kind_is_retryable(kind: FailureKind, *, idempotent: bool) -> bool:
    """Whether a failure of this kind may be retried for a call that is (not) idempotent."""
    if kind is FailureKind.NOT_SENT or kind is FailureKind.THROTTLED:
        return True
    if kind is FailureKind.TIMED_OUT or kind is FailureKind.AMBIGUOUS:
        return idempotent
    return False


def is_retryable(exc: BaseException, *, idempotent: bool, request_sent: bool) -> bool:
    """Whether the call that raised ``exc`` may be sent again.

    Args:
        exc: what the attempt raised.
        idempotent: the method is a read, or the write carries an idempotency key the server
            honours, so running it twice has the effect of running it once.
        request_sent: whether the request may have reached the server.

    Failures before the request left are always retryable, and so is throttling. Timeouts, lost
    connections and platform failures after sending are retryable only when ``idempotent``.
    Authentication, authorization, validation, not-found, conflict, capability and protocol
    errors, a paused backend, non-dotdo exceptions and cancellation are never retried.
    """
    return kind_is_retryable(
        classify_failure(exc, request_sent=request_sent), idempotent=idempotent
    )
