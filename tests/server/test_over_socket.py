"""Every platform method over a real socket: ``python -m dotdo.server`` in a subprocess.

The in-process tests beside this file call the services as Python methods; these go through
uvicorn, the ASGI app, the Cap'n Web codec and the WebSocket (or HTTP batch) client, so they catch
whatever the wire changes: argument positions, error types, capabilities, bytes, nulls.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from dotdo.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from dotdo.transport import RpcStub, RpcTarget, connect
from tests.server.conftest import ServerProcess, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    base = tmp_path_factory.mktemp("over-socket")
    with running_server(base / "data", base / "config") as server:
        yield server


@pytest.fixture(scope="module")
def dev_key(server: ServerProcess) -> str:
    return server.printed("api key")


@pytest.fixture
async def root(server: ServerProcess) -> AsyncIterator[RpcStub]:
    async with connect(server.ws_url) as root:
        yield root


@pytest.fixture
async def api(root: RpcStub, dev_key: str) -> RpcStub:
    stub: RpcStub = await root.authenticate(dev_key)
    return stub


def unique(prefix: str) -> str:
    """A name no other test in this module uses (they share one server)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


class Callback(RpcTarget):
    """A capability to pass where a string is declared."""

    def ping(self) -> str:
        return "pong"


# -- HTTP: health and batch --------------------------------------------------------------------


async def test_get_health_answers_json(server: ServerProcess) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["version"], str)
    assert isinstance(body["time"], float)


async def test_rpc_path_refuses_a_plain_get(server: ServerProcess) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(server.http_url)
    assert response.status_code == 405


async def test_http_batch_pipelines_authenticate_and_a_call(
    server: ServerProcess, api: RpcStub, dev_key: str
) -> None:
    await api.secrets.set("BATCH_SECRET", "from-the-socket")
    async with connect(server.http_url) as root:
        assert await root.authenticate(dev_key).secrets.get("BATCH_SECRET") == "from-the-socket"


async def test_http_batch_carries_typed_errors(server: ServerProcess, dev_key: str) -> None:
    async with connect(server.http_url) as root:
        with pytest.raises(NotFoundError):
            await root.authenticate(dev_key).secrets.get("NO_SUCH_SECRET")
    async with connect(server.http_url) as root:
        with pytest.raises(AuthenticationError):
            await root.authenticate("dotdo_sk_" + "x" * 43).secrets.get("ANY")


# -- Root ------------------------------------------------------------------------------------


async def test_root_health_over_websocket(root: RpcStub) -> None:
    assert (await root.health())["status"] == "ok"


async def test_exchange_gives_a_jwt_that_authenticates(root: RpcStub, dev_key: str) -> None:
    exchanged = await root.exchange(dev_key, 60)
    whoami = await root.authenticate(exchanged["token"]).auth.whoami()
    assert whoami["tenant"] == "dev"
    assert whoami["kind"] == "api_key"
    assert whoami["expires_at"] == exchanged["expires_at"]


async def test_login_with_the_printed_admin_password(root: RpcStub, server: ServerProcess) -> None:
    username, _, rest = server.printed("login").partition(" / ")
    password = rest.split()[0]
    answer = await root.login(username, password, None)
    assert answer["user"]["username"] == "admin"
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        await root.login(username, "not-the-password", None)


async def test_a_bad_credential_is_an_authentication_error(root: RpcStub) -> None:
    with pytest.raises(AuthenticationError):
        await root.authenticate("not-a-token").auth.whoami()


# -- secrets ---------------------------------------------------------------------------------


async def test_secrets_set_get_list_env_delete(api: RpcStub) -> None:
    prefix = unique("S") + "_"
    first = await api.secrets.set(prefix + "A", "alpha", "a comment")
    assert (first["name"], first["comment"], first["version"]) == (prefix + "A", "a comment", 1)
    second = await api.secrets.set(prefix + "A", "alpha-2")
    assert (second["version"], second["comment"]) == (2, None)
    await api.secrets.set(prefix + "B", "beta")
    assert await api.secrets.get(prefix + "A") == "alpha-2"
    listed = await api.secrets.list(prefix)
    assert [info["name"] for info in listed] == [prefix + "A", prefix + "B"]
    assert all("value" not in info for info in listed)
    assert await api.secrets.env(prefix) == {prefix + "A": "alpha-2", prefix + "B": "beta"}
    assert await api.secrets.delete(prefix + "A") == {"name": prefix + "A", "deleted": True}
    with pytest.raises(NotFoundError):
        await api.secrets.get(prefix + "A")
    with pytest.raises(NotFoundError):
        await api.secrets.delete(prefix + "A")


