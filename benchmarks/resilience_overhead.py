"""Per-call overhead of ``call_with_resilience`` on a trivial successful attempt.

Runs, in one event loop and interleaved so they see the same machine conditions:

- ``direct``: ``await attempt(limit)``, the baseline;
- ``cancel scope only``: the attempt inside ``anyio.move_on_after``, the cost any per-attempt
  timeout has, shown to separate anyio's share from ours;
- ``runner, no policies``: ``call_with_resilience`` with the deadline and attempt timeout only;
- ``runner, all policies``: plus a circuit breaker, a retry budget and a cold-start tracker.

Each figure is the median over repeats of the mean time per call in a batch; the variants take
turns batch by batch. The runner's own cost is its row minus the cancel-scope row. Usage::

    .venv/bin/python -m benchmarks.resilience_overhead [--long] [--backend asyncio|trio]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Awaitable, Callable

import anyio

from dotdo.resilience import CircuitBreaker, ColdStart, RetryBudget, call_with_resilience

Variant = Callable[[], Awaitable[object]]


async def _attempt(limit: float) -> int:
    return 1


def _variants() -> dict[str, Variant]:
    breaker = CircuitBreaker("bench.example")
    budget = RetryBudget()
    cold_start = ColdStart("bench.example")

    async def direct() -> object:
        return await _attempt(10.0)

    async def scope_only() -> object:
        with anyio.move_on_after(10.0):
            return await _attempt(10.0)
        return None  # reached only if the attempt timed out

    async def runner_bare() -> object:
        return await call_with_resilience(_attempt, idempotent=True)

    async def runner_full() -> object:
        return await call_with_resilience(
            _attempt, idempotent=True, breaker=breaker, budget=budget, cold_start=cold_start
        )

    return {
        "direct": direct,
        "cancel scope only": scope_only,
        "runner, no policies": runner_bare,
        "runner, all policies": runner_full,
    }


async def _time_batch(variant: Variant, calls: int) -> float:
    """Mean seconds per call over ``calls`` sequential calls, with the cyclic GC held off as
    ``timeit`` does, so a collection does not land on whichever variant happens to run."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            await variant()
        return (time.perf_counter() - start) / calls
    finally:
        gc.enable()


async def _measure(calls: int, repeats: int) -> dict[str, float]:
    variants = _variants()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for variant in variants.values():  # warm up caches and the allocator
        await _time_batch(variant, calls // 10)
    for _ in range(repeats):
        for name, variant in variants.items():
            samples[name].append(await _time_batch(variant, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


def _print_table(medians: dict[str, float], calls: int, repeats: int, backend: str) -> None:
    base = medians["direct"]
    print(f"backend={backend}  calls per batch={calls}  repeats={repeats}  (median per call)")
    print(f"{'variant':<22} {'per call µs':>12} {'overhead µs':>12} {'ratio':>8}")
    for name, seconds in medians.items():
        overhead = (seconds - base) * 1e6
        print(f"{name:<22} {seconds * 1e6:>12.2f} {overhead:>12.2f} {seconds / base:>7.1f}x")


def main() -> None:
    """Parse the arguments, run the measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="more calls and repeats (~1 min)")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    calls, repeats = (20_000, 51) if args.long else (5_000, 21)
    medians = anyio.run(_measure, calls, repeats, backend=args.backend)
    _print_table(medians, calls, repeats, args.backend)


if __name__ == "__main__":
    main()
