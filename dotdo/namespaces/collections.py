"""``dotdo.collections``: JSON documents by collection and id, with an immutable query builder.

``get``, ``set`` and ``update`` deal in a document's data (a dict; you already know its id);
queries answer :class:`~dotdo.namespaces.models.Document` objects, each with ``id`` and ``data``.
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, overload

from dotdo.errors import NotFoundError, ValidationError
from dotdo.namespaces._base import MISSING, Namespace
from dotdo.namespaces.models import Document

if TYPE_CHECKING:
    from dotdo._client import DotDo

__all__ = ["OPERATORS", "Collection", "Collections", "Operator", "Query"]

D = TypeVar("D")

Operator = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in"]
OPERATORS: Final[frozenset[str]] = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "not_in"})


class Collections(Namespace):
    """The tenant's collections: ``dotdo.collections("users")`` is the ``users`` collection."""

    def __init__(self, client: DotDo) -> None:
        super().__init__(client, "collections")

    def __call__(self, name: str) -> Collection:
        """The collection ``name`` (nothing is sent until it is used)."""
        return Collection(self._client, name)

    def get(self, name: str) -> Collection:
        """The collection ``name``; the same as ``dotdo.collections(name)``."""
        return Collection(self._client, name)


class Collection(Namespace):
    """One collection: documents (JSON objects of at most 1 MiB) by id."""

    def __init__(self, client: DotDo, name: str) -> None:
        super().__init__(client, "collections")
        self._name = name

    @property
    def name(self) -> str:
        """The collection's name."""
        return self._name

    @overload
    async def get(self, id: str) -> dict[str, Any]: ...

    @overload
    async def get(self, id: str, *, default: D) -> dict[str, Any] | D: ...

    async def get(self, id: str, *, default: Any = MISSING) -> Any:
        """The data of document ``id``.

        Args:
            id: the document's id.
            default: returned instead of raising when there is no such document.

        Raises:
            NotFoundError: no such document and no ``default`` given.
        """
        try:
            data: dict[str, Any] = await self._call("get", self._name, id, idempotent=True)
        except NotFoundError:
            if default is MISSING:
                raise
            return default
        return data

    async def set(self, id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace document ``id``; returns the stored data."""
        stored: dict[str, Any] = await self._write("set", self._name, id, dict(data))
        return stored

    async def update(self, id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``data`` into document ``id`` (each top-level key replaces); returns the result.

        Raises:
            NotFoundError: no such document.
        """
        merged: dict[str, Any] = await self._write("update", self._name, id, dict(data))
        return merged

    async def delete(self, id: str) -> None:
        """Delete document ``id``.

        Raises:
            NotFoundError: no such document.
        """
        await self._write("delete", self._name, id)

    def query(self) -> Query:
        """A query matching every document; narrow it with ``where``, ``order_by``, ``limit``."""
        return Query(self)

    async def count(self) -> int:
        """How many documents the collection holds."""
        return await self.query().count()

    def __repr__(self) -> str:
        return f"<dotdo.collections({self._name!r})>"


@dataclasses.dataclass(frozen=True)
class Query:
    """An immutable query: each method returns a new query, and nothing is sent until
    ``execute()``, ``first()`` or ``count()``.

    ``await users.query().where("age", ">=", 18).order_by("age").limit(10).execute()``
    """

    collection: Collection = dataclasses.field(repr=False)
    clauses: tuple[tuple[str, str, Any], ...] = ()
    order_field: str | None = None
    descending: bool = False
    limit_count: int | None = None
    offset_count: int | None = None

    def where(self, field: str, op: Operator, value: Any) -> Query:
        """Only documents whose ``field`` (a key or dotted path) compares with ``value``.

        Args:
            field: a top-level key or a dotted path such as ``"address.city"``.
            op: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in`` or ``not_in``.
            value: a string, number or boolean; a list of 1–100 of them for ``in``/``not_in``;
                None only with ``==`` (missing or null) and ``!=`` (present and not null).

        Raises:
            ValidationError: an unknown operator, or a value the operator cannot take (raised
                here, before anything is sent).
        """
        if op not in OPERATORS:
            raise ValidationError(
                f"unknown operator {op!r} for field {field!r}; use one of "
                + ", ".join(sorted(OPERATORS))
            )
        if op in ("in", "not_in"):
            if isinstance(value, str | bytes | Mapping) or not isinstance(
                value, list | tuple | set | frozenset
            ):
                raise ValidationError(f"{op!r} needs a list of values for field {field!r}")
            value = list(value)
        elif value is None and op not in ("==", "!="):
            raise ValidationError(f"only == and != can compare field {field!r} with None")
        return dataclasses.replace(self, clauses=(*self.clauses, (field, op, value)))

    def order_by(self, field: str, descending: bool = False) -> Query:
        """Order by ``field`` (then by id), ascending unless ``descending``."""
        return dataclasses.replace(self, order_field=field, descending=descending)

    def limit(self, n: int) -> Query:
        """At most ``n`` documents (at most 1000; without a limit, more than 1000 is an error).

        Raises:
            ValidationError: ``n`` is negative.
        """
        return dataclasses.replace(self, limit_count=_count("limit", n))

    def offset(self, n: int) -> Query:
        """Skip the first ``n`` matching documents.

        Raises:
            ValidationError: ``n`` is negative.
        """
        return dataclasses.replace(self, offset_count=_count("offset", n))

    async def execute(self) -> builtins.list[Document]:
        """The matching documents, in order.

        Raises:
            ValidationError: a bad field path or value, or more than 1000 matches without a
                ``limit`` (``too_many_results``).
        """
        return await self._fetch(self.limit_count)

    async def first(self) -> Document | None:
        """The first matching document, or None when nothing matches."""
        found = await self._fetch(1 if self.limit_count is None else min(1, self.limit_count))
        return found[0] if found else None

    async def count(self) -> int:
        """How many documents match the ``where`` clauses (order, limit and offset ignored)."""
        collection = self.collection
        total: int = await collection._call(
            "count", collection.name, self._where(), idempotent=True
        )
        return total

    async def _fetch(self, limit: int | None) -> builtins.list[Document]:
        collection = self.collection
        rows = await collection._call(
            "query",
            collection.name,
            self._where(),
            self.order_field,
            self.descending,
            limit,
            self.offset_count,
            idempotent=True,
        )
        return [Document.model_validate(row) for row in rows]

    def _where(self) -> builtins.list[builtins.list[Any]] | None:
        return [list(clause) for clause in self.clauses] or None


def _count(what: str, n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValidationError(f"{what} must be a whole number of at least 0")
    return n
