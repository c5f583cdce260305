"""api.db: SQL on the tenant's own SQLite file."""

from __future__ import annotations

import anyio
import pytest

from dotdo.errors import (
    AuthorizationError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from dotdo.server import Api, Settings
from tests.server.conftest import with_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def people(api: Api) -> Api:
    await api.db.execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, age INTEGER)"
    )
    await api.db.bulk_insert(
        "people",
        [
            {"name": "Ada", "age": 36},
            {"name": "Grace", "age": 45},
            {"name": "Linus", "age": None},
        ],
    )
    return api


async def test_query_returns_rows_as_dicts_with_columns_and_count(people: Api) -> None:
    result = await people.db.query("SELECT name, age FROM people WHERE age > ? ORDER BY age", [40])
    assert result == {
        "rows": [{"name": "Grace", "age": 45}],
        "columns": ["name", "age"],
        "row_count": 1,
    }


async def test_execute_reports_rows_affected_and_last_insert_id(people: Api) -> None:
    result = await people.db.execute("INSERT INTO people (name, age) VALUES (?, ?)", ["Alan", 41])
    assert result == {"rows_affected": 1, "last_insert_id": 4}


async def test_execute_of_an_update_has_no_last_insert_id(people: Api) -> None:
    result = await people.db.execute("UPDATE people SET age = age + 1 WHERE age IS NOT NULL")
    assert result == {"rows_affected": 2, "last_insert_id": None}


async def test_query_refuses_to_write(people: Api) -> None:
    with pytest.raises(AuthorizationError, match=r"db\.execute"):
        await people.db.query("DELETE FROM people")
    assert (await people.db.query("SELECT count(*) AS n FROM people"))["rows"] == [{"n": 3}]


async def test_bytes_round_trip_as_blobs(api: Api) -> None:
    await api.db.execute("CREATE TABLE files (data BLOB)")
    await api.db.insert("files", {"data": b"\x00\x01\xff"})
    assert (await api.db.query("SELECT data FROM files"))["rows"] == [{"data": b"\x00\x01\xff"}]


async def test_batch_runs_every_statement_and_returns_each_result(api: Api) -> None:
    results = await api.db.batch(
        [
            {"sql": "CREATE TABLE t (x INTEGER)"},
            {"sql": "INSERT INTO t VALUES (?)", "params": [1]},
            {"sql": "INSERT INTO t VALUES (?)", "params": [2]},
        ]
    )
    assert [r["rows_affected"] for r in results] == [0, 1, 1]


async def test_batch_is_atomic_when_a_statement_fails(people: Api) -> None:
    with pytest.raises(ConflictError) as caught:
        await people.db.batch(
            [
                {"sql": "INSERT INTO people (name) VALUES ('Barbara')"},
                {"sql": "INSERT INTO people (name) VALUES ('Ada')"},
            ]
        )
    assert caught.value.details["statement"] == 1
    names = await people.db.query("SELECT name FROM people WHERE name = 'Barbara'")
    assert names["row_count"] == 0


async def test_a_constraint_violation_is_a_conflict(people: Api) -> None:
    with pytest.raises(ConflictError, match="UNIQUE"):
        await people.db.insert("people", {"name": "Ada"})


async def test_a_missing_table_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError, match="no such table"):
        await api.db.query("SELECT * FROM nowhere")


async def test_a_syntax_error_is_a_validation_error(api: Api) -> None:
    with pytest.raises(ValidationError, match="syntax"):
        await api.db.query("SELEKT 1")


async def test_two_statements_in_one_call_are_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="one statement"):
        await api.db.execute("CREATE TABLE a (x); CREATE TABLE b (x)")


async def test_tables_lists_the_tenants_tables_only(people: Api) -> None:
    assert await people.db.tables() == ["people"]


async def test_select_filters_by_equality_orders_and_pages(people: Api) -> None:
    result = await people.db.select("people", None, "age", True, 1, 1)
    assert [row["name"] for row in result["rows"]] == ["Ada"]


async def test_select_with_a_none_filter_matches_null(people: Api) -> None:
    result = await people.db.select("people", {"age": None})
    assert [row["name"] for row in result["rows"]] == ["Linus"]


async def test_insert_returns_the_new_row_id(people: Api) -> None:
    assert await people.db.insert("people", {"name": "Katherine", "age": 101}) == {
        "rows_affected": 1,
        "last_insert_id": 4,
    }


async def test_bulk_insert_refuses_rows_with_different_columns(api: Api) -> None:
    await api.db.execute("CREATE TABLE t (a, b)")
    with pytest.raises(ValidationError, match=r"rows\[1\]"):
        await api.db.bulk_insert("t", [{"a": 1, "b": 2}, {"a": 1}])


async def test_update_changes_only_the_matching_rows(people: Api) -> None:
    assert (await people.db.update("people", {"age": 37}, {"name": "Ada"}))["rows_affected"] == 1
    result = await people.db.select("people", {"name": "Ada"})
    assert result["rows"][0]["age"] == 37


