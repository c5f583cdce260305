"""api.collections: JSON documents by collection and id."""

from __future__ import annotations

import pytest

from dotdo.errors import NotFoundError, ValidationError
from dotdo.server import Api, Settings
from tests.server.conftest import with_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def users(api: Api) -> Api:
    for document_id, data in {
        "u1": {"name": "Ada", "age": 36, "team": "core", "address": {"city": "London"}},
        "u2": {"name": "Grace", "age": 45, "team": "navy"},
        "u3": {"name": "Linus", "age": 28, "team": "core", "active": True},
        "u4": {"name": "Margaret", "team": None},
    }.items():
        await api.collections.set("users", document_id, data)
    return api


async def ids(api: Api, where: list[list[object]] | None = None, *args: object) -> list[str]:
    return [doc["id"] for doc in await api.collections.query("users", where, *args)]


async def test_set_then_get_returns_the_document(api: Api) -> None:
    await api.collections.set("users", "u1", {"name": "Ada", "tags": ["x"]})
    assert await api.collections.get("users", "u1") == {"name": "Ada", "tags": ["x"]}


async def test_set_replaces_the_whole_document(api: Api) -> None:
    await api.collections.set("users", "u1", {"name": "Ada", "age": 36})
    await api.collections.set("users", "u1", {"name": "Ada L."})
    assert await api.collections.get("users", "u1") == {"name": "Ada L."}


async def test_get_of_a_missing_document_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError, match="nobody"):
        await api.collections.get("users", "nobody")


async def test_update_merges_top_level_keys_and_returns_the_result(users: Api) -> None:
    merged = await users.collections.update("users", "u1", {"age": 37, "address": {"zip": "N1"}})
    assert merged == {"name": "Ada", "age": 37, "team": "core", "address": {"zip": "N1"}}
    assert await users.collections.get("users", "u1") == merged


async def test_update_of_a_missing_document_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError):
        await api.collections.update("users", "ghost", {"a": 1})


async def test_delete_removes_the_document(users: Api) -> None:
    answer = await users.collections.delete("users", "u2")
    assert answer == {"collection": "users", "id": "u2", "deleted": True}
    with pytest.raises(NotFoundError):
        await users.collections.get("users", "u2")


async def test_delete_of_a_missing_document_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError):
        await api.collections.delete("users", "ghost")


async def test_query_without_where_returns_every_document_by_id(users: Api) -> None:
    assert await ids(users) == ["u1", "u2", "u3", "u4"]


async def test_query_returns_ids_with_data(users: Api) -> None:
    [document] = await users.collections.query("users", [["name", "==", "Grace"]])
    assert document == {"id": "u2", "data": {"name": "Grace", "age": 45, "team": "navy"}}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ([["team", "==", "core"]], ["u1", "u3"]),
        ([["team", "!=", "core"]], ["u2"]),
        ([["age", "<", 36]], ["u3"]),
        ([["age", "<=", 36]], ["u1", "u3"]),
        ([["age", ">", 36]], ["u2"]),
        ([["age", ">=", 36]], ["u1", "u2"]),
        ([["name", "in", ["Ada", "Linus"]]], ["u1", "u3"]),
        ([["name", "not_in", ["Ada", "Linus"]]], ["u2", "u4"]),
        ([["team", "==", None]], ["u4"]),
        ([["age", "!=", None]], ["u1", "u2", "u3"]),
        ([["address.city", "==", "London"]], ["u1"]),
        ([["active", "==", True]], ["u3"]),
        ([["team", "==", "core"], ["age", ">", 30]], ["u1"]),
    ],
)
async def test_query_where_operators(
    users: Api, where: list[list[object]], expected: list[str]
) -> None:
    assert await ids(users, where) == expected


async def test_query_orders_by_a_field_descending(users: Api) -> None:
    assert await ids(users, None, "age", True) == ["u2", "u1", "u3", "u4"]


async def test_query_pages_with_limit_and_offset(users: Api) -> None:
    assert await ids(users, None, "name", False, 2, 1) == ["u2", "u3"]


async def test_count_counts_matching_documents(users: Api) -> None:
    assert await users.collections.count("users", [["team", "==", "core"]]) == 2


async def test_collections_are_separate(users: Api) -> None:
    assert await users.collections.count("teams") == 0


async def test_an_unknown_operator_is_refused(users: Api) -> None:
    with pytest.raises(ValidationError, match=r"where\[0\]\[1\]"):
        await users.collections.query("users", [["age", "~=", 1]])


async def test_in_needs_a_list(users: Api) -> None:
    with pytest.raises(ValidationError, match="list"):
        await users.collections.query("users", [["age", "in", 36]])


async def test_ordering_comparison_with_null_is_refused(users: Api) -> None:
    with pytest.raises(ValidationError, match="null"):
        await users.collections.query("users", [["age", "<", None]])


async def test_a_document_over_1_mib_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="at most"):
        await api.collections.set("big", "d", {"blob": "x" * (1024 * 1024)})


@pytest.mark.parametrize("settings", [with_settings(max_documents=3)])
async def test_an_unlimited_query_matching_too_many_asks_for_limit(
    users: Api, settings: Settings
) -> None:
    with pytest.raises(ValidationError, match="limit") as caught:
        await users.collections.query("users")
    assert caught.value.code == "too_many_results"
