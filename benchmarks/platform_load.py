"""The local platform over WebSocket: calls/s and latency with 1, 10 and 50 concurrent clients.

    python benchmarks/platform_load.py            # short mode, about 30 seconds
    python benchmarks/platform_load.py --long     # longer measures, about 2 minutes

Starts ``python -m dotdo.server`` on loopback with a fresh data directory (and its own config
directory, so your saved login is left alone), then for each operation and client count opens
that many WebSocket connections, each authenticated once, and has each run the call back to back
(one call in flight per client). Reported: total calls/s, and p50/p99 of per-call latency over
all clients. Client and server share this machine, so at high counts the client process is part
of what is measured. Prints one table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotdo.transport import RpcStub, connect

ROOT = Path(__file__).resolve().parent.parent
CLIENT_COUNTS = (1, 10, 50)
TABLE_ROWS = 1000
Call = Callable[[RpcStub], Awaitable[Any]]


@dataclass(frozen=True)
class Cell:
    operation: str
    clients: int
    calls: int
    seconds: float
    latencies: list[float]

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextmanager
def platform_server(work_dir: Path) -> Iterator[tuple[str, str]]:
    """Run the platform; yield its WebSocket URL and the dev API key; stop it by its pid."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DOTDO_")}
    env.update(DOTDO_CONFIG_DIR=str(work_dir / "config"), DOTDO_NO_KEYCHAIN="1")
    command = [sys.executable, "-m", "dotdo.server", "--port", "0", "--data", str(work_dir / "d")]
    log = (work_dir / "server.stderr").open("w+")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line.strip())
            if line.startswith("LISTENING"):
                break
        else:
            raise RuntimeError(f"the server exited before listening: {lines}")
        printed = {
            label: line[len(label) :].strip()
            for line in lines
            for label in ("endpoint", "api key")
            if line.startswith(label)
        }
        yield printed["endpoint"], printed["api key"]
    finally:
        # Killed, not stopped: the data directory is thrown away, and a graceful stop would
        # only add the wait for connections to drain.
        process.kill()
        process.wait()
        log.seek(0)
        errors = [line.rstrip() for line in log if "ERROR" in line or "Traceback" in line]
        log.close()
        if errors:
            print(f"the server logged {len(errors)} error lines, starting with:", *errors[:5])


async def prepare(url: str, key: str) -> None:
    async with connect(url) as root:
        api = root.authenticate(key)
        await api.secrets.set("BENCH_SECRET", "x" * 64)
        await api.db.execute("CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, v TEXT)")
        await api.db.bulk_insert("bench", [{"v": f"value {n}"} for n in range(TABLE_ROWS)])


async def secrets_get(api: RpcStub) -> Any:
    return await api.secrets.get("BENCH_SECRET")


async def db_query_one_row(api: RpcStub) -> Any:
    row_id = random.randint(1, TABLE_ROWS)
    return await api.db.query("SELECT id, v FROM bench WHERE id = ?", [row_id])


OPERATIONS: list[tuple[str, Call]] = [
    ("secrets.get", secrets_get),
    ("db.query (1 row)", db_query_one_row),
]


async def measure(
    url: str, key: str, name: str, call: Call, clients: int, warmup: float, seconds: float
) -> Cell:
    """``clients`` connections calling ``call`` back to back; only the measured window counts."""
    connections = [connect(url) for _ in range(clients)]
    roots = await asyncio.gather(*(connection.open() for connection in connections))
    apis = await asyncio.gather(*(root.authenticate(key) for root in roots))
    latencies: list[float] = []
    window: dict[str, float] = {}

    async def client(api: RpcStub) -> None:
        await call(api)
        while time.perf_counter() < window["end"]:
            started = time.perf_counter()
            await call(api)
            finished = time.perf_counter()
            if started >= window["start"]:
                latencies.append(finished - started)

    now = time.perf_counter()
    window.update(start=now + warmup, end=now + warmup + seconds)
    try:
        await asyncio.gather(*(client(api) for api in apis))
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))
    return Cell(name, clients, len(latencies), seconds, latencies)


def print_table(cells: list[Cell], mode: str) -> None:
    print(
        f"dotdo local platform over WebSocket ({mode}; Python {sys.version.split()[0]},"
        f" {os.cpu_count()} CPUs, client and server on one machine)"
    )
    header = f"{'operation':<18} {'clients':>7} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    print(header)
    print("-" * len(header))
    for cell in cells:
        print(
            f"{cell.operation:<18} {cell.clients:>7} {cell.calls_per_second:>9,.0f}"
            f" {cell.percentile_ms(0.50):>8.2f} {cell.percentile_ms(0.99):>8.2f}"
        )


async def run(url: str, key: str, warmup: float, seconds: float) -> list[Cell]:
    await prepare(url, key)
    cells = []
    for name, call in OPERATIONS:
        for clients in CLIENT_COUNTS:
            cells.append(await measure(url, key, name, call, clients, warmup, seconds))
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--long", action="store_true", help="measure 15 s per cell, not 3 s")
    args = parser.parse_args()
    warmup, seconds = (2.0, 15.0) if args.long else (0.5, 3.0)
    with (
        tempfile.TemporaryDirectory(prefix="dotdo-bench-") as work,
        platform_server(Path(work)) as (url, key),
    ):
        cells = asyncio.run(run(url, key, warmup, seconds))
    print_table(cells, "long" if args.long else "short")


if __name__ == "__main__":
    main()