async def test_pipelined_authenticate_and_get_in_one_expression(
    root: RpcStub, api: RpcStub, dev_key: str
) -> None:
    await api.secrets.set("PIPELINED", "value")
    assert await root.authenticate(dev_key).secrets.get("PIPELINED") == "value"


async def test_an_rpc_target_where_a_string_is_declared_is_a_validation_error(
    api: RpcStub,
) -> None:
    with pytest.raises(ValidationError, match="name") as caught:
        await api.secrets.get(Callback())
    assert caught.value.code == "invalid"


async def test_a_function_where_a_string_is_declared_is_a_validation_error(api: RpcStub) -> None:
    with pytest.raises(ValidationError, match="value"):
        await api.secrets.set("FN", lambda: "not a string")


async def test_a_float_where_a_string_is_declared_is_refused_not_coerced(api: RpcStub) -> None:
    with pytest.raises(ValidationError):
        await api.secrets.set("FLOAT", 1.5)


# -- db --------------------------------------------------------------------------------------


async def test_db_execute_query_and_tables(api: RpcStub) -> None:
    table = unique("t")
    created = await api.db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)")
    assert created == {"rows_affected": 0, "last_insert_id": None}
    inserted = await api.db.execute(f"INSERT INTO {table} (name) VALUES (?)", ["ada"])
    assert inserted == {"rows_affected": 1, "last_insert_id": 1}
    result = await api.db.query(f"SELECT id, name FROM {table} WHERE name = ?", ["ada"])
    assert result == {"rows": [{"id": 1, "name": "ada"}], "columns": ["id", "name"], "row_count": 1}
    assert table in await api.db.tables()


async def test_db_round_trips_every_value_type(api: RpcStub) -> None:
    table = unique("types")
    await api.db.execute(f"CREATE TABLE {table} (i, f, t, b, n, flag)")
    values = [2**62, 1.25, "text ✓", b"\x00\xffbytes", None, True]
    await api.db.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?)", values)
    rows = (await api.db.query(f"SELECT * FROM {table}"))["rows"]
    assert rows == [
        {"i": 2**62, "f": 1.25, "t": "text ✓", "b": b"\x00\xffbytes", "n": None, "flag": 1}
    ]


async def test_db_table_helpers(api: RpcStub) -> None:
    table = unique("people")
    await api.db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT, age INT)")
    assert (await api.db.insert(table, {"name": "ada", "age": 36}))["last_insert_id"] == 1
    bulk = await api.db.bulk_insert(
        table, [{"name": "bob", "age": 20}, {"name": "cy", "age": 50}, {"name": "di", "age": 20}]
    )
    assert bulk == {"rows_affected": 3, "last_insert_id": 4}
    selected = await api.db.select(table, {"age": 20}, "name", True, None, None)
    assert [row["name"] for row in selected["rows"]] == ["di", "bob"]
    page = await api.db.select(table, None, "id", None, 2, 1)
    assert [row["id"] for row in page["rows"]] == [2, 3]
    updated = await api.db.update(table, {"age": 21}, {"name": "bob"})
    assert updated["rows_affected"] == 1
    assert (await api.db.delete(table, {"age": 20}))["rows_affected"] == 1
    names = [row["name"] for row in (await api.db.select(table, None, "id"))["rows"]]
    assert names == ["ada", "bob", "cy"]


async def test_db_update_and_delete_without_filters_are_refused(api: RpcStub) -> None:
    table = unique("guarded")
    await api.db.execute(f"CREATE TABLE {table} (x)")
    with pytest.raises(ValidationError):
        await api.db.update(table, {"x": 1}, {})
    with pytest.raises(ValidationError):
        await api.db.delete(table, {})


async def test_db_batch_is_all_or_nothing(api: RpcStub) -> None:
    table = unique("ledger")
    await api.db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, amount INT NOT NULL)")
    results = await api.db.batch(
        [
            {"sql": f"INSERT INTO {table} (amount) VALUES (?)", "params": [10]},
            {"sql": f"INSERT INTO {table} (amount) VALUES (20)"},
        ]
    )
    assert [result["rows_affected"] for result in results] == [1, 1]
    with pytest.raises(ConflictError) as caught:
        await api.db.batch(
            [
                {"sql": f"INSERT INTO {table} (amount) VALUES (30)"},
                {"sql": f"INSERT INTO {table} (amount) VALUES (NULL)"},
            ]
        )
    assert caught.value.details["statement"] == 1
    total = await api.db.query(f"SELECT sum(amount) AS total FROM {table}")
    assert total["rows"] == [{"total": 30}]


