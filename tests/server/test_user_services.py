"""User services: Platform(services=...) reached as api.rpc.<name> and api.service(name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dotdo.errors import AuthenticationError, AuthorizationError, NotFoundError, ValidationError
from dotdo.server import Api, Platform, Settings
from dotdo.transport.target import RpcTarget, rpc_member
from tests.server.conftest import MASTER_KEY, FakeClock, Tenant

pytestmark = pytest.mark.anyio


class AiService(RpcTarget):
    """Answers questions."""

    model = "tiny"

    def __init__(self) -> None:
        self.secret_config = "not reachable"

    async def ask(self, question: str) -> str:
        return f"answer to {question}"

    def count(self, text: str) -> int:
        return len(text)

    @property
    def status(self) -> str:
        return "ready"

    def _internal(self) -> str:
        return "hidden"


@pytest.fixture
def platform(data_dir: Path, clock: FakeClock, settings: Settings) -> Iterator[Platform]:
    with Platform(
        data_dir,
        master_key=MASTER_KEY,
        settings=settings,
        clock=clock,
        services={"ai": AiService()},
    ) as platform:
        yield platform


async def test_a_user_service_is_a_property_of_api_rpc(api: Api) -> None:
    assert await api.rpc.ai.ask("life") == "answer to life"  # type: ignore[attr-defined]


async def test_sync_methods_of_a_user_service_are_callable(api: Api) -> None:
    assert await api.rpc.ai.count("four") == 4  # type: ignore[attr-defined]


async def test_api_service_returns_the_same_service(api: Api) -> None:
    ai = await api.service("ai")
    assert await ai.ask("x") == "answer to x"  # type: ignore[attr-defined]


async def test_an_unknown_service_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError):
        await api.service("nope")


async def test_the_directory_exposes_exactly_the_service_names(api: Api) -> None:
    assert type(api.rpc).__rpc_members__ == {"ai"}


async def test_only_the_services_public_class_members_are_reachable(api: Api) -> None:
    ai = api.rpc.ai  # type: ignore[attr-defined]
    assert type(ai).__rpc_members__ == {"ask", "count", "status", "model"}
    assert rpc_member(ai, "_internal") == (False, None)
    assert rpc_member(ai, "secret_config") == (False, None)
    assert rpc_member(ai, "_target") == (False, None)


async def test_properties_and_constants_are_forwarded(api: Api) -> None:
    ai = api.rpc.ai  # type: ignore[attr-defined]
    assert (rpc_member(ai, "status")[1], rpc_member(ai, "model")[1]) == ("ready", "tiny")


async def test_calling_a_user_service_needs_the_rpc_scope(
    platform: Platform, tenant_a: Tenant
) -> None:
    key = await tenant_a.api.auth.api_keys.create("no rpc", ["db:read"])
    limited = await platform.main().authenticate(key["key"])
    with pytest.raises(AuthorizationError, match="rpc"):
        await limited.rpc.ai.ask("x")  # type: ignore[attr-defined]


async def test_a_user_service_fails_once_the_api_token_expires(
    platform: Platform, tenant_a: Tenant, clock: FakeClock
) -> None:
    token = (await platform.main().exchange(tenant_a.key["key"], 60))["token"]
    ai = (await platform.main().authenticate(token)).rpc.ai  # type: ignore[attr-defined]
    clock.advance(60)
    with pytest.raises(AuthenticationError):
        await ai.ask("x")
    with pytest.raises(AuthenticationError):
        rpc_member(ai, "status")


@pytest.mark.parametrize("name", ["_private", "with space", "class", "constructor", "1st", ""])
def test_a_service_name_that_is_not_a_public_identifier_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="service name"):
        Platform(None, services={name: AiService()})


def test_a_service_that_is_not_an_rpc_target_is_refused() -> None:
    with pytest.raises(ValidationError, match="RpcTarget"):
        Platform(None, services={"plain": object()})  # type: ignore[dict-item]
