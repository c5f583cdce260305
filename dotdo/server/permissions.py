"""Scopes (what a call needs) and roles (named sets of scopes given to users).

Every authenticated method needs one scope; a principal holds the union of its roles' scopes and
any scopes granted directly. API keys and minted tokens hold scopes only, never more than their
creator had.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

__all__ = ["ROLES", "SCOPES", "Role", "Scope", "effective_scopes"]

Scope = Literal[
    "secrets:read",
    "secrets:write",
    "db:read",
    "db:write",
    "collections:read",
    "collections:write",
    "logs:read",
    "logs:write",
    "auth:admin",
    "rpc",
]
Role = Literal["admin", "developer", "reader"]

SCOPES: tuple[Scope, ...] = (
    "secrets:read",
    "secrets:write",
    "db:read",
    "db:write",
    "collections:read",
    "collections:write",
    "logs:read",
    "logs:write",
    "auth:admin",
    "rpc",
)

ROLES: dict[Role, tuple[Scope, ...]] = {
    "admin": SCOPES,
    "developer": tuple(scope for scope in SCOPES if scope != "auth:admin"),
    "reader": ("db:read", "collections:read", "logs:read"),
}


def effective_scopes(roles: Iterable[str], scopes: Iterable[str]) -> list[str]:
    """The sorted union of the scopes the roles grant and the scopes granted directly."""
    granted: set[str] = set(scopes)
    for role in roles:
        granted.update(ROLES.get(role, ()))  # type: ignore[call-overload]
    return sorted(granted)
