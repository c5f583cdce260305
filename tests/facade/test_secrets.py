"""``dotdo.secrets`` through the facade: values, NotFoundError and default, the cache."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from dotdo import DotDo, NotFoundError
from dotdo.namespaces.models import SecretInfo

from .helpers import Wiretap, transport_session

pytestmark = pytest.mark.anyio


async def test_set_get_list_delete(client: DotDo, secret_name: str) -> None:
    info = await client.secrets.set(secret_name, "postgres://db", comment="primary")
    assert isinstance(info, SecretInfo)
    assert (info.name, info.comment, info.version) == (secret_name, "primary", 1)
    assert "postgres://db" not in repr(info)
    assert await client.secrets.get(secret_name) == "postgres://db"
    assert (await client.secrets.set(secret_name, "postgres://db2")).version == 2
    listed = await client.secrets.list(secret_name)
    assert [(i.name, i.version) for i in listed] == [(secret_name, 2)]
    await client.secrets.delete(secret_name)
    assert await client.secrets.list(secret_name) == []


async def test_getting_a_missing_secret_raises_not_found_naming_it(
    client: DotDo, secret_name: str
) -> None:
    with pytest.raises(NotFoundError, match=secret_name) as caught:
        await client.secrets.get(secret_name)
    assert caught.value.code == "not_found"


@pytest.mark.parametrize("default", [None, "", "fallback"])
async def test_a_default_is_returned_instead_of_raising(
    client: DotDo, secret_name: str, default: str | None
) -> None:
    assert await client.secrets.get(secret_name, default=default) == default


async def test_a_default_does_not_hide_a_value_that_exists(client: DotDo, secret_name: str) -> None:
    await client.secrets.set(secret_name, "real")
    assert await client.secrets.get(secret_name, default="fallback") == "real"


async def test_deleting_a_missing_secret_raises_not_found(client: DotDo, secret_name: str) -> None:
    with pytest.raises(NotFoundError):
        await client.secrets.delete(secret_name)


async def test_a_cached_get_costs_no_round_trip(client: DotDo, secret_name: str) -> None:
    await client.secrets.set(secret_name, "cached")
    assert await client.secrets.get(secret_name, cache_ttl=60) == "cached"
    wiretap = Wiretap(transport_session(await client._session()))
    for _ in range(100):
        assert await client.secrets.get(secret_name, cache_ttl=60) == "cached"
    assert wiretap.events == []


async def test_without_cache_ttl_every_get_asks_the_platform(
    client: DotDo, secret_name: str
) -> None:
    await client.secrets.set(secret_name, "fresh")
    await client.secrets.get(secret_name, cache_ttl=60)
    wiretap = Wiretap(transport_session(await client._session()))
    assert await client.secrets.get(secret_name) == "fresh"
    assert wiretap.round_trips() == 1


async def test_an_expired_cache_entry_is_fetched_again(
    client: DotDo, secret_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dotdo.namespaces.secrets as secrets_module

    # Only the cache's clock moves: the event loop and the deadlines keep the real one.
    clock = [1000.0]
    monkeypatch.setattr(secrets_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    await client.secrets.set(secret_name, "v1")
    assert await client.secrets.get(secret_name, cache_ttl=10) == "v1"
    wiretap = Wiretap(transport_session(await client._session()))
    clock[0] += 9.9
    assert await client.secrets.get(secret_name, cache_ttl=10) == "v1"
    assert wiretap.events == []
    clock[0] += 0.2
    assert await client.secrets.get(secret_name, cache_ttl=10) == "v1"
    assert wiretap.round_trips() == 1


async def test_set_and_delete_through_the_client_drop_the_cached_value(
    client: DotDo, secret_name: str
) -> None:
    await client.secrets.set(secret_name, "old")
    await client.secrets.get(secret_name, cache_ttl=60)
    await client.secrets.set(secret_name, "new")
    assert await client.secrets.get(secret_name, cache_ttl=60) == "new"
    await client.secrets.delete(secret_name)
    assert await client.secrets.get(secret_name, cache_ttl=60, default=None) is None


async def test_a_missing_secret_is_not_cached(client: DotDo, secret_name: str) -> None:
    assert await client.secrets.get(secret_name, cache_ttl=60, default=None) is None
    await client.secrets.set(secret_name, "appeared")
    assert await client.secrets.get(secret_name, cache_ttl=60) == "appeared"


async def test_env_and_load_env(
    client: DotDo, secret_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await client.secrets.set(secret_name + "_A", "a")
    await client.secrets.set(secret_name + "_B", "b")
    assert await client.secrets.env(secret_name) == {
        secret_name + "_A": "a",
        secret_name + "_B": "b",
    }
    monkeypatch.setenv(secret_name + "_A", "kept")
    monkeypatch.delenv(secret_name + "_B", raising=False)
    assert await client.secrets.load_env(secret_name) == [secret_name + "_B"]
    assert (os.environ[secret_name + "_A"], os.environ[secret_name + "_B"]) == ("kept", "b")
    monkeypatch.delenv(secret_name + "_B")
