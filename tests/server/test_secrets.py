"""api.secrets: encrypted named values."""

from __future__ import annotations

import pytest

from dotdo.errors import NotFoundError, ValidationError
from dotdo.server import Api

pytestmark = pytest.mark.anyio


async def test_set_then_get_returns_the_value(api: Api) -> None:
    await api.secrets.set("DATABASE_URL", "postgres://db")
    assert await api.secrets.get("DATABASE_URL") == "postgres://db"


async def test_set_returns_metadata_without_the_value(api: Api) -> None:
    info = await api.secrets.set("TOKEN", "s3cret", "for the CI")
    assert info == {
        "name": "TOKEN",
        "comment": "for the CI",
        "version": 1,
        "created_at": info["created_at"],
        "updated_at": info["updated_at"],
    }


async def test_set_again_replaces_the_value_and_bumps_the_version(api: Api) -> None:
    await api.secrets.set("TOKEN", "one")
    info = await api.secrets.set("TOKEN", "two")
    assert info["version"] == 2
    assert await api.secrets.get("TOKEN") == "two"


async def test_get_of_a_missing_secret_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError, match="MISSING"):
        await api.secrets.get("MISSING")


async def test_list_shows_names_and_metadata_but_never_values(api: Api) -> None:
    await api.secrets.set("B", "value-b")
    await api.secrets.set("A", "value-a", "first")
    listed = await api.secrets.list()
    assert [item["name"] for item in listed] == ["A", "B"]
    assert listed[0]["comment"] == "first"
    assert "value-a" not in repr(listed)


async def test_list_with_a_prefix_shows_only_matching_names(api: Api) -> None:
    await api.secrets.set("APP_X", "1")
    await api.secrets.set("APPLE", "2")
    await api.secrets.set("OTHER", "3")
    assert [s["name"] for s in await api.secrets.list("APP_")] == ["APP_X"]


async def test_delete_removes_the_secret(api: Api) -> None:
    await api.secrets.set("GONE", "x")
    assert await api.secrets.delete("GONE") == {"name": "GONE", "deleted": True}
    with pytest.raises(NotFoundError):
        await api.secrets.get("GONE")


async def test_delete_of_a_missing_secret_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError):
        await api.secrets.delete("NEVER")


async def test_env_returns_every_value_by_name(api: Api) -> None:
    await api.secrets.set("A", "1")
    await api.secrets.set("B", "2")
    assert await api.secrets.env() == {"A": "1", "B": "2"}


async def test_env_with_a_prefix_returns_only_matching_values(api: Api) -> None:
    await api.secrets.set("STRIPE_KEY", "sk")
    await api.secrets.set("OTHER", "o")
    assert await api.secrets.env("STRIPE_") == {"STRIPE_KEY": "sk"}


async def test_a_value_over_64_kib_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="value"):
        await api.secrets.set("BIG", "x" * (65_536 + 1))


async def test_a_name_with_spaces_is_refused(api: Api) -> None:
    with pytest.raises(ValidationError, match="name"):
        await api.secrets.set("HAS SPACE", "x")


async def test_unicode_values_round_trip(api: Api) -> None:
    await api.secrets.set("GREETING", "héllo ✓ 😀")
    assert await api.secrets.get("GREETING") == "héllo ✓ 😀"
