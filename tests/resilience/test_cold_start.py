"""Cold start: the warm-up schedule and budget, what counts as warming, and when it applies."""

from __future__ import annotations

import logging
import random

import pytest

from dotdo.errors import (
    DotDoConnectionError,
    DotDoError,
    DotDoTimeoutError,
    NotFoundError,
    RateLimitError,
    ServiceError,
    ValidationError,
)
from dotdo.resilience import REQUEST_SENT_KEY, ColdStart, ColdStartPolicy, is_warming_failure

from .fakes import FakeClock

NO_JITTER = ColdStartPolicy(jitter=0.0)


def test_the_schedule_grows_from_a_tenth_of_a_second_then_repeats_two_seconds() -> None:
    rng = random.Random(0)
    delays = [NO_JITTER.delay_for(attempt, rng) for attempt in range(1, 9)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0])


def test_each_wait_is_jittered_by_at_most_a_fifth() -> None:
    policy = ColdStartPolicy()
    rng = random.Random(5)
    for attempt in range(1, 10):
        base = NO_JITTER.delay_for(attempt, rng)
        for _ in range(200):
            assert 0.8 * base <= policy.delay_for(attempt, rng) <= 1.2 * base


@pytest.mark.parametrize(
    "exc",
    [
        DotDoConnectionError("connection refused"),
        DotDoTimeoutError("connect timed out", details={REQUEST_SENT_KEY: False}),
        ServiceError("service unavailable", code="unavailable"),
        ServiceError("bad gateway", details={"status": 502}),
        ServiceError("gateway timeout", details={"status": 504}),
    ],
    ids=["refused", "connect-timeout", "unavailable", "502", "504"],
)
def test_refusals_and_gateway_errors_count_as_warming(exc: DotDoError) -> None:
    assert is_warming_failure(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ServiceError("the project is paused", code="paused"),
        ServiceError("internal error", details={"status": 500}),
        DotDoTimeoutError("no answer"),
        RateLimitError("slow down"),
        NotFoundError("missing"),
    ],
    ids=["paused", "500", "read-timeout", "429", "404"],
)
def test_other_failures_do_not_count_as_warming(exc: DotDoError) -> None:
    assert not is_warming_failure(exc)


def test_a_backend_is_cold_until_it_first_answers(clock: FakeClock) -> None:
    cold_start = ColdStart("api.example", clock=clock)
    assert cold_start.is_cold()
    cold_start.record_success()
    assert not cold_start.is_cold()


def test_a_backend_is_cold_again_after_five_idle_minutes(clock: FakeClock) -> None:
    cold_start = ColdStart("api.example", clock=clock)
    cold_start.record_success()
    clock.advance(299.0)
    assert not cold_start.is_cold()
    clock.advance(1.0)
    assert cold_start.is_cold()


def test_a_lost_connection_makes_a_warm_backend_cold_until_it_answers(clock: FakeClock) -> None:
    cold_start = ColdStart("api.example", clock=clock)
    cold_start.record_success()
    cold_start.record_lost()
    assert cold_start.is_cold()
    cold_start.record_success()
    assert not cold_start.is_cold()


def test_a_warm_up_waits_no_longer_than_its_budget_in_total(clock: FakeClock) -> None:
    cold_start = ColdStart("api.example", clock=clock)
    warm_up = cold_start.warm_up()
    started = clock.now
    waits = 0
    rng = random.Random(3)
    while (delay := warm_up.next_wait(rng)) is not None:
        clock.advance(delay)
        waits += 1
    assert clock.now - started <= 30.0
    assert 14 <= waits <= 20  # about 17 probes in 30 s, research §7a.6


def test_a_warm_up_that_spent_its_budget_hands_over_to_normal_policies(
    clock: FakeClock,
) -> None:
    cold_start = ColdStart("api.example", clock=clock)
    cold_start.record_gave_up()
    assert not cold_start.is_cold()


def test_each_warm_up_wait_is_logged_at_debug(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dotdo")
    warm_up = ColdStart("api.example", clock=clock).warm_up()
    warm_up.next_wait(random.Random(0))
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert "waiting for a cold start of api.example" in record.getMessage()


def test_a_warm_up_longer_than_two_seconds_is_announced_once_at_info(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dotdo")
    warm_up = ColdStart("api.example", NO_JITTER, clock=clock).warm_up()
    rng = random.Random(0)
    for _ in range(8):
        delay = warm_up.next_wait(rng)
        assert delay is not None
        clock.advance(delay)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["dotdo backend api.example is starting (scale from zero)"]


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="jitter"):
        ColdStartPolicy(jitter=1.5)
    with pytest.raises(ValidationError, match="budget"):
        ColdStartPolicy(budget=0.0)
