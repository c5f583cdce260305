"""Fixtures for the platform tests: a real Platform on a temporary directory, two tenants."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from dotdo.server import Api, Platform, Settings

MASTER_KEY = bytes(range(32))
FAST = Settings(bcrypt_rounds=4)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """Wall-clock seconds that only move when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Tenant:
    id: str
    name: str
    key: dict[str, Any]
    api: Api


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return FAST


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def platform(data_dir: Path, clock: FakeClock, settings: Settings) -> Iterator[Platform]:
    with Platform(data_dir, master_key=MASTER_KEY, settings=settings, clock=clock) as platform:
        yield platform


async def make_tenant(platform: Platform, name: str) -> Tenant:
    tenant_id = platform.create_tenant(name)
    key = platform.create_api_key(tenant_id, f"{name} admin")
    api = await platform.main().authenticate(key["key"])
    return Tenant(tenant_id, name, key, api)


@pytest.fixture
async def tenant_a(platform: Platform) -> Tenant:
    return await make_tenant(platform, "acme")


@pytest.fixture
async def tenant_b(platform: Platform) -> Tenant:
    return await make_tenant(platform, "globex")


@pytest.fixture
async def api(tenant_a: Tenant) -> Api:
    return tenant_a.api


def files_under(directory: Path) -> list[Path]:
    """Every file below ``directory`` (a plain helper, so async tests need not touch pathlib)."""
    return [path for path in directory.rglob("*") if path.is_file()]


def with_settings(**changes: Any) -> Settings:
    """FAST settings with some limits changed (for a test's ``settings`` override)."""
    return replace(FAST, **changes)
