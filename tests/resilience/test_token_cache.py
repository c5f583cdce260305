"""Token cache: refresh windows, single-flight refresh, and one retry after a rejected token."""

from __future__ import annotations

import logging

import anyio
import pytest

from dotdo.errors import AuthenticationError, DotDoConnectionError
from dotdo.resilience import Token, TokenCache

from .fakes import FakeClock

NOW = 1_700_000_000.0
HOUR = 3_600.0


class TokenServer:
    """A fake token exchange: counts fetches, can fail, can be held until released."""

    def __init__(self, clock: FakeClock, lifetime: float = HOUR) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.fetches = 0
        self.fail_with: Exception | None = None
        self.release: anyio.Event | None = None

    async def fetch(self) -> Token:
        self.fetches += 1
        if self.release is not None:
            await self.release.wait()
        await anyio.lowlevel.checkpoint()
        if self.fail_with is not None:
            raise self.fail_with
        return Token(f"jwt-{self.fetches}", self.clock.now + self.lifetime)


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(start=NOW)


@pytest.fixture
def server(wall: FakeClock) -> TokenServer:
    return TokenServer(wall)


@pytest.fixture
def cache(server: TokenServer, wall: FakeClock) -> TokenCache:
    return TokenCache(server.fetch, clock=wall)


@pytest.mark.anyio
async def test_the_first_get_fetches_a_token(cache: TokenCache, server: TokenServer) -> None:
    assert await cache.get() == "jwt-1"
    assert server.fetches == 1


@pytest.mark.anyio
async def test_a_fresh_token_is_reused_without_fetching(
    cache: TokenCache, server: TokenServer, wall: FakeClock
) -> None:
    await cache.get()
    wall.advance(HOUR - 301.0)
    assert await cache.get() == "jwt-1"
    assert server.fetches == 1


@pytest.mark.anyio
async def test_the_advisory_window_refreshes_five_minutes_before_expiry(
    cache: TokenCache, server: TokenServer, wall: FakeClock
) -> None:
    await cache.get()
    wall.advance(HOUR - 300.0)
    assert await cache.get() == "jwt-2"
    assert server.fetches == 2


