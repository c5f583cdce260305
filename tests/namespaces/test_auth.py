"""dotdo.auth against the in-process platform: identity, login, users, API keys and JWTs."""

from __future__ import annotations

import pytest

from dotdo._client import DotDo
from dotdo.errors import AuthenticationError, AuthorizationError, ConflictError, NotFoundError
from dotdo.server import Platform

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"


async def client_with(platform: Platform, **credentials: str) -> DotDo:
    other = DotDo(**credentials)  # type: ignore[arg-type]
    other.use_platform(platform)
    return other


async def release(other: DotDo) -> None:
    await other.close()


@pytest.fixture
async def user(client: DotDo, name: str) -> str:
    await client.auth.users.add(name, PASSWORD, roles=["developer"])
    return name


async def test_whoami_describes_the_clients_credential(client: DotDo) -> None:
    me = await client.auth.whoami()
    assert me.tenant == "dev"
    assert me.kind == "api_key"
    assert "auth:admin" in me.scopes


async def test_roles_maps_each_role_to_its_scopes(client: DotDo) -> None:
    roles = await client.auth.roles()
    assert roles["reader"] == ["db:read", "collections:read", "logs:read"]


async def test_scopes_lists_every_scope(client: DotDo) -> None:
    assert "secrets:read" in await client.auth.scopes()


async def test_users_add_creates_a_user(client: DotDo, name: str) -> None:
    user = await client.auth.users.add(name, PASSWORD, roles=["developer"], scopes=["auth:admin"])
    assert (user.username, user.roles, user.scopes, user.disabled) == (
        name,
        ["developer"],
        ["auth:admin"],
        False,
    )


async def test_users_add_defaults_to_the_reader_role(client: DotDo, name: str) -> None:
    assert (await client.auth.users.add(name, PASSWORD)).roles == ["reader"]


async def test_users_add_refuses_a_taken_username(client: DotDo, user: str) -> None:
    with pytest.raises(ConflictError):
        await client.auth.users.add(user, PASSWORD)


async def test_users_get_returns_the_user(client: DotDo, user: str) -> None:
    assert (await client.auth.users.get(user)).username == user


async def test_users_get_of_a_missing_user_is_not_found(client: DotDo, name: str) -> None:
    with pytest.raises(NotFoundError):
        await client.auth.users.get(name)


async def test_users_get_returns_the_default_when_given(client: DotDo, name: str) -> None:
    assert await client.auth.users.get(name, default=None) is None


async def test_users_list_includes_added_users(client: DotDo, user: str) -> None:
    assert user in [u.username for u in await client.auth.users.list()]


async def test_users_update_changes_only_what_is_given(client: DotDo, user: str) -> None:
    updated = await client.auth.users.update(user, roles=["reader"], disabled=True)
    assert (updated.roles, updated.disabled) == (["reader"], True)


async def test_users_update_of_a_missing_user_is_not_found(client: DotDo, name: str) -> None:
    with pytest.raises(NotFoundError):
        await client.auth.users.update(name, disabled=True)


async def test_users_delete_removes_the_user(client: DotDo, user: str) -> None:
    await client.auth.users.delete(user)
    assert await client.auth.users.get(user, default=None) is None


async def test_users_delete_of_a_missing_user_is_not_found(client: DotDo, name: str) -> None:
    with pytest.raises(NotFoundError):
        await client.auth.users.delete(name)


async def test_login_returns_a_token_that_authenticates_a_client(
    client: DotDo, platform: Platform, user: str
) -> None:
    result = await client.auth.login(user, PASSWORD)
    assert result.user.username == user

    as_user = await client_with(platform, access_token=result.token)
    try:
        me = await as_user.auth.whoami()
    finally:
        await release(as_user)
    assert (me.kind, me.username) == ("user", user)


async def test_login_makes_the_client_act_as_the_user_until_logout(
    client: DotDo, user: str
) -> None:
    await client.auth.login(user, PASSWORD)
    as_user = await client.auth.whoami()
    await client.auth.logout()
    after = await client.auth.whoami()

    assert (as_user.kind, as_user.username) == ("user", user)
    assert after.kind == "api_key"
    assert client.settings.credential_source != "login"


