"""Deadlines: the total limit for a call and the shorter limits inside it."""

from __future__ import annotations

import math

import pytest

from dotdo.errors import ValidationError
from dotdo.resilience import Deadline, TimeoutPolicy

from .fakes import FakeClock


def test_remaining_counts_down_on_the_injected_clock(clock: FakeClock) -> None:
    deadline = Deadline.after(30.0, clock)
    clock.advance(12.5)
    assert deadline.remaining() == pytest.approx(17.5)
    assert not deadline.expired()


def test_remaining_is_never_negative(clock: FakeClock) -> None:
    deadline = Deadline.after(1.0, clock)
    clock.advance(5.0)
    assert deadline.remaining() == 0.0
    assert deadline.expired()


def test_no_total_deadline_never_expires(clock: FakeClock) -> None:
    deadline = Deadline.after(None, clock)
    clock.advance(1e9)
    assert deadline.remaining() == math.inf
    assert not deadline.expired()


def test_an_attempt_gets_its_own_limit_while_the_deadline_is_far(clock: FakeClock) -> None:
    assert Deadline.after(30.0, clock).limit(10.0) == 10.0


def test_an_attempt_gets_only_what_the_deadline_leaves(clock: FakeClock) -> None:
    deadline = Deadline.after(30.0, clock)
    clock.advance(26.0)
    assert deadline.limit(10.0) == pytest.approx(4.0)


def test_an_attempt_without_a_limit_of_its_own_gets_the_rest_of_the_deadline(
    clock: FakeClock,
) -> None:
    assert Deadline.after(30.0, clock).limit(None) == 30.0


def test_a_wait_is_allowed_only_if_it_ends_before_the_deadline(clock: FakeClock) -> None:
    deadline = Deadline.after(10.0, clock)
    assert deadline.allows_wait(9.9)
    assert not deadline.allows_wait(10.0)


@pytest.mark.parametrize("seconds", [0.0, -1.0, math.nan])
def test_a_deadline_must_be_positive(seconds: float) -> None:
    with pytest.raises(ValidationError, match="seconds"):
        Deadline.after(seconds)


def test_default_timeouts_are_30_s_total_10_s_per_attempt_5_s_to_connect() -> None:
    policy = TimeoutPolicy()
    assert (policy.total, policy.attempt, policy.connect) == (30.0, 10.0, 5.0)


def test_connecting_to_a_possibly_cold_backend_gets_longer() -> None:
    policy = TimeoutPolicy()
    assert policy.connect_timeout(cold=False) == 5.0
    assert policy.connect_timeout(cold=True) == 10.0


def test_a_timeout_policy_refuses_a_zero_limit() -> None:
    with pytest.raises(ValidationError, match="attempt"):
        TimeoutPolicy(attempt=0.0)
