"""The session's entry point (``Root``, unauthenticated) and the ``Api`` capability it hands out.

Holding an ``Api`` is the authorization: ``Root.authenticate(token)`` verifies a JWT or API key
once and returns an ``Api`` bound to that credential. Every call on the ``Api``, or on any service
reached from it, re-checks that the credential has not expired or been revoked.

User services (``Platform(services={"ai": AiService()})``) are reached as ``api.rpc.ai`` or
``api.service("ai")``. ``RpcTarget`` allow-lists are class-level, so the directory is a subclass
built per platform with one property per service, and each service is seen through a guarded
subclass that forwards its members after checking the ``Api``'s credential and ``rpc`` scope.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Mapping
from typing import Annotated, Any, cast

import anyio.to_thread
from pydantic import Field, StringConstraints

from dotdo._version import __version__
from dotdo.errors import AuthenticationError, NotFoundError, ValidationError
from dotdo.server.context import AuthContext, Runtime
from dotdo.server.principal import (
    Principal,
    principal_from_api_key,
    principal_from_claims,
    user_principal,
)
from dotdo.server.services.auth import (
    AuthService,
    LoginPassword,
    Username,
    check_password,
    checked_ttl,
    find_user,
)
from dotdo.server.services.collections import CollectionsService
from dotdo.server.services.db import DbService
from dotdo.server.services.logs import LogsService
from dotdo.server.services.secrets import SecretsService
from dotdo.server.tokens import looks_like_api_key
from dotdo.server.validation import endpoint
from dotdo.transport.target import RpcTarget, is_reachable_name, rpc_member

__all__ = ["Api", "GuardedService", "Root", "ServiceDirectory", "ServiceRegistry"]

Credential = Annotated[str, StringConstraints(min_length=1, max_length=8192)]
TenantName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")]
ServiceName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Ttl = Annotated[int, Field(ge=1)]

_WRONG_LOGIN = "wrong username or password"


class GuardedService(RpcTarget):
    """A user service as an ``Api`` exposes it: each member re-checks the ``Api``'s credential.

    Subclasses are generated per service class by :class:`ServiceRegistry`; capabilities the user
    service itself returns are passed on as they are.
    """

    def __init__(self, context: AuthContext, target: RpcTarget) -> None:
        self._context = context
        self._target = target


def _forward_call(name: str) -> Callable[..., Any]:
    async def call(self: GuardedService, *args: Any, **kwargs: Any) -> Any:
        await self._context.authorize("rpc")
        _, member = rpc_member(self._target, name)
        result = member(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    call.__name__ = call.__qualname__ = name
    return call


def _forward_get(name: str) -> property:
    def get(self: GuardedService) -> Any:
        self._context.authorize_cached("rpc")
        return rpc_member(self._target, name)[1]

    return property(get)


def _guarded_class(target_class: type[RpcTarget]) -> type[GuardedService]:
    namespace: dict[str, Any] = {"__doc__": target_class.__doc__, "__module__": __name__}
    for name in sorted(target_class.__rpc_members__):
        static = inspect.getattr_static(target_class, name)
        is_method = callable(static) or isinstance(static, staticmethod | classmethod)
        if is_method and not isinstance(static, property):
            namespace[name] = _forward_call(name)
        else:
            namespace[name] = _forward_get(name)
    return cast(
        "type[GuardedService]",
        type(f"Guarded{target_class.__name__}", (GuardedService,), namespace),
    )


class ServiceDirectory(RpcTarget):
    """``api.rpc``: one property per user service. Subclassed per platform with those properties."""

    def __init__(self, registry: ServiceRegistry, context: AuthContext) -> None:
        self._registry = registry
        self._context = context
        self._opened: dict[str, GuardedService] = {}

    def _open(self, name: str) -> GuardedService:
        service = self._opened.get(name)
        if service is None:
            service = self._registry.guard(self._context, name)
            self._opened[name] = service
        return service


def _directory_entry(name: str) -> property:
    def get(self: ServiceDirectory) -> GuardedService:
        return self._open(name)

    return property(get, doc=f"The {name!r} user service.")


class ServiceRegistry:
    """The user services of one platform, checked once and wrapped for each ``Api``.

    Raises:
        ValidationError: a name is not a plain identifier (or starts with ``_``), or a service is
            not an :class:`RpcTarget`.
    """

    def __init__(self, services: Mapping[str, RpcTarget]) -> None:
        guarded: dict[type[RpcTarget], type[GuardedService]] = {}
        for name, target in services.items():
            valid = (
                isinstance(name, str)
                and name.isidentifier()
                and not keyword.iskeyword(name)
                and is_reachable_name(name)
            )
            if not valid:
                raise ValidationError(
                    f"service name {name!r} must be an identifier that does not start with '_'"
                )
            if not isinstance(target, RpcTarget):
                raise ValidationError(f"service {name!r} must be an RpcTarget instance")
            if type(target) not in guarded:
                guarded[type(target)] = _guarded_class(type(target))
        self._targets = dict(services)
        self._guarded = guarded
        namespace: dict[str, Any] = {"__module__": __name__}
        namespace.update({name: _directory_entry(name) for name in self._targets})
        self._directory_class = cast(
            "type[ServiceDirectory]", type("ServiceDirectory", (ServiceDirectory,), namespace)
        )

    def names(self) -> list[str]:
        """The registered service names, sorted."""
        return sorted(self._targets)

    def guard(self, context: AuthContext, name: str) -> GuardedService:
        """Service ``name`` as seen through ``context``.

        Raises:
            NotFoundError: no service has that name.
        """
        target = self._targets.get(name)
        if target is None:
            raise NotFoundError(f"no service named {name!r}", details={"name": name})
        return self._guarded[type(target)](context, target)

    def directory(self, context: AuthContext) -> ServiceDirectory:
        """A directory of every service, bound to ``context``."""
        return self._directory_class(self, context)


class Api(RpcTarget):
    """The authenticated capability: one property per namespace, bound to one credential."""

    def __init__(self, context: AuthContext, registry: ServiceRegistry) -> None:
        self._context = context
        self._secrets = SecretsService(context)
        self._db = DbService(context)
        self._collections = CollectionsService(context)
        self._auth = AuthService(context)
        self._logs = LogsService(context)
        self._rpc = registry.directory(context)

    async def _authorize(self, scope: str | None) -> None:
        await self._context.authorize(scope)

    @property
    def secrets(self) -> SecretsService:
        """Encrypted named secrets."""
        return self._secrets

    @property
    def db(self) -> DbService:
        """The tenant's SQL database."""
        return self._db

    @property
    def collections(self) -> CollectionsService:
        """JSON documents by collection and id."""
        return self._collections

    @property
    def auth(self) -> AuthService:
        """Identity, users, API keys and tokens."""
        return self._auth

    @property
    def logs(self) -> LogsService:
        """The structured log."""
        return self._logs

    @property
    def rpc(self) -> ServiceDirectory:
        """User services, one property each (needs the ``rpc`` scope to call)."""
        return self._rpc

    @endpoint("rpc")
    async def service(self, name: ServiceName) -> GuardedService:
        """User service ``name``.

        Raises:
            NotFoundError: no service has that name.
        """
        return self._rpc._open(name)