async def test_login_with_a_wrong_password_is_refused(client: DotDo, user: str) -> None:
    with pytest.raises(AuthenticationError):
        await client.auth.login(user, "wrong password")


async def test_login_of_a_disabled_user_is_refused(client: DotDo, user: str) -> None:
    await client.auth.users.update(user, disabled=True)
    with pytest.raises(AuthenticationError):
        await client.auth.login(user, PASSWORD)


async def test_login_in_an_unknown_tenant_is_refused(client: DotDo, user: str) -> None:
    with pytest.raises(AuthenticationError):
        await client.auth.login(user, PASSWORD, tenant="elsewhere")


async def test_a_login_result_never_shows_its_token(client: DotDo, user: str) -> None:
    result = await client.auth.login(user, PASSWORD)
    assert result.token not in repr(result)
    assert result.token not in str(result)


async def test_api_keys_create_shows_the_key_once_but_never_in_the_repr(
    client: DotDo, name: str
) -> None:
    created = await client.auth.api_keys.create(name, scopes=["db:read"])

    assert created.key.startswith("dotdo_sk_")
    assert created.key not in repr(created)
    listed = {key.id: key for key in await client.auth.api_keys.list()}
    assert listed[created.id].scopes == ["db:read"]
    assert not hasattr(listed[created.id], "key")


async def test_api_keys_create_cannot_grant_more_than_the_caller_holds(
    client: DotDo, platform: Platform, name: str
) -> None:
    created = await client.auth.api_keys.create(name, scopes=["auth:admin"])
    limited = await client_with(platform, api_key=created.key)
    try:
        with pytest.raises(AuthorizationError):
            await limited.auth.api_keys.create("more", scopes=["db:write"])
    finally:
        await release(limited)


async def test_a_created_key_authenticates_a_client(
    client: DotDo, platform: Platform, name: str
) -> None:
    created = await client.auth.api_keys.create(name, scopes=["db:read"])
    keyed = await client_with(platform, api_key=created.key)
    try:
        me = await keyed.auth.whoami()
    finally:
        await release(keyed)
    assert (me.api_key_id, me.scopes) == (created.id, ["db:read"])


async def test_api_keys_revoke_marks_the_key_revoked(client: DotDo, name: str) -> None:
    created = await client.auth.api_keys.create(name)
    await client.auth.api_keys.revoke(created.id)
    listed = {key.id: key for key in await client.auth.api_keys.list()}
    assert listed[created.id].revoked_at is not None


async def test_api_keys_revoke_of_a_missing_key_is_not_found(client: DotDo) -> None:
    with pytest.raises(NotFoundError):
        await client.auth.api_keys.revoke("k_" + "0" * 24)


async def test_users_need_the_admin_scope(client: DotDo, platform: Platform, name: str) -> None:
    created = await client.auth.api_keys.create(name, scopes=["db:read"])
    reader = await client_with(platform, api_key=created.key)
    try:
        with pytest.raises(AuthorizationError):
            await reader.auth.users.list()
    finally:
        await release(reader)


async def test_mint_jwt_then_validate_jwt_returns_its_claims(client: DotDo) -> None:
    minted = await client.auth.mint_jwt(ttl_seconds=60, scopes=["db:read"])

    claims = await client.auth.validate_jwt(minted.token)

    assert claims.valid
    assert claims.scopes == ["db:read"]
    assert claims.expires_at == minted.expires_at
    assert minted.token not in repr(minted)


async def test_mint_jwt_cannot_add_scopes(client: DotDo, platform: Platform, name: str) -> None:
    created = await client.auth.api_keys.create(name, scopes=["db:read"])
    reader = await client_with(platform, api_key=created.key)
    try:
        with pytest.raises(AuthorizationError):
            await reader.auth.mint_jwt(scopes=["db:write"])
    finally:
        await release(reader)


async def test_validate_jwt_refuses_a_bad_token(client: DotDo) -> None:
    with pytest.raises(AuthenticationError):
        await client.auth.validate_jwt("not.a.token")
