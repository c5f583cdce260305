"""Soak: concurrent writes through resets and platform SIGKILLs; then count them in the database.

Every write is one of ``secrets.set``, a ``db.execute`` insert or a collection ``set``, each with
its own business key. While the writers run, the proxy resets every connection at random moments
and the platform process is SIGKILLed and restarted. Afterwards the platform is killed once more
and its SQLite files are read directly:

- every acknowledged write must be there (no lost acknowledged writes);
- none may have been applied twice: a secret's ``version`` is 1, a soak row's business key
  appears once, a document was never overwritten (``updated_at == created_at``).

CI size by default; ``DOTDO_LONG_TESTS=1`` runs the long size.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dotdo._client import DotDo
from dotdo.errors import CircuitOpenError, DotDoError

from .conftest import client
from .faults import FaultProxy
from .platform_process import PlatformProcess

pytestmark = pytest.mark.anyio

LONG = os.environ.get("DOTDO_LONG_TESTS", "").strip() in ("1", "true", "yes")


@dataclass(frozen=True)
class SoakSize:
    writes: int
    writers: int
    restarts: int
    mean_seconds_between_resets: float


CI_SIZE = SoakSize(writes=300, writers=10, restarts=2, mean_seconds_between_resets=0.3)
LONG_SIZE = SoakSize(writes=2_000, writers=20, restarts=6, mean_seconds_between_resets=0.15)
KINDS = ("secret", "row", "document")
COLLECTION = "soak"


@dataclass
class Ledger:
    """What the writers were told: acknowledged, refused before sending, or failed."""

    acknowledged: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)
    refused_by_breaker: int = 0
    started: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def finished(self) -> int:
        return len(self.acknowledged) + len(self.failed)

    async def wait_until_finished(self, count: int) -> None:
        while self.finished < count:
            self.progress.clear()
            await self.progress.wait()


def _kind(index: int) -> str:
    return KINDS[index % len(KINDS)]


async def _write(dotdo: DotDo, index: int) -> None:
    kind = _kind(index)
    if kind == "secret":
        await dotdo.secrets.set(f"SOAK_{index}", str(index))
    elif kind == "row":
        await dotdo.db.execute(
            "INSERT INTO soak (business_key, value) VALUES (?, ?)", [f"k{index}", index]
        )
    else:
        await dotdo.collection(COLLECTION).set(f"d{index}", {"index": index})


async def _writer(dotdo: DotDo, size: SoakSize, ledger: Ledger) -> None:
    while ledger.started < size.writes:
        index = ledger.started
        ledger.started += 1
        while True:
            try:
                await _write(dotdo, index)
            except CircuitOpenError as refused:
                # Refused before anything was sent, so sending the same write again is safe.
                ledger.refused_by_breaker += 1
                await asyncio.sleep(max((refused.retry_at or 0) - time.monotonic(), 0.05))
                continue
            except DotDoError as error:
                ledger.failed[index] = f"{type(error).__name__}: {error}"
            else:
                ledger.acknowledged.add(index)
            ledger.progress.set()
            break


async def _restarts(platform: PlatformProcess, size: SoakSize, ledger: Ledger) -> list[float]:
    """SIGKILL and restart at evenly spread points of progress; returns each downtime."""
    downtimes = []
    for number in range(1, size.restarts + 1):
        mark = size.writes * number // (size.restarts + 1)
        await ledger.wait_until_finished(mark)
        killed_at = time.monotonic()
        await platform.restart()
        downtimes.append(time.monotonic() - killed_at)
    return downtimes


async def _resets(proxy: FaultProxy, size: SoakSize, rng: random.Random) -> None:
    while True:
        await asyncio.sleep(rng.expovariate(1 / size.mean_seconds_between_resets))
        proxy.reset()


@dataclass
class Counts:
    present: set[int]
    duplicated: set[int]
    integrity: list[str]


def _count_in_database(data_dir: Path) -> Counts:
    present: set[int] = set()
    duplicated: set[int] = set()
    integrity = []
    platform_db = sqlite3.connect(data_dir / "platform.sqlite3")
    try:
        integrity.append(platform_db.execute("PRAGMA integrity_check").fetchone()[0])
        for name, version in platform_db.execute(
            "SELECT name, version FROM secrets WHERE name LIKE 'SOAK\\_%' ESCAPE '\\'"
        ):
            index = int(name.removeprefix("SOAK_"))
            present.add(index)
            if version != 1:
                duplicated.add(index)
        for document_id, created_at, updated_at in platform_db.execute(
            "SELECT id, created_at, updated_at FROM documents WHERE collection = ?", (COLLECTION,)
        ):
            index = int(document_id.removeprefix("d"))
            present.add(index)
            if updated_at != created_at:
                duplicated.add(index)
    finally:
        platform_db.close()
    (tenant_file,) = (data_dir / "tenants").glob("*.sqlite3")
    tenant_db = sqlite3.connect(tenant_file)
    try:
        integrity.append(tenant_db.execute("PRAGMA integrity_check").fetchone()[0])
        rows = Counter(key for (key,) in tenant_db.execute("SELECT business_key FROM soak"))
    finally:
        tenant_db.close()
    for key, count in rows.items():
        index = int(key.removeprefix("k"))
        present.add(index)
        if count > 1:
            duplicated.add(index)
    return Counts(present, duplicated, integrity)


async def test_soak_no_acknowledged_write_is_lost_or_applied_twice(
    platform: PlatformProcess, proxy: FaultProxy
) -> None:
    size = LONG_SIZE if LONG else CI_SIZE
    seed = int(os.environ.get("DOTDO_SOAK_SEED", str(random.SystemRandom().randrange(2**32))))
    print(f"\nsoak: seed {seed} (DOTDO_SOAK_SEED to repeat), {size}")
    rng = random.Random(seed)
    ledger = Ledger()
    started = time.monotonic()
    async with client(platform, proxy.url) as dotdo:
        await dotdo.db.execute(
            "CREATE TABLE soak (id INTEGER PRIMARY KEY, business_key TEXT NOT NULL, value INTEGER)"
        )
        resets = asyncio.ensure_future(_resets(proxy, size, rng))
        restarts = asyncio.ensure_future(_restarts(platform, size, ledger))
        try:
            await asyncio.gather(*(_writer(dotdo, size, ledger) for _ in range(size.writers)))
            downtimes = await restarts
        finally:
            resets.cancel()
            restarts.cancel()
            await asyncio.gather(resets, restarts, return_exceptions=True)
    elapsed = time.monotonic() - started
    await platform.kill()
    counts = _count_in_database(platform.data_dir)

    lost = ledger.acknowledged - counts.present
    print(
        f"soak: {size.writes} writes from {size.writers} tasks in {elapsed:.1f} s;"
        f" {len(downtimes)} SIGKILL restarts (downtime {', '.join(f'{d:.2f}' for d in downtimes)}"
        f" s), {proxy.resets} connections reset, {proxy.accepts} connections opened\n"
        f"soak: acknowledged {len(ledger.acknowledged)}, failed {len(ledger.failed)},"
        f" refused by the breaker and resent {ledger.refused_by_breaker};"
        f" in the database {len(counts.present)};"
        f" lost acknowledged {len(lost)}, duplicated {len(counts.duplicated)};"
        f" integrity {', '.join(counts.integrity)}"
    )
    for index, error in sorted(ledger.failed.items())[:10]:
        print(f"soak: write {index} ({_kind(index)}) failed: {error}")
    assert len(downtimes) == size.restarts
    assert not lost, f"acknowledged writes missing from the database: {sorted(lost)[:20]}"
    assert not counts.duplicated, f"writes applied twice: {sorted(counts.duplicated)[:20]}"
    assert counts.integrity == ["ok", "ok"]
    assert counts.present <= set(range(size.writes))
