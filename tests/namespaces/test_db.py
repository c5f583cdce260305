"""dotdo.db against the in-process platform: raw SQL, batches, helpers, transactions."""

from __future__ import annotations

import anyio
import pytest

from dotdo._client import DotDo
from dotdo.errors import (
    AuthorizationError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from dotdo.namespaces.models import ExecuteResult, QueryResult

pytestmark = pytest.mark.anyio


async def make_table(client: DotDo, table: str) -> None:
    await client.db.execute(
        f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT UNIQUE, age INTEGER)"
    )


async def names(client: DotDo, table: str) -> list[str]:
    result = await client.db.query(f"SELECT name FROM {table} ORDER BY id")
    return [row["name"] for row in result.rows]


async def test_query_returns_rows_as_dicts_with_columns_and_count(client: DotDo, name: str) -> None:
    await make_table(client, name)
    await client.db.execute(f"INSERT INTO {name} (name, age) VALUES (?, ?)", ["ada", 36])

    result = await client.db.query(f"SELECT name, age FROM {name} WHERE age > ?", (30,))

    assert result == QueryResult(
        rows=[{"name": "ada", "age": 36}], columns=["name", "age"], row_count=1
    )


async def test_execute_reports_rows_affected_and_last_insert_id(client: DotDo, name: str) -> None:
    await make_table(client, name)

    result = await client.db.execute(f"INSERT INTO {name} (name) VALUES (?)", ["ada"])

    assert result == ExecuteResult(rows_affected=1, last_insert_id=1)


async def test_query_refuses_a_write(client: DotDo, name: str) -> None:
    await make_table(client, name)
    with pytest.raises(AuthorizationError):
        await client.db.query(f"DELETE FROM {name}")


async def test_a_missing_table_is_not_found(client: DotDo, name: str) -> None:
    with pytest.raises(NotFoundError):
        await client.db.query(f"SELECT * FROM {name}")


async def test_a_constraint_failure_is_a_conflict(client: DotDo, name: str) -> None:
    await make_table(client, name)
    await client.db.insert(name, {"name": "ada"})
    with pytest.raises(ConflictError):
        await client.db.insert(name, {"name": "ada"})


async def test_params_must_be_a_list_not_a_string(client: DotDo) -> None:
    with pytest.raises(ValidationError):
        await client.db.query("SELECT ?", "ada")


async def test_batch_accepts_sql_tuples_and_dicts(client: DotDo, name: str) -> None:
    results = await client.db.batch(
        [
            f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name TEXT)",
            (f"INSERT INTO {name} (name) VALUES (?)", ["ada"]),
            {"sql": f"INSERT INTO {name} (name) VALUES (?)", "params": ("grace",)},
        ]
    )

    assert [r.rows_affected for r in results] == [0, 1, 1]
    assert await names(client, name) == ["ada", "grace"]


async def test_a_failing_batch_applies_nothing(client: DotDo, name: str) -> None:
    await make_table(client, name)

    with pytest.raises(ConflictError) as raised:
        await client.db.batch(
            [
                (f"INSERT INTO {name} (name) VALUES (?)", ["ada"]),
                (f"INSERT INTO {name} (name) VALUES (?)", ["ada"]),
            ]
        )

    assert raised.value.details["statement"] == 1
    assert await names(client, name) == []


async def test_batch_refuses_a_malformed_statement_before_sending(client: DotDo) -> None:
    with pytest.raises(ValidationError, match=r"statements\[0\]"):
        await client.db.batch([42])  # type: ignore[list-item]


async def test_tables_lists_the_tenants_tables(client: DotDo, name: str) -> None:
    await make_table(client, name)
    assert name in await client.db.tables()


async def test_select_filters_orders_and_pages(client: DotDo, name: str) -> None:
    await make_table(client, name)
    await client.db.bulk_insert(
        name,
        [
            {"name": "ada", "age": 36},
            {"name": "grace", "age": 36},
            {"name": "alan", "age": 41},
        ],
    )

    result = await client.db.select(
        name, filters={"age": 36}, order_by="name", descending=True, limit=1, offset=1
    )

    assert [row["name"] for row in result.rows] == ["ada"]


