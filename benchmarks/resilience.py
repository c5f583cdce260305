"""Resilience figures for the client: recovery after a platform restart, and hot-path overhead.

Two measurements, printed as tables (nothing is asserted):

1. **Restart to first success.** A real platform process (``python -m dotdo.server``) is
   SIGKILLed and started again, several times, while one caller keeps calling it through a warm
   client. For each restart: the time from the platform being ready again (``LISTENING``) to the
   caller's first successful call, and from the kill to that call. Median, min and max.
2. **Policy overhead per call,** in the same run, interleaved batch by batch so both variants
   see the same machine: a platform call (a user service's ``ping`` on an in-process
   ``memory://`` platform) through ``DotDo._call`` (deadline, attempt timeout, retry loop,
   breaker, retry budget, cold-start tracker, re-authentication), against the same call made
   straight on the authenticated session with every policy switched off. The same pair on a
   trivial attempt isolates the runner from the transport. Target: under 10 µs per call.

Usage::

    .venv/bin/python -m benchmarks.resilience           # short: 5 restarts, ~30 s
    .venv/bin/python -m benchmarks.resilience --long    # 20 restarts, more batches
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from dotdo._client import DotDo
from dotdo.errors import DotDoError
from dotdo.resilience import call_with_resilience
from dotdo.server import Platform, Settings
from dotdo.transport.target import RpcTarget
from tests.resilience_integration.platform_process import PlatformProcess

Variant = Callable[[], Awaitable[object]]
SERVICE_PATH = ("rpc", "bench", "ping")


# -- restart to first success ---------------------------------------------------------------


async def _first_success(dotdo: DotDo) -> float:
    """Call until a call succeeds; the monotonic time it returned."""
    while True:
        try:
            await dotdo.secrets.get("BENCH")
        except DotDoError:
            continue
        return time.monotonic()


async def _restart_recovery(root: Path, restarts: int) -> list[tuple[float, float]]:
    """Per restart: (seconds from ready to first success, seconds from kill to first success)."""
    platform = PlatformProcess(root / "data", root / "platform-config")
    await platform.start()
    samples = []
    try:
        async with DotDo(api_key=platform.api_key, endpoint=platform.url) as dotdo:
            await dotdo.secrets.set("BENCH", "1")
            for _ in range(restarts):
                killed_at = time.monotonic()
                await platform.kill()
                caller = asyncio.ensure_future(_first_success(dotdo))
                await asyncio.sleep(0.2)  # the caller meets a dead platform first
                await platform.start()
                succeeded_at = await caller
                assert platform.last_ready_at is not None
                samples.append((succeeded_at - platform.last_ready_at, succeeded_at - killed_at))
    finally:
        await platform.kill()
    return samples


def _print_recovery(samples: list[tuple[float, float]]) -> None:
    print(f"\nrestart to first successful call ({len(samples)} SIGKILL restarts)")
    print(f"{'measured from':<28} {'median s':>9} {'min s':>8} {'max s':>8}")
    for label, values in (
        ("platform ready (LISTENING)", [ready for ready, _ in samples]),
        ("SIGKILL", [killed for _, killed in samples]),
    ):
        print(
            f"{label:<28} {statistics.median(values):>9.3f} {min(values):>8.3f} {max(values):>8.3f}"
        )


# -- hot-path overhead ----------------------------------------------------------------------


class Bench(RpcTarget):
    """A user service that does nothing, so the call measures the path, not the work."""

    def ping(self) -> int:
        return 1


async def _trivial(limit: float) -> int:
    return 1


async def _variants(dotdo: DotDo) -> dict[str, Variant]:
    shared = dotdo._shared
    await dotdo._call(SERVICE_PATH, (), idempotent=True)  # connect and authenticate

    async def trivial_direct() -> object:
        return await _trivial(10.0)

    async def trivial_runner() -> object:
        return await call_with_resilience(
            _trivial,
            idempotent=True,
            budget=shared.budget,
            breaker=shared.breaker,
            cold_start=shared.cold_start,
            rng=shared.rng,
        )

    async def call_direct() -> object:
        # What DotDo._call does per call with every policy taken out.
        session, api = await dotdo._pool().authenticated()
        return await session.call(api, SERVICE_PATH, ())

    async def call_resilient() -> object:
        return await dotdo._call(SERVICE_PATH, (), idempotent=True)

    return {
        "trivial attempt, policies off": trivial_direct,
        "trivial attempt, runner + policies": trivial_runner,
        "platform call, policies off": call_direct,
        "platform call, DotDo._call": call_resilient,
    }


async def _time_batch(variant: Variant, calls: int) -> float:
    gc.collect()
    gc.disable()  # as timeit does: a collection must not land on whichever variant runs
    try:
        start = time.perf_counter()
        for _ in range(calls):
            await variant()
        return (time.perf_counter() - start) / calls
    finally:
        gc.enable()


async def _overhead(calls: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Per variant: (fastest batch, median batch) in seconds per call."""
    dotdo = DotDo(endpoint="memory://")
    platform = Platform(services={"bench": Bench()}, settings=Settings(bcrypt_rounds=4))
    dotdo._shared.platform = platform
    try:
        variants = await _variants(dotdo)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for variant in variants.values():
            await _time_batch(variant, calls // 10)
        for _ in range(repeats):
            for name, variant in variants.items():  # batch by batch, so drift hits all alike
                samples[name].append(await _time_batch(variant, calls))
    finally:
        await dotdo.close()
    return {name: (min(times), statistics.median(times)) for name, times in samples.items()}


def _print_overhead(results: dict[str, tuple[float, float]], calls: int, repeats: int) -> None:
    print(f"\npolicy overhead per call ({repeats} interleaved batches of {calls} calls)")
    print(f"{'variant':<36} {'best µs':>9} {'overhead':>9} {'median µs':>10} {'overhead':>9}")
    names = list(results)
    for off, on in zip(names[::2], names[1::2], strict=True):
        (off_best, off_median), (on_best, on_median) = results[off], results[on]
        print(f"{off:<36} {off_best * 1e6:>9.2f} {'':>9} {off_median * 1e6:>10.2f}")
        print(
            f"{on:<36} {on_best * 1e6:>9.2f} {(on_best - off_best) * 1e6:>9.2f}"
            f" {on_median * 1e6:>10.2f} {(on_median - off_median) * 1e6:>9.2f}"
        )
    print("target: under 10 µs of overhead per call; 'best' (the fastest batch, as timeit")
    print("advises) is the least disturbed by other load on the machine")


# -- main -----------------------------------------------------------------------------------


async def _run(restarts: int, calls: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="dotdo-bench-") as root:
        # The platform saves its dev login; keep it, and the client, away from the user's.
        os.environ["DOTDO_CONFIG_DIR"] = str(Path(root) / "config")
        os.environ["DOTDO_NO_KEYCHAIN"] = "1"
        results = await _overhead(calls, repeats)
        samples = await _restart_recovery(Path(root), restarts)
    _print_recovery(samples)
    _print_overhead(results, calls, repeats)


def main() -> None:
    """Parse the arguments, run both measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="more restarts and batches")
    args = parser.parse_args()
    restarts, calls, repeats = (20, 2_000, 101) if args.long else (5, 1_000, 41)
    asyncio.run(_run(restarts, calls, repeats))


if __name__ == "__main__":
    main()
