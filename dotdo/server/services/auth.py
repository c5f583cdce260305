"""``api.auth``: who am I, users (bcrypt passwords), roles and scopes, API keys, JWTs."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Annotated, Any

import anyio.to_thread
import bcrypt
from pydantic import AfterValidator, Field, StringConstraints

from dotdo.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from dotdo.server.context import AuthContext
from dotdo.server.permissions import ROLES, SCOPES, Role, Scope
from dotdo.server.principal import principal_from_claims
from dotdo.server.services.base import Service
from dotdo.server.tokens import generate_api_key, hash_api_key, key_hint
from dotdo.server.validation import IdempotencyKey, endpoint

__all__ = [
    "ApiKeysService",
    "AuthService",
    "UsersService",
    "check_password",
    "checked_ttl",
    "find_user",
    "hash_password",
    "insert_api_key",
    "insert_user",
    "user_info",
]

BCRYPT_MAX_BYTES = 72


def _password_rules(password: str) -> str:
    if "\x00" in password:
        raise ValueError("a password may not contain NUL characters")
    if len(password.encode("utf-8", "surrogatepass")) > BCRYPT_MAX_BYTES:
        # bcrypt reads at most 72 bytes; refusing is honest where truncating would not be.
        raise ValueError(f"a password may be at most {BCRYPT_MAX_BYTES} bytes (UTF-8)")
    return password


Password = Annotated[str, StringConstraints(min_length=8), AfterValidator(_password_rules)]
"""8 characters to 72 bytes of UTF-8, no NUL."""
LoginPassword = Annotated[str, StringConstraints(min_length=1), AfterValidator(_password_rules)]
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@+\-]{1,128}$")]
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
KeyId = Annotated[str, StringConstraints(pattern=r"^k_[0-9a-f]{24}$")]
Roles = Annotated[list[Role], Field(max_length=len(ROLES))]
Scopes = Annotated[list[Scope], Field(max_length=len(SCOPES))]
Ttl = Annotated[int, Field(ge=1)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=8192)]

_USER_COLUMNS = "id, username, roles, scopes, disabled, created_at, updated_at"
_KEY_COLUMNS = "id, name, hint, scopes, created_by, created_at, revoked_at"

# A real bcrypt hash to check against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = bcrypt.hashpw(b"dotdo-timing-equaliser", bcrypt.gensalt(4))


def hash_password(password: str, rounds: int) -> bytes:
    """bcrypt ``password`` (already validated: at most 72 bytes, no NUL)."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds))


def check_password(password: str, hashed: bytes | None) -> bool:
    """True when ``password`` matches ``hashed``; costs one bcrypt check even when it is None."""
    candidate = password.encode("utf-8")
    if hashed is None:
        bcrypt.checkpw(candidate, _DUMMY_HASH)
        return False
    return bcrypt.checkpw(candidate, hashed)


def user_info(row: tuple[Any, ...]) -> dict[str, Any]:
    """A user as the API shows it (never the password hash)."""
    user_id, username, roles, scopes, disabled, created_at, updated_at = row
    return {
        "id": user_id,
        "username": username,
        "roles": json.loads(roles),
        "scopes": json.loads(scopes),
        "disabled": bool(disabled),
        "created_at": created_at,
        "updated_at": updated_at,
    }


def _key_info(row: tuple[Any, ...]) -> dict[str, Any]:
    key_id, name, hint, scopes, created_by, created_at, revoked_at = row
    return {
        "id": key_id,
        "name": name,
        "hint": hint,
        "scopes": json.loads(scopes),
        "created_by": created_by,
        "created_at": created_at,
        "revoked_at": revoked_at,
    }


def find_user(
    connection: sqlite3.Connection, tenant_id: str, username: str
) -> tuple[dict[str, Any], bytes] | None:
    """``(user, password_hash)`` for ``username`` in the tenant, or None."""
    row = connection.execute(
        f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE tenant_id = ? AND username = ?",
        (tenant_id, username),
    ).fetchone()
    if row is None:
        return None
    return user_info(row[:-1]), row[-1]


