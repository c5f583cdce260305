"""Tenant isolation over the socket: tenant A's key never reaches tenant B's data.

Both tenants are created with the Platform's admin calls on the data directory before the server
starts on it; B's data is written in-process too, so everything A tries goes over the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dotdo.errors import AuthenticationError, AuthorizationError, DotDoError, NotFoundError
from dotdo.server import Platform
from dotdo.transport import RpcStub, connect
from tests.server.conftest import FAST, MASTER_KEY, ServerProcess, running_server

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class World:
    server: ServerProcess
    data_dir: Path
    a_key: str
    b_key: str
    b_id: str
    b_key_id: str
    b_token: str


async def _write_b_data(platform: Platform, b_key: str) -> str:
    api = await platform.main().authenticate(b_key)
    await api.secrets.set("B_SECRET", "b-only")
    await api.collections.set("notes", "n1", {"owner": "b"})
    await api.db.execute("CREATE TABLE ledger (amount INTEGER)")
    await api.db.insert("ledger", {"amount": 1_000_000})
    await api.auth.users.add("bee", "correct horse")
    await api.logs.write([{"level": "info", "message": "b was here"}])
    token: str = (await api.auth.mint_jwt(3600))["token"]
    return token


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("isolation")
    data_dir = base / "data"
    with Platform(data_dir, master_key=MASTER_KEY, settings=FAST) as platform:
        a_key = platform.create_api_key(platform.create_tenant("acme"), "acme admin")["key"]
        b_id = platform.create_tenant("globex")
        b = platform.create_api_key(b_id, "globex admin")
        b_token = asyncio.run(_write_b_data(platform, b["key"]))
    with running_server(data_dir, base / "config") as server:
        yield World(server, data_dir, a_key, b["key"], b_id, b["id"], b_token)


@pytest.fixture
async def a(world: World) -> AsyncIterator[RpcStub]:
    async with connect(world.server.ws_url) as root:
        yield await root.authenticate(world.a_key)


@pytest.fixture
async def b(world: World) -> AsyncIterator[RpcStub]:
    async with connect(world.server.ws_url) as root:
        yield await root.authenticate(world.b_key)


async def test_a_cannot_read_list_or_delete_bs_secrets(a: RpcStub, b: RpcStub) -> None:
    with pytest.raises(NotFoundError):
        await a.secrets.get("B_SECRET")
    assert await a.secrets.list() == []
    assert await a.secrets.env() == {}
    with pytest.raises(NotFoundError):
        await a.secrets.delete("B_SECRET")
    assert await b.secrets.get("B_SECRET") == "b-only"


async def test_a_writing_a_secret_of_the_same_name_leaves_bs_alone(a: RpcStub, b: RpcStub) -> None:
    await a.secrets.set("B_SECRET", "a's own")
    assert await b.secrets.get("B_SECRET") == "b-only"
    await a.secrets.delete("B_SECRET")


async def test_a_cannot_read_query_count_update_or_delete_bs_documents(
    a: RpcStub, b: RpcStub
) -> None:
    with pytest.raises(NotFoundError):
        await a.collections.get("notes", "n1")
    assert await a.collections.query("notes") == []
    assert await a.collections.query("notes", [["owner", "==", "b"]]) == []
    assert await a.collections.count("notes") == 0
    with pytest.raises(NotFoundError):
        await a.collections.update("notes", "n1", {"owner": "a"})
    with pytest.raises(NotFoundError):
        await a.collections.delete("notes", "n1")
    assert await b.collections.get("notes", "n1") == {"owner": "b"}


async def test_a_cannot_see_bs_tables_or_rows(a: RpcStub, b: RpcStub) -> None:
    assert await a.db.tables() == []
    with pytest.raises(NotFoundError):
        await a.db.query("SELECT * FROM ledger")
    with pytest.raises(NotFoundError):
        await a.db.select("ledger")
    with pytest.raises(NotFoundError):
        await a.db.delete("ledger", {"amount": 1_000_000})
    assert (await b.db.query("SELECT amount FROM ledger"))["rows"] == [{"amount": 1_000_000}]


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE '{b_file}' AS b",
        "ATTACH DATABASE 'file:{b_file}?mode=ro' AS b",
        "ATTACH DATABASE '{platform_file}' AS p",
        "VACUUM INTO '{data_dir}/copy.sqlite3'",
        "SELECT * FROM pragma_database_list",
        "PRAGMA database_list",
        "PRAGMA writable_schema = 1",
        "PRAGMA journal_mode = DELETE",
        "SELECT load_extension('{data_dir}/evil.so')",
        "SELECT * FROM _dotdo_idempotency",
    ],
)
async def test_crafted_sql_cannot_leave_the_tenants_file(
    world: World, a: RpcStub, b: RpcStub, sql: str
) -> None:
    statement = sql.format(
        b_file=world.data_dir / "tenants" / f"{world.b_id}.sqlite3",
        platform_file=world.data_dir / "platform.sqlite3",
        data_dir=world.data_dir,
    )
    with pytest.raises(AuthorizationError, match="not allowed"):
        await a.db.query(statement)
    with pytest.raises(DotDoError) as caught:
        await a.db.execute(statement)
    assert not isinstance(caught.value, NotFoundError | AuthenticationError)
    with pytest.raises(DotDoError):
        await a.db.batch([{"sql": statement}])
    assert not (world.data_dir / "copy.sqlite3").exists()
    assert (await b.db.query("SELECT count(*) AS n FROM ledger"))["rows"] == [{"n": 1}]


async def test_a_schema_name_reaches_no_other_file(a: RpcStub) -> None:
    # Nothing is attached, so SQLite cannot even resolve the name.
    with pytest.raises((NotFoundError, AuthorizationError)):
        await a.db.query("SELECT * FROM b.ledger")


async def test_a_cannot_see_or_manage_bs_users(world: World, a: RpcStub, b: RpcStub) -> None:
    assert await a.auth.users.list() == []
    with pytest.raises(NotFoundError):
        await a.auth.users.get("bee")
    with pytest.raises(NotFoundError):
        await a.auth.users.update("bee", "new password", None, None, None)
    with pytest.raises(NotFoundError):
        await a.auth.users.delete("bee")
    assert (await b.auth.users.get("bee"))["username"] == "bee"
    async with connect(world.server.ws_url) as root:
        with pytest.raises(AuthenticationError):
            await root.login("bee", "correct horse", "acme")
        assert (await root.login("bee", "correct horse", "globex"))["user"]["username"] == "bee"


async def test_a_cannot_list_or_revoke_bs_api_keys(world: World, a: RpcStub, b: RpcStub) -> None:
    assert world.b_key_id not in [key["id"] for key in await a.auth.api_keys.list()]
    with pytest.raises(NotFoundError):
        await a.auth.api_keys.revoke(world.b_key_id)
    assert (await b.auth.whoami())["tenant"] == "globex"


async def test_a_cannot_read_bs_logs(a: RpcStub, b: RpcStub) -> None:
    assert await a.logs.query() == []
    assert [entry["message"] for entry in await b.logs.query()] == ["b was here"]


async def test_a_cannot_validate_a_token_of_b(world: World, a: RpcStub) -> None:
    with pytest.raises(AuthenticationError):
        await a.auth.validate_jwt(world.b_token)


async def test_the_dev_key_sees_neither_tenant(world: World) -> None:
    async with connect(world.server.ws_url) as root:
        dev = root.authenticate(world.server.printed("api key"))
        assert (await dev.auth.whoami())["tenant"] == "dev"
        with pytest.raises(NotFoundError):
            await dev.secrets.get("B_SECRET")
        assert await dev.collections.count("notes") == 0
