"""``api.secrets``: named values encrypted at rest with AES-256-GCM."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

from pydantic import StringConstraints

from dotdo.errors import NotFoundError
from dotdo.server.services.base import Service
from dotdo.server.validation import IdempotencyKey, endpoint, utf8_at_most

__all__ = ["SecretsService"]

SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-/]{0,255}$")]
SecretPrefix = Annotated[str, StringConstraints(max_length=256)]
SecretValue = Annotated[str, utf8_at_most(65_536, "a secret value")]
Comment = Annotated[str, StringConstraints(max_length=1024)]

_COLUMNS = "name, comment, version, created_at, updated_at"


def _aad(tenant_id: str, name: str) -> bytes:
    return b"dotdo-secret/v1\0" + tenant_id.encode() + b"\0" + name.encode()


def _info(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    name, comment, version, created_at, updated_at = row
    return {
        "name": name,
        "comment": comment,
        "version": version,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def _prefix_clause(prefix: str | None) -> tuple[str, tuple[Any, ...]]:
    # substr() rather than LIKE, so '%' and '_' in a prefix mean themselves.
    if not prefix:
        return "", ()
    return " AND substr(name, 1, ?) = ?", (len(prefix), prefix)


class SecretsService(Service):
    """Named secret values for the tenant. Values leave only through ``get`` and ``env``."""

    @endpoint("secrets:read")
    async def get(self, name: SecretName) -> str:
        """The value of secret ``name``.

        Raises:
            NotFoundError: no secret has that name.
        """
        tenant_id, box = self._tenant_id, self._runtime.box
        row = await self._runtime.store.platform.run(
            lambda c: c.execute(
                "SELECT sealed FROM secrets WHERE tenant_id = ? AND name = ?", (tenant_id, name)
            ).fetchone()
        )
        if row is None:
            raise NotFoundError(f"no secret named {name!r}", details={"name": name})
        return box.open(row[0], _aad(tenant_id, name)).decode("utf-8")

    @endpoint("secrets:write")
    async def set(
        self,
        name: SecretName,
        value: SecretValue,
        comment: Comment | None = None,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Create or replace secret ``name``; returns its metadata (never the value)."""
        tenant_id, box, now = self._tenant_id, self._runtime.box, self._runtime.clock()

        def upsert(c: sqlite3.Connection) -> dict[str, Any]:
            sealed = box.seal(value.encode("utf-8"), _aad(tenant_id, name))
            c.execute(
                "INSERT INTO secrets (tenant_id, name, sealed, comment, version, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (tenant_id, name) DO UPDATE SET sealed = excluded.sealed,"
                " comment = excluded.comment, version = version + 1,"
                " updated_at = excluded.updated_at",
                (tenant_id, name, sealed, comment, now, now),
            )
            row = c.execute(
                f"SELECT {_COLUMNS} FROM secrets WHERE tenant_id = ? AND name = ?",
                (tenant_id, name),
            ).fetchone()
            return _info(row)

        arguments = {"name": name, "value": value, "comment": comment}
        return await self._context.mutate("secrets.set", arguments, idempotency_key, upsert)

    @endpoint("secrets:read")
    async def list(self, prefix: SecretPrefix | None = None) -> list[dict[str, Any]]:
        """Metadata of every secret (optionally only names starting with ``prefix``), by name."""
        tenant_id = self._tenant_id
        clause, parameters = _prefix_clause(prefix)
        rows = await self._runtime.store.platform.run(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM secrets WHERE tenant_id = ?{clause} ORDER BY name",
                (tenant_id, *parameters),
            ).fetchall()
        )
        return [_info(row) for row in rows]

    @endpoint("secrets:write")
    async def delete(
        self, name: SecretName, idempotency_key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        """Delete secret ``name``.

        Raises:
            NotFoundError: no secret has that name.
        """
        tenant_id = self._tenant_id

        def remove(c: sqlite3.Connection) -> dict[str, Any]:
            deleted = c.execute(
                "DELETE FROM secrets WHERE tenant_id = ? AND name = ?", (tenant_id, name)
            ).rowcount
            if not deleted:
                raise NotFoundError(f"no secret named {name!r}", details={"name": name})
            return {"name": name, "deleted": True}

        return await self._context.mutate("secrets.delete", {"name": name}, idempotency_key, remove)

    @endpoint("secrets:read")
    async def env(self, prefix: SecretPrefix | None = None) -> dict[str, str]:
        """Every secret (or those whose name starts with ``prefix``) as ``{name: value}``."""
        tenant_id, box = self._tenant_id, self._runtime.box
        clause, parameters = _prefix_clause(prefix)
        rows = await self._runtime.store.platform.run(
            lambda c: c.execute(
                f"SELECT name, sealed FROM secrets WHERE tenant_id = ?{clause} ORDER BY name",
                (tenant_id, *parameters),
            ).fetchall()
        )
        return {
            name: box.open(sealed, _aad(tenant_id, name)).decode("utf-8") for name, sealed in rows
        }
