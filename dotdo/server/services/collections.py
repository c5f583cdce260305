"""``api.collections``: JSON documents by collection and id, with simple queries."""

from __future__ import annotations

import json
import sqlite3
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, Strict, StringConstraints

from dotdo.errors import NotFoundError, ValidationError
from dotdo.server.services.base import Service
from dotdo.server.validation import IdempotencyKey, endpoint

__all__ = ["CollectionsService"]

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_IN_VALUES = 100
MAX_CLAUSES = 20

CollectionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")]
DocumentId = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,256}$")]
FieldPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}(\.[A-Za-z0-9_\-]{1,64}){0,15}$")
]
Operator = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in"]
# A clause arrives as a JSON array, so the tuple itself is lax; its items stay strict.
Clause = Annotated[tuple[FieldPath, Operator, JsonValue], Strict(False)]
Where = Annotated[list[Clause], Field(max_length=MAX_CLAUSES)]
Document = dict[str, JsonValue]
Limit = Annotated[int, Field(ge=0)]
Offset = Annotated[int, Field(ge=0)]

_COMPARISONS = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_Scalar = str | int | float | bool


def _encode(data: dict[str, Any]) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise ValidationError(f"a document may be at most {MAX_DOCUMENT_BYTES} bytes of JSON")
    return text


def _json_path(field: str) -> str:
    # Segments are restricted to [A-Za-z0-9_-], so quoting each is enough to make any of them
    # (including digits) a plain object key.
    return "$" + "".join(f'."{segment}"' for segment in field.split("."))


