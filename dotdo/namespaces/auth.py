"""``dotdo.auth``: who am I, log in, users, roles and scopes, API keys, JWTs.

The shape mirrors the platform: ``auth.users`` and ``auth.api_keys`` are groups of their own
(``await dotdo.auth.users.add("ada", "correct horse")``). Managing users and keys needs the
``auth:admin`` scope. Passwords, keys and tokens never appear in reprs.

``login`` makes this client act as the user (its sessions reconnect with the user's JWT) until
``logout``. On a server handling many users, do not log in on the shared singleton; give each user
their own credential instead.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from dotdo.errors import NotFoundError
from dotdo.namespaces._base import MISSING, Namespace
from dotdo.namespaces.db import bounded
from dotdo.namespaces.models import (
    ApiKeyInfo,
    Claims,
    CreatedApiKey,
    LoginResult,
    Principal,
    TokenInfo,
    User,
)

if TYPE_CHECKING:
    from dotdo._client import DotDo

__all__ = ["ApiKeys", "Auth", "Users"]

D = TypeVar("D")


def _strings(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


class _AuthGroup(Namespace):
    """A capability under ``api.auth`` (``users``, ``api_keys``): calls go to its own path."""

    def __init__(self, client: DotDo, group: str) -> None:
        super().__init__(client, "auth")
        self._group = group

    async def _call(
        self, method: str, *args: Any, idempotent: bool, timeout: float | None = None
    ) -> Any:
        return await self._client._call(
            ("auth", self._group, method), args, idempotent=idempotent, timeout=timeout
        )

    async def _write(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        key = self._client.new_idempotency_key()
        return await self._client._call(
            ("auth", self._group, method), (*args, key), idempotent=True, timeout=timeout
        )

    def __repr__(self) -> str:
        return f"<dotdo.auth.{self._group}>"


class Users(_AuthGroup):
    """The tenant's users (``auth:admin``). Passwords: 8 characters to 72 bytes of UTF-8."""

    def __init__(self, client: DotDo) -> None:
        super().__init__(client, "users")

    async def add(
        self,
        username: str,
        password: str,
        *,
        roles: Sequence[str] | None = None,
        scopes: Sequence[str] | None = None,
    ) -> User:
        """Create a user.

        Args:
            username: 1–128 of ``A-Z a-z 0-9 _ . @ + -``, unique in the tenant.
            password: 8 characters to 72 bytes of UTF-8, no NUL.
            roles: ``admin``, ``developer``, ``reader`` (default ``["reader"]``).
            scopes: scopes granted beyond the roles'.

        Raises:
            ConflictError: the username is taken.
            ValidationError: a bad username, password, role or scope.
        """
        user = await self._write("add", username, password, _strings(roles), _strings(scopes))
        return User.model_validate(user)

    @overload
    async def get(self, username: str) -> User: ...

    @overload
    async def get(self, username: str, *, default: D) -> User | D: ...

    async def get(self, username: str, *, default: Any = MISSING) -> Any:
        """The user named ``username``.

        Args:
            username: the user's name.
            default: returned instead of raising when there is no such user.

        Raises:
            NotFoundError: no such user and no ``default`` given.
        """
        try:
            user = await self._call("get", username, idempotent=True)
        except NotFoundError:
            if default is MISSING:
                raise
            return default
        return User.model_validate(user)

    async def list(self) -> builtins.list[User]:
        """Every user of the tenant, by username."""
        users = await self._call("list", idempotent=True)
        return [User.model_validate(user) for user in users]

    async def update(
        self,
        username: str,
        *,
        password: str | None = None,
        roles: Sequence[str] | None = None,
        scopes: Sequence[str] | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Change what is given (None leaves it as is); returns the user.

        Disabling a user ends every session it holds within a second. A new password leaves
        tokens already issued valid until they expire.

        Raises:
            NotFoundError: no such user.
        """
        user = await self._write(
            "update", username, password, _strings(roles), _strings(scopes), disabled
        )
        return User.model_validate(user)

    async def delete(self, username: str) -> None:
        """Delete a user; every session it holds ends within a second.

        Raises:
            NotFoundError: no such user.
        """
        await self._write("delete", username)


class ApiKeys(_AuthGroup):
    """The tenant's API keys (``auth:admin``), stored only as hashes."""

    def __init__(self, client: DotDo) -> None:
        super().__init__(client, "api_keys")

    async def create(self, name: str, *, scopes: Sequence[str] | None = None) -> CreatedApiKey:
        """Create a key; its ``key`` is shown in this answer only (it is never in the repr).

        Args:
            name: a label, 1–128 characters.
            scopes: what the key may do (default: every scope the caller holds).

        Raises:
            AuthorizationError: a scope the caller does not hold.
        """
        created = await self._write("create", name, _strings(scopes))
        return CreatedApiKey.model_validate(created)

    async def list(self) -> builtins.list[ApiKeyInfo]:
        """Every key of the tenant, oldest first, revoked ones too (never the key itself)."""
        keys = await self._call("list", idempotent=True)
        return [ApiKeyInfo.model_validate(key) for key in keys]

    async def revoke(self, key_id: str) -> None:
        """Revoke key ``key_id``; it and every token exchanged for it stop working within 1 s.

        Revoking a revoked key does nothing.

        Raises:
            NotFoundError: no such key.
        """
        await self._write("revoke", key_id)


class Auth(Namespace):
    """Identity and access: ``whoami``, ``login``, ``users``, ``api_keys``, roles and JWTs."""

    def __init__(self, client: DotDo) -> None:
        super().__init__(client, "auth")
        self._users = Users(client)
        self._api_keys = ApiKeys(client)

    @property
    def users(self) -> Users:
        """The tenant's users: ``add``, ``get``, ``list``, ``update``, ``delete``."""
        return self._users

    @property
    def api_keys(self) -> ApiKeys:
        """The tenant's API keys: ``create``, ``list``, ``revoke``."""
        return self._api_keys

    async def login(self, username: str, password: str, tenant: str | None = None) -> LoginResult:
        """Check a user's password and act as that user from now on; returns their JWT and user.

        Every session of this client reconnects with the user's token, until ``logout()``. Sent
        once, never retried.

        Args:
            username: the user's name.
            password: the user's password.
            tenant: the tenant's name (default: the platform's default tenant, ``"dev"``).

        Raises:
            AuthenticationError: wrong username or password, unknown tenant, or disabled user
                (one message for all).
        """
        session = await self._client._session()
        answer = await bounded(
            self._client, session.root.login(username, password, tenant), "login"
        )
        result = LoginResult.model_validate(answer)
        await self._client._use_login(result.token)
        return result

    async def logout(self) -> None:
        """Stop acting as the user ``login`` signed in: the next call uses the client's own
        credentials (argument, environment or stored login) again."""
        await self._client._use_login(None)

    async def whoami(self) -> Principal:
        """Who this client's credential speaks for: tenant, user or key, roles, scopes."""
        return Principal.model_validate(await self._call("whoami", idempotent=True))

    async def roles(self) -> dict[str, builtins.list[str]]:
        """Every role and the scopes it grants."""
        roles: dict[str, builtins.list[str]] = await self._call("roles", idempotent=True)
        return roles

    async def scopes(self) -> builtins.list[str]:
        """Every scope the platform knows."""
        scopes: builtins.list[str] = await self._call("scopes", idempotent=True)
        return scopes

    async def mint_jwt(
        self, *, ttl_seconds: int | None = None, scopes: Sequence[str] | None = None
    ) -> TokenInfo:
        """A new JWT for this client's identity, with at most its scopes.

        Args:
            ttl_seconds: lifetime (default 900, at most 3600); never beyond this client's own
                token.
            scopes: a subset of this client's scopes (default: all of them).

        Raises:
            AuthorizationError: a scope this client does not hold.
            ValidationError: ``ttl_seconds`` above the platform's maximum.
        """
        minted = await self._call("mint_jwt", ttl_seconds, _strings(scopes), idempotent=True)
        return TokenInfo.model_validate(minted)

    async def validate_jwt(self, token: str) -> Claims:
        """The claims of ``token`` if it is a valid, live JWT of this tenant.

        Raises:
            AuthenticationError: invalid, expired, revoked, or another tenant's.
        """
        return Claims.model_validate(await self._call("validate_jwt", token, idempotent=True))
