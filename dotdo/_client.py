"""`DotDo`: the client. Settings, the one session per event loop, and the one retry loop.

Every namespace call goes through `DotDo._call`, which applies the resilience policies (total
deadline, per-attempt limit, retries with jitter, retry budget, circuit breaker, cold start) and
re-authenticates once when the platform refuses an expired or revoked credential. Nothing is
resolved or opened until the first call.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from dotdo._config import Settings, resolve_settings
from dotdo.errors import AuthenticationError, DotDoError, ValidationError

if TYPE_CHECKING:
    from dotdo._session_pool import PlatformSession, SessionPool
    from dotdo._sync import SyncDotDo
    from dotdo.namespaces.auth import Auth
    from dotdo.namespaces.collections import Collection, Collections
    from dotdo.namespaces.db import Db
    from dotdo.namespaces.logs import Logs
    from dotdo.namespaces.rpc import Rpc, RpcStream
    from dotdo.namespaces.secrets import Secrets
    from dotdo.resilience import CircuitBreaker, ColdStart, RetryBudget, RetryPolicy

__all__ = ["DotDo"]

logger = logging.getLogger("dotdo")
T = TypeVar("T")

_OPTION_NAMES = (
    "api_key",
    "access_token",
    "endpoint",
    "headers",
    "timeout",
    "max_retries",
    "retry_delay",
    "retry_max_delay",
    "retry_multiplier",
    "pool_size",
    "pool_timeout",
    "debug",
    "cold_start_timeout",
)


class _Shared:
    """What a client and all its `with_options` views share: settings, sessions, policies."""

    def __init__(self, arguments: Mapping[str, Any]) -> None:
        self.arguments = dict(arguments)
        self.settings: Settings | None = None
        self.pools: dict[int, SessionPool] = {}  # id(event loop) -> pool
        self.pid = os.getpid()
        self.platform: Any = None  # the in-process platform for memory:// and local://
        self.breaker: CircuitBreaker | None = None
        self.budget: RetryBudget | None = None
        self.cold_start: ColdStart | None = None
        self.rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._policy: tuple[Settings, RetryPolicy] | None = None
        self.call_with_resilience: Any = None  # the runner, imported on first use
        self.sync: SyncDotDo | None = None
        self.login_token: str | None = None  # set by auth.login(), cleared by auth.logout()
        self.platform_given = False  # True when use_platform() supplied it (then not ours)

    def resolve(self) -> Settings:
        if self.settings is None:
            from dotdo._credentials import CredentialStore

            def stored() -> Any:
                return CredentialStore(environ=os.environ).load()

            from dotdo.resilience import (
                CircuitBreaker,
                ColdStart,
                ColdStartPolicy,
                RetryBudget,
                call_with_resilience,
            )

            settings = resolve_settings(self.arguments, os.environ, stored)
            settings = self._with_local_credentials(settings)
            self.settings = settings
            self.call_with_resilience = call_with_resilience
            self.budget = RetryBudget()
            self.breaker = CircuitBreaker(settings.endpoint, rng=self.rng)
            self.cold_start = ColdStart(
                settings.endpoint, ColdStartPolicy(budget=settings.cold_start_timeout)
            )
            if settings.debug:
                logging.getLogger("dotdo").setLevel(logging.DEBUG)
            logger.debug("dotdo settings resolved: %r", settings)
        if self.login_token is not None:
            return dataclasses.replace(
                self.settings,
                access_token=self.login_token,
                api_key=None,
                credential_source="login",
            )
        return self.settings

    def retry_policy(self, settings: Settings) -> RetryPolicy:
        """The retry policy ``settings`` ask for, built once per settings object."""
        cached = self._policy
        if cached is None or cached[0] is not settings:
            from dotdo.resilience import RetryPolicy

            policy = RetryPolicy(
                max_retries=settings.max_retries,
                retry_delay=settings.retry_delay,
                retry_multiplier=settings.retry_multiplier,
                retry_max_delay=settings.retry_max_delay,
            )
            cached = self._policy = (settings, policy)
        return cached[1]

    def _with_local_credentials(self, settings: Settings) -> Settings:
        endpoint = settings.endpoint
        if not endpoint.startswith(("memory://", "local://")):
            return settings
        platform = self.local_platform(endpoint)
        if settings.api_key or settings.access_token:
            return settings
        tenant = platform.ensure_dev_tenant()
        if tenant.api_key is None:
            raise AuthenticationError(
                f"the local platform at {endpoint} has no stored dev key; pass api_key="
            )
        return dataclasses.replace(
            settings, api_key=tenant.api_key, credential_source="local-platform"
        )

    def local_platform(self, endpoint: str) -> Any:
        if self.platform is None:
            from dotdo.server.platform import Platform

            path = endpoint.removeprefix("local://") if endpoint.startswith("local://") else None
            if path is not None and not path:
                raise ValidationError("a local:// endpoint needs a directory: local://PATH")
            self.platform = Platform(path)
        return self.platform

    def forget_after_fork(self) -> None:
        # The child must never touch the parent's sockets: drop them without closing.
        self.pools = {}
        self.pid = os.getpid()
        self.sync = None


class DotDo:
    """A client for the dotdo platform: ``secrets``, ``db``, ``collections``, ``auth``, ``logs``
    and ``rpc``, all over one Cap'n Web session.

    Every argument left as None comes from the environment (``DOTDO_*``), then a stored login
    (``dotdo login``), then the default shown.

    Args:
        api_key: exchanged for a short-lived JWT on first use (``DOTDO_API_KEY``).
        access_token: a JWT to use as is (``DOTDO_TOKEN``).
        endpoint: ``ws://``/``wss://`` URL, ``memory://`` (an in-process platform) or
            ``local://PATH`` (an in-process platform kept in PATH). Default: ``dotdo dev``'s
            ``ws://127.0.0.1:8787/rpc``.
        headers: extra HTTP headers for the WebSocket handshake.
        timeout: total seconds per call, retries included (default 30).
        max_retries: retries after the first attempt (default 3).
        retry_delay: first backoff, seconds (default 0.1).
        retry_max_delay: longest backoff, seconds (default 30).
        retry_multiplier: backoff growth per retry (default 2).
        pool_size: sessions to spread calls over (default 1).
        pool_timeout: seconds to wait for a session to open (default 30).
        debug: log at DEBUG on the ``dotdo`` logger (secrets are never logged).
        cold_start_timeout: seconds a call may wait for a backend that is starting up
            (connection refused, 502/503/504 on the first connection after idle; default 30).

    Raises:
        ValidationError: on first use, when a setting is invalid; the message names it.
    """

    def __init__(
        self,
        api_key: str | None = None,
        access_token: str | None = None,
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        retry_max_delay: float | None = None,
        retry_multiplier: float | None = None,
        pool_size: int | None = None,
        pool_timeout: float | None = None,
        debug: bool | None = None,
        cold_start_timeout: float | None = None,
    ) -> None:
        arguments = {
            name: value
            for name, value in (
                ("api_key", api_key),
                ("access_token", access_token),
                ("endpoint", endpoint),
                ("headers", headers),
                ("timeout", timeout),
                ("max_retries", max_retries),
                ("retry_delay", retry_delay),
                ("retry_max_delay", retry_max_delay),
                ("retry_multiplier", retry_multiplier),
                ("pool_size", pool_size),
                ("pool_timeout", pool_timeout),
                ("debug", debug),
                ("cold_start_timeout", cold_start_timeout),
            )
            if value is not None
        }
        self._shared = _Shared(arguments)
        self._overrides: dict[str, Any] = {}
        self._view_settings: tuple[Settings, Settings] | None = None
        self._plan: tuple[Settings | None, Callable[..., Any]] | None = None
        self._namespaces: dict[str, Any] = {}

    # -- settings -------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The resolved settings (secrets masked in their repr). Resolving reads the environment."""
        settings = self._shared.resolve()
        if not self._overrides:
            return settings
        # Read on every call: build the view's settings once per resolution, not per call.
        cached = self._view_settings
        if cached is None or cached[0] is not settings:
            cached = self._view_settings = (settings, settings.with_changes(**self._overrides))
        return cached[1]

    @property
    def is_connected(self) -> bool:
        """True once a session has been opened (configuration is then fixed)."""
        return bool(self._shared.pools)

    def configure(self, **settings: Any) -> None:
        """Change settings before first use (same names as the constructor).

        Raises:
            ValidationError: an unknown setting, or a session is already open — use
                ``with_options(...)`` for per-call changes, or ``await close()`` first.
        """
        unknown = sorted(set(settings) - set(_OPTION_NAMES))
        if unknown:
            raise ValidationError(f"unknown setting(s): {', '.join(unknown)}")
        if self.is_connected:
            raise ValidationError(
                "dotdo is already connected, so its settings are fixed; use "
                "dotdo.with_options(timeout=..., max_retries=...) for a view with other call "
                "options, or `await dotdo.close()` before configure()"
            )
        arguments = {**self._shared.arguments, **settings}
        self._shared.arguments = {k: v for k, v in arguments.items() if v is not None}
        self._shared.settings = None
        self._shared.platform = None

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        retry_max_delay: float | None = None,
        retry_multiplier: float | None = None,
    ) -> DotDo:
        """A view of this client with other call options, sharing its session."""
        view = DotDo.__new__(DotDo)
        view._shared = self._shared
        view._namespaces = {}
        changes = {
            name: value
            for name, value in (
                ("timeout", timeout),
                ("max_retries", max_retries),
                ("retry_delay", retry_delay),
                ("retry_max_delay", retry_max_delay),
                ("retry_multiplier", retry_multiplier),
            )
            if value is not None
        }
        view._overrides = {**self._overrides, **changes}
        view._view_settings = None
        view._plan = None
        view.settings  # noqa: B018 - validate the options now, not on the first call
        return view

    # -- namespaces -----------------------------------------------------------------------

    def _namespace(self, name: str, factory: Callable[[DotDo], T]) -> T:
        found = self._namespaces.get(name)
        if found is None:
            found = factory(self)
            self._namespaces[name] = found
        return found

    @property
    def secrets(self) -> Secrets:
        """Named secret values: ``get``, ``set``, ``list``, ``delete``, ``env``, ``load_env``."""
        from dotdo.namespaces.secrets import Secrets

        return self._namespace("secrets", Secrets)

    @property
    def db(self) -> Db:
        """The tenant's SQL database: ``query``, ``execute``, ``batch``, ``transaction``, ..."""
        from dotdo.namespaces.db import Db

        return self._namespace("db", Db)

    @property
    def collections(self) -> Collections:
        """Document collections: ``dotdo.collections("users")`` or ``.collections.get("users")``."""
        from dotdo.namespaces.collections import Collections

        return self._namespace("collections", Collections)

    def collection(self, name: str) -> Collection:
        """The document collection ``name`` (same as ``dotdo.collections(name)``)."""
        return self.collections(name)

    @property
    def auth(self) -> Auth:
        """Users, roles, API keys and tokens."""
        from dotdo.namespaces.auth import Auth

        return self._namespace("auth", Auth)

    @property
    def logs(self) -> Logs:
        """Structured logs, shipped in batches in the background."""
        from dotdo.namespaces.logs import Logs

        return self._namespace("logs", Logs)

    @property
    def rpc(self) -> Rpc:
        """Raw pipelined access to services: ``await dotdo.rpc.ai.generate(...)``."""
        from dotdo.namespaces.rpc import Rpc

        return self._namespace("rpc", Rpc)

    async def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Call a service method by dotted name: ``await dotdo.call("ai.generate", {...})``.

        Not retried unless the request never left (a custom method may not be idempotent).
        """
        return await self.rpc.call(method, *args, timeout=timeout)

    def stream(self, method: str, *args: Any) -> RpcStream:
        """Iterate what a service method streams: ``async for chunk in dotdo.stream("ai.generate",
        {...})``. The same as ``dotdo.rpc.stream``; not retried."""
        return self.rpc.stream(method, *args)

    @property
    def sync(self) -> SyncDotDo:
        """Every namespace without ``await``: ``dotdo.sync.secrets.get("DB_URL")``."""
        shared = self._shared
        if shared.pid != os.getpid():
            shared.forget_after_fork()
        if shared.sync is None:
            from dotdo._sync import SyncDotDo

            shared.sync = SyncDotDo(self)
        return shared.sync

    # -- lifecycle ------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the session now rather than on the first call (checks the endpoint)."""
        await self._session()

    async def health(self) -> dict[str, Any]:
        """The platform's health answer and the state of this client's circuit breaker.

        Never raises for an unreachable platform: ``platform`` is then ``{"status":
        "unavailable", "error": code, "message": ...}``, and ``circuit["state"]`` (``"closed"``,
        ``"open"`` or ``"half_open"``) says whether calls are being refused.
        """
        try:
            platform = await self._call_root("health")
        except DotDoError as error:
            platform = {"status": "unavailable", "error": error.code, "message": error.message}
        breaker = self._shared.breaker
        stats = breaker.stats() if breaker is not None else None
        return {
            "platform": platform,
            "circuit": None if stats is None else {"state": stats.state.value, "stats": stats},
        }

    async def close(self) -> None:
        """Flush queued logs and close every session this client opened on this event loop.

        After close the client may be configured again; the next call reconnects.
        """
        if "logs" in self._namespaces:
            try:
                await self._namespaces["logs"].flush()
            except Exception:  # closing must go on; the logs layer already reported it
                logger.debug("flushing logs on close failed", exc_info=True)
            await self._namespaces["logs"]._stop()
        await self._close_sessions()
        shared = self._shared
        if shared.platform is not None and not shared.platform_given:
            shared.platform.close()
            shared.platform = None
            shared.settings = None

    async def _close_sessions(self) -> None:
        import asyncio

        shared = self._shared
        pools, shared.pools = shared.pools, {}
        loop = asyncio.get_running_loop()
        for pool in pools.values():
            if pool.loop is loop:
                await pool.close()

    async def _use_login(self, token: str | None) -> None:
        """Act with ``token`` (a user's JWT from ``auth.login``), or stop (None): every session
        of this client is closed, and the next call authenticates with the new credential."""
        self._shared.login_token = token
        await self._close_sessions()

    def use_platform(self, platform: Any) -> None:
        """Serve this client from an in-process ``dotdo.server.Platform`` you built.

        For tests that mount their own services (``Platform(services={"ai": Ai()})``): the
        client behaves as with ``endpoint="memory://"``, on that platform, and ``close()``
        leaves it open (it is yours to close). Call before first use.

        Raises:
            ValidationError: the client is already connected.
        """
        if self.is_connected:
            raise ValidationError("use_platform() must be called before the client connects")
        shared = self._shared
        shared.arguments["endpoint"] = "memory://"
        shared.settings = None
        shared.platform = platform
        shared.platform_given = True

    def reset(self) -> None:
        """Forget every session, the in-process platform and configure()'d settings (for tests).

        Sessions are dropped, not closed: prefer ``await close()`` where a loop is running.
        """
        shared = self._shared
        sync = shared.sync
        shared.pools = {}
        shared.sync = None
        if sync is not None:
            sync._portal.stop()
        if shared.platform is not None and not shared.platform_given:
            shared.platform.close()
        self._shared = _Shared({})
        self._namespaces = {}
        self._overrides = {}
        self._view_settings = None
        self._plan = None

    async def __aenter__(self) -> DotDo:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        endpoint = self._shared.settings.endpoint if self._shared.settings else "unresolved"
        return f"<DotDo endpoint={endpoint!r} connected={self.is_connected}>"

    # -- the one place calls are made -------------------------------------------------------

    def _pool(self) -> SessionPool:
        import asyncio

        shared = self._shared
        if shared.pid != os.getpid():
            shared.forget_after_fork()
        loop = asyncio.get_running_loop()
        pool = shared.pools.get(id(loop))
        if pool is None or pool.loop is not loop:
            from dotdo._session_pool import SessionPool

            settings = shared.resolve()
            # A pool of a loop that has ended (asyncio.run() returned) can only be forgotten.
            shared.pools = {k: p for k, p in shared.pools.items() if not p.loop.is_closed()}
            pool = SessionPool(
                settings,
                lambda: shared.local_platform(settings.endpoint),
                cold_start=shared.cold_start,
            )
            shared.pools[id(loop)] = pool
        return pool

    async def _session(self) -> PlatformSession:
        return await self._pool().session()

    def new_idempotency_key(self) -> str:
        """A fresh key for one logical write; reused on every retry of that write."""
        return os.urandom(16).hex()

    def _call(
        self,
        path: Sequence[str | int],
        args: Sequence[Any],
        *,
        idempotent: bool,
        timeout: float | None = None,
    ) -> Awaitable[Any]:
        """Call ``api.<path>(*args)`` with every resilience policy applied (await the result).

        A plain function returning the runner's coroutine, like ``_resilient``: each coroutine
        layer costs time on every resumption of a call, and this is every call's path.
        """
        reauthenticated = False

        async def attempt(limit: float) -> Any:
            nonlocal reauthenticated
            pool = self._pool()
            while True:
                session, api = await pool.authenticated()
                try:
                    return await session.call(api, path, args)
                except AuthenticationError:
                    # An expired or revoked credential: one new exchange and one more try.
                    renewable = pool.reject(session, api)
                    if reauthenticated or not renewable:
                        raise
                    reauthenticated = True

        return self._resilient(attempt, idempotent=idempotent, timeout=timeout)

    async def _call_root(self, method: str, *args: Any) -> Any:
        """Call ``root.<method>(*args)``, a read that needs no credentials, with the policies."""

        async def attempt(limit: float) -> Any:
            session = await self._pool().session()
            return await session.call(session.root, (method,), args)

        return await self._resilient(attempt, idempotent=True)

    def _resilient(
        self,
        attempt: Callable[[float], Awaitable[T]],
        *,
        idempotent: bool,
        timeout: float | None = None,
    ) -> Awaitable[T]:
        """``attempt`` under the client's policies: deadline, retries, budget, breaker, cold
        start."""
        plan = self._plan
        if timeout is not None or plan is None or plan[0] is not self._shared.settings:
            run = self._runner(timeout)
        else:
            run = plan[1]
        return cast("Awaitable[T]", run(attempt, idempotent=idempotent))

    def _runner(self, timeout: float | None) -> Callable[..., Any]:
        """The resilience runner with this view's settings bound; cached when ``timeout`` is the
        default, so a call costs one identity check here."""
        settings = self.settings
        shared = self._shared
        total = timeout if timeout is not None else settings.timeout
        # Each attempt gets part of the budget, so a hung attempt still leaves room to retry.
        per_attempt = min(total, max(10.0, total / 2))
        run = functools.partial(
            shared.call_with_resilience,
            policy=shared.retry_policy(settings),
            budget=shared.budget,
            breaker=shared.breaker,
            cold_start=shared.cold_start,
            deadline_s=total,
            attempt_timeout_s=per_attempt,
            rng=shared.rng,
        )
        if timeout is None:
            self._plan = (shared.settings, run)
        return run

    async def _capability(self, path: Sequence[str | int], args: Sequence[Any]) -> Any:
        """Call a method that returns a capability (a transaction); not retried once sent."""
        _, target = await self._pool().authenticated()
        for part in path:
            target = target[part]
        return target(*args)
