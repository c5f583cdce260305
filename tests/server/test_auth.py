"""api.auth: identity, users, roles and scopes, API keys, JWTs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dotdo.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    NotFoundError,
)
from dotdo.server import Api, Platform
from dotdo.server.permissions import ROLES, SCOPES
from tests.server.conftest import FakeClock, Tenant, files_under

pytestmark = pytest.mark.anyio


async def login(platform: Platform, username: str, password: str, tenant: str) -> Api:
    answer = await platform.main().login(username, password, tenant)
    return await platform.main().authenticate(answer["token"])


async def test_whoami_describes_an_api_key(tenant_a: Tenant) -> None:
    me = await tenant_a.api.auth.whoami()
    assert me["tenant"] == "acme"
    assert me["kind"] == "api_key"
    assert me["api_key_id"] == tenant_a.key["id"]
    assert me["scopes"] == sorted(SCOPES)
    assert me["expires_at"] is None


async def test_whoami_describes_a_logged_in_user(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "correct horse", ["reader"])
    me = await (await login(platform, "bob", "correct horse", "acme")).auth.whoami()
    assert (me["kind"], me["username"], me["roles"]) == ("user", "bob", ["reader"])
    assert me["scopes"] == sorted(ROLES["reader"])


async def test_roles_lists_every_role_and_its_scopes(api: Api) -> None:
    assert await api.auth.roles() == {role: list(scopes) for role, scopes in ROLES.items()}


async def test_scopes_lists_every_scope(api: Api) -> None:
    assert await api.auth.scopes() == list(SCOPES)


async def test_add_user_returns_the_user_without_a_password(api: Api) -> None:
    user = await api.auth.users.add("bob", "correct horse", ["developer"], ["auth:admin"])
    assert user["username"] == "bob"
    assert (user["roles"], user["scopes"], user["disabled"]) == (
        ["developer"],
        ["auth:admin"],
        False,
    )
    assert "password" not in repr(user)


async def test_a_new_user_is_a_reader_by_default(api: Api) -> None:
    assert (await api.auth.users.add("bob", "correct horse"))["roles"] == ["reader"]


async def test_adding_a_taken_username_is_a_conflict(api: Api) -> None:
    await api.auth.users.add("bob", "correct horse")
    with pytest.raises(ConflictError):
        await api.auth.users.add("bob", "another one")


async def test_passwords_are_stored_as_bcrypt_hashes(api: Api, data_dir: Path) -> None:
    await api.auth.users.add("bob", "correct horse")
    with sqlite3.connect(data_dir / "platform.sqlite3") as connection:
        [(stored,)] = connection.execute("SELECT password_hash FROM users").fetchall()
    assert stored.startswith(b"$2b$")
    assert b"correct horse" not in stored


async def test_get_user_by_username(api: Api) -> None:
    added = await api.auth.users.add("bob", "correct horse")
    assert await api.auth.users.get("bob") == added


async def test_get_of_a_missing_user_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError):
        await api.auth.users.get("nobody")


async def test_list_users_by_username(api: Api) -> None:
    await api.auth.users.add("zed", "correct horse")
    await api.auth.users.add("amy", "correct horse")
    assert [u["username"] for u in await api.auth.users.list()] == ["amy", "zed"]


async def test_update_user_changes_only_what_is_given(api: Api) -> None:
    await api.auth.users.add("bob", "correct horse", ["reader"])
    user = await api.auth.users.update("bob", None, ["developer"])
    assert (user["roles"], user["disabled"]) == (["developer"], False)


async def test_update_user_password_changes_the_login(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "correct horse")
    await api.auth.users.update("bob", "battery staple")
    with pytest.raises(AuthenticationError):
        await platform.main().login("bob", "correct horse", "acme")
    assert (await platform.main().login("bob", "battery staple", "acme"))["user"][
        "username"
    ] == "bob"


async def test_delete_user_removes_them(api: Api) -> None:
    await api.auth.users.add("bob", "correct horse")
    assert await api.auth.users.delete("bob") == {"username": "bob", "deleted": True}
    with pytest.raises(NotFoundError):
        await api.auth.users.get("bob")


async def test_users_need_the_admin_scope(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "correct horse", ["developer"])
    bob = await login(platform, "bob", "correct horse", "acme")
    with pytest.raises(AuthorizationError, match="auth:admin"):
        await bob.auth.users.list()


async def test_create_api_key_shows_the_key_once(api: Api) -> None:
    created = await api.auth.api_keys.create("ci", ["secrets:read"])
    assert created["key"].startswith("dotdo_sk_")
    listed = await api.auth.api_keys.list()
    assert created["id"] in [key["id"] for key in listed]
    assert created["key"] not in repr(listed)


async def test_a_created_key_authenticates_with_its_scopes(platform: Platform, api: Api) -> None:
    created = await api.auth.api_keys.create("ci", ["secrets:read"])
    ci = await platform.main().authenticate(created["key"])
    assert (await ci.auth.whoami())["scopes"] == ["secrets:read"]
    with pytest.raises(AuthorizationError):
        await ci.secrets.set("X", "y")


async def test_api_keys_are_stored_only_as_hashes(api: Api, data_dir: Path) -> None:
    created = await api.auth.api_keys.create("ci")
    for path in files_under(data_dir):
        assert created["key"].encode() not in path.read_bytes(), path.name


async def test_a_key_cannot_grant_scopes_its_creator_lacks(platform: Platform, api: Api) -> None:
    limited = await platform.main().authenticate(
        (await api.auth.api_keys.create("limited", ["auth:admin"]))["key"]
    )
    with pytest.raises(AuthorizationError, match="secrets:write"):
        await limited.auth.api_keys.create("escalate", ["secrets:write"])


async def test_revoke_marks_the_key_revoked(api: Api, clock: FakeClock) -> None:
    created = await api.auth.api_keys.create("ci")
    answer = await api.auth.api_keys.revoke(created["id"])
    assert answer == {"id": created["id"], "revoked": True, "revoked_at": clock.now}
    [listed] = [k for k in await api.auth.api_keys.list() if k["id"] == created["id"]]
    assert listed["revoked_at"] == clock.now


async def test_revoking_an_unknown_key_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError):
        await api.auth.api_keys.revoke("k_" + "0" * 24)


async def test_mint_jwt_returns_a_token_for_the_caller(platform: Platform, api: Api) -> None:
    minted = await api.auth.mint_jwt(60)
    other = await platform.main().authenticate(minted["token"])
    assert (await other.auth.whoami())["api_key_id"] == (await api.auth.whoami())["api_key_id"]


async def test_mint_jwt_can_narrow_scopes(platform: Platform, api: Api) -> None:
    minted = await api.auth.mint_jwt(None, ["logs:write"])
    narrow = await platform.main().authenticate(minted["token"])
    assert (await narrow.auth.whoami())["scopes"] == ["logs:write"]


async def test_mint_jwt_never_outlives_the_callers_token(
    platform: Platform, tenant_a: Tenant, clock: FakeClock
) -> None:
    short = await platform.main().exchange(tenant_a.key["key"], 60)
    api = await platform.main().authenticate(short["token"])
    minted = await api.auth.mint_jwt(3600)
    assert minted["expires_at"] <= short["expires_at"]


async def test_validate_jwt_returns_the_claims(api: Api) -> None:
    minted = await api.auth.mint_jwt(60, ["db:read"])
    claims = await api.auth.validate_jwt(minted["token"])
    assert (claims["valid"], claims["scopes"], claims["expires_at"]) == (
        True,
        ["db:read"],
        minted["expires_at"],
    )


async def test_validate_jwt_refuses_a_tampered_token(api: Api) -> None:
    token = (await api.auth.mint_jwt(60))["token"]
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(AuthenticationError):
        await api.auth.validate_jwt(tampered)
