"""``dotdo.db``: SQL on the tenant's own database, raw, through table helpers, or in a transaction.

Every statement is one statement with ``?`` placeholders. Values are text, 64-bit integers,
floats, booleans (stored as 0/1), bytes or None. Reads are retried; writes carry an idempotency
key, so a retried write is applied once. A transaction's calls are never retried.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio

from dotdo.errors import ConflictError, DotDoTimeoutError, ValidationError
from dotdo.namespaces._base import Namespace
from dotdo.namespaces.models import ExecuteResult, QueryResult

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from dotdo._client import DotDo
    from dotdo.transport.stub import RpcStub

__all__ = ["Db", "SqlValue", "Statement", "Transaction"]

logger = logging.getLogger("dotdo")

SqlValue: TypeAlias = str | int | float | bool | bytes | None
"""A SQL parameter or column value."""

Statement: TypeAlias = str | tuple[str, Sequence[SqlValue] | None] | Mapping[str, Any]
"""One statement of ``db.batch``: ``sql``, ``(sql, params)`` or ``{"sql": ..., "params": ...}``."""


def _params(params: Sequence[SqlValue] | None) -> list[SqlValue] | None:
    if params is None:
        return None
    if isinstance(params, str | bytes):
        raise ValidationError("params must be a list of values, not a single string or bytes")
    return list(params)


def _statement(index: int, statement: Statement) -> dict[str, Any]:
    if isinstance(statement, str):
        return {"sql": statement}
    if isinstance(statement, tuple) and len(statement) == 2:
        sql, params = statement
        return {"sql": sql, "params": _params(params)}
    if isinstance(statement, Mapping):
        return {
            key: _params(value) if key == "params" else value for key, value in statement.items()
        }
    raise ValidationError(
        f"statements[{index}] must be sql, (sql, params) or {{'sql': ..., 'params': ...}}"
    )


class Db(Namespace):
    """The tenant's SQL database (its own SQLite file)."""

    def __init__(self, client: DotDo) -> None:
        super().__init__(client, "db")

    async def query(self, sql: str, params: Sequence[SqlValue] | None = None) -> QueryResult:
        """Run one read-only statement.

        Raises:
            AuthorizationError: the statement writes, or uses something tenant SQL may not
                (``sql_not_allowed``).
            NotFoundError: no such table.
            ValidationError: a SQL error, or more than 10,000 rows (add ``LIMIT``).
        """
        result = await self._call("query", sql, _params(params), idempotent=True)
        return QueryResult.model_validate(result)

    async def execute(self, sql: str, params: Sequence[SqlValue] | None = None) -> ExecuteResult:
        """Run one statement that may write (``RETURNING`` rows are discarded).

        Raises:
            ConflictError: a constraint failed (``constraint``) or another writer held the
                database too long (``busy``).
            NotFoundError: no such table.
            ValidationError: a SQL error.
        """
        result = await self._write("execute", sql, _params(params))
        return ExecuteResult.model_validate(result)

    async def batch(self, statements: Sequence[Statement]) -> list[ExecuteResult]:
        """Run 1–1000 statements in order in one transaction: all take effect, or none.

        Args:
            statements: each ``sql``, ``(sql, params)`` or ``{"sql": sql, "params": params}``.

        Returns:
            One result per statement.

        Raises:
            DotDoError: as ``execute``; the error's ``details["statement"]`` is the failing index,
                and nothing was applied.
        """
        if isinstance(statements, str):
            raise ValidationError("statements must be a list of statements, not one string")
        wire = [_statement(index, statement) for index, statement in enumerate(statements)]
        results = await self._write("batch", wire)
        return [ExecuteResult.model_validate(result) for result in results]

    def transaction(self) -> Transaction:
        """A transaction, used as ``async with dotdo.db.transaction() as tx:``.

        It commits when the block ends normally and rolls back when it raises. It holds the
        database's write lock until then (other writers wait up to 5 s, then fail ``busy``), and
        the platform rolls it back after 60 s. Its calls are never retried.
        """
        return Transaction(self._client)

    async def tables(self) -> builtins.list[str]:
        """Names of the tenant's tables, sorted."""
        names: builtins.list[str] = await self._call("tables", idempotent=True)
        return names

    async def select(
        self,
        table: str,
        *,
        filters: Mapping[str, SqlValue] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        offset: int | None = None,
    ) -> QueryResult:
        """Rows of ``table`` whose columns equal ``filters`` (a None value matches NULL).

        Raises:
            NotFoundError: no such table.
            ValidationError: a bad table or column name, or more than 10,000 rows (pass
                ``limit``).
        """
        result = await self._call(
            "select",
            table,
            _mapping(filters),
            order_by,
            descending,
            limit,
            offset,
            idempotent=True,
        )
        return QueryResult.model_validate(result)

    async def insert(self, table: str, values: Mapping[str, SqlValue]) -> ExecuteResult:
        """Insert one row; ``last_insert_id`` is its rowid.

        Raises:
            ConflictError: a constraint failed.
            NotFoundError: no such table.
        """
        result = await self._write("insert", table, _mapping(values))
        return ExecuteResult.model_validate(result)

    async def bulk_insert(
        self, table: str, rows: Sequence[Mapping[str, SqlValue]]
    ) -> ExecuteResult:
        """Insert 1–10,000 rows, all with the same columns, atomically.

        Raises:
            ConflictError: a constraint failed (then no row was inserted).
            ValidationError: the rows do not all have the same columns.
        """
        result = await self._write("bulk_insert", table, [dict(row) for row in rows])
        return ExecuteResult.model_validate(result)

    async def update(
        self,
        table: str,
        values: Mapping[str, SqlValue],
        *,
        filters: Mapping[str, SqlValue],
    ) -> ExecuteResult:
        """Set ``values`` on the rows matching ``filters`` (at least one; use ``execute`` for all).

        Raises:
            ValidationError: ``filters`` is empty.
        """
        result = await self._write("update", table, _mapping(values), _mapping(filters))
        return ExecuteResult.model_validate(result)

    async def delete(self, table: str, *, filters: Mapping[str, SqlValue]) -> ExecuteResult:
        """Delete the rows matching ``filters`` (at least one; use ``execute`` for all).

        Raises:
            ValidationError: ``filters`` is empty.
        """
        result = await self._write("delete", table, _mapping(filters))
        return ExecuteResult.model_validate(result)


