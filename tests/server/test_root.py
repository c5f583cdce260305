"""Root: the unauthenticated entry point (health, exchange, login, authenticate)."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from dotdo import __version__
from dotdo.errors import AuthenticationError, ValidationError
from dotdo.server import Api, Platform, Root
from dotdo.server.root import Api as ApiClass
from tests.server.conftest import FakeClock, Tenant

pytestmark = pytest.mark.anyio


async def test_health_reports_ok_version_and_time(platform: Platform, clock: FakeClock) -> None:
    assert await platform.main().health() == {
        "status": "ok",
        "version": __version__,
        "time": clock.now,
    }


def test_root_exposes_only_the_four_unauthenticated_methods() -> None:
    assert Root.__rpc_members__ == {"health", "exchange", "login", "authenticate"}


def test_api_exposes_the_namespaces_and_service_lookup() -> None:
    assert ApiClass.__rpc_members__ == {
        "secrets",
        "db",
        "collections",
        "auth",
        "logs",
        "rpc",
        "service",
    }


async def test_exchange_turns_an_api_key_into_a_short_lived_jwt(
    platform: Platform, tenant_a: Tenant, clock: FakeClock
) -> None:
    answer = await platform.main().exchange(tenant_a.key["key"])
    assert answer["expires_at"] == int(clock.now) + platform.settings.token_ttl
    api = await platform.main().authenticate(answer["token"])
    assert (await api.auth.whoami())["tenant"] == "acme"


async def test_exchange_honours_a_shorter_ttl(
    platform: Platform, tenant_a: Tenant, clock: FakeClock
) -> None:
    answer = await platform.main().exchange(tenant_a.key["key"], 30)
    assert answer["expires_at"] == int(clock.now) + 30


async def test_exchange_refuses_a_ttl_above_the_maximum(
    platform: Platform, tenant_a: Tenant
) -> None:
    with pytest.raises(ValidationError, match="ttl_seconds"):
        await platform.main().exchange(tenant_a.key["key"], platform.settings.max_token_ttl + 1)


async def test_exchange_refuses_an_unknown_key(platform: Platform) -> None:
    with pytest.raises(AuthenticationError):
        await platform.main().exchange("dotdo_sk_" + "A" * 43)


async def test_login_returns_a_token_and_the_user(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "correct horse")
    answer = await platform.main().login("bob", "correct horse", "acme")
    assert answer["user"]["username"] == "bob"
    assert set(answer) == {"token", "expires_at", "user"}


async def test_login_defaults_to_the_dev_tenant(platform: Platform) -> None:
    dev = platform.ensure_dev_tenant()
    assert dev.password is not None
    answer = await platform.main().login("admin", dev.password)
    assert answer["user"]["roles"] == ["admin"]


async def test_login_with_a_wrong_password_fails(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "correct horse")
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        await platform.main().login("bob", "wrong horse", "acme")


async def test_login_as_an_unknown_user_fails_the_same_way(platform: Platform, api: Api) -> None:
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        await platform.main().login("nobody", "correct horse", "acme")


async def test_login_to_an_unknown_tenant_fails_the_same_way(platform: Platform) -> None:
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        await platform.main().login("bob", "correct horse", "nowhere")


async def test_login_as_a_disabled_user_fails(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "correct horse")
    await api.auth.users.update("bob", None, None, None, True)
    with pytest.raises(AuthenticationError):
        await platform.main().login("bob", "correct horse", "acme")


async def test_authenticate_accepts_an_api_key(platform: Platform, tenant_a: Tenant) -> None:
    api = await platform.main().authenticate(tenant_a.key["key"])
    assert (await api.auth.whoami())["kind"] == "api_key"


async def test_authenticate_refuses_garbage(platform: Platform) -> None:
    with pytest.raises(AuthenticationError):
        await platform.main().authenticate("not a token")


async def test_authenticate_refuses_a_token_with_a_flipped_signature_bit(
    platform: Platform, tenant_a: Tenant
) -> None:
    token = (await platform.main().exchange(tenant_a.key["key"]))["token"]
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    forged = f"{head}.{body}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    with pytest.raises(AuthenticationError):
        await platform.main().authenticate(forged)


async def test_authenticate_refuses_an_unsigned_token(platform: Platform, tenant_a: Tenant) -> None:
    token = (await platform.main().exchange(tenant_a.key["key"]))["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = base64.urlsafe_b64encode(json.dumps(claims).encode())
    unsigned = f"{header.decode().rstrip('=')}.{body.decode().rstrip('=')}."
    with pytest.raises(AuthenticationError):
        await platform.main().authenticate(unsigned)


async def test_authenticate_refuses_a_token_signed_with_another_key(
    platform: Platform, tenant_a: Tenant
) -> None:
    token = (await platform.main().exchange(tenant_a.key["key"]))["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, b"k" * 64, algorithm="HS256")
    with pytest.raises(AuthenticationError):
        await platform.main().authenticate(forged)


async def test_authenticate_refuses_an_expired_token(
    platform: Platform, tenant_a: Tenant, clock: FakeClock
) -> None:
    token = (await platform.main().exchange(tenant_a.key["key"], 60))["token"]
    clock.advance(60 + platform.settings.token_leeway)
    with pytest.raises(AuthenticationError, match="expired"):
        await platform.main().authenticate(token)


async def test_authenticate_refuses_a_token_from_the_future(
    platform: Platform, tenant_a: Tenant, clock: FakeClock
) -> None:
    clock.advance(3600)
    token = (await platform.main().exchange(tenant_a.key["key"], 60))["token"]
    clock.advance(-3600)
    with pytest.raises(AuthenticationError, match="not valid yet"):
        await platform.main().authenticate(token)


async def test_authenticate_refuses_a_token_of_a_deleted_user(platform: Platform, api: Api) -> None:
    await api.auth.users.add("bob", "correct horse")
    token = (await platform.main().login("bob", "correct horse", "acme"))["token"]
    await api.auth.users.delete("bob")
    with pytest.raises(AuthenticationError):
        await platform.main().authenticate(token)


async def test_root_methods_validate_their_arguments(platform: Platform) -> None:
    with pytest.raises(ValidationError, match="token"):
        await platform.main().authenticate(42)
