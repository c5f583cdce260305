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
    pool = dotdo._pool()

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
        session, api = await pool.authenticated()
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


async def _overhead(calls: int, repeats: int) -> list[tuple[str, float, float]]:
    """Per pair of variants: (name, median seconds per call, median paired overhead)."""
    dotdo = DotDo(endpoint="memory://")
    platform = Platform(services={"bench": Bench()}, settings=Settings(bcrypt_rounds=4))
    dotdo._shared.platform = platform
    rows = []
    try:
        variants = await _variants(dotdo)
        names = list(variants)
        for variant in variants.values():
            await _time_batch(variant, calls // 10)
        for off, on in zip(names[::2], names[1::2], strict=True):
            times: dict[str, list[float]] = {off: [], on: []}
            differences = []
            for repeat in range(repeats):
                # Batches alternate, and so does their order, so drift hits both alike.
                order = (off, on) if repeat % 2 == 0 else (on, off)
                for name in order:
                    times[name].append(await _time_batch(variants[name], calls))
                differences.append(times[on][-1] - times[off][-1])
            rows.append((off, statistics.median(times[off]), 0.0))
            rows.append((on, statistics.median(times[on]), statistics.median(differences)))
    finally:
        await dotdo.close()
    return rows


def _print_overhead(rows: list[tuple[str, float, float]], calls: int, repeats: int) -> None:
    print(f"\npolicy overhead per call ({calls} calls per batch, median of {repeats} batches;")
    print("overhead is the median of the paired differences between adjacent batches)")
    print(f"{'variant':<36} {'per call µs':>12} {'overhead µs':>12}")
    for index, (name, seconds, overhead) in enumerate(rows):
        shown = f"{overhead * 1e6:>12.2f}" if index % 2 else f"{'':>12}"
        print(f"{name:<36} {seconds * 1e6:>12.2f} {shown}")
    print("target: under 10 µs of overhead per call")


# -- main -----------------------------------------------------------------------------------


async def _run(restarts: int, calls: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="dotdo-bench-") as root:
        # The platform saves its dev login; keep it, and the client, away from the user's.
        os.environ["DOTDO_CONFIG_DIR"] = str(Path(root) / "config")
        os.environ["DOTDO_NO_KEYCHAIN"] = "1"
        rows = await _overhead(calls, repeats)
        samples = await _restart_recovery(Path(root), restarts)
    _print_recovery(samples)
    _print_overhead(rows, calls, repeats)


def main() -> None:
    """Parse the arguments, run both measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="more restarts and batches")
    args = parser.parse_args()
    restarts, calls, repeats = (20, 5_000, 41) if args.long else (5, 2_000, 21)
    asyncio.run(_run(restarts, calls, repeats))


if __name__ == "__main__":
    main()
