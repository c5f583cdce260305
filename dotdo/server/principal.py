"""Who is calling: the principal behind an ``Api`` capability, and how credentials become one."""

from __future__ import annotations

import hmac
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from dotdo.errors import AuthenticationError
from dotdo.server.permissions import effective_scopes
from dotdo.server.tokens import TokenClaims, hash_api_key

__all__ = [
    "Principal",
    "is_active",
    "principal_from_api_key",
    "principal_from_claims",
    "user_principal",
]

_INVALID_KEY = "the API key is invalid or has been revoked"


@dataclass(frozen=True)
class Principal:
    """The tenant and identity an ``Api`` acts for, and what it may do.

    Attributes:
        kind: ``"user"`` (logged in with a password) or ``"api_key"``.
        subject: the user id, or ``"key:<api key id>"``.
        expires_at: when the credential stops working (seconds since the epoch); None for an API
            key presented directly, which lasts until revoked.
    """

    tenant_id: str
    tenant: str
    kind: Literal["user", "api_key"]
    subject: str
    scopes: frozenset[str]
    roles: tuple[str, ...]
    expires_at: int | None
    user_id: str | None = None
    username: str | None = None
    api_key_id: str | None = None

    def describe(self) -> dict[str, Any]:
        """The ``auth.whoami()`` answer."""
        return {
            "tenant_id": self.tenant_id,
            "tenant": self.tenant,
            "kind": self.kind,
            "subject": self.subject,
            "user_id": self.user_id,
            "username": self.username,
            "api_key_id": self.api_key_id,
            "roles": list(self.roles),
            "scopes": sorted(self.scopes),
            "expires_at": self.expires_at,
        }


def principal_from_api_key(connection: sqlite3.Connection, api_key: str) -> Principal:
    """Look an API key up by its hash.

    Raises:
        AuthenticationError: no live key has that hash.
    """
    key_hash = hash_api_key(api_key)
    row = connection.execute(
        "SELECT k.id, k.tenant_id, t.name, k.scopes, k.key_hash FROM api_keys k"
        " JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = ? AND k.revoked_at IS NULL",
        (key_hash,),
    ).fetchone()
    # The lookup is by hash, so this comparison only guards against a lookup that matched
    # loosely; it is constant-time all the same.
    if row is None or not hmac.compare_digest(row[4], key_hash):
        raise AuthenticationError(_INVALID_KEY)
    key_id, tenant_id, tenant, scopes = row[0], row[1], row[2], json.loads(row[3])
    return Principal(
        tenant_id=tenant_id,
        tenant=tenant,
        kind="api_key",
        subject=f"key:{key_id}",
        scopes=frozenset(scopes),
        roles=(),
        expires_at=None,
        api_key_id=key_id,
    )


def principal_from_claims(connection: sqlite3.Connection, claims: TokenClaims) -> Principal:
    """The principal a verified JWT names, provided its user or key is still active.

    Raises:
        AuthenticationError: the tenant, user or API key behind the token is gone or disabled.
    """
    tenant = connection.execute(
        "SELECT name FROM tenants WHERE id = ?", (claims.tenant_id,)
    ).fetchone()
    if tenant is None:
        raise AuthenticationError("the token's tenant no longer exists")
    username = None
    if claims.user_id is not None:
        row = connection.execute(
            "SELECT username FROM users WHERE id = ? AND tenant_id = ? AND disabled = 0",
            (claims.user_id, claims.tenant_id),
        ).fetchone()
        if row is None:
            raise AuthenticationError("the token's user was deleted or disabled")
        username = row[0]
    principal = Principal(
        tenant_id=claims.tenant_id,
        tenant=tenant[0],
        kind=claims.kind,
        subject=claims.subject,
        scopes=frozenset(claims.scopes),
        roles=claims.roles,
        expires_at=claims.expires_at,
        user_id=claims.user_id,
        username=username,
        api_key_id=claims.api_key_id,
    )
    if not is_active(connection, principal):
        raise AuthenticationError("the credential behind this token was revoked")
    return principal


def is_active(connection: sqlite3.Connection, principal: Principal) -> bool:
    """True while the user and API key behind ``principal`` still exist and are enabled."""
    if principal.api_key_id is not None:
        key = connection.execute(
            "SELECT 1 FROM api_keys WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
            (principal.api_key_id, principal.tenant_id),
        ).fetchone()
        if key is None:
            return False
    if principal.user_id is not None:
        user = connection.execute(
            "SELECT 1 FROM users WHERE id = ? AND tenant_id = ? AND disabled = 0",
            (principal.user_id, principal.tenant_id),
        ).fetchone()
        if user is None:
            return False
    return principal.api_key_id is not None or principal.user_id is not None


def user_principal(tenant_id: str, tenant: str, user: dict[str, Any]) -> Principal:
    """The principal of a user who just proved their password (before a token is minted)."""
    return Principal(
        tenant_id=tenant_id,
        tenant=tenant,
        kind="user",
        subject=user["id"],
        scopes=frozenset(effective_scopes(user["roles"], user["scopes"])),
        roles=tuple(user["roles"]),
        expires_at=None,
        user_id=user["id"],
        username=user["username"],
    )
