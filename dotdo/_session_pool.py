"""The client's Cap'n Web sessions: opening them, authenticating them, and replacing lost ones.

A `PlatformSession` is one transport session plus the authenticated ``Api`` capability on it. The
first call pipelines ``exchange`` (API key → JWT), ``authenticate`` and the call itself, so it costs
one round trip. The JWT that exchange returns is kept by the `SessionPool`: a replacement session
authenticates with it, without a new exchange, until it is due for refresh (half its lifetime, at
most 5 minutes, before it expires). Then the next call pipelines a new exchange, and every call
made meanwhile shares it: one exchange, however many callers.

`SessionPool` holds ``pool_size`` sessions for one event loop. A missing or lost session is
replaced by one dial that every waiting caller shares; the dial stops when the last of them gives
up. After a failed dial, callers get that failure at once for a short, growing hold, so a crowd
of retrying calls makes a handful of connection attempts, not one each. A session on which a
call got no answer (it timed out or was cancelled) is probed before it is used again, and
replaced if the probe gets no answer either. A session lost without being closed tells the
resilience layer the endpoint may be restarting (:meth:`ColdStart.record_lost`).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dotdo._config import Settings
from dotdo.errors import AuthenticationError, DotDoConnectionError, DotDoError
from dotdo.resilience import REQUEST_SENT_KEY, ColdStart, TimeoutPolicy
from dotdo.transport.stub import RpcPromise, RpcStub

__all__ = ["PlatformSession", "SessionPool"]

logger = logging.getLogger("dotdo")

E = TypeVar("E", bound=DotDoError)

# Refresh a JWT when this fraction of its lifetime, or this many seconds, is left (whichever is
# less): botocore's advisory window (research §4.1, §7a.9).
_REFRESH_FRACTION = 0.5
_REFRESH_MAX_S = 300.0
# How long a session suspected dead gets to answer a health call.
_PROBE_TIMEOUT_S = 2.0
# After a failed dial, callers get its failure for this long, doubling per failure up to the cap.
_HOLD_FIRST_S = 0.05
_HOLD_MAX_S = 1.0


@dataclass(eq=False)
class _Token:
    """A credential the platform accepts, and when (epoch seconds) to trade it for a new one."""

    value: str = field(repr=False)
    refresh_at: float = math.inf  # never, for a caller-supplied token

    @classmethod
    def learned(cls, value: str, expires_at: float, now: float) -> _Token:
        lifetime = expires_at - now
        return cls(value, expires_at - min(_REFRESH_MAX_S, _REFRESH_FRACTION * lifetime))

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at


@dataclass(eq=False)
class _Grant:
    """An authenticated capability and the token it was made from."""

    api: RpcPromise
    token: _Token | None  # None while the exchange it was pipelined on is unanswered


class PlatformSession:
    """One session to the platform and its authenticated ``Api``."""

    def __init__(self, root: RpcStub, closer: Any) -> None:
        self.root = root
        self._closer = closer  # has async close(), is_open and stats()
        self.grant: _Grant | None = None
        self.suspect = False
        """A call on it got no answer: probe it before trusting it again."""
        self.closing = False
        """Closed (or being closed) by the client, as opposed to lost."""
        self._learning: set[asyncio.Task[None]] = set()

    @property
    def is_open(self) -> bool:
        return bool(self._closer.is_open)

    def stats(self) -> dict[str, int]:
        """Import and export table sizes of the transport session (for leak checks)."""
        stats: dict[str, int] = self._closer.stats()
        return stats

    def authenticate(self, token: _Token) -> RpcPromise:
        """A new ``Api`` for ``token`` on this session, pipelined; it replaces the current one."""
        api = self.root.authenticate(token.value)
        self._replace_grant(_Grant(api, token))
        return api

    def exchange_and_authenticate(
        self, api_key: str, learned: Callable[[_Token], None]
    ) -> RpcPromise:
        """A new ``Api`` from a pipelined exchange of ``api_key``; ``learned(token)`` is called
        once the exchange answers (it rides the same round trip as the first call)."""
        exchange = self.root.exchange(api_key)
        grant = _Grant(self.root.authenticate(exchange.token), None)
        self._replace_grant(grant)
        task = asyncio.get_running_loop().create_task(self._learn(exchange, grant, learned))
        self._learning.add(task)
        task.add_done_callback(self._learning.discard)
        return grant.api

    async def _learn(
        self, exchange: RpcPromise, grant: _Grant, learned: Callable[[_Token], None]
    ) -> None:
        try:
            result = await exchange
        except Exception:  # the call that used the grant reports the failure
            self.forget_grant(grant.api)
            return
        token = result.get("token") if isinstance(result, dict) else None
        expires_at = result.get("expires_at") if isinstance(result, dict) else None
        if not isinstance(token, str) or not isinstance(expires_at, int | float):
            logger.warning("the platform's exchange answer has no token and expiry; not cached")
            return
        grant.token = _Token.learned(token, float(expires_at), time.time())
        learned(grant.token)

    def forget_grant(self, api: RpcPromise) -> None:
        """Drop ``api`` if it is the current capability (the server refused its credential)."""
        if self.grant is not None and self.grant.api is api:
            self._replace_grant(None)

    def _replace_grant(self, grant: _Grant | None) -> None:
        old, self.grant = self.grant, grant
        if old is not None:
            old.api.dispose()  # calls already sent through it are not affected

    async def call(self, api: RpcStub, path: Sequence[str | int], args: Sequence[Any]) -> Any:
        """``api.<path>(*args)``; a call that ends without an answer makes the session suspect."""
        target = api
        for part in path:
            target = target[part]
        promise = target(*args)
        try:
            return await promise
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled or timed out: no answer came
                self.suspect = True
            raise
        finally:
            promise.dispose()  # now, not when collected: a call that timed out frees its import

    async def responds(self, timeout: float) -> bool:
        """Whether a health call on this session is answered within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self.call(self.root, ("health",), ())
        except (TimeoutError, DotDoError):
            return False
        return True

    async def close(self) -> None:
        self.closing = True
        learning = list(self._learning)
        for task in learning:
            task.cancel()
        try:
            await self._closer.close()
        finally:
            await asyncio.gather(*learning, return_exceptions=True)


