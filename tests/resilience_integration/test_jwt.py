"""The API key is traded for a JWT once, the JWT is reused and refreshed, and a rejected one is
refreshed exactly once before the SDK gives up.

The platform runs in this process (``serve``, on a real socket) so the test can count every
exchange of the API key and move the platform's clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import dotdo.server.root
from dotdo._client import DotDo
from dotdo.errors import AuthenticationError
from dotdo.server import Platform, Settings
from dotdo.server.app import serve

from .faults import FaultProxy

pytestmark = pytest.mark.anyio

CALLS = 1_000


@dataclass
class ServedPlatform:
    """An in-process platform on a socket, with a clock offset and an exchange counter."""

    platform: Platform
    port: int
    api_key: str
    offset: list[float] = field(default_factory=lambda: [0.0])
    exchanges: int = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/rpc"

    def advance_clock(self, seconds: float) -> None:
        self.offset[0] += seconds


async def _served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> AsyncIterator[ServedPlatform]:
    offset = [0.0]
    platform = Platform(tmp_path / "data", settings=settings, clock=lambda: time.time() + offset[0])
    api_key = platform.ensure_dev_tenant().api_key
    assert api_key is not None
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(
        serve(platform, "127.0.0.1", 0, ready=ready.set_result, handle_signals=False)
    )
    served = ServedPlatform(platform, await ready, api_key, offset)
    count_exchanges(served, monkeypatch)
    try:
        yield served
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        platform.close()


def count_exchanges(served: ServedPlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    # The client authenticates with JWTs, so only ``exchange`` looks an API key up.
    original: Callable[..., Any] = vars(dotdo.server.root)["principal_from_api_key"]

    def counting(*args: Any) -> Any:
        served.exchanges += 1
        return original(*args)

    monkeypatch.setattr(dotdo.server.root, "principal_from_api_key", counting)


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ServedPlatform]:
    async for served in _served(tmp_path, monkeypatch, Settings(bcrypt_rounds=4)):
        yield served


@pytest.fixture
async def short_lived(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ServedPlatform]:
    settings = Settings(bcrypt_rounds=4, token_ttl=2, token_leeway=0.0)
    async for served in _served(tmp_path, monkeypatch, settings):
        yield served


def _client(served: ServedPlatform, url: str | None = None) -> DotDo:
    return DotDo(api_key=served.api_key, endpoint=url or served.url)


async def test_a_thousand_concurrent_first_calls_share_one_exchange(
    served: ServedPlatform,
) -> None:
    async with _client(served) as dotdo:
        await dotdo.secrets.set("SHARED", "yes")
    assert served.exchanges == 1
    async with _client(served) as dotdo:
        values = await asyncio.gather(*(dotdo.secrets.get("SHARED") for _ in range(CALLS)))
    assert values == ["yes"] * CALLS
    assert served.exchanges == 2  # one more for the second client, not one per call


async def test_the_token_outlives_a_reconnect(served: ServedPlatform) -> None:
    async with FaultProxy(served.port) as proxy, _client(served, proxy.url) as dotdo:
        await dotdo.secrets.set("KEPT", "1")
        proxy.reset()
        assert await dotdo.secrets.get("KEPT") == "1"
        assert proxy.accepts == 2
    assert served.exchanges == 1


async def test_an_expired_token_is_refreshed_once_and_the_call_succeeds(
    served: ServedPlatform,
) -> None:
    async with _client(served) as dotdo:
        await dotdo.secrets.set("FRESH", "1")
        served.advance_clock(2 * served.platform.settings.token_ttl)  # the JWT is now expired
        assert await dotdo.secrets.get("FRESH") == "1"
        assert await dotdo.secrets.get("FRESH") == "1"
    assert served.exchanges == 2


async def test_a_revoked_key_fails_with_authentication_error_after_one_refresh(
    served: ServedPlatform,
) -> None:
    async with _client(served) as admin:
        created = await admin.auth.api_keys.create("doomed", scopes=["secrets:read"])
        async with DotDo(api_key=created.key, endpoint=served.url) as doomed:
            await doomed.secrets.get("ANY", default=None)
            before = served.exchanges
            await admin.auth.api_keys.revoke(created.id)
            with pytest.raises(AuthenticationError):
                await doomed.secrets.get("ANY", default=None)
            assert served.exchanges == before + 1


async def test_a_token_is_refreshed_before_it_expires(short_lived: ServedPlatform) -> None:
    async with _client(short_lived) as dotdo:
        await dotdo.secrets.set("ROLLING", "1")
        assert short_lived.exchanges == 1
        await asyncio.sleep(1.2)  # into the advisory window: under half of its 2 s left
        assert await dotdo.secrets.get("ROLLING") == "1"
        assert short_lived.exchanges == 2
        await asyncio.sleep(1.0)  # the first token has expired; the refreshed one is in use
        assert await dotdo.secrets.get("ROLLING") == "1"