def _require_user(connection: sqlite3.Connection, tenant_id: str, username: str) -> dict[str, Any]:
    found = find_user(connection, tenant_id, username)
    if found is None:
        raise NotFoundError(f"no user named {username!r}", details={"username": username})
    return found[0]


def insert_user(
    connection: sqlite3.Connection,
    *,
    tenant_id: str,
    username: str,
    password_hash: bytes,
    roles: list[str],
    scopes: list[str],
    now: float,
) -> dict[str, Any]:
    """Add a user; raises ConflictError if the username is taken in this tenant."""
    user_id = "u_" + secrets.token_hex(12)
    try:
        connection.execute(
            "INSERT INTO users (id, tenant_id, username, password_hash, roles, scopes,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                user_id,
                tenant_id,
                username,
                password_hash,
                json.dumps(sorted(set(roles))),
                json.dumps(sorted(set(scopes))),
                now,
                now,
            ),
        )
    except sqlite3.IntegrityError:
        raise ConflictError(
            f"a user named {username!r} already exists", details={"username": username}
        ) from None
    return _require_user(connection, tenant_id, username)


def insert_api_key(
    connection: sqlite3.Connection,
    *,
    tenant_id: str,
    name: str,
    scopes: list[str],
    created_by: str | None,
    now: float,
) -> dict[str, Any]:
    """Create an API key; the answer is the only place its plaintext ever appears."""
    key_id, api_key = "k_" + secrets.token_hex(12), generate_api_key()
    connection.execute(
        "INSERT INTO api_keys (id, tenant_id, name, key_hash, hint, scopes, created_by,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key_id,
            tenant_id,
            name,
            hash_api_key(api_key),
            key_hint(api_key),
            json.dumps(sorted(set(scopes))),
            created_by,
            now,
        ),
    )
    row = connection.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)
    ).fetchone()
    return {**_key_info(row), "key": api_key}


def _require_subset(requested: list[str], held: frozenset[str]) -> None:
    missing = sorted(set(requested) - held)
    if missing:
        raise AuthorizationError(
            f"cannot grant scopes this credential does not hold: {', '.join(missing)}",
            details={"scopes": missing},
        )


