"""Retry budget: AWS standard-mode token accounting, exhaustion and refill."""

from __future__ import annotations

import pytest

from dotdo.errors import ValidationError
from dotdo.resilience import FailureKind, RetryBudget


def test_starts_full_with_500_tokens() -> None:
    assert RetryBudget().available == 500


@pytest.mark.parametrize(
    ("kind", "cost"),
    [
        (FailureKind.AMBIGUOUS, 5),
        (FailureKind.THROTTLED, 5),
        (FailureKind.TIMED_OUT, 10),
        (FailureKind.NOT_SENT, 1),
    ],
)
def test_a_retry_takes_its_kinds_cost(kind: FailureKind, cost: int) -> None:
    budget = RetryBudget()
    assert budget.try_acquire(kind) == cost
    assert budget.available == 500 - cost


def test_a_sustained_outage_is_retried_at_most_100_times() -> None:
    budget = RetryBudget()
    granted = 0
    while budget.try_acquire(FailureKind.AMBIGUOUS) is not None:
        granted += 1
    assert granted == 100
    assert budget.available == 0


def test_an_empty_budget_refuses_the_retry_and_keeps_its_tokens() -> None:
    budget = RetryBudget(capacity=12)
    assert budget.try_acquire(FailureKind.TIMED_OUT) == 10
    assert budget.try_acquire(FailureKind.TIMED_OUT) is None
    assert budget.available == 2


def test_a_first_try_success_gives_one_token_back() -> None:
    budget = RetryBudget()
    budget.try_acquire(FailureKind.AMBIGUOUS)
    budget.record_success()
    assert budget.available == 496


def test_a_success_after_retries_refunds_what_they_took() -> None:
    budget = RetryBudget()
    taken = sum(budget.try_acquire(FailureKind.TIMED_OUT) or 0 for _ in range(3))
    budget.record_success(taken)
    assert budget.available == 500


def test_successes_refill_an_empty_budget_until_retries_resume() -> None:
    budget = RetryBudget()
    while budget.try_acquire(FailureKind.AMBIGUOUS) is not None:
        pass
    for _ in range(4):
        budget.record_success()
        assert budget.try_acquire(FailureKind.AMBIGUOUS) is None
    budget.record_success()
    assert budget.try_acquire(FailureKind.AMBIGUOUS) == 5


def test_refills_never_exceed_the_capacity() -> None:
    budget = RetryBudget(capacity=10)
    for _ in range(50):
        budget.record_success()
    budget.record_success(taken=30)
    assert budget.available == 10


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="retry_cost"):
        RetryBudget(retry_cost=-1)