async def test_db_transaction_commit_makes_writes_visible(api: RpcStub) -> None:
    table = unique("tx")
    await api.db.execute(f"CREATE TABLE {table} (x)")
    transaction = await api.db.begin()
    await transaction.execute(f"INSERT INTO {table} VALUES (?)", [1])
    assert (await transaction.query(f"SELECT count(*) AS n FROM {table}"))["rows"] == [{"n": 1}]
    assert (await api.db.query(f"SELECT count(*) AS n FROM {table}"))["rows"] == [{"n": 0}]
    assert await transaction.commit() == {"status": "committed"}
    assert await transaction.commit() == {"status": "committed"}
    assert (await api.db.query(f"SELECT count(*) AS n FROM {table}"))["rows"] == [{"n": 1}]
    with pytest.raises(ConflictError) as caught:
        await transaction.execute(f"INSERT INTO {table} VALUES (2)")
    assert caught.value.code == "closed"


async def test_db_transaction_rollback_discards_writes(api: RpcStub) -> None:
    table = unique("tx")
    await api.db.execute(f"CREATE TABLE {table} (x)")
    transaction = await api.db.begin()
    await transaction.execute(f"INSERT INTO {table} VALUES (1)")
    assert await transaction.rollback() == {"status": "rolled_back"}
    assert await transaction.rollback() == {"status": "rolled_back"}
    assert (await api.db.query(f"SELECT count(*) AS n FROM {table}"))["rows"] == [{"n": 0}]
    with pytest.raises(ConflictError):
        await transaction.commit()


async def test_db_errors_are_typed(api: RpcStub) -> None:
    table = unique("typed")
    await api.db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
    with pytest.raises(NotFoundError):
        await api.db.query("SELECT * FROM no_such_table")
    await api.db.execute(f"INSERT INTO {table} VALUES (1)")
    with pytest.raises(ConflictError) as constraint:
        await api.db.execute(f"INSERT INTO {table} VALUES (1)")
    assert constraint.value.code == "constraint"
    with pytest.raises(ValidationError) as syntax:
        await api.db.query("SELEKT 1")
    assert syntax.value.code == "sql_error"
    with pytest.raises(AuthorizationError) as guarded:
        await api.db.query("PRAGMA journal_mode = DELETE")
    assert guarded.value.code == "sql_not_allowed"
    with pytest.raises(AuthorizationError):
        await api.db.query(f"DELETE FROM {table}")


# -- collections -----------------------------------------------------------------------------


@pytest.fixture
async def people(api: RpcStub) -> str:
    collection = unique("people")
    documents = {
        "ada": {"name": "ada", "age": 36, "city": {"name": "london"}, "admin": True},
        "bob": {"name": "bob", "age": 20, "city": {"name": "paris"}, "admin": False},
        "cy": {"name": "cy", "age": 50, "city": {"name": "london"}, "admin": False},
        "di": {"name": "di", "city": {"name": "rome"}},
    }
    for document_id, data in documents.items():
        await api.collections.set(collection, document_id, data)
    return collection


async def test_collections_set_get_update_delete(api: RpcStub) -> None:
    collection = unique("docs")
    stored = await api.collections.set(collection, "d1", {"a": 1, "nested": {"x": 1}})
    assert stored == {"a": 1, "nested": {"x": 1}}
    assert await api.collections.get(collection, "d1") == stored
    merged = await api.collections.update(collection, "d1", {"nested": {"y": 2}, "b": None})
    assert merged == {"a": 1, "nested": {"y": 2}, "b": None}
    deleted = await api.collections.delete(collection, "d1")
    assert deleted == {"collection": collection, "id": "d1", "deleted": True}
    with pytest.raises(NotFoundError):
        await api.collections.get(collection, "d1")
    with pytest.raises(NotFoundError):
        await api.collections.update(collection, "d1", {"a": 2})
    with pytest.raises(NotFoundError):
        await api.collections.delete(collection, "d1")


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ([["age", "==", 36]], ["ada"]),
        ([["age", "!=", 36]], ["bob", "cy"]),
        ([["age", "<", 36]], ["bob"]),
        ([["age", "<=", 36]], ["ada", "bob"]),
        ([["age", ">", 36]], ["cy"]),
        ([["age", ">=", 36]], ["ada", "cy"]),
        ([["name", "in", ["ada", "di", "zed"]]], ["ada", "di"]),
        ([["name", "not_in", ["ada", "di"]]], ["bob", "cy"]),
        ([["city.name", "==", "london"], ["admin", "==", False]], ["cy"]),
        ([["age", "==", None]], ["di"]),
        ([["age", "!=", None]], ["ada", "bob", "cy"]),
        ([["admin", "==", True]], ["ada"]),
    ],
)
async def test_collections_query_and_count_with_every_operator(
    api: RpcStub, people: str, where: list[Any], expected: list[str]
) -> None:
    found = await api.collections.query(people, where)
    assert [document["id"] for document in found] == expected
    assert await api.collections.count(people, where) == len(expected)


