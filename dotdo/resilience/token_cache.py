"""A short-lived access token (JWT), fetched once and refreshed before it expires.

Two windows before expiry, as botocore's ``RefreshableCredentials`` has (research §4.1, §7a.9):

- the *advisory* window, the last ``min(300 s, 50 % of the lifetime)``: the first caller to
  notice refreshes while everyone else keeps using the current token; if the refresh fails the
  current token is kept, a warning is logged, and no new advisory refresh starts for 30 s
  (azure-identity's retry delay);
- the *mandatory* window, the last ``min(60 s, 10 % of the lifetime)``: every caller waits for the
  refresh, and gets the new token or its error.

Refreshes are single-flight, like Go's ``oauth2.ReuseTokenSource``: however many callers need a
new token at once, one ``fetch()`` runs and all of them share its result. Expiry is read on the
wall clock, because ``expires_at`` is an epoch time from the server and, unlike the monotonic
clock on Linux, the wall clock keeps counting while a laptop sleeps.

Objects here hold anyio primitives, so a cache belongs to one event loop.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

import anyio

from dotdo.errors import AuthenticationError

__all__ = ["Token", "TokenCache"]

T = TypeVar("T")

logger = logging.getLogger("dotdo")


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and when it expires.

    Attributes:
        value: the token itself; kept out of ``repr`` so it never lands in a log.
        expires_at: when it stops working, in epoch seconds (the JWT ``exp``).
    """

    value: str = field(repr=False)
    expires_at: float


class _Refresh:
    """One in-flight fetch that any number of callers wait on."""

    __slots__ = ("done", "error", "token", "traceback")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.token: Token | None = None
        self.error: Exception | None = None
        self.traceback: TracebackType | None = None


class TokenCache:
    """Hands out a valid access token, fetching a new one only when it must."""

    __slots__ = (
        "_advisory_at",
        "_clock",
        "_fetch",
        "_mandatory_at",
        "_next_advisory_try",
        "_refresh",
        "_token",
        "advisory_fraction",
        "advisory_retry_delay",
        "advisory_seconds",
        "mandatory_fraction",
        "mandatory_seconds",
    )

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Token]],
        *,
        clock: Callable[[], float] = time.time,
        advisory_seconds: float = 300.0,
        advisory_fraction: float = 0.5,
        mandatory_seconds: float = 60.0,
        mandatory_fraction: float = 0.1,
        advisory_retry_delay: float = 30.0,
    ) -> None:
        """Start empty; the first :meth:`get` fetches.

        Args:
            fetch: obtains a new token (for instance, exchanges the API key for a JWT).
            clock: the wall clock ``Token.expires_at`` is read on.
            advisory_seconds: at most this long before expiry, refresh without blocking.
            advisory_fraction: ... or this fraction of the token's lifetime, if shorter.
            mandatory_seconds: at most this long before expiry, refresh before use.
            mandatory_fraction: ... or this fraction of the token's lifetime, if shorter.
            advisory_retry_delay: after an advisory refresh fails, wait this long before
                trying another.
        """
        self._fetch = fetch
        self._clock = clock
        self.advisory_seconds = advisory_seconds
        self.advisory_fraction = advisory_fraction
        self.mandatory_seconds = mandatory_seconds
        self.mandatory_fraction = mandatory_fraction
        self.advisory_retry_delay = advisory_retry_delay
        self._token: Token | None = None
        self._advisory_at = -math.inf
        self._mandatory_at = -math.inf
        self._next_advisory_try = -math.inf
        self._refresh: _Refresh | None = None

    async def get(self) -> str:
        """A token to use now, refreshing first if it is missing, rejected or about to expire.

        Raises:
            Exception: whatever ``fetch()`` raised, when a refresh was required and failed.
        """
        token = self._token
        if token is not None:
            now = self._clock()
            if now < self._advisory_at:
                return token.value
            if now < self._mandatory_at:
                return await self._refresh_if_convenient(now, token)
        return (await self._refresh_now()).value

    def invalidate(self, rejected: str | None = None) -> None:
        """Forget the token the server rejected, so the next :meth:`get` fetches a new one.

        Args:
            rejected: the token that was rejected; if the cache already holds a different one,
                it was refreshed in the meantime and is kept.
        """
        token = self._token
        if token is None:
            return
        if rejected is not None and not hmac.compare_digest(rejected, token.value):
            return
        self._advisory_at = -math.inf
        self._mandatory_at = -math.inf

    async def call_with_token(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run ``call(token)``; if the server rejects the token, refresh once and run it again.

        Raises:
            AuthenticationError: the server rejected the refreshed token too.
        """
        token = await self.get()
        try:
            return await call(token)
        except AuthenticationError:
            self.invalidate(token)
        return await call(await self.get())

    async def _refresh_if_convenient(self, now: float, token: Token) -> str:
        """The advisory window: refresh unless someone else is, but keep the token on failure."""
        if self._refresh is not None or now < self._next_advisory_try:
            return token.value
        try:
            return (await self._refresh_now()).value
        except Exception as exc:
            self._next_advisory_try = now + self.advisory_retry_delay
            logger.warning(
                "refreshing the dotdo access token failed (%s); the current one stays in use "
                "for up to %.0f s more",
                type(exc).__name__,
                token.expires_at - now,
            )
            return token.value

    async def _refresh_now(self) -> Token:
        """Join the refresh in flight, or start one; return the token it produced."""
        while True:
            refresh = self._refresh
            if refresh is None:
                return await self._lead_refresh()
            await refresh.done.wait()
            if refresh.error is not None:
                raise refresh.error.with_traceback(refresh.traceback)
            if refresh.token is not None:
                return refresh.token
            # The caller leading that refresh was cancelled: start or join the next one.

    async def _lead_refresh(self) -> Token:
        refresh = _Refresh()
        self._refresh = refresh
        try:
            token = await self._fetch()
            self._store(token)
        except Exception as exc:
            refresh.error = exc
            refresh.traceback = exc.__traceback__
            raise
        else:
            refresh.token = token
            return token
        finally:
            self._refresh = None
            refresh.done.set()

    def _store(self, token: Token) -> None:
        now = self._clock()
        lifetime = token.expires_at - now
        if not (lifetime > 0):
            raise AuthenticationError(
                "the token service returned an access token that has already expired; "
                "check that this machine's clock is right"
            )
        self._token = token
        self._advisory_at = token.expires_at - min(
            self.advisory_seconds, self.advisory_fraction * lifetime
        )
        self._mandatory_at = token.expires_at - min(
            self.mandatory_seconds, self.mandatory_fraction * lifetime
        )
        self._next_advisory_try = -math.inf