class UsersService(Service):
    """``api.auth.users``: the tenant's users. Every method needs the ``auth:admin`` scope."""

    @endpoint("auth:admin")
    async def add(
        self,
        username: Username,
        password: Password,
        roles: Roles | None = None,
        scopes: Scopes | None = None,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Create a user (roles default to ``["reader"]``); returns the user."""
        runtime, tenant_id = self._runtime, self._tenant_id
        password_hash = await anyio.to_thread.run_sync(
            hash_password, password, runtime.settings.bcrypt_rounds
        )
        now = runtime.clock()
        role_list: list[str] = ["reader"] if roles is None else list(roles)
        scope_list: list[str] = list(scopes or [])

        def add(c: sqlite3.Connection) -> dict[str, Any]:
            return insert_user(
                c,
                tenant_id=tenant_id,
                username=username,
                password_hash=password_hash,
                roles=role_list,
                scopes=scope_list,
                now=now,
            )

        arguments = {
            "username": username,
            "password": password,
            "roles": role_list,
            "scopes": scope_list,
        }
        return await self._context.mutate("auth.users.add", arguments, idempotency_key, add)

    @endpoint("auth:admin")
    async def get(self, username: Username) -> dict[str, Any]:
        """The user named ``username``.

        Raises:
            NotFoundError: no such user in this tenant.
        """
        tenant_id = self._tenant_id
        return await self._runtime.store.platform.run(
            lambda c: _require_user(c, tenant_id, username)
        )

    @endpoint("auth:admin")
    async def update(
        self,
        username: Username,
        password: Password | None = None,
        roles: Roles | None = None,
        scopes: Scopes | None = None,
        disabled: bool | None = None,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Change what is given (None leaves it); returns the user.

        Disabling a user ends every session it holds within a second.

        Raises:
            NotFoundError: no such user in this tenant.
        """
        runtime, tenant_id, now = self._runtime, self._tenant_id, self._runtime.clock()
        password_hash = None
        if password is not None:
            password_hash = await anyio.to_thread.run_sync(
                hash_password, password, runtime.settings.bcrypt_rounds
            )
        changes: dict[str, Any] = {}
        if password_hash is not None:
            changes["password_hash"] = password_hash
        if roles is not None:
            changes["roles"] = json.dumps(sorted(set(roles)))
        if scopes is not None:
            changes["scopes"] = json.dumps(sorted(set(scopes)))
        if disabled is not None:
            changes["disabled"] = int(disabled)

        def update(c: sqlite3.Connection) -> dict[str, Any]:
            _require_user(c, tenant_id, username)
            assignments = "".join(f"{column} = ?, " for column in changes)
            c.execute(
                f"UPDATE users SET {assignments}updated_at = ?"
                " WHERE tenant_id = ? AND username = ?",
                (*changes.values(), now, tenant_id, username),
            )
            return _require_user(c, tenant_id, username)

        arguments = {
            "username": username,
            "password": password,
            "roles": roles,
            "scopes": scopes,
            "disabled": disabled,
        }
        user = await self._context.mutate("auth.users.update", arguments, idempotency_key, update)
        if disabled:
            runtime.credentials_changed()
        return user

    @endpoint("auth:admin")
    async def delete(
        self, username: Username, idempotency_key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        """Delete a user; every session it holds ends within a second.

        Raises:
            NotFoundError: no such user in this tenant.
        """
        tenant_id = self._tenant_id

        def remove(c: sqlite3.Connection) -> dict[str, Any]:
            _require_user(c, tenant_id, username)
            c.execute(
                "DELETE FROM users WHERE tenant_id = ? AND username = ?", (tenant_id, username)
            )
            return {"username": username, "deleted": True}

        arguments = {"username": username}
        result = await self._context.mutate("auth.users.delete", arguments, idempotency_key, remove)
        self._runtime.credentials_changed()
        return result

    @endpoint("auth:admin")
    async def list(self) -> list[dict[str, Any]]:
        """Every user of the tenant, by username."""
        tenant_id = self._tenant_id
        rows = await self._runtime.store.platform.run(
            lambda c: c.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE tenant_id = ? ORDER BY username",
                (tenant_id,),
            ).fetchall()
        )
        return [user_info(row) for row in rows]


class ApiKeysService(Service):
    """``api.auth.api_keys``: the tenant's API keys. Every method needs ``auth:admin``."""

    @endpoint("auth:admin")
    async def create(
        self,
        name: KeyName,
        scopes: Scopes | None = None,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Create a key with ``scopes`` (default: the caller's); the answer alone shows the key.

        Raises:
            AuthorizationError: a requested scope is one the caller does not hold.
        """
        principal, tenant_id, now = self._context.principal, self._tenant_id, self._runtime.clock()
        granted: list[str] = sorted(principal.scopes if scopes is None else set(scopes))
        _require_subset(granted, principal.scopes)

        def create(c: sqlite3.Connection) -> dict[str, Any]:
            return insert_api_key(
                c,
                tenant_id=tenant_id,
                name=name,
                scopes=granted,
                created_by=principal.subject,
                now=now,
            )

        arguments = {"name": name, "scopes": granted}
        return await self._context.mutate(
            "auth.api_keys.create", arguments, idempotency_key, create
        )

    @endpoint("auth:admin")
    async def revoke(
        self, key_id: KeyId, idempotency_key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        """Revoke a key; it and every token exchanged for it stop working within a second.

        Revoking a revoked key answers with its original revocation time.

        Raises:
            NotFoundError: no such key in this tenant.
        """
        tenant_id, now = self._tenant_id, self._runtime.clock()

        def revoke(c: sqlite3.Connection) -> dict[str, Any]:
            c.execute(
                "UPDATE api_keys SET revoked_at = ?"
                " WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
                (now, key_id, tenant_id),
            )
            row = c.execute(
                "SELECT revoked_at FROM api_keys WHERE id = ? AND tenant_id = ?",
                (key_id, tenant_id),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no API key {key_id!r}", details={"id": key_id})
            return {"id": key_id, "revoked": True, "revoked_at": row[0]}

        arguments = {"key_id": key_id}
        result = await self._context.mutate(
            "auth.api_keys.revoke", arguments, idempotency_key, revoke
        )
        self._runtime.credentials_changed()
        return result

    @endpoint("auth:admin")
    async def list(self) -> list[dict[str, Any]]:
        """Every key of the tenant (revoked ones too), oldest first; never the key itself."""
        tenant_id = self._tenant_id
        rows = await self._runtime.store.platform.run(
            lambda c: c.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id",
                (tenant_id,),
            ).fetchall()
        )
        return [_key_info(row) for row in rows]


class AuthService(Service):
    """``api.auth``: identity, roles and scopes, users, API keys and tokens."""

    def __init__(self, context: AuthContext) -> None:
        super().__init__(context)
        self._users = UsersService(context)
        self._api_keys = ApiKeysService(context)

    @property
    def users(self) -> UsersService:
        """The users capability (needs ``auth:admin`` for every call)."""
        return self._users

    @property
    def api_keys(self) -> ApiKeysService:
        """The API keys capability (needs ``auth:admin`` for every call)."""
        return self._api_keys

    @endpoint()
    async def whoami(self) -> dict[str, Any]:
        """The caller: tenant, kind, subject, user or key id, roles, scopes, expiry."""
        return self._context.principal.describe()

    @endpoint()
    async def roles(self) -> dict[str, list[str]]:
        """Every role and the scopes it grants."""
        return {role: list(scopes) for role, scopes in ROLES.items()}

    @endpoint()
    async def scopes(self) -> list[str]:
        """Every scope the platform knows."""
        return list(SCOPES)

    @endpoint()
    async def mint_jwt(
        self, ttl_seconds: Ttl | None = None, scopes: Scopes | None = None
    ) -> dict[str, Any]:
        """A new JWT for the caller, with at most the caller's scopes.

        It lasts ``ttl_seconds`` (default ``token_ttl``, at most ``max_token_ttl``) but never
        beyond the caller's own token, so a session cannot extend itself.

        Raises:
            ValidationError: ``ttl_seconds`` exceeds ``max_token_ttl``.
            AuthorizationError: a requested scope is one the caller does not hold.
        """
        principal, settings = self._context.principal, self._runtime.settings
        ttl = checked_ttl(ttl_seconds, settings.token_ttl, settings.max_token_ttl)
        if principal.expires_at is not None:
            remaining = int(principal.expires_at - self._runtime.clock())
            ttl = max(1, min(ttl, remaining))
        granted: list[str] = sorted(principal.scopes if scopes is None else set(scopes))
        _require_subset(granted, principal.scopes)
        token, expires_at = self._runtime.signer.mint(
            subject=principal.subject,
            tenant_id=principal.tenant_id,
            kind=principal.kind,
            scopes=granted,
            roles=principal.roles,
            ttl_seconds=ttl,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
        )
        return {"token": token, "expires_at": expires_at}

    @endpoint()
    async def validate_jwt(self, token: Token) -> dict[str, Any]:
        """The claims of a valid token of this tenant.

        Raises:
            AuthenticationError: invalid, expired, revoked, or issued for another tenant.
        """
        claims = self._runtime.signer.verify(token)
        if claims.tenant_id != self._tenant_id:
            raise AuthenticationError("the token is invalid")
        await self._runtime.store.platform.run(lambda c: principal_from_claims(c, claims))
        return {
            "valid": True,
            "subject": claims.subject,
            "tenant_id": claims.tenant_id,
            "kind": claims.kind,
            "scopes": list(claims.scopes),
            "roles": list(claims.roles),
            "user_id": claims.user_id,
            "api_key_id": claims.api_key_id,
            "issued_at": claims.issued_at,
            "expires_at": claims.expires_at,
        }


def checked_ttl(requested: int | None, default: int, maximum: int) -> int:
    """The token lifetime to use: ``default`` when None; ValidationError above ``maximum``."""
    if requested is None:
        return default
    if requested > maximum:
        raise ValidationError(f"ttl_seconds may be at most {maximum}")
    return requested