async def test_select_with_a_none_filter_matches_null(client: DotDo, name: str) -> None:
    await make_table(client, name)
    await client.db.bulk_insert(name, [{"name": "ada", "age": None}, {"name": "bob", "age": 3}])

    result = await client.db.select(name, filters={"age": None})

    assert [row["name"] for row in result.rows] == ["ada"]


async def test_bulk_insert_is_atomic(client: DotDo, name: str) -> None:
    await make_table(client, name)
    with pytest.raises(ConflictError):
        await client.db.bulk_insert(name, [{"name": "ada"}, {"name": "ada"}])
    assert await names(client, name) == []


async def test_update_changes_matching_rows(client: DotDo, name: str) -> None:
    await make_table(client, name)
    await client.db.bulk_insert(name, [{"name": "ada", "age": 1}, {"name": "bob", "age": 1}])

    result = await client.db.update(name, {"age": 2}, filters={"name": "ada"})

    assert result.rows_affected == 1
    rows = (await client.db.select(name, order_by="name")).rows
    assert [(row["name"], row["age"]) for row in rows] == [("ada", 2), ("bob", 1)]


async def test_update_needs_a_filter(client: DotDo, name: str) -> None:
    await make_table(client, name)
    with pytest.raises(ValidationError):
        await client.db.update(name, {"age": 2}, filters={})


async def test_delete_removes_matching_rows(client: DotDo, name: str) -> None:
    await make_table(client, name)
    await client.db.bulk_insert(name, [{"name": "ada"}, {"name": "bob"}])

    result = await client.db.delete(name, filters={"name": "bob"})

    assert result.rows_affected == 1
    assert await names(client, name) == ["ada"]


async def test_delete_needs_a_filter(client: DotDo, name: str) -> None:
    await make_table(client, name)
    with pytest.raises(ValidationError):
        await client.db.delete(name, filters={})


# -- transactions ---------------------------------------------------------------------------


async def test_a_transaction_commits_when_the_block_ends(client: DotDo, name: str) -> None:
    await make_table(client, name)

    async with client.db.transaction() as tx:
        await tx.execute(f"INSERT INTO {name} (name) VALUES (?)", ["ada"])
        seen = await tx.query(f"SELECT name FROM {name}")
        assert seen.rows == [{"name": "ada"}]

    assert not tx.is_open
    assert await names(client, name) == ["ada"]


async def test_an_exception_in_the_block_rolls_back(client: DotDo, name: str) -> None:
    await make_table(client, name)

    async def insert_then_fail() -> None:
        async with client.db.transaction() as tx:
            await tx.execute(f"INSERT INTO {name} (name) VALUES (?)", ["ada"])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await insert_then_fail()

    assert await names(client, name) == []


async def test_a_cancelled_block_rolls_back(client: DotDo, name: str) -> None:
    await make_table(client, name)

    with anyio.move_on_after(0.2):
        async with client.db.transaction() as tx:
            await tx.execute(f"INSERT INTO {name} (name) VALUES (?)", ["ada"])
            await anyio.sleep(10)

    assert not tx.is_open
    assert await names(client, name) == []


async def test_an_explicit_rollback_ends_the_transaction(client: DotDo, name: str) -> None:
    await make_table(client, name)

    async with client.db.transaction() as tx:
        await tx.execute(f"INSERT INTO {name} (name) VALUES (?)", ["ada"])
        await tx.rollback()

    assert await names(client, name) == []


async def test_a_transaction_cannot_be_used_after_it_ends(client: DotDo, name: str) -> None:
    await make_table(client, name)
    async with client.db.transaction() as tx:
        pass

    with pytest.raises(ConflictError) as raised:
        await tx.query(f"SELECT * FROM {name}")
    assert raised.value.code == "closed"


async def test_a_transaction_must_be_entered_before_use(client: DotDo) -> None:
    tx = client.db.transaction()
    with pytest.raises(ValidationError, match="async with"):
        await tx.query("SELECT 1")


async def test_a_failing_statement_in_a_transaction_rolls_it_all_back(
    client: DotDo, name: str
) -> None:
    await make_table(client, name)

    async def insert_twice() -> None:
        async with client.db.transaction() as tx:
            await tx.execute(f"INSERT INTO {name} (name) VALUES (?)", ["ada"])
            await tx.execute(f"INSERT INTO {name} (name) VALUES (?)", ["ada"])

    with pytest.raises(ConflictError):
        await insert_twice()

    assert await names(client, name) == []
