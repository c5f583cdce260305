"""Result models returned by the namespaces (pydantic, so IDEs complete their fields).

Every model is frozen and ignores fields it does not know, so a newer platform that answers with
more does not break an older client. Credentials (a new API key, a token) are excluded from reprs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiKeyInfo",
    "Claims",
    "CreatedApiKey",
    "Document",
    "ExecuteResult",
    "LogEntry",
    "LoginResult",
    "Principal",
    "QueryResult",
    "SecretInfo",
    "TokenInfo",
    "User",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SecretInfo(BaseModel):
    """A secret's metadata: everything but its value."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    comment: str | None = None
    version: int
    created_at: float
    updated_at: float


class QueryResult(_Model):
    """Rows read by ``db.query`` or ``db.select``.

    Attributes:
        rows: one dict per row, keyed by column name (a later duplicate column name wins).
        columns: the result's column names in order, duplicates included.
        row_count: ``len(rows)``.
    """

    rows: list[dict[str, Any]]
    columns: list[str]
    row_count: int


class ExecuteResult(_Model):
    """What a write did.

    Attributes:
        rows_affected: rows inserted, updated or deleted (0 for DDL).
        last_insert_id: the rowid of the last inserted row; None when nothing was inserted.
    """

    rows_affected: int
    last_insert_id: int | None = None


class Document(_Model):
    """A document found by a collection query: its id and its data (a JSON object)."""

    id: str
    data: dict[str, Any]


class User(_Model):
    """A user of the tenant (never the password)."""

    id: str
    username: str
    roles: list[str]
    scopes: list[str]
    disabled: bool
    created_at: float
    updated_at: float


class ApiKeyInfo(_Model):
    """An API key's metadata; ``hint`` is its first characters, never the whole key."""

    id: str
    name: str
    hint: str
    scopes: list[str]
    created_by: str | None = None
    created_at: float
    revoked_at: float | None = None


class CreatedApiKey(ApiKeyInfo):
    """A new API key: ``key`` is shown this once (store it now) and never in the repr."""

    key: str = Field(repr=False)


class TokenInfo(_Model):
    """A JWT and when it expires (seconds since the epoch); the token is never in the repr."""

    token: str = Field(repr=False)
    expires_at: int


class LoginResult(TokenInfo):
    """A successful ``auth.login``: the user's JWT, its expiry, and the user."""

    user: User


class Principal(_Model):
    """Who a credential speaks for (``auth.whoami``).

    Attributes:
        kind: ``"user"`` or ``"api_key"``.
        subject: the user id, or ``"key:<key id>"``.
        expires_at: when the credential expires; None for an API key used directly.
    """

    tenant_id: str
    tenant: str | None = None
    kind: str
    subject: str
    user_id: str | None = None
    username: str | None = None
    api_key_id: str | None = None
    roles: list[str]
    scopes: list[str]
    expires_at: int | None = None


class Claims(_Model):
    """The claims of a valid JWT (``auth.validate_jwt``)."""

    valid: bool
    subject: str
    tenant_id: str
    kind: str
    scopes: list[str]
    roles: list[str]
    user_id: str | None = None
    api_key_id: str | None = None
    issued_at: float
    expires_at: int


class LogEntry(_Model):
    """A stored log entry (``logs.query``).

    ``data`` holds what the caller passed plus what the client added: ``_source`` (``file``,
    ``line``, ``function``), ``_exception`` (traceback text) and ``_level`` (``"notice"``, which
    the platform stores as ``"info"``).
    """

    id: int
    timestamp: float
    level: str
    category: str | None = None
    message: str
    data: dict[str, Any] | None = None
