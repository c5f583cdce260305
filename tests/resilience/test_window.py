"""The sliding window of call outcomes the circuit breaker judges its failure rate on."""

from __future__ import annotations

import pytest

from dotdo.errors import ValidationError
from dotdo.resilience.window import OutcomeWindow


def test_counts_calls_and_failures_in_the_window() -> None:
    window = OutcomeWindow(seconds=30.0, buckets=30)
    for second in range(10):
        window.record(100.0 + second, failed=second % 2 == 0)
    assert window.counts(110.0) == (10, 5)


def test_outcomes_older_than_the_window_age_out_one_bucket_at_a_time() -> None:
    window = OutcomeWindow(seconds=30.0, buckets=30)
    window.record(100.2, failed=True)
    window.record(101.2, failed=False)
    assert window.counts(129.9) == (2, 1)
    assert window.counts(130.0) == (1, 0)
    assert window.counts(131.0) == (0, 0)


def test_a_long_silence_empties_the_window() -> None:
    window = OutcomeWindow(seconds=30.0, buckets=30)
    window.record(100.0, failed=True)
    window.record(10_000.0, failed=False)
    assert window.counts(10_000.0) == (1, 0)


def test_a_clock_that_steps_back_counts_in_the_newest_bucket() -> None:
    window = OutcomeWindow(seconds=30.0, buckets=30)
    window.record(100.0, failed=False)
    window.record(50.0, failed=True)
    assert window.counts(100.0) == (2, 1)


def test_clear_forgets_everything() -> None:
    window = OutcomeWindow()
    window.record(1.0, failed=True)
    window.clear()
    assert window.counts(1.0) == (0, 0)


def test_a_window_needs_a_length_and_a_bucket() -> None:
    with pytest.raises(ValidationError):
        OutcomeWindow(seconds=0.0)
    with pytest.raises(ValidationError):
        OutcomeWindow(buckets=0)
