"""The facade's costs: importing dotdo, a cached secret, and a namespace call over WebSocket.

    python benchmarks/facade.py            # short mode, well under a minute
    python benchmarks/facade.py --long     # more runs, more calls

Three measures, each a median, all from one run:

* cold start: ``python -c "from dotdo import dotdo"`` against ``python -c pass`` and
  ``python -c "import httpx"``, interleaved; what dotdo adds to a bare interpreter is compared
  with what httpx adds;
* ``await dotdo.secrets.get(name, cache_ttl=...)`` once the value is cached (target < 5 µs);
* ``await client.secrets.get(name)`` against a real socket platform (``python -m dotdo.server``)
  compared with the same call made raw on ``dotdo.transport.connect``, reusing the stub
  ``root.authenticate(key)`` returned, so the difference is what the facade adds per call
  (settings, resilience, the pool, the namespace).

Prints one table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCH_NAME = "BENCH_DB_URL"


@dataclass(frozen=True)
class Mode:
    import_runs: int
    cached_calls: int
    cached_batches: int
    remote_calls: int
    remote_batches: int


SHORT = Mode(
    import_runs=10, cached_calls=20_000, cached_batches=10, remote_calls=300, remote_batches=10
)
LONG = Mode(
    import_runs=30, cached_calls=100_000, cached_batches=20, remote_calls=1_000, remote_batches=20
)


def clean_environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DOTDO_")}
    environ.update(extra)
    return environ


# -- cold start -----------------------------------------------------------------------------

IMPORTS = {
    "bare": "pass",
    "httpx": "import httpx",
    "dotdo": "from dotdo import dotdo",
}


def cold_start(runs: int) -> dict[str, float]:
    """Median wall time in ms of each ``python -c``, the three interleaved in every round."""
    environ = clean_environ()
    times: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for _ in range(runs):
        for name, code in IMPORTS.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=environ, cwd=ROOT, check=True)
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


# -- cached get -----------------------------------------------------------------------------


async def cached_get(mode: Mode) -> float:
    """Median µs per cached ``secrets.get`` over ``cached_batches`` batches."""
    from dotdo import DotDo

    client = DotDo(endpoint="memory://")
    await client.secrets.set(BENCH_NAME, "postgres://bench")
    get = client.secrets.get
    await get(BENCH_NAME, cache_ttl=3600)
    per_call: list[float] = []
    for _ in range(mode.cached_batches):
        started = time.perf_counter()
        for _ in range(mode.cached_calls):
            await get(BENCH_NAME, cache_ttl=3600)
        per_call.append((time.perf_counter() - started) / mode.cached_calls * 1e6)
    await client.close()
    return statistics.median(per_call)


# -- a namespace call over WebSocket ------------------------------------------------------------


@contextmanager
def socket_platform(directory: Path) -> Iterator[tuple[str, str]]:
    """Run ``python -m dotdo.server --port 0``; yields its endpoint and dev API key."""
    from dotdo._credentials import CredentialStore

    config = directory / "config"
    process = subprocess.Popen(
        [sys.executable, "-m", "dotdo.server", "--port", "0", "--data", str(directory / "data")],
        env=clean_environ(DOTDO_CONFIG_DIR=str(config), DOTDO_NO_KEYCHAIN="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        port = None
        for line in process.stdout:
            if line.startswith("LISTENING "):
                port = int(line.split()[1])
                break
        if port is None:
            raise RuntimeError("the platform exited before listening")
        # Keep reading, so a chatty server never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        login = CredentialStore(config, use_keychain=False).load(strict=True)
        if login is None or login.api_key is None:
            raise RuntimeError("the platform saved no login")
        yield f"ws://127.0.0.1:{port}/rpc", login.api_key
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _per_call_us(call: Callable[[], Awaitable[object]], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - started) / calls * 1e6


async def remote_get(endpoint: str, api_key: str, mode: Mode) -> tuple[float, float]:
    """Median µs per sequential ``secrets.get``: through DotDo, and raw on the transport."""
    from dotdo import DotDo
    from dotdo.transport import connect

    client = DotDo(endpoint=endpoint, api_key=api_key)
    await client.secrets.set(BENCH_NAME, "postgres://bench")
    async with connect(endpoint) as root:
        api = await root.authenticate(api_key)  # the authenticated stub, reused by every call

        async def facade() -> object:
            return await client.secrets.get(BENCH_NAME)

        async def raw() -> object:
            return await api.secrets.get(BENCH_NAME)

        for warm in (facade, raw):
            await _per_call_us(warm, 50)
        dotdo_runs: list[float] = []
        raw_runs: list[float] = []
        for _ in range(mode.remote_batches):  # interleaved, so drift hits both alike
            dotdo_runs.append(await _per_call_us(facade, mode.remote_calls))
            raw_runs.append(await _per_call_us(raw, mode.remote_calls))
    await client.close()
    return statistics.median(dotdo_runs), statistics.median(raw_runs)


# -- report ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", action="store_true", help="more runs and more calls")
    mode = LONG if parser.parse_args().long else SHORT
    os.environ.update(DOTDO_NO_KEYCHAIN="1")

    started = time.perf_counter()
    imports = cold_start(mode.import_runs)
    with tempfile.TemporaryDirectory(prefix="dotdo-bench-") as directory:
        os.environ["DOTDO_CONFIG_DIR"] = str(Path(directory) / "client-config")
        cached = asyncio.run(cached_get(mode))
        with socket_platform(Path(directory)) as (endpoint, api_key):
            facade_us, raw_us = asyncio.run(remote_get(endpoint, api_key, mode))

    dotdo_cost = imports["dotdo"] - imports["bare"]
    httpx_cost = imports["httpx"] - imports["bare"]
    overhead = (facade_us - raw_us) / raw_us * 100
    rows = [
        ("python -c pass", f"{imports['bare']:.1f} ms"),
        ('python -c "import httpx"', f"{imports['httpx']:.1f} ms"),
        ('python -c "from dotdo import dotdo"', f"{imports['dotdo']:.1f} ms"),
        ("  dotdo adds to a bare start", f"{dotdo_cost:.1f} ms"),
        ("  httpx adds to a bare start", f"{httpx_cost:.1f} ms"),
        ("cached secrets.get (target < 5 µs)", f"{cached:.2f} µs/call"),
        ("secrets.get over WebSocket: dotdo", f"{facade_us:.0f} µs/call"),
        ("secrets.get over WebSocket: raw transport", f"{raw_us:.0f} µs/call"),
        ("  facade overhead", f"{facade_us - raw_us:+.0f} µs/call ({overhead:+.1f}%)"),
    ]
    width = max(len(name) for name, _ in rows)
    mode_name = "long" if mode is LONG else "short"
    print(f"dotdo facade benchmark ({mode_name} mode, medians, Python {sys.version.split()[0]})")
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 24}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"(took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
