"""Call and failure counts over a sliding time window, kept in fixed buckets.

The time-based window of resilience4j: ``buckets`` slots of ``seconds / buckets`` each, with
running totals that are adjusted when a slot is reused, so recording and reading are O(1).
"""

from __future__ import annotations

from dotdo.errors import ValidationError

__all__ = ["OutcomeWindow"]


class OutcomeWindow:
    """Counts calls and failures seen in the last ``seconds`` (to a bucket's precision)."""

    __slots__ = ("_calls", "_failures", "_newest", "_total_calls", "_total_failures", "_width")

    def __init__(self, seconds: float = 30.0, buckets: int = 30) -> None:
        """Create an empty window.

        Args:
            seconds: how far back the window reaches.
            buckets: how many slots it is split into; outcomes age out one slot at a time.
        """
        if not (seconds > 0) or buckets < 1:
            raise ValidationError(
                f"a window needs seconds > 0 and buckets >= 1, got {seconds!r} and {buckets!r}"
            )
        self._width = seconds / buckets
        self._calls = [0] * buckets
        self._failures = [0] * buckets
        self._newest: int | None = None
        self._total_calls = 0
        self._total_failures = 0

    def record(self, now: float, *, failed: bool) -> None:
        """Count one call that ended at clock reading ``now``."""
        serial = int(now // self._width)
        if serial != self._newest:
            serial = self._advance(now)
        slot = serial % len(self._calls)
        self._calls[slot] += 1
        self._total_calls += 1
        if failed:
            self._failures[slot] += 1
            self._total_failures += 1

    def counts(self, now: float) -> tuple[int, int]:
        """``(calls, failures)`` recorded in the window that ends at ``now``."""
        self._advance(now)
        return self._total_calls, self._total_failures

    def clear(self) -> None:
        """Forget every outcome."""
        size = len(self._calls)
        self._calls = [0] * size
        self._failures = [0] * size
        self._total_calls = 0
        self._total_failures = 0

    def _advance(self, now: float) -> int:
        """Empty the slots that fell out of the window; return the current slot's serial."""
        serial = int(now // self._width)
        newest = self._newest
        if newest is None or serial - newest >= len(self._calls):
            if newest is not None:
                self.clear()
            self._newest = serial
            return serial
        if serial <= newest:
            # A clock that stepped back: keep counting in the newest slot rather than an old one.
            return newest
        size = len(self._calls)
        for stale in range(newest + 1, serial + 1):
            slot = stale % size
            self._total_calls -= self._calls[slot]
            self._total_failures -= self._failures[slot]
            self._calls[slot] = 0
            self._failures[slot] = 0
        self._newest = serial
        return serial
