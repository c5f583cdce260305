"""Circuit breaker: every transition, the half-open gate, and what it logs."""

from __future__ import annotations

import logging
import random

import anyio
import pytest

from dotdo.errors import CircuitOpenError, ValidationError
from dotdo.resilience import BreakerConfig, CircuitBreaker, CircuitState

from .fakes import FakeClock

NO_JITTER = BreakerConfig(open_jitter=0.0)


def make_breaker(clock: FakeClock, config: BreakerConfig = NO_JITTER) -> CircuitBreaker:
    return CircuitBreaker("api.example", config, clock=clock, rng=random.Random(0))


def fail(breaker: CircuitBreaker, times: int = 1, *, connection: bool = False) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.allow(), connection=connection)


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record_success(breaker.allow())


def open_breaker(breaker: CircuitBreaker) -> None:
    fail(breaker, 5, connection=True)
    assert breaker.state is CircuitState.OPEN


def test_starts_closed_and_lets_calls_through(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    succeed(breaker, 3)
    assert breaker.state is CircuitState.CLOSED


def test_stays_closed_below_the_minimum_number_of_calls(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    fail(breaker, 9)
    assert breaker.state is CircuitState.CLOSED


def test_opens_when_half_of_at_least_ten_calls_fail(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    succeed(breaker, 5)
    fail(breaker, 4)
    assert breaker.state is CircuitState.CLOSED
    fail(breaker)
    assert breaker.state is CircuitState.OPEN


def test_stays_closed_while_the_failure_rate_is_under_half(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    succeed(breaker, 7)
    fail(breaker, 6)
    assert breaker.state is CircuitState.CLOSED


def test_needs_the_minimum_number_of_failures_whatever_the_rate() -> None:
    config = BreakerConfig(minimum_calls=4, minimum_failures=5, open_jitter=0.0)
    breaker = make_breaker(FakeClock(), config)
    fail(breaker, 4)
    assert breaker.state is CircuitState.CLOSED
    fail(breaker)
    assert breaker.state is CircuitState.OPEN


def test_failures_older_than_the_window_do_not_count(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    fail(breaker, 4)
    clock.advance(31.0)
    succeed(breaker, 5)
    fail(breaker)
    assert breaker.state is CircuitState.CLOSED


def test_opens_after_five_connection_failures_in_a_row_under_the_minimum_calls(
    clock: FakeClock,
) -> None:
    breaker = make_breaker(clock)
    fail(breaker, 4, connection=True)
    assert breaker.state is CircuitState.CLOSED
    fail(breaker, connection=True)
    assert breaker.state is CircuitState.OPEN


def test_a_success_breaks_the_run_of_connection_failures(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    fail(breaker, 4, connection=True)
    succeed(breaker)
    fail(breaker, 4, connection=True)
    assert breaker.state is CircuitState.CLOSED


def test_open_refuses_calls_saying_when_it_will_try_again(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    open_breaker(breaker)
    clock.advance(2.0)
    with pytest.raises(CircuitOpenError, match=r"api\.example.*again in 3\.0 s") as info:
        breaker.allow()
    assert info.value.retry_at == pytest.approx(clock.now + 3.0)


def test_the_open_time_is_jittered_by_at_most_a_fifth() -> None:
    for seed in range(200):
        clock = FakeClock()
        breaker = CircuitBreaker("api.example", clock=clock, rng=random.Random(seed))
        open_breaker(breaker)
        retry_at = breaker.stats().retry_at
        assert retry_at is not None
        assert 4.0 <= retry_at - clock.now <= 6.0


def test_turns_half_open_once_the_open_time_has_passed(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    open_breaker(breaker)
    clock.advance(5.0)
    breaker.allow()
    assert breaker.state is CircuitState.HALF_OPEN


def test_half_open_admits_one_probe_at_a_time(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    open_breaker(breaker)
    clock.advance(5.0)
    breaker.allow()
    with pytest.raises(CircuitOpenError, match="probe"):
        breaker.allow()


@pytest.mark.anyio
async def test_half_open_admits_exactly_one_of_1000_concurrent_callers(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    open_breaker(breaker)
    clock.advance(5.0)
    admitted: list[int] = []
    refused: list[CircuitOpenError] = []

    async def caller() -> None:
        await anyio.lowlevel.checkpoint()
        try:
            admitted.append(breaker.allow())
        except CircuitOpenError as exc:
            refused.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(1000):
            tg.start_soon(caller)
    assert (len(admitted), len(refused)) == (1, 999)


def test_two_probe_successes_close_it(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    open_breaker(breaker)
    clock.advance(5.0)
    succeed(breaker)
    assert breaker.state is CircuitState.HALF_OPEN
    succeed(breaker)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.stats().retry_at is None


def test_a_failed_probe_reopens_it_for_twice_as_long(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    open_breaker(breaker)
    clock.advance(5.0)
    fail(breaker)
    assert breaker.state is CircuitState.OPEN
    assert breaker.stats().retry_at == pytest.approx(clock.now + 10.0)


def test_reopening_doubles_up_to_sixty_seconds(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    open_breaker(breaker)
    waits = []
    for _ in range(6):
        retry_at = breaker.stats().retry_at
        assert retry_at is not None
        waits.append(retry_at - clock.now)
        clock.now = retry_at
        fail(breaker)
    assert waits == pytest.approx([5.0, 10.0, 20.0, 40.0, 60.0, 60.0])


def test_closing_resets_the_open_time(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    open_breaker(breaker)
    clock.advance(5.0)
    fail(breaker)
    clock.advance(10.0)
    succeed(breaker, 2)
    open_breaker(breaker)
    assert breaker.stats().retry_at == pytest.approx(clock.now + 5.0)


def test_an_ignored_outcome_frees_the_probe_slot(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    open_breaker(breaker)
    clock.advance(5.0)
    breaker.record_ignored(breaker.allow())
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.allow()


def test_an_ignored_outcome_does_not_count_while_closed(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    for _ in range(50):
        breaker.record_ignored(breaker.allow())
    stats = breaker.stats()
    assert (stats.state, stats.calls, stats.failures) == (CircuitState.CLOSED, 0, 0)


def test_a_slow_call_admitted_while_closed_cannot_close_a_half_open_circuit(
    clock: FakeClock,
) -> None:
    breaker = make_breaker(clock)
    slow_tickets = [breaker.allow() for _ in range(2)]
    open_breaker(breaker)
    clock.advance(5.0)
    probe = breaker.allow()
    for ticket in slow_tickets:
        breaker.record_success(ticket)
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.record_success(probe)
    assert breaker.state is CircuitState.HALF_OPEN


def test_stats_snapshot_the_state_and_counts(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    succeed(breaker, 2)
    fail(breaker, 3, connection=True)
    stats = breaker.stats()
    assert (stats.state, stats.calls, stats.failures) == (CircuitState.CLOSED, 5, 3)
    assert stats.consecutive_connection_failures == 3
    assert (stats.opened_at, stats.retry_at) == (None, None)
    fail(breaker, 2, connection=True)
    stats = breaker.stats()
    assert (stats.state, stats.opened_at, stats.retry_at) == (
        CircuitState.OPEN,
        clock.now,
        clock.now + 5.0,
    )


def test_each_transition_is_logged_on_the_dotdo_logger(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dotdo")
    breaker = make_breaker(clock)
    open_breaker(breaker)
    clock.advance(5.0)
    succeed(breaker, 2)
    records = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert [(name, level) for name, level, _ in records] == [
        ("dotdo", logging.WARNING),
        ("dotdo", logging.INFO),
        ("dotdo", logging.INFO),
    ]
    assert "opened (5 connection failures in a row); next try in 5.0 s" in records[0][2]
    assert "half-open" in records[1][2]
    assert "closed" in records[2][2]


@pytest.mark.parametrize(
    "kwargs",
    [{"failure_rate": 0.0}, {"open_jitter": 1.0}, {"open_seconds": 90.0}, {"half_open_probes": 0}],
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]
