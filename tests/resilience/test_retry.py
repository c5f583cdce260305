"""Retry policy: the backoff schedule, full jitter, retry-after hints and what is retryable."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from dotdo.errors import (
    AuthenticationError,
    AuthorizationError,
    CapabilityError,
    ConflictError,
    DotDoConnectionError,
    DotDoError,
    DotDoTimeoutError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    ServiceError,
    ValidationError,
)
from dotdo.resilience import REQUEST_SENT_KEY, RetryPolicy, is_retryable, retry_after_hint


def test_defaults_are_three_retries_from_a_tenth_of_a_second_doubling_up_to_thirty() -> None:
    policy = RetryPolicy()
    assert (policy.max_retries, policy.retry_delay) == (3, 0.1)
    assert (policy.retry_multiplier, policy.retry_max_delay) == (2.0, 30.0)


def test_backoff_cap_grows_exponentially_from_the_first_retry() -> None:
    policy = RetryPolicy()
    caps = [policy.backoff_cap(attempt) for attempt in range(1, 6)]
    assert caps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])


def test_backoff_cap_stops_at_the_maximum_delay() -> None:
    policy = RetryPolicy(retry_delay=1.0, retry_max_delay=5.0)
    assert policy.backoff_cap(10) == 5.0
    assert policy.backoff_cap(100_000) == 5.0  # no OverflowError for absurd attempt numbers


def test_full_jitter_stays_within_zero_and_the_cap() -> None:
    policy = RetryPolicy()
    rng = random.Random(1234)
    for attempt in range(1, 15):
        cap = policy.backoff_cap(attempt)
        for _ in range(500):
            assert 0.0 <= policy.delay_for(attempt, rng) <= cap


def test_full_jitter_spreads_over_the_whole_range() -> None:
    policy = RetryPolicy(retry_delay=1.0)
    rng = random.Random(99)
    delays = [policy.delay_for(1, rng) for _ in range(2_000)]
    assert min(delays) < 0.05
    assert max(delays) > 0.95
    assert 0.45 < sum(delays) / len(delays) < 0.55


def test_the_same_seed_gives_the_same_schedule() -> None:
    policy = RetryPolicy()
    first = [policy.delay_for(n, random.Random(7)) for n in range(1, 5)]
    again = [policy.delay_for(n, random.Random(7)) for n in range(1, 5)]
    assert first == again


def test_retry_after_is_a_floor_on_the_wait() -> None:
    policy = RetryPolicy()
    exc = RateLimitError("slow down", retry_after=2.5)
    assert policy.delay_after(exc, 1, random.Random(0)) == 2.5


def test_backoff_longer_than_retry_after_wins() -> None:
    policy = RetryPolicy(retry_delay=10.0)
    rng = random.Random(0)
    expected = RetryPolicy(retry_delay=10.0).delay_for(1, random.Random(0))
    assert expected > 0.5
    assert policy.delay_after(RateLimitError("x", retry_after=0.5), 1, rng) == expected


def test_retry_after_is_clamped_to_max_retry_after() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    exc = RateLimitError("slow down", retry_after=3_600.0)
    assert policy.delay_after(exc, 1, random.Random(0)) == 60.0


@pytest.mark.parametrize("hint", [None, 0.0, -5.0, math.nan])
def test_a_missing_or_meaningless_retry_after_is_ignored(hint: float | None) -> None:
    assert retry_after_hint(RateLimitError("x", retry_after=hint)) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"retry_delay": -0.1},
        {"retry_delay": math.inf},
        {"retry_multiplier": 0.5},
        {"retry_max_delay": math.nan},
    ],
)
def test_nonsense_settings_are_refused_with_a_message_naming_them(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


NEVER_RETRIED = [
    AuthenticationError("bad token"),
    AuthorizationError("no"),
    ValidationError("bad argument"),
    NotFoundError("missing"),
    ConflictError("duplicate"),
    CapabilityError("disposed"),
    ProtocolError("bad frame"),
    ServiceError("paused", code="paused"),
]


@pytest.mark.parametrize("exc", NEVER_RETRIED, ids=lambda exc: type(exc).__name__)
@pytest.mark.parametrize("idempotent", [True, False])
@pytest.mark.parametrize("request_sent", [True, False])
def test_definite_errors_are_never_retried(
    exc: DotDoError, idempotent: bool, request_sent: bool
) -> None:
    assert not is_retryable(exc, idempotent=idempotent, request_sent=request_sent)


@pytest.mark.parametrize("exc", [asyncio.CancelledError(), KeyboardInterrupt()])
def test_cancellation_is_never_retried(exc: BaseException) -> None:
    assert not is_retryable(exc, idempotent=True, request_sent=False)


def test_a_bug_is_never_retried() -> None:
    assert not is_retryable(TypeError("oops"), idempotent=True, request_sent=False)


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_failure_before_the_request_left_is_always_retried(idempotent: bool) -> None:
    exc = DotDoConnectionError("connection refused", details={REQUEST_SENT_KEY: False})
    assert is_retryable(exc, idempotent=idempotent, request_sent=False)


@pytest.mark.parametrize("idempotent", [True, False])
def test_throttling_is_always_retried(idempotent: bool) -> None:
    assert is_retryable(RateLimitError("slow down"), idempotent=idempotent, request_sent=True)


@pytest.mark.parametrize(
    "exc",
    [DotDoConnectionError("reset"), DotDoTimeoutError("slow"), ServiceError("internal")],
    ids=lambda exc: type(exc).__name__,
)
def test_an_ambiguous_failure_is_retried_only_for_idempotent_calls(exc: DotDoError) -> None:
    assert is_retryable(exc, idempotent=True, request_sent=True)
    assert not is_retryable(exc, idempotent=False, request_sent=True)