async def test_collections_query_orders_and_pages(api: RpcStub, people: str) -> None:
    found = await api.collections.query(people, None, "age", True, 2, 1)
    assert [document["id"] for document in found] == ["ada", "bob"]
    assert found[0]["data"]["city"] == {"name": "london"}
    assert await api.collections.count(people) == 4


async def test_collections_refuse_an_unknown_operator(api: RpcStub, people: str) -> None:
    with pytest.raises(ValidationError, match=r"where\[0\]\[1\]"):
        await api.collections.query(people, [["age", "~=", 1]])


# -- auth ------------------------------------------------------------------------------------


async def test_auth_whoami_roles_and_scopes(api: RpcStub) -> None:
    whoami = await api.auth.whoami()
    assert (whoami["tenant"], whoami["kind"], whoami["expires_at"]) == ("dev", "api_key", None)
    roles = await api.auth.roles()
    assert set(roles) >= {"admin", "developer", "reader"}
    assert set(await api.auth.scopes()) == set(roles["admin"])


async def test_auth_users_add_get_list_update_delete(root: RpcStub, api: RpcStub) -> None:
    users = api.auth.users
    name = unique("user")
    added = await users.add(name, "first password", ["reader"], None)
    assert (added["username"], added["roles"], added["disabled"]) == (name, ["reader"], False)
    assert (await users.get(name))["id"] == added["id"]
    assert name in [user["username"] for user in await users.list()]
    with pytest.raises(ConflictError):
        await users.add(name, "another password")
    updated = await users.update(name, "second password", ["developer"], None, None)
    assert updated["roles"] == ["developer"]
    logged_in = await root.login(name, "second password", "dev")
    scopes = (await root.authenticate(logged_in["token"]).auth.whoami())["scopes"]
    assert "auth:admin" not in scopes
    assert "secrets:write" in scopes
    assert await users.delete(name) == {"username": name, "deleted": True}
    with pytest.raises(NotFoundError):
        await users.get(name)


async def test_auth_api_keys_create_list_revoke(root: RpcStub, api: RpcStub) -> None:
    keys = api.auth.api_keys
    created = await keys.create(unique("ci"), ["secrets:read"])
    assert created["key"].startswith("dotdo_sk_")
    assert created["scopes"] == ["secrets:read"]
    listed = {key["id"]: key for key in await keys.list()}
    assert "key" not in listed[created["id"]]
    assert listed[created["id"]]["revoked_at"] is None
    assert (await root.authenticate(created["key"]).auth.whoami())["scopes"] == ["secrets:read"]
    revoked = await keys.revoke(created["id"])
    assert revoked["revoked"] is True
    assert (await keys.revoke(created["id"]))["revoked_at"] == revoked["revoked_at"]
    with pytest.raises(NotFoundError):
        await keys.revoke("k_" + "0" * 24)


async def test_revoking_a_key_ends_an_existing_api_capability(root: RpcStub, api: RpcStub) -> None:
    created = await api.auth.api_keys.create(unique("short-lived"), None)
    held: RpcStub = await root.authenticate(created["key"])
    await held.secrets.set("HELD", "value")
    await api.auth.api_keys.revoke(created["id"])
    with pytest.raises(AuthenticationError):
        await held.secrets.get("HELD")
    with pytest.raises(AuthenticationError):
        await root.authenticate(created["key"]).secrets.get("HELD")