class Root(RpcTarget):
    """The main object of every session; the only thing reachable without credentials."""

    def __init__(self, runtime: Runtime, registry: ServiceRegistry) -> None:
        self._runtime = runtime
        self._registry = registry

    async def _authorize(self, scope: str | None) -> None:
        return None

    @endpoint()
    async def health(self) -> dict[str, Any]:
        """``{"status": "ok", "version", "time"}``; ``time`` is the platform's clock."""
        return {"status": "ok", "version": __version__, "time": self._runtime.clock()}

    @endpoint()
    async def exchange(self, api_key: Credential, ttl_seconds: Ttl | None = None) -> dict[str, Any]:
        """Trade an API key for a short-lived JWT: ``{"token", "expires_at"}``.

        Raises:
            AuthenticationError: the key is unknown or revoked.
            ValidationError: ``ttl_seconds`` exceeds ``max_token_ttl``.
        """
        settings = self._runtime.settings
        ttl = checked_ttl(ttl_seconds, settings.token_ttl, settings.max_token_ttl)
        if not looks_like_api_key(api_key):
            raise AuthenticationError("the API key is invalid or has been revoked")
        principal = await self._runtime.store.platform.run(
            lambda c: principal_from_api_key(c, api_key)
        )
        return self._mint(principal, ttl)

    @endpoint()
    async def login(
        self, username: Username, password: LoginPassword, tenant: TenantName | None = None
    ) -> dict[str, Any]:
        """Check a user's password: ``{"token", "expires_at", "user"}``.

        ``tenant`` is the tenant's name; None means ``Settings.default_tenant`` ("dev").

        Raises:
            AuthenticationError: unknown tenant or user, wrong password, or disabled user (one
                message for all, so none can be told apart).
        """
        tenant_name = tenant or self._runtime.settings.default_tenant

        def lookup(c: Any) -> tuple[str, dict[str, Any], bytes] | None:
            row = c.execute("SELECT id FROM tenants WHERE name = ?", (tenant_name,)).fetchone()
            found = None if row is None else find_user(c, row[0], username)
            return None if found is None else (row[0], *found)

        found = await self._runtime.store.platform.run(lookup)
        matches = await anyio.to_thread.run_sync(
            check_password, password, None if found is None else found[2]
        )
        if found is None or not matches or found[1]["disabled"]:
            raise AuthenticationError(_WRONG_LOGIN)
        tenant_id, user, _ = found
        principal = user_principal(tenant_id, tenant_name, user)
        return {**self._mint(principal, self._runtime.settings.token_ttl), "user": user}

    @endpoint()
    async def authenticate(self, token: Credential) -> Api:
        """The ``Api`` capability for a JWT or an API key.

        Raises:
            AuthenticationError: invalid, expired or revoked credential.
        """
        runtime = self._runtime
        if looks_like_api_key(token):
            principal = await runtime.store.platform.run(lambda c: principal_from_api_key(c, token))
        else:
            claims = runtime.signer.verify(token)
            principal = await runtime.store.platform.run(lambda c: principal_from_claims(c, claims))
        return Api(AuthContext(runtime, principal), self._registry)

    def _mint(self, principal: Principal, ttl: int) -> dict[str, Any]:
        token, expires_at = self._runtime.signer.mint(
            subject=principal.subject,
            tenant_id=principal.tenant_id,
            kind=principal.kind,
            scopes=sorted(principal.scopes),
            roles=principal.roles,
            ttl_seconds=ttl,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
        )
        return {"token": token, "expires_at": expires_at}