async def test_update_without_filters_is_refused(people: Api) -> None:
    with pytest.raises(ValidationError, match="filters"):
        await people.db.update("people", {"age": 1}, {})


async def test_delete_removes_the_matching_rows(people: Api) -> None:
    assert (await people.db.delete("people", {"name": "Grace"}))["rows_affected"] == 1
    assert (await people.db.query("SELECT count(*) AS n FROM people"))["rows"] == [{"n": 2}]


async def test_helpers_refuse_an_unsafe_table_name(api: Api) -> None:
    with pytest.raises(ValidationError, match="table"):
        await api.db.select('people" WHERE 1=1; --')


async def test_helpers_cannot_reach_the_platforms_own_tables(api: Api) -> None:
    with pytest.raises(AuthorizationError, match="reserved"):
        await api.db.select("_dotdo_idempotency")


async def test_a_committed_transaction_persists_its_writes(people: Api) -> None:
    transaction = await people.db.begin()
    await transaction.execute("INSERT INTO people (name) VALUES ('Hedy')")
    assert await transaction.commit() == {"status": "committed"}
    assert (await people.db.select("people", {"name": "Hedy"}))["row_count"] == 1


async def test_a_rolled_back_transaction_leaves_no_trace(people: Api) -> None:
    transaction = await people.db.begin()
    await transaction.execute("DELETE FROM people")
    assert await transaction.rollback() == {"status": "rolled_back"}
    assert (await people.db.query("SELECT count(*) AS n FROM people"))["rows"] == [{"n": 3}]


async def test_a_transaction_sees_its_own_writes_before_commit_and_others_do_not(
    people: Api,
) -> None:
    transaction = await people.db.begin()
    await transaction.execute("DELETE FROM people WHERE name = 'Ada'")
    inside = await transaction.query("SELECT count(*) AS n FROM people")
    outside = await people.db.query("SELECT count(*) AS n FROM people")
    await transaction.rollback()
    assert (inside["rows"], outside["rows"]) == ([{"n": 2}], [{"n": 3}])


async def test_committing_twice_gives_the_same_answer(people: Api) -> None:
    transaction = await people.db.begin()
    await transaction.commit()
    assert await transaction.commit() == {"status": "committed"}


async def test_a_finished_transaction_refuses_more_statements(people: Api) -> None:
    transaction = await people.db.begin()
    await transaction.rollback()
    with pytest.raises(ConflictError, match="rolled back"):
        await transaction.execute("DELETE FROM people")


async def test_rolling_back_a_committed_transaction_is_a_conflict(people: Api) -> None:
    transaction = await people.db.begin()
    await transaction.commit()
    with pytest.raises(ConflictError, match="committed"):
        await transaction.rollback()


async def test_releasing_a_transaction_rolls_it_back(people: Api) -> None:
    transaction = await people.db.begin()
    await transaction.execute("DELETE FROM people")
    transaction._on_rpc_dispose()
    for _ in range(500):  # the rollback runs on a thread of its own
        if (await people.db.query("SELECT count(*) AS n FROM people"))["rows"] == [{"n": 3}]:
            break
        await anyio.sleep(0.01)
    else:
        pytest.fail("the released transaction was not rolled back")


@pytest.mark.parametrize("settings", [with_settings(transaction_timeout=0.2)])
async def test_a_transaction_open_too_long_is_rolled_back(people: Api, settings: Settings) -> None:
    transaction = await people.db.begin()
    await transaction.execute("DELETE FROM people")
    await anyio.sleep(0.4)
    with pytest.raises(ConflictError, match="too long"):
        await transaction.commit()
    assert (await people.db.query("SELECT count(*) AS n FROM people"))["rows"] == [{"n": 3}]


@pytest.mark.parametrize("settings", [with_settings(busy_timeout=0.1)])
async def test_a_write_waiting_on_an_open_transaction_fails_as_busy(
    people: Api, settings: Settings
) -> None:
    transaction = await people.db.begin()
    try:
        with pytest.raises(ConflictError) as caught:
            await people.db.insert("people", {"name": "Blocked"})
        assert caught.value.code == "busy"
    finally:
        await transaction.rollback()


@pytest.mark.parametrize("settings", [with_settings(query_timeout=0.2)])
async def test_a_runaway_query_is_interrupted(api: Api, settings: Settings) -> None:
    with pytest.raises(ValidationError) as caught:
        await api.db.query(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
        )
    assert caught.value.code == "query_timeout"


@pytest.mark.parametrize("settings", [with_settings(max_rows=2)])
async def test_a_result_over_max_rows_asks_for_limit(people: Api, settings: Settings) -> None:
    with pytest.raises(ValidationError, match="LIMIT") as caught:
        await people.db.query("SELECT * FROM people")
    assert caught.value.code == "too_many_results"
