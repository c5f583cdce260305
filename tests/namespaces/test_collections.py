"""dotdo.collections against the in-process platform: documents and the query builder."""

from __future__ import annotations

from typing import Any

import pytest

from dotdo._client import DotDo
from dotdo.errors import NotFoundError, ValidationError
from dotdo.namespaces.collections import Collection
from dotdo.namespaces.models import Document

pytestmark = pytest.mark.anyio


@pytest.fixture
async def people(client: DotDo, name: str) -> Collection:
    people = client.collections(name)
    for id, data in {
        "ada": {"name": "Ada", "age": 36, "address": {"city": "London"}},
        "alan": {"name": "Alan", "age": 41, "address": {"city": "Wilmslow"}},
        "grace": {"name": "Grace", "age": 85, "address": {"city": "Arlington"}},
    }.items():
        await people.set(id, data)
    return people


def ids(documents: list[Document]) -> list[str]:
    return [document.id for document in documents]


class Offline:
    """Stands in for the client: any call fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the query touched the client ({name})")


async def test_calling_collections_and_get_name_the_same_collection(client: DotDo) -> None:
    assert client.collections("users").name == client.collections.get("users").name == "users"
    assert client.collection("users").name == "users"


async def test_set_then_get_returns_the_data(client: DotDo, name: str) -> None:
    users = client.collections(name)
    assert await users.set("ada", {"name": "Ada"}) == {"name": "Ada"}
    assert await users.get("ada") == {"name": "Ada"}


async def test_get_of_a_missing_document_is_not_found(client: DotDo, name: str) -> None:
    with pytest.raises(NotFoundError):
        await client.collections(name).get("nobody")


async def test_get_of_a_missing_document_returns_the_default_when_given(
    client: DotDo, name: str
) -> None:
    assert await client.collections(name).get("nobody", default=None) is None


async def test_set_replaces_the_whole_document(client: DotDo, name: str) -> None:
    users = client.collections(name)
    await users.set("ada", {"name": "Ada", "age": 36})
    await users.set("ada", {"name": "Ada L."})
    assert await users.get("ada") == {"name": "Ada L."}


async def test_update_merges_top_level_keys(client: DotDo, name: str) -> None:
    users = client.collections(name)
    await users.set("ada", {"name": "Ada", "age": 36})

    merged = await users.update("ada", {"age": 37})

    assert merged == {"name": "Ada", "age": 37}
    assert await users.get("ada") == merged


async def test_update_of_a_missing_document_is_not_found(client: DotDo, name: str) -> None:
    with pytest.raises(NotFoundError):
        await client.collections(name).update("nobody", {"age": 1})


async def test_delete_removes_the_document(client: DotDo, name: str) -> None:
    users = client.collections(name)
    await users.set("ada", {"name": "Ada"})
    await users.delete("ada")
    assert await users.get("ada", default="gone") == "gone"


async def test_delete_of_a_missing_document_is_not_found(client: DotDo, name: str) -> None:
    with pytest.raises(NotFoundError):
        await client.collections(name).delete("nobody")


async def test_an_invalid_collection_name_is_refused(client: DotDo) -> None:
    with pytest.raises(ValidationError):
        await client.collections("no spaces").get("x")


async def test_query_execute_returns_documents_with_id_and_data(people: Collection) -> None:
    found = await people.query().where("name", "==", "Ada").execute()
    assert found == [
        Document(id="ada", data={"name": "Ada", "age": 36, "address": {"city": "London"}})
    ]


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("==", 41, ["alan"]),
        ("!=", 41, ["ada", "grace"]),
        ("<", 41, ["ada"]),
        ("<=", 41, ["ada", "alan"]),
        (">", 41, ["grace"]),
        (">=", 41, ["alan", "grace"]),
        ("in", [36, 85], ["ada", "grace"]),
        ("not_in", (36, 85), ["alan"]),
    ],
)
async def test_each_operator_filters_as_named(
    people: Collection, op: Any, value: Any, expected: list[str]
) -> None:
    assert ids(await people.query().where("age", op, value).execute()) == expected


async def test_where_reaches_into_nested_fields(people: Collection) -> None:
    found = await people.query().where("address.city", "==", "London").execute()
    assert ids(found) == ["ada"]


async def test_where_clauses_must_all_hold(people: Collection) -> None:
    query = people.query().where("age", ">", 30).where("age", "<", 50)
    assert ids(await query.execute()) == ["ada", "alan"]


async def test_order_by_limit_and_offset_page_through_results(people: Collection) -> None:
    query = people.query().order_by("age", descending=True)
    assert ids(await query.limit(2).execute()) == ["grace", "alan"]
    assert ids(await query.limit(2).offset(2).execute()) == ["ada"]


async def test_the_builder_is_immutable(people: Collection) -> None:
    everyone = people.query()
    everyone.where("age", ">", 40).limit(1)
    assert ids(await everyone.execute()) == ["ada", "alan", "grace"]


async def test_first_returns_the_first_match(people: Collection) -> None:
    first = await people.query().order_by("age", descending=True).first()
    assert first is not None
    assert first.id == "grace"


async def test_first_returns_none_when_nothing_matches(people: Collection) -> None:
    assert await people.query().where("age", ">", 100).first() is None


async def test_query_count_counts_matches(people: Collection) -> None:
    assert await people.query().where("age", ">=", 41).count() == 2


async def test_collection_count_counts_every_document(people: Collection) -> None:
    assert await people.count() == 3


async def test_a_bad_operator_fails_at_where_before_any_io() -> None:
    offline = Collection(Offline(), "people")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown operator 'like'"):
        offline.query().where("name", "like", "A%")  # type: ignore[arg-type]


async def test_in_needs_a_list_before_any_io() -> None:
    offline = Collection(Offline(), "people")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="needs a list"):
        offline.query().where("age", "in", "36")


async def test_ordering_comparisons_refuse_none_before_any_io() -> None:
    offline = Collection(Offline(), "people")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="None"):
        offline.query().where("age", "<", None)


async def test_a_negative_limit_or_offset_fails_before_any_io() -> None:
    query = Collection(Offline(), "people").query()  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        query.limit(-1)
    with pytest.raises(ValidationError):
        query.offset(-1)


async def test_equality_with_none_matches_missing_fields(client: DotDo, name: str) -> None:
    things = client.collections(name)
    await things.set("a", {"tag": "x"})
    await things.set("b", {})
    assert ids(await things.query().where("tag", "==", None).execute()) == ["b"]
