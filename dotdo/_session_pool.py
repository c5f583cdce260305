"""The client's Cap'n Web sessions: opening them, authenticating them, and telling them apart.

A `PlatformSession` is one transport session plus the authenticated ``Api`` capability on it. The
first call pipelines ``exchange`` (API key → JWT), ``authenticate`` and the call itself, so it costs
one round trip. The JWT is refreshed ahead of expiry by pipelining a new exchange on the same
session. `SessionPool` holds ``pool_size`` of them for one event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any

from dotdo._config import Settings
from dotdo.errors import AuthenticationError, DotDoConnectionError, ValidationError
from dotdo.transport.stub import RpcPromise, RpcStub

__all__ = ["PlatformSession", "SessionPool"]

logger = logging.getLogger("dotdo")

# Refresh a JWT this long before it expires (the server refuses it after expiry).
_REFRESH_SKEW_S = 60.0


@dataclass
class _Grant:
    """An authenticated capability and when its credential stops working."""

    api: RpcPromise
    expires_at: float | None  # epoch seconds; None when unknown (a caller-supplied token)


class PlatformSession:
    """One session to the platform and its authenticated ``Api``."""

    def __init__(self, root: RpcStub, closer: Any, settings: Settings) -> None:
        self.root = root
        self._closer = closer  # has async close() and is_open
        self._settings = settings
        self._grant: _Grant | None = None
        self._exchange: RpcPromise | None = None

    @property
    def is_open(self) -> bool:
        return bool(self._closer.is_open)

    def api(self) -> RpcPromise:
        """The authenticated ``Api``, pipelined: never waits, never costs its own round trip."""
        grant = self._grant
        if grant is None or (
            grant.expires_at is not None and grant.expires_at - _REFRESH_SKEW_S < time.time()
        ):
            grant = self._authenticate()
            self._grant = grant
        return grant.api

    def forget_grant(self, api: RpcPromise | None = None) -> None:
        """Drop the capability the server refused (an expired or revoked credential)."""
        if api is None or (self._grant is not None and self._grant.api is api):
            self._grant = None

    def _authenticate(self) -> _Grant:
        settings = self._settings
        if settings.access_token:
            return _Grant(self.root.authenticate(settings.access_token), None)
        if not settings.api_key:
            raise AuthenticationError(
                "no credentials: set DOTDO_API_KEY or DOTDO_TOKEN, pass api_key= to DotDo(), "
                "run `dotdo login`, or use endpoint='memory://' for an in-process platform"
            )
        exchange = self.root.exchange(settings.api_key)
        grant = _Grant(self.root.authenticate(exchange.token), None)
        self._exchange = exchange
        asyncio.get_running_loop().create_task(self._learn_expiry(exchange, grant))
        return grant

    async def _learn_expiry(self, exchange: RpcPromise, grant: _Grant) -> None:
        # Pulling the exchange result rides the same round trip as the first call.
        try:
            result = await exchange
        except Exception:  # the call that used the grant reports the failure
            self.forget_grant(grant.api)
            return
        expires_at = result.get("expires_at") if isinstance(result, dict) else None
        if isinstance(expires_at, int | float):
            grant.expires_at = float(expires_at)

    async def close(self) -> None:
        await self._closer.close()


class _LocalCloser:
    """Closes an in-process pair: both drivers."""

    def __init__(self, client: Any, server: Any) -> None:
        self._client = client
        self._server = server

    @property
    def is_open(self) -> bool:
        return bool(self._client.session.is_open)

    async def close(self) -> None:
        await self._client.close()
        await self._server.close()


class SessionPool:
    """``pool_size`` sessions for one event loop, handed out round-robin."""

    def __init__(self, settings: Settings, platform_factory: Any) -> None:
        self._settings = settings
        self._platform_factory = platform_factory  # for memory:// and local://
        self._sessions: list[PlatformSession | None] = [None] * settings.pool_size
        self._opening: list[asyncio.Future[PlatformSession] | None] = [None] * settings.pool_size
        self._turn = itertools.cycle(range(settings.pool_size))
        self.loop = asyncio.get_running_loop()

    async def session(self) -> PlatformSession:
        """An open session (opened, or reopened after a drop, on demand)."""
        index = next(self._turn)
        current = self._sessions[index]
        if current is not None and current.is_open:
            return current
        opening = self._opening[index]
        if opening is None:
            opening = self.loop.create_future()
            self._opening[index] = opening
            try:
                current = await asyncio.wait_for(self._open(), self._settings.pool_timeout)
            except BaseException as error:
                self._opening[index] = None
                opening.set_exception(error)
                opening.exception()  # mark retrieved: the awaiting caller re-raises it
                raise
            self._sessions[index] = current
            self._opening[index] = None
            opening.set_result(current)
            return current
        return await asyncio.shield(opening)

    async def _open(self) -> PlatformSession:
        endpoint = self._settings.endpoint
        if endpoint.startswith(("memory://", "local://")):
            from dotdo.transport.memory import memory_pair

            platform = self._platform_factory()
            from dotdo.server.errors import redact_error

            client, server = memory_pair(server_main=platform.main(), redact_error=redact_error)
            return PlatformSession(client.main_stub(), _LocalCloser(client, server), self._settings)
        from dotdo.transport.connection import connect

        connection = connect(
            endpoint,
            transport="websocket",
            headers=self._settings.headers,
            open_timeout=self._settings.timeout,
        )
        try:
            root = await connection.open()
        except DotDoConnectionError as error:
            error.details.setdefault("request_sent", False)
            raise
        except ValidationError:
            raise
        logger.debug("connected to %s", endpoint)
        return PlatformSession(root, connection, self._settings)

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, [None] * len(self._sessions)
        for session in sessions:
            if session is not None:
                try:
                    await session.close()
                except Exception:  # closing must finish even if one session is broken
                    logger.debug("closing a session failed", exc_info=True)
