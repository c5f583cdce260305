"""Durability: close the platform, reopen it on the same directory, and everything is there."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from dotdo.errors import ServiceError
from dotdo.server import Platform
from dotdo.server.store import PLATFORM_MIGRATIONS, TENANT_MIGRATIONS
from tests.server.conftest import FAST, MASTER_KEY, FakeClock, Tenant, files_under

pytestmark = pytest.mark.anyio

CANARY = "canary-7f3a9c-do-not-store-in-plaintext"


def reopen(data_dir: Path, clock: FakeClock) -> Platform:
    return Platform(data_dir, master_key=MASTER_KEY, settings=FAST, clock=clock)


async def test_every_write_survives_a_restart(
    platform: Platform, tenant_a: Tenant, data_dir: Path, clock: FakeClock
) -> None:
    api = tenant_a.api
    await api.secrets.set("KEY", "value")
    await api.collections.set("c", "d", {"x": 1})
    await api.db.execute("CREATE TABLE t (x)")
    await api.db.insert("t", {"x": 42})
    await api.auth.users.add("bob", "correct horse")
    await api.logs.write([{"level": "info", "message": "before restart"}])
    platform.close()

    with reopen(data_dir, clock) as again:
        api = await again.main().authenticate(tenant_a.key["key"])
        assert await api.secrets.get("KEY") == "value"
        assert await api.collections.get("c", "d") == {"x": 1}
        assert (await api.db.query("SELECT x FROM t"))["rows"] == [{"x": 42}]
        assert (await again.main().login("bob", "correct horse", "acme"))["user"]["username"]
        assert [e["message"] for e in await api.logs.query()] == ["before restart"]


async def test_a_token_minted_before_a_restart_still_works(
    platform: Platform, tenant_a: Tenant, data_dir: Path, clock: FakeClock
) -> None:
    token = (await platform.main().exchange(tenant_a.key["key"]))["token"]
    platform.close()
    with reopen(data_dir, clock) as again:
        api = await again.main().authenticate(token)
        assert (await api.auth.whoami())["tenant"] == "acme"


async def test_secret_values_are_not_on_disk_in_plaintext(
    platform: Platform, tenant_a: Tenant, data_dir: Path
) -> None:
    await tenant_a.api.secrets.set("CANARY", CANARY)
    await tenant_a.api.secrets.set("CANARY2", CANARY, None, "idem-1")
    files = files_under(data_dir)
    assert any(path.name.startswith("platform.sqlite3") for path in files)
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path.name
    platform.close()
    for path in files:
        if path.exists():
            assert CANARY.encode() not in path.read_bytes(), path.name


async def test_reopening_with_another_master_key_is_refused(
    platform: Platform, tenant_a: Tenant, data_dir: Path, clock: FakeClock
) -> None:
    await tenant_a.api.secrets.set("KEY", "value")
    platform.close()
    with pytest.raises(ServiceError, match="master key") as caught:
        Platform(data_dir, master_key=bytes(32), settings=FAST, clock=clock)
    assert caught.value.code == "wrong_master_key"


def test_key_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOTDO_MASTER_KEY", raising=False)
    with Platform(tmp_path / "d", settings=FAST) as platform:
        for name in ("master.key", "jwt-signing.key"):
            mode = stat.S_IMODE(os.stat(platform.data_dir / name).st_mode)
            assert mode == 0o600, name


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    # jwt-signing.key is always a file, whatever DOTDO_MASTER_KEY says.
    Platform(tmp_path / "d", settings=FAST).close()
    os.chmod(tmp_path / "d" / "jwt-signing.key", 0o644)
    with pytest.raises(ServiceError, match="chmod 600"):
        Platform(tmp_path / "d", settings=FAST)


def test_the_data_directory_is_created_private(tmp_path: Path) -> None:
    with Platform(tmp_path / "fresh", master_key=MASTER_KEY, settings=FAST):
        assert stat.S_IMODE(os.stat(tmp_path / "fresh").st_mode) == 0o700


async def test_files_use_wal_and_record_their_schema_version(
    platform: Platform, tenant_a: Tenant, data_dir: Path
) -> None:
    await tenant_a.api.db.tables()
    for path, migrations in [
        (data_dir / "platform.sqlite3", PLATFORM_MIGRATIONS),
        (data_dir / "tenants" / f"{tenant_a.id}.sqlite3", TENANT_MIGRATIONS),
    ]:
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert connection.execute("PRAGMA user_version").fetchone() == (len(migrations),)


def test_a_file_from_a_newer_dotdo_is_refused(data_dir: Path, clock: FakeClock) -> None:
    reopen(data_dir, clock).close()
    with sqlite3.connect(data_dir / "platform.sqlite3") as connection:
        connection.execute(f"PRAGMA user_version = {len(PLATFORM_MIGRATIONS) + 1}")
    with pytest.raises(ServiceError, match="upgrade dotdo"):
        reopen(data_dir, clock)


def test_a_temporary_platform_removes_its_directory_on_close() -> None:
    platform = Platform(None, settings=FAST)
    directory = platform.data_dir
    assert directory.exists()
    platform.close()
    assert not directory.exists()


async def test_a_closed_platform_refuses_new_sessions(platform: Platform) -> None:
    platform.close()
    with pytest.raises(ServiceError):
        platform.main()
