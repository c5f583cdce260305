"""Tenant isolation: tenant A's credentials never reach tenant B's data."""

from __future__ import annotations

from pathlib import Path

import pytest

from dotdo.errors import (
    AuthenticationError,
    AuthorizationError,
    DotDoError,
    NotFoundError,
    ValidationError,
)
from dotdo.server import Platform
from tests.server.conftest import Tenant

pytestmark = pytest.mark.anyio


@pytest.fixture
async def b_has_data(platform: Platform, tenant_b: Tenant) -> Tenant:
    api = tenant_b.api
    await api.secrets.set("B_SECRET", "b-only")
    await api.collections.set("notes", "n1", {"owner": "b"})
    await api.db.execute("CREATE TABLE ledger (amount INTEGER)")
    await api.db.insert("ledger", {"amount": 1_000_000})
    await api.auth.users.add("bee", "correct horse")
    await api.logs.write([{"level": "info", "message": "b was here"}])
    return tenant_b


async def test_each_tenant_has_its_own_database_file(
    platform: Platform, tenant_a: Tenant, b_has_data: Tenant, data_dir: Path
) -> None:
    await tenant_a.api.db.tables()
    files = sorted(path.name for path in (data_dir / "tenants").glob("*.sqlite3"))
    assert files == sorted([f"{tenant_a.id}.sqlite3", f"{b_has_data.id}.sqlite3"])


async def test_a_cannot_read_list_or_delete_bs_secrets(
    tenant_a: Tenant, b_has_data: Tenant
) -> None:
    secrets = tenant_a.api.secrets
    with pytest.raises(NotFoundError):
        await secrets.get("B_SECRET")
    assert await secrets.list() == []
    assert await secrets.env() == {}
    with pytest.raises(NotFoundError):
        await secrets.delete("B_SECRET")
    assert await b_has_data.api.secrets.get("B_SECRET") == "b-only"


async def test_a_writing_a_secret_of_the_same_name_leaves_bs_alone(
    tenant_a: Tenant, b_has_data: Tenant
) -> None:
    await tenant_a.api.secrets.set("B_SECRET", "a's own")
    assert await b_has_data.api.secrets.get("B_SECRET") == "b-only"


async def test_a_cannot_read_query_count_or_delete_bs_documents(
    tenant_a: Tenant, b_has_data: Tenant
) -> None:
    collections = tenant_a.api.collections
    with pytest.raises(NotFoundError):
        await collections.get("notes", "n1")
    assert await collections.query("notes") == []
    assert await collections.count("notes") == 0
    with pytest.raises(NotFoundError):
        await collections.delete("notes", "n1")
    assert await b_has_data.api.collections.get("notes", "n1") == {"owner": "b"}


async def test_a_cannot_see_bs_tables(tenant_a: Tenant, b_has_data: Tenant) -> None:
    assert await tenant_a.api.db.tables() == []
    with pytest.raises(NotFoundError):
        await tenant_a.api.db.query("SELECT * FROM ledger")


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE '{b_file}' AS b",
        "ATTACH DATABASE 'file:{b_file}?mode=ro' AS b",
        "VACUUM INTO '{a_dir}/copy.sqlite3'",
        "SELECT * FROM pragma_database_list",
        "PRAGMA writable_schema = 1",
        "PRAGMA journal_mode = DELETE",
        "SELECT load_extension('{a_dir}/evil.so')",
        "SELECT * FROM _dotdo_idempotency",
        "CREATE TRIGGER t AFTER INSERT ON _dotdo_idempotency BEGIN SELECT 1; END",
        "BEGIN",
        "SAVEPOINT s",
    ],
)
async def test_crafted_sql_cannot_leave_the_tenants_file(
    tenant_a: Tenant, b_has_data: Tenant, data_dir: Path, sql: str
) -> None:
    statement = sql.format(b_file=data_dir / "tenants" / f"{b_has_data.id}.sqlite3", a_dir=data_dir)
    with pytest.raises(AuthorizationError, match="not allowed"):
        await tenant_a.api.db.query(statement)
    # execute() runs inside a transaction, where SQLite refuses VACUUM before the authorizer
    # is asked; refused either way.
    with pytest.raises((AuthorizationError, ValidationError)):
        await tenant_a.api.db.execute(statement)
    assert not (data_dir / "copy.sqlite3").exists()


async def test_a_batch_cannot_attach_another_file(
    tenant_a: Tenant, b_has_data: Tenant, data_dir: Path
) -> None:
    b_file = data_dir / "tenants" / f"{b_has_data.id}.sqlite3"
    with pytest.raises(DotDoError):
        await tenant_a.api.db.batch([{"sql": f"ATTACH DATABASE '{b_file}' AS b"}])


async def test_a_cannot_see_or_manage_bs_users(tenant_a: Tenant, b_has_data: Tenant) -> None:
    users = tenant_a.api.auth.users
    assert await users.list() == []
    with pytest.raises(NotFoundError):
        await users.get("bee")
    with pytest.raises(NotFoundError):
        await users.delete("bee")
    assert (await b_has_data.api.auth.users.get("bee"))["username"] == "bee"


async def test_bs_user_cannot_log_in_to_a(platform: Platform, b_has_data: Tenant) -> None:
    with pytest.raises(AuthenticationError):
        await platform.main().login("bee", "correct horse", "acme")


async def test_a_cannot_list_or_revoke_bs_api_keys(tenant_a: Tenant, b_has_data: Tenant) -> None:
    keys = tenant_a.api.auth.api_keys
    assert b_has_data.key["id"] not in [key["id"] for key in await keys.list()]
    with pytest.raises(NotFoundError):
        await keys.revoke(b_has_data.key["id"])
    assert (await b_has_data.api.auth.whoami())["tenant"] == "globex"


async def test_a_cannot_read_bs_logs(tenant_a: Tenant, b_has_data: Tenant) -> None:
    assert await tenant_a.api.logs.query() == []


async def test_a_cannot_validate_a_token_of_b(tenant_a: Tenant, b_has_data: Tenant) -> None:
    token = (await b_has_data.api.auth.mint_jwt(60))["token"]
    with pytest.raises(AuthenticationError):
        await tenant_a.api.auth.validate_jwt(token)