class _LocalCloser:
    """Closes an in-process pair: both drivers."""

    def __init__(self, client: Any, server: Any) -> None:
        self._client = client
        self._server = server

    @property
    def is_open(self) -> bool:
        return bool(self._client.session.is_open)

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = self._client.session.stats()
        return stats

    async def close(self) -> None:
        await self._client.close()
        await self._server.close()


class _Dialer:
    """Replaces one pool slot's session: one attempt at a time, shared by every waiting caller."""

    def __init__(self) -> None:
        self.task: asyncio.Task[PlatformSession] | None = None
        self._waiters = 0
        self._failures = 0
        self._failure: DotDoError | None = None
        self._hold_until = 0.0

    async def join(self, replace: Callable[[], Awaitable[PlatformSession]]) -> PlatformSession:
        """Wait for the replacement in progress, or start one.

        Raises:
            DotDoError: the replacement failed (each caller gets its own copy of the failure).
        """
        task = self.task
        if task is None:
            loop = asyncio.get_running_loop()
            if self._failure is not None and loop.time() < self._hold_until:
                raise _fresh(self._failure) from self._failure
            task = loop.create_task(self._run(replace))
            self.task = task
        self._waiters += 1
        try:
            return await asyncio.shield(task)
        except DotDoError as error:
            raise _fresh(error) from error
        except asyncio.CancelledError:
            if task.cancelled() and not _being_cancelled():
                raise DotDoConnectionError(
                    "the client was closed while connecting", details={REQUEST_SENT_KEY: False}
                ) from None
            raise
        finally:
            self._waiters -= 1
            if self._waiters == 0 and not task.done():
                # Nobody waits for this session any more: stop dialling rather than leave a task.
                task.cancel()
                if self.task is task:
                    self.task = None

    async def _run(self, replace: Callable[[], Awaitable[PlatformSession]]) -> PlatformSession:
        task = asyncio.current_task()
        try:
            session = await replace()
        except DotDoError as error:
            self._failures += 1
            self._failure = error
            hold = min(_HOLD_MAX_S, _HOLD_FIRST_S * 2.0 ** (self._failures - 1))
            self._hold_until = asyncio.get_running_loop().time() + hold
            raise
        finally:
            if self.task is task:
                self.task = None
        self._failures = 0
        self._failure = None
        return session

    async def cancel(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class SessionPool:
    """``pool_size`` sessions for one event loop, handed out round-robin.

    Args:
        settings: the client's resolved settings.
        platform_factory: the in-process platform, for ``memory://`` and ``local://``.
        cold_start: told when a session is lost, and asked for the connect timeout.
        timeouts: the connect timeouts (warm and cold).
    """

    def __init__(
        self,
        settings: Settings,
        platform_factory: Any,
        *,
        cold_start: ColdStart | None = None,
        timeouts: TimeoutPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._platform_factory = platform_factory  # for memory:// and local://
        self._cold_start = cold_start
        self._timeouts = timeouts or TimeoutPolicy()
        self._sessions: list[PlatformSession | None] = [None] * settings.pool_size
        self._dialers = [_Dialer() for _ in range(settings.pool_size)]
        self._retiring: set[asyncio.Task[None]] = set()
        self._turn = itertools.cycle(range(settings.pool_size))
        self._renewable = bool(settings.api_key) and not settings.access_token
        self._token = _Token(settings.access_token) if settings.access_token else None
        self.loop = asyncio.get_running_loop()

    async def session(self) -> PlatformSession:
        """An open session (opened, or replaced after a loss, on demand).

        Raises:
            DotDoError: no session could be opened (marked as never sent).
        """
        index = next(self._turn)
        current = self._sessions[index]
        if current is not None and current.is_open and not current.suspect:
            return current
        return await self._dialers[index].join(lambda: self._replace(index))

    async def authenticated(self) -> tuple[PlatformSession, RpcPromise]:
        """An open session and its authenticated ``Api``; call through it before awaiting
        anything else, so the session cannot be lost in between.

        Raises:
            DotDoError: no session, or no credentials (a call made now would never be sent).
        """
        session = await self.session()
        if not session.is_open:  # lost in the moment between the dial and this caller's turn
            raise DotDoConnectionError(
                "the connection closed before the call was sent",
                details={REQUEST_SENT_KEY: False},
            )
        return session, self.api(session)

    def api(self, session: PlatformSession) -> RpcPromise:
        """The authenticated ``Api`` on ``session``, pipelined: never waits, never costs its own
        round trip."""
        now = time.time()
        grant, token = session.grant, self._token
        if grant is not None and (
            grant.token is None or (grant.token is token and token.fresh(now))
        ):
            return grant.api
        if token is not None and (token.fresh(now) or not self._renewable):
            return session.authenticate(token)
        api_key = self._settings.api_key
        if not api_key:
            raise AuthenticationError(
                "no credentials: set DOTDO_API_KEY or DOTDO_TOKEN, pass api_key= to DotDo(), "
                "run `dotdo login`, or use endpoint='memory://' for an in-process platform"
            )
        return session.exchange_and_authenticate(api_key, self._learned)

    def reject(self, session: PlatformSession, api: RpcPromise) -> bool:
        """The platform refused the credential behind ``api``: forget it.

        Returns:
            whether a new credential can be had (an API key can be exchanged again; a
            caller-supplied token cannot).
        """
        grant = session.grant
        if grant is not None and grant.api is api:
            if self._renewable and grant.token is not None and grant.token is self._token:
                self._token = None
            session.forget_grant(api)
        return self._renewable

    def _learned(self, token: _Token) -> None:
        current = self._token
        if current is None or token.refresh_at > current.refresh_at:
            self._token = token

    async def _replace(self, index: int) -> PlatformSession:
        old = self._sessions[index]
        if old is not None and old.is_open and old.suspect:
            if await old.responds(_PROBE_TIMEOUT_S):
                old.suspect = False
                return old
            logger.info(
                "the session to %s stopped answering; opening a new one", self._settings.endpoint
            )
        if old is not None:
            self._sessions[index] = None
            self._retire(old)
        session = await self._open()
        self._sessions[index] = session
        return session

    def _retire(self, session: PlatformSession) -> None:
        # Closing a dead WebSocket can wait out its close timeout; nobody needs to wait for it.
        task = self.loop.create_task(session.close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _open(self) -> PlatformSession:
        endpoint = self._settings.endpoint
        if endpoint.startswith(("memory://", "local://")):
            from dotdo.transport.memory import memory_pair

            platform = self._platform_factory()
            from dotdo.server.errors import redact_error

            client, server = memory_pair(server_main=platform.main(), redact_error=redact_error)
            return PlatformSession(client.main_stub(), _LocalCloser(client, server))
        from dotdo.transport.connection import connect

        cold = self._cold_start is not None and self._cold_start.is_cold()
        open_timeout = min(self._settings.pool_timeout, self._timeouts.connect_timeout(cold=cold))
        headers = self._settings.headers
        connection = connect(
            endpoint, transport="websocket", headers=headers, open_timeout=open_timeout
        )
        try:
            root = await connection.open()
        except DotDoConnectionError as error:
            error.details.setdefault(REQUEST_SENT_KEY, False)
            raise
        session = PlatformSession(root, connection)
        connection.on_broken(lambda error: self._lost(session, error))
        logger.debug("connected to %s", endpoint)
        return session

    def _lost(self, session: PlatformSession, error: BaseException) -> None:
        if session.closing:
            return
        logger.info(
            "the session to %s was lost (%s); the next call reconnects",
            self._settings.endpoint,
            error,
        )
        if self._cold_start is not None:
            self._cold_start.record_lost()

    async def close(self) -> None:
        for dialer in self._dialers:
            await dialer.cancel()
        sessions, self._sessions = self._sessions, [None] * len(self._sessions)
        for session in sessions:
            if session is not None:
                try:
                    await session.close()
                except Exception:  # closing must finish even if one session is broken
                    logger.debug("closing a session failed", exc_info=True)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)


def _fresh(error: E) -> E:
    """A copy of a failure many callers share, so what one call's retry loop adds to it (notes,
    details) stays with that call."""
    fresh = copy.copy(error)
    fresh.details = dict(error.details)
    return fresh


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