@pytest.mark.anyio
async def test_a_failed_advisory_refresh_keeps_the_current_token_and_warns(
    cache: TokenCache, server: TokenServer, wall: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await cache.get()
    wall.advance(HOUR - 200.0)
    server.fail_with = DotDoConnectionError("token service unreachable")
    assert await cache.get() == "jwt-1"
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.name == "dotdo"
    assert "jwt-1" not in warning.getMessage()


@pytest.mark.anyio
async def test_a_failed_advisory_refresh_is_not_retried_for_30_seconds(
    cache: TokenCache, server: TokenServer, wall: FakeClock
) -> None:
    await cache.get()
    wall.advance(HOUR - 200.0)
    server.fail_with = DotDoConnectionError("token service unreachable")
    await cache.get()
    wall.advance(29.0)
    await cache.get()
    assert server.fetches == 2
    server.fail_with = None
    wall.advance(1.0)
    assert await cache.get() == "jwt-3"


@pytest.mark.anyio
async def test_callers_in_the_advisory_window_do_not_wait_for_a_refresh_in_flight(
    cache: TokenCache, server: TokenServer, wall: FakeClock
) -> None:
    await cache.get()
    wall.advance(HOUR - 200.0)
    server.release = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(cache.get)
        await anyio.wait_all_tasks_blocked()
        with anyio.fail_after(1):
            assert await cache.get() == "jwt-1"
        server.release.set()
    assert server.fetches == 2


@pytest.mark.anyio
async def test_the_mandatory_window_refreshes_before_use_a_minute_before_expiry(
    cache: TokenCache, server: TokenServer, wall: FakeClock
) -> None:
    await cache.get()
    wall.advance(HOUR - 60.0)
    server.fail_with = AuthenticationError("API key revoked")
    with pytest.raises(AuthenticationError, match="revoked"):
        await cache.get()


@pytest.mark.anyio
async def test_short_lived_tokens_use_a_fraction_of_their_lifetime(wall: FakeClock) -> None:
    server = TokenServer(wall, lifetime=100.0)
    cache = TokenCache(server.fetch, clock=wall)
    await cache.get()
    wall.advance(49.0)
    await cache.get()
    assert server.fetches == 1  # advisory window: the last 50 % of 100 s
    wall.advance(1.0)
    server.fail_with = DotDoConnectionError("down")
    assert await cache.get() == "jwt-1"
    wall.advance(40.0)  # mandatory window: the last 10 % of 100 s
    with pytest.raises(DotDoConnectionError):
        await cache.get()


@pytest.mark.anyio
async def test_1000_concurrent_callers_cause_one_fetch(
    cache: TokenCache, server: TokenServer
) -> None:
    server.release = anyio.Event()
    tokens: list[str] = []

    async def caller() -> None:
        tokens.append(await cache.get())

    async with anyio.create_task_group() as tg:
        for _ in range(1000):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        server.release.set()
    assert server.fetches == 1
    assert tokens == ["jwt-1"] * 1000


@pytest.mark.anyio
async def test_1000_concurrent_callers_share_one_failed_fetch(
    cache: TokenCache, server: TokenServer
) -> None:
    server.release = anyio.Event()
    server.fail_with = AuthenticationError("API key revoked")
    errors: list[BaseException] = []

    async def caller() -> None:
        try:
            await cache.get()
        except AuthenticationError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(1000):
            tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        server.release.set()
    assert server.fetches == 1
    assert len(errors) == 1000


@pytest.mark.anyio
async def test_a_cancelled_refresh_leaves_the_waiting_callers_to_fetch_again(
    cache: TokenCache, server: TokenServer
) -> None:
    server.release = anyio.Event()
    leader_scope = anyio.CancelScope()
    follower_tokens: list[str] = []

    async def leader() -> None:
        with leader_scope:
            await cache.get()

    async def follower() -> None:
        follower_tokens.append(await cache.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(leader)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(follower)
        await anyio.wait_all_tasks_blocked()
        leader_scope.cancel()
        await anyio.wait_all_tasks_blocked()
        server.release.set()
    assert follower_tokens == ["jwt-2"]
    assert server.fetches == 2


@pytest.mark.anyio
async def test_invalidate_makes_the_next_get_fetch_a_new_token(
    cache: TokenCache, server: TokenServer
) -> None:
    rejected = await cache.get()
    cache.invalidate(rejected)
    assert await cache.get() == "jwt-2"
    assert server.fetches == 2


@pytest.mark.anyio
async def test_invalidating_a_token_already_replaced_keeps_the_new_one(
    cache: TokenCache, server: TokenServer
) -> None:
    old = await cache.get()
    cache.invalidate(old)
    await cache.get()
    cache.invalidate(old)
    assert await cache.get() == "jwt-2"
    assert server.fetches == 2


@pytest.mark.anyio
async def test_a_rejected_token_is_refreshed_once_and_the_call_retried_once(
    cache: TokenCache, server: TokenServer
) -> None:
    seen: list[str] = []

    async def call(token: str) -> str:
        seen.append(token)
        if token == "jwt-1":
            raise AuthenticationError("token expired")
        return "ok"

    assert await cache.call_with_token(call) == "ok"
    assert seen == ["jwt-1", "jwt-2"]
    assert server.fetches == 2


@pytest.mark.anyio
async def test_a_second_rejection_raises_authentication_error(
    cache: TokenCache, server: TokenServer
) -> None:
    calls = 0

    async def call(token: str) -> str:
        nonlocal calls
        calls += 1
        raise AuthenticationError("token rejected")

    with pytest.raises(AuthenticationError):
        await cache.call_with_token(call)
    assert (calls, server.fetches) == (2, 2)


@pytest.mark.anyio
async def test_an_already_expired_token_from_the_service_is_refused(wall: FakeClock) -> None:
    async def fetch() -> Token:
        return Token("jwt-stale", wall.now - 1.0)

    with pytest.raises(AuthenticationError, match="already expired"):
        await TokenCache(fetch, clock=wall).get()


def test_a_token_repr_never_shows_its_value() -> None:
    assert "secret-jwt" not in repr(Token("secret-jwt", NOW))