def _is_scalar(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    return isinstance(value, _Scalar)


def _where_sql(where: list[tuple[str, Operator, JsonValue]] | None) -> tuple[str, list[Any]]:
    """SQL conditions (each starting with AND) and their parameters for a where list."""
    sql, parameters = "", list[Any]()
    for index, (field, operator, value) in enumerate(where or []):
        target = "json_extract(data, ?)"
        parameters.append(_json_path(field))
        where_at = f"where[{index}]"
        if operator in ("in", "not_in"):
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
                raise ValidationError(
                    f"{where_at}: {operator!r} needs a list of 1 to {MAX_IN_VALUES} values"
                )
            if not all(_is_scalar(item) for item in value):
                raise ValidationError(
                    f"{where_at}: {operator!r} values must be strings, booleans or numbers"
                    " (integers within 64 bits)"
                )
            negation = "NOT " if operator == "not_in" else ""
            sql += f" AND {target} {negation}IN ({', '.join('?' * len(value))})"
            parameters.extend(value)
        elif value is None:
            if operator not in ("==", "!="):
                raise ValidationError(f"{where_at}: only == and != can compare with null")
            sql += f" AND {target} IS {'NOT ' if operator == '!=' else ''}NULL"
        elif _is_scalar(value):
            sql += f" AND {target} {_COMPARISONS[operator]} ?"
            parameters.append(value)
        else:
            raise ValidationError(
                f"{where_at}: {operator!r} compares with a string, a boolean or a number"
                " (integers within 64 bits)"
            )
    return sql, parameters


class CollectionsService(Service):
    """Documents (JSON objects) stored by collection name and document id."""

    @endpoint("collections:read")
    async def get(self, collection: CollectionName, document_id: DocumentId) -> dict[str, Any]:
        """The document's data.

        Raises:
            NotFoundError: no such document.
        """
        tenant_id = self._tenant_id
        row = await self._runtime.store.platform.run(
            lambda c: c.execute(
                "SELECT data FROM documents WHERE tenant_id = ? AND collection = ? AND id = ?",
                (tenant_id, collection, document_id),
            ).fetchone()
        )
        if row is None:
            raise _not_found(collection, document_id)
        data: dict[str, Any] = json.loads(row[0])
        return data

    @endpoint("collections:write")
    async def set(
        self,
        collection: CollectionName,
        document_id: DocumentId,
        data: Document,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Create or replace a document; returns the stored data."""
        tenant_id, now, text = self._tenant_id, self._runtime.clock(), _encode(data)

        def upsert(c: sqlite3.Connection) -> dict[str, Any]:
            c.execute(
                "INSERT INTO documents (tenant_id, collection, id, data, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, collection, id)"
                " DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (tenant_id, collection, document_id, text, now, now),
            )
            return data

        arguments = {"collection": collection, "id": document_id, "data": data}
        return await self._context.mutate("collections.set", arguments, idempotency_key, upsert)

    @endpoint("collections:write")
    async def update(
        self,
        collection: CollectionName,
        document_id: DocumentId,
        data: Document,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Merge ``data`` into an existing document (top-level keys replace); returns the result.

        Raises:
            NotFoundError: no such document.
        """
        tenant_id, now = self._tenant_id, self._runtime.clock()

        def merge(c: sqlite3.Connection) -> dict[str, Any]:
            row = c.execute(
                "SELECT data FROM documents WHERE tenant_id = ? AND collection = ? AND id = ?",
                (tenant_id, collection, document_id),
            ).fetchone()
            if row is None:
                raise _not_found(collection, document_id)
            merged: dict[str, Any] = {**json.loads(row[0]), **data}
            c.execute(
                "UPDATE documents SET data = ?, updated_at = ?"
                " WHERE tenant_id = ? AND collection = ? AND id = ?",
                (_encode(merged), now, tenant_id, collection, document_id),
            )
            return merged

        arguments = {"collection": collection, "id": document_id, "data": data}
        return await self._context.mutate("collections.update", arguments, idempotency_key, merge)

    @endpoint("collections:write")
    async def delete(
        self,
        collection: CollectionName,
        document_id: DocumentId,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Delete a document.

        Raises:
            NotFoundError: no such document.
        """
        tenant_id = self._tenant_id

        def remove(c: sqlite3.Connection) -> dict[str, Any]:
            deleted = c.execute(
                "DELETE FROM documents WHERE tenant_id = ? AND collection = ? AND id = ?",
                (tenant_id, collection, document_id),
            ).rowcount
            if not deleted:
                raise _not_found(collection, document_id)
            return {"collection": collection, "id": document_id, "deleted": True}

        arguments = {"collection": collection, "id": document_id}
        return await self._context.mutate("collections.delete", arguments, idempotency_key, remove)

    @endpoint("collections:read")
    async def query(
        self,
        collection: CollectionName,
        where: Where | None = None,
        order_by: FieldPath | None = None,
        descending: bool | None = None,
        limit: Limit | None = None,
        offset: Offset | None = None,
    ) -> list[dict[str, Any]]:
        """Documents matching every clause of ``where``, as ``[{"id", "data"}]``.

        Ordered by ``order_by`` (then id), ascending unless ``descending``. Without ``limit`` at
        most ``max_documents`` may match; more is a ValidationError asking for ``limit``.
        """
        tenant_id, cap = self._tenant_id, self._runtime.settings.max_documents
        if limit is not None and limit > cap:
            raise ValidationError(f"limit may be at most {cap}")
        conditions, parameters = _where_sql(where)
        direction = "DESC" if descending else "ASC"
        order = "id " + direction
        if order_by is not None:
            order = f"json_extract(data, ?) {direction}, {order}"
            parameters.append(_json_path(order_by))
        sql = (
            "SELECT id, data FROM documents WHERE tenant_id = ? AND collection = ?"
            f"{conditions} ORDER BY {order} LIMIT ? OFFSET ?"
        )
        fetch = cap + 1 if limit is None else limit
        values = [tenant_id, collection, *parameters, fetch, offset or 0]
        rows = await self._runtime.store.platform.run(lambda c: c.execute(sql, values).fetchall())
        if limit is None and len(rows) > cap:
            raise ValidationError(
                f"more than {cap} documents match; pass limit (at most {cap}) and page with offset",
                code="too_many_results",
            )
        return [{"id": row[0], "data": json.loads(row[1])} for row in rows]

    @endpoint("collections:read")
    async def count(self, collection: CollectionName, where: Where | None = None) -> int:
        """How many documents match every clause of ``where``."""
        tenant_id = self._tenant_id
        conditions, parameters = _where_sql(where)
        sql = f"SELECT count(*) FROM documents WHERE tenant_id = ? AND collection = ?{conditions}"
        row = await self._runtime.store.platform.run(
            lambda c: c.execute(sql, (tenant_id, collection, *parameters)).fetchone()
        )
        result: int = row[0]
        return result


def _not_found(collection: str, document_id: str) -> NotFoundError:
    return NotFoundError(
        f"no document {document_id!r} in collection {collection!r}",
        details={"collection": collection, "id": document_id},
    )
