"""An Api is bound to its credential: expiry and revocation end it, on every service."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from dotdo.errors import AuthenticationError, AuthorizationError
from dotdo.server import Api, Platform, Settings
from dotdo.transport.target import RpcTarget, rpc_member
from tests.server.conftest import MASTER_KEY, FakeClock, Tenant, with_settings

pytestmark = pytest.mark.anyio


class Echo(RpcTarget):
    def say(self, text: str) -> str:
        return text


@pytest.fixture
def platform(data_dir: Path, clock: FakeClock, settings: Settings) -> Iterator[Platform]:
    with Platform(
        data_dir, master_key=MASTER_KEY, settings=settings, clock=clock, services={"echo": Echo()}
    ) as platform:
        yield platform


async def short_lived_api(platform: Platform, tenant: Tenant, ttl: int = 60) -> Api:
    token = (await platform.main().exchange(tenant.key["key"], ttl))["token"]
    return await platform.main().authenticate(token)


def callable_members(target: RpcTarget) -> list[tuple[str, Any]]:
    members = []
    for name in sorted(type(target).__rpc_members__):
        static = inspect.getattr_static(type(target), name)
        if not isinstance(static, property):
            members.append((name, rpc_member(target, name)[1]))
    return members


async def every_capability(api: Api) -> list[RpcTarget]:
    """The Api and every service reachable from it, including a transaction and a user service."""
    transaction = await api.db.begin()
    return [
        api,
        api.secrets,
        api.db,
        transaction,
        api.collections,
        api.auth,
        api.auth.users,
        api.auth.api_keys,
        api.logs,
        api.rpc.echo,  # type: ignore[attr-defined]
    ]


async def test_every_method_reachable_from_an_api_fails_once_its_token_expired(
    platform: Platform, tenant_a: Tenant, clock: FakeClock
) -> None:
    capabilities = await every_capability(await short_lived_api(platform, tenant_a))
    clock.advance(61)
    called = []
    for capability in capabilities:
        for name, method in callable_members(capability):
            with pytest.raises(AuthenticationError, match="expired"):
                await method()
            called.append(f"{type(capability).__name__}.{name}")
    assert len(called) >= 40, called


async def test_an_api_works_until_its_token_expires(
    platform: Platform, tenant_a: Tenant, clock: FakeClock
) -> None:
    api = await short_lived_api(platform, tenant_a)
    clock.advance(59)
    assert (await api.auth.whoami())["tenant"] == "acme"


async def test_revoking_an_api_key_ends_the_api_made_from_it(platform: Platform, api: Api) -> None:
    created = await api.auth.api_keys.create("temp")
    temp = await platform.main().authenticate(created["key"])
    secrets = temp.secrets
    await api.auth.api_keys.revoke(created["id"])
    with pytest.raises(AuthenticationError, match="revoked"):
        await secrets.list()


async def test_revoking_an_api_key_ends_the_jwts_exchanged_for_it(
    platform: Platform, api: Api
) -> None:
    created = await api.auth.api_keys.create("temp")
    token = (await platform.main().exchange(created["key"]))["token"]
    via_jwt = await platform.main().authenticate(token)
    await api.auth.api_keys.revoke(created["id"])
    with pytest.raises(AuthenticationError):
        await via_jwt.logs.query()
    with pytest.raises(AuthenticationError):
        await platform.main().authenticate(token)


async def test_deleting_a_user_ends_their_sessions(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "correct horse", ["developer"])
    token = (await platform.main().login("bob", "correct horse", "acme"))["token"]
    bob = await platform.main().authenticate(token)
    await api.auth.users.delete("bob")
    with pytest.raises(AuthenticationError):
        await bob.db.tables()


async def test_disabling_a_user_ends_their_sessions(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "correct horse", ["developer"])
    token = (await platform.main().login("bob", "correct horse", "acme"))["token"]
    bob = await platform.main().authenticate(token)
    await api.auth.users.update("bob", None, None, None, True)
    with pytest.raises(AuthenticationError):
        await bob.collections.count("x")


@pytest.mark.parametrize("settings", [with_settings(revocation_cache_seconds=0.05)])
async def test_a_revocation_by_another_process_is_seen_within_the_cache_window(
    platform: Platform, api: Api, data_dir: Path, clock: FakeClock, settings: Settings
) -> None:
    created = await api.auth.api_keys.create("temp")
    temp = await platform.main().authenticate(created["key"])
    await temp.auth.whoami()
    with Platform(data_dir, master_key=MASTER_KEY, settings=settings, clock=clock) as other:
        admin = await other.main().authenticate((await api.auth.api_keys.create("x"))["key"])
        await admin.auth.api_keys.revoke(created["id"])
    await anyio.sleep(0.1)
    with pytest.raises(AuthenticationError):
        await temp.auth.whoami()


async def test_a_missing_scope_is_an_authorization_error(platform: Platform, api: Api) -> None:
    reader = await platform.main().authenticate(
        (await api.auth.api_keys.create("r", ["db:read"]))["key"]
    )
    with pytest.raises(AuthorizationError, match="db:write"):
        await reader.db.execute("CREATE TABLE t (x)")
