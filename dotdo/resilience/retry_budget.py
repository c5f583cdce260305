"""A token bucket that stops retries when an endpoint keeps failing (the AWS SDK retry quota).

Each retry takes tokens; each success gives some back. During a sustained outage the bucket
empties after about ``capacity / retry_cost`` retries (100 with the defaults), then every call
fails with its first error instead of multiplying the load, and retries resume by themselves as
successes refill it. Numbers from botocore ``retries/quota.py`` and ``retries/standard.py``:
capacity 500, 5 per retry, 10 per retry after a timeout, +1 per success on the first try, and the
tokens taken refunded by a success after retries. A retry of a request that never left the
client costs 1: it put no load on the server (research §7a.4).
"""

from __future__ import annotations

from dotdo.errors import ValidationError
from dotdo.resilience.classify import FailureKind

__all__ = ["RetryBudget"]


class RetryBudget:
    """A shared allowance of retries, one per client and endpoint.

    Not thread-safe: no method awaits, so it is consistent within one event loop.
    """

    __slots__ = (
        "_available",
        "capacity",
        "not_sent_retry_cost",
        "retry_cost",
        "success_refund",
        "timeout_retry_cost",
    )

    def __init__(
        self,
        capacity: int = 500,
        *,
        retry_cost: int = 5,
        timeout_retry_cost: int = 10,
        not_sent_retry_cost: int = 1,
        success_refund: int = 1,
    ) -> None:
        """Start full.

        Args:
            capacity: the most tokens the bucket holds, and what it starts with.
            retry_cost: tokens a retry takes.
            timeout_retry_cost: tokens a retry after a timeout takes.
            not_sent_retry_cost: tokens a retry of a request that never left the client takes.
            success_refund: tokens a call that succeeded on its first attempt gives back.
        """
        costs = {
            "capacity": capacity,
            "retry_cost": retry_cost,
            "timeout_retry_cost": timeout_retry_cost,
            "not_sent_retry_cost": not_sent_retry_cost,
            "success_refund": success_refund,
        }
        for name, value in costs.items():
            if value < 0:
                raise ValidationError(f"{name} must be 0 or more tokens, got {value!r}")
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_retry_cost = timeout_retry_cost
        self.not_sent_retry_cost = not_sent_retry_cost
        self.success_refund = success_refund
        self._available = capacity

    @property
    def available(self) -> int:
        """Tokens left in the bucket."""
        return self._available

    def cost_of(self, kind: FailureKind) -> int:
        """Tokens a retry after a failure of this kind takes."""
        if kind is FailureKind.TIMED_OUT:
            return self.timeout_retry_cost
        if kind is FailureKind.NOT_SENT:
            return self.not_sent_retry_cost
        return self.retry_cost

    def try_acquire(self, kind: FailureKind) -> int | None:
        """Take the tokens for one retry after a ``kind`` failure.

        Returns:
            the number of tokens taken (keep it for :meth:`record_success`), or ``None`` when the
            bucket cannot pay, meaning: do not retry, let the original error surface.
        """
        cost = self.cost_of(kind)
        if cost > self._available:
            return None
        self._available -= cost
        return cost

    def record_success(self, taken: int = 0) -> None:
        """Give tokens back after a successful call.

        Args:
            taken: the tokens this call's retries took; a success after retries refunds them, a
                success on the first attempt (``taken == 0``) refunds ``success_refund``.
        """
        available = self._available + (taken or self.success_refund)
        self._available = available if available < self.capacity else self.capacity
