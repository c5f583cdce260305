"""Idempotency keys: a repeat gets the first answer and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dotdo.errors import ConflictError, NotFoundError
from dotdo.server import Api, Platform
from tests.server.conftest import FAST, MASTER_KEY, FakeClock, Tenant

pytestmark = pytest.mark.anyio


async def test_a_repeated_secret_set_changes_data_once_and_answers_the_same(api: Api) -> None:
    first = await api.secrets.set("K", "v", None, "key-1")
    second = await api.secrets.set("K", "v", None, "key-1")
    assert second == first
    assert first["version"] == 1
    assert (await api.secrets.list())[0]["version"] == 1


async def test_a_repeated_log_write_appends_once(api: Api) -> None:
    entries = [{"level": "info", "message": "once"}]
    await api.logs.write(entries, "key-1")
    await api.logs.write(entries, "key-1")
    assert len(await api.logs.query()) == 1


async def test_a_repeated_insert_adds_one_row(api: Api) -> None:
    await api.db.execute("CREATE TABLE t (x)")
    first = await api.db.execute("INSERT INTO t VALUES (1)", None, "key-1")
    assert await api.db.execute("INSERT INTO t VALUES (1)", None, "key-1") == first
    assert (await api.db.query("SELECT count(*) AS n FROM t"))["rows"] == [{"n": 1}]


async def test_a_repeated_table_helper_insert_adds_one_row(api: Api) -> None:
    await api.db.execute("CREATE TABLE t (x)")
    await api.db.insert("t", {"x": b"\x00"}, "key-1")
    await api.db.insert("t", {"x": b"\x00"}, "key-1")
    assert (await api.db.query("SELECT count(*) AS n FROM t"))["rows"] == [{"n": 1}]


async def test_a_repeated_document_update_answers_with_the_first_result(api: Api) -> None:
    await api.collections.set("c", "d", {"n": 1})
    first = await api.collections.update("c", "d", {"n": 2}, "key-1")
    await api.collections.set("c", "d", {"n": 99})
    assert await api.collections.update("c", "d", {"n": 2}, "key-1") == first
    assert await api.collections.get("c", "d") == {"n": 99}


async def test_a_repeated_key_creation_returns_the_same_key_and_creates_one(api: Api) -> None:
    first = await api.auth.api_keys.create("ci", None, "key-1")
    assert await api.auth.api_keys.create("ci", None, "key-1") == first
    assert [k["name"] for k in await api.auth.api_keys.list()].count("ci") == 1


async def test_the_same_key_with_different_arguments_is_a_conflict(api: Api) -> None:
    await api.secrets.set("K", "one", None, "key-1")
    with pytest.raises(ConflictError) as caught:
        await api.secrets.set("K", "two", None, "key-1")
    assert caught.value.code == "idempotency_key_reused"
    assert await api.secrets.get("K") == "one"


async def test_the_same_key_on_a_different_method_is_a_conflict(api: Api) -> None:
    await api.secrets.set("K", "one", None, "key-1")
    with pytest.raises(ConflictError):
        await api.secrets.delete("K", "key-1")


async def test_keys_belong_to_one_tenant(tenant_a: Tenant, tenant_b: Tenant) -> None:
    await tenant_a.api.secrets.set("K", "a", None, "shared-key")
    await tenant_b.api.secrets.set("K", "b", None, "shared-key")
    assert await tenant_b.api.secrets.get("K") == "b"


async def test_a_key_is_forgotten_after_24_hours(api: Api, clock: FakeClock) -> None:
    await api.logs.write([{"level": "info", "message": "x"}], "key-1")
    clock.advance(24 * 3600 + 1)
    await api.logs.write([{"level": "info", "message": "x"}], "key-1")
    assert len(await api.logs.query()) == 2


async def test_a_failed_call_is_not_remembered(api: Api) -> None:
    with pytest.raises(NotFoundError):
        await api.secrets.delete("K", "key-1")
    await api.secrets.set("K", "v")
    assert await api.secrets.delete("K", "key-1") == {"name": "K", "deleted": True}


async def test_a_key_inside_a_transaction_is_forgotten_on_rollback(api: Api) -> None:
    await api.db.execute("CREATE TABLE t (x)")
    transaction = await api.db.begin()
    await transaction.execute("INSERT INTO t VALUES (1)", None, "key-1")
    await transaction.execute("INSERT INTO t VALUES (1)", None, "key-1")
    await transaction.rollback()
    await api.db.execute("INSERT INTO t VALUES (1)", None, "key-1")
    assert (await api.db.query("SELECT count(*) AS n FROM t"))["rows"] == [{"n": 1}]


async def test_replayed_answers_survive_a_restart(
    platform: Platform, tenant_a: Tenant, data_dir: Path, clock: FakeClock
) -> None:
    first = await tenant_a.api.collections.set("c", "d", {"n": 1}, "key-1")
    await tenant_a.api.collections.set("c", "d", {"n": 2})
    platform.close()
    with Platform(data_dir, master_key=MASTER_KEY, settings=FAST, clock=clock) as again:
        api = await again.main().authenticate(tenant_a.key["key"])
        assert await api.collections.set("c", "d", {"n": 1}, "key-1") == first
        assert await api.collections.get("c", "d") == {"n": 2}