def _mapping(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if values is None else dict(values)


class Transaction:
    """A database transaction: ``async with dotdo.db.transaction() as tx:``.

    ``tx.query`` sees the transaction's own writes. Leaving the block normally commits; an
    exception (or cancellation) rolls back and propagates. ``commit()`` or ``rollback()`` may
    also be called inside the block, after which the block's end does nothing more. Any call
    after the transaction ended raises ``ConflictError`` (``closed``) without a round trip.
    Calls are sent once, never retried, each bounded by the client's timeout.
    """

    def __init__(self, client: DotDo) -> None:
        self._client = client
        self._stub: RpcStub | None = None
        self._state = "new"

    async def __aenter__(self) -> Transaction:
        if self._state != "new":
            raise ValidationError("a transaction can be entered once; call db.transaction() again")
        self._state = "opening"
        try:
            promise = await self._client._capability(("db", "begin"), [])
            self._stub = await self._bounded(promise)
        except BaseException:
            self._state = "rolled_back"
            raise
        self._state = "open"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._state == "open":
                if exc is None:
                    await self.commit()
                else:
                    await self._rollback_quietly()
        finally:
            self._release()

    async def query(self, sql: str, params: Sequence[SqlValue] | None = None) -> QueryResult:
        """Run one read-only statement inside the transaction (sees its uncommitted writes).

        Raises:
            ConflictError: the transaction has ended (``closed``).
        """
        result = await self._bounded(self._open().query(sql, _params(params)))
        return QueryResult.model_validate(result)

    async def execute(self, sql: str, params: Sequence[SqlValue] | None = None) -> ExecuteResult:
        """Run one statement inside the transaction.

        Raises:
            ConflictError: the transaction has ended (``closed``), or a constraint failed.
        """
        result = await self._bounded(self._open().execute(sql, _params(params), None))
        return ExecuteResult.model_validate(result)

    async def commit(self) -> None:
        """Make the transaction's writes permanent and end it.

        Raises:
            ConflictError: it had already ended, or the commit failed (then it was rolled back).
        """
        stub = self._open()
        self._state = "committing"
        try:
            await self._bounded(stub.commit(None))
        except BaseException:
            self._state = "rolled_back"
            raise
        self._state = "committed"

    async def rollback(self) -> None:
        """Discard the transaction's writes and end it.

        Raises:
            ConflictError: it had already ended.
        """
        stub = self._open()
        self._state = "rolled_back"
        await self._bounded(stub.rollback(None))

    @property
    def is_open(self) -> bool:
        """True between entering the block and the commit or rollback."""
        return self._state == "open"

    def __repr__(self) -> str:
        return f"<dotdo.db.Transaction {self._state}>"

    def _open(self) -> RpcStub:
        if self._state != "open" or self._stub is None:
            if self._state == "new":
                raise ValidationError(
                    "use the transaction as `async with dotdo.db.transaction() as tx:`"
                )
            raise ConflictError(
                f"the transaction is {self._state.replace('_', ' ')}", code="closed"
            )
        return self._stub

    async def _rollback_quietly(self) -> None:
        stub = self._open()
        self._state = "rolled_back"
        # Shielded so a cancelled block still rolls back; if even that fails, releasing the
        # capability makes the platform roll back.
        with anyio.CancelScope(shield=True):
            try:
                await self._bounded(stub.rollback(None))
            except Exception:
                logger.debug("rolling back a transaction failed", exc_info=True)

    def _release(self) -> None:
        stub, self._stub = self._stub, None
        if stub is not None:
            stub.dispose()

    async def _bounded(self, call: Awaitable[Any]) -> Any:
        return await bounded(self._client, call, "the transaction call")


async def bounded(client: DotDo, call: Awaitable[Any], what: str) -> Any:
    """Await ``call`` once, within the client's timeout (for calls that are never retried)."""
    seconds = client.settings.timeout
    try:
        with anyio.fail_after(seconds):
            return await call
    except TimeoutError as exc:
        if isinstance(exc, DotDoTimeoutError):
            raise
        raise DotDoTimeoutError(
            f"{what} did not finish within {seconds:g} s (it may have run)"
        ) from None
