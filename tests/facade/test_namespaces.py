"""Every namespace through the one client: one shared session, one round trip per call."""

from __future__ import annotations

import pytest

from dotdo import DotDo, DotDoError, NotFoundError

from .helpers import Wiretap, open_sessions, transport_session

pytestmark = pytest.mark.anyio


async def test_every_namespace_shares_the_one_session(client: DotDo, secret_name: str) -> None:
    await client.secrets.get(secret_name, default=None)  # authenticated
    session = await client._session()
    wiretap = Wiretap(transport_session(session))
    table = secret_name.lower()

    await client.secrets.set(secret_name, "s")
    await client.db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)")
    await client.db.execute(f"INSERT INTO {table} (name) VALUES (?)", ["ada"])
    assert (await client.db.query(f"SELECT name FROM {table}")).rows == [{"name": "ada"}]
    await client.collections(table).set("u1", {"name": "ada"})
    assert (await client.collection(table).get("u1"))["name"] == "ada"
    assert (await client.auth.whoami()).tenant_id
    client.logs.info("hello from the facade test", category=table)
    await client.logs.flush()
    assert [e.message for e in await client.logs.query(category=table)] == [
        "hello from the facade test"
    ]
    with pytest.raises(DotDoError):  # the platforms here serve no user service
        await client.rpc.call("no_such_service.method")

    assert wiretap.requests().count("pull") >= 10
    assert open_sessions(client) == [session]
    assert session.is_open


@pytest.mark.parametrize(
    "call",
    [
        "secrets.list",
        "db.tables",
        "collections.count",
        "auth.whoami",
        "logs.query",
    ],
)
async def test_a_namespace_call_is_one_round_trip(
    client: DotDo, secret_name: str, call: str
) -> None:
    await client.secrets.get(secret_name, default=None)  # authenticated
    wiretap = Wiretap(transport_session(await client._session()))
    namespace, method = call.split(".")
    if namespace == "collections":
        await client.collections(secret_name.lower()).count()
    else:
        await getattr(getattr(client, namespace), method)()
    assert wiretap.round_trips() == 1


async def test_a_missing_document_raises_not_found_unless_a_default_is_given(
    client: DotDo, secret_name: str
) -> None:
    users = client.collections(secret_name.lower())
    with pytest.raises(NotFoundError):
        await users.get("nobody")
    assert await users.get("nobody", default=None) is None


async def test_a_transaction_commits_on_the_shared_session(client: DotDo, secret_name: str) -> None:
    table = secret_name.lower()
    await client.db.execute(f"CREATE TABLE {table} (n INTEGER)")
    async with client.db.transaction() as tx:
        await tx.execute(f"INSERT INTO {table} (n) VALUES (1)")
        assert (await tx.query(f"SELECT count(*) AS c FROM {table}")).rows == [{"c": 1}]
    assert (await client.db.query(f"SELECT n FROM {table}")).rows == [{"n": 1}]
    assert len(open_sessions(client)) == 1


async def test_calling_a_service_that_does_not_exist_raises_not_found(client: DotDo) -> None:
    with pytest.raises(NotFoundError):
        await client.rpc.call("no_such_service.method")