async def test_a_key_without_the_scope_gets_an_authorization_error(
    root: RpcStub, api: RpcStub
) -> None:
    created = await api.auth.api_keys.create(unique("reader"), ["secrets:read"])
    limited = root.authenticate(created["key"])
    with pytest.raises(AuthorizationError) as caught:
        await limited.secrets.set("NOPE", "value")
    assert caught.value.details["scope"] == "secrets:write"
    with pytest.raises(AuthorizationError):
        await limited.auth.users.list()
    with pytest.raises(AuthorizationError):
        await limited.auth.api_keys.create("escalate", ["auth:admin"])


async def test_auth_mint_and_validate_jwt(root: RpcStub, api: RpcStub) -> None:
    minted = await api.auth.mint_jwt(120, ["logs:read"])
    claims = await api.auth.validate_jwt(minted["token"])
    assert claims["valid"] is True
    assert claims["scopes"] == ["logs:read"]
    assert claims["expires_at"] == minted["expires_at"]
    narrowed = root.authenticate(minted["token"])
    await narrowed.logs.query()
    with pytest.raises(AuthorizationError):
        await narrowed.secrets.list()
    with pytest.raises(AuthenticationError):
        await api.auth.validate_jwt(minted["token"][:-4] + "AAAA")
    with pytest.raises(ValidationError):
        await api.auth.mint_jwt(10**6)


# -- logs ------------------------------------------------------------------------------------


async def test_logs_write_and_query(api: RpcStub) -> None:
    category = unique("cat")
    entries = [
        {"level": "debug", "message": "one", "category": category, "timestamp": 1000.0},
        {"level": "warning", "message": "two", "category": category, "data": {"k": [1, 2]}},
        {"level": "error", "message": "three", "category": category, "timestamp": 2000.0},
    ]
    assert await api.logs.write(entries) == {"written": 3}
    everything = await api.logs.query(None, None, None, category, None)
    assert [entry["message"] for entry in everything] == ["two", "three", "one"]
    assert everything[0]["data"] == {"k": [1, 2]}
    warnings = await api.logs.query("warning", None, None, category)
    assert [entry["message"] for entry in warnings] == ["two", "three"]
    window = await api.logs.query(None, 1000.0, 2000.0, category)
    assert [entry["message"] for entry in window] == ["one"]
    assert len(await api.logs.query(None, None, None, category, 1)) == 1


async def test_logs_refuse_an_unknown_level_and_extra_keys(api: RpcStub) -> None:
    with pytest.raises(ValidationError):
        await api.logs.write([{"level": "loud", "message": "x"}])
    with pytest.raises(ValidationError):
        await api.logs.write([{"level": "info", "message": "x", "extra": 1}])


# -- idempotency -----------------------------------------------------------------------------


async def test_a_mutation_sent_twice_with_one_key_changes_data_once(api: RpcStub) -> None:
    name, key = unique("IDEM"), str(uuid.uuid4())
    first = await api.secrets.set(name, "v", None, key)
    assert await api.secrets.set(name, "v", None, key) == first
    assert (await api.secrets.list(name))[0]["version"] == 1


async def test_a_sql_insert_sent_twice_with_one_key_adds_one_row(api: RpcStub) -> None:
    table, key = unique("idem"), str(uuid.uuid4())
    await api.db.execute(f"CREATE TABLE {table} (x)")
    first = await api.db.execute(f"INSERT INTO {table} VALUES (1)", None, key)
    assert await api.db.execute(f"INSERT INTO {table} VALUES (1)", None, key) == first
    assert (await api.db.query(f"SELECT count(*) AS n FROM {table}"))["rows"] == [{"n": 1}]


async def test_two_connections_sending_one_key_change_data_once(
    server: ServerProcess, api: RpcStub, dev_key: str
) -> None:
    category, key = unique("retry"), str(uuid.uuid4())
    entries = [{"level": "info", "message": "once", "category": category}]
    await api.logs.write(entries, key)
    async with connect(server.ws_url) as again:
        assert await again.authenticate(dev_key).logs.write(entries, key) == {"written": 1}
    assert len(await api.logs.query(None, None, None, category)) == 1


async def test_reusing_a_key_for_other_arguments_is_a_conflict(api: RpcStub) -> None:
    name, key = unique("IDEM"), str(uuid.uuid4())
    await api.secrets.set(name, "v1", None, key)
    with pytest.raises(ConflictError) as caught:
        await api.secrets.set(name, "v2", None, key)
    assert caught.value.code == "idempotency_key_reused"
    assert await api.secrets.get(name) == "v1"
