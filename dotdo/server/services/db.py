"""``api.db``: SQL on the tenant's own SQLite file, raw and through table helpers.

Every statement is one statement with ``?`` placeholders, prepared under the tenant SQL guard
(:mod:`dotdo.server.sqlguard`) and interrupted after ``query_timeout`` seconds. ``query`` and
``select`` are read-only; writes go through ``execute``, ``batch``, the helpers, or a transaction
from ``begin()``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic needs these on Python 3.11
    TypeVar,
)

import anyio.to_thread
from pydantic import Field, StringConstraints, with_config
from typing_extensions import TypedDict

from dotdo.errors import (
    AuthorizationError,
    ConflictError,
    DotDoError,
    NotFoundError,
    ValidationError,
)
from dotdo.server.context import AuthContext
from dotdo.server.services.base import Service
from dotdo.server.sqlguard import SqlGuard
from dotdo.server.store import Database, busy_error
from dotdo.server.validation import IdempotencyKey, Identifier, SqlValue, endpoint, strict_config
from dotdo.transport.target import RpcTarget

__all__ = ["DbService", "Transaction"]

T = TypeVar("T")

MAX_PARAMETERS = 10_000
MAX_BATCH = 1_000
MAX_BULK_ROWS = 10_000

SqlText = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
Parameters = Annotated[list[SqlValue], Field(max_length=MAX_PARAMETERS)]
Values = Annotated[dict[Identifier, SqlValue], Field(min_length=1, max_length=2_000)]
Filters = Annotated[dict[Identifier, SqlValue], Field(max_length=64)]
RequiredFilters = Annotated[dict[Identifier, SqlValue], Field(min_length=1, max_length=64)]
Limit = Annotated[int, Field(ge=0)]
Offset = Annotated[int, Field(ge=0)]


@with_config(strict_config)
class BatchStatement(TypedDict):
    """One statement of ``db.batch``."""

    sql: SqlText
    params: NotRequired[Parameters | None]


Statements = Annotated[list[BatchStatement], Field(min_length=1, max_length=MAX_BATCH)]
BulkRows = Annotated[list[Values], Field(min_length=1, max_length=MAX_BULK_ROWS)]


# ---------------------------------------------------------------------------------------------
# Running user SQL on a guarded connection (always inside the connection's lock, in a thread)


def _guard_of(database: Database) -> SqlGuard:
    if database.guard is None:  # pragma: no cover - tenant databases always have one
        raise RuntimeError("tenant SQL needs a guarded database")
    return database.guard


def _failure(exc: Exception, guard: SqlGuard, timeout: float) -> DotDoError:
    """The dotdo error a failed user statement stands for."""
    message = str(exc)
    if guard.denied is not None:
        return AuthorizationError(
            f"not allowed in tenant SQL: {guard.denied}", code="sql_not_allowed"
        )
    if guard.interrupted:
        return ValidationError(
            f"the statement ran longer than {timeout:g} s and was stopped", code="query_timeout"
        )
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"constraint failed: {message}", code="constraint")
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in message or "busy" in message:
            return busy_error()
        if message.startswith("no such table"):
            return NotFoundError(message)
    return ValidationError(f"SQL error: {message}", code="sql_error")


def _user_sql(
    connection: sqlite3.Connection,
    database: Database,
    timeout: float,
    run: Callable[[sqlite3.Connection], T],
    *,
    read_only: bool,
) -> T:
    """Run ``run`` under the guard, translating SQLite's errors into dotdo's."""
    guard = _guard_of(database)
    if read_only:
        # Belt and braces with the authorizer: SQLite itself refuses any write while this is on.
        connection.execute("PRAGMA query_only = 1")
    try:
        with guard.untrusted(read_only=read_only):
            return run(connection)
    except (sqlite3.Error, OverflowError) as exc:
        raise _failure(exc, guard, timeout) from None
    finally:
        if read_only:
            connection.execute("PRAGMA query_only = 0")


def _read(
    connection: sqlite3.Connection,
    database: Database,
    timeout: float,
    max_rows: int,
    sql: str,
    parameters: Sequence[Any],
) -> dict[str, Any]:
    def fetch(c: sqlite3.Connection) -> tuple[list[str], list[Any]]:
        cursor = c.execute(sql, parameters)
        rows = cursor.fetchmany(max_rows + 1)
        return [column[0] for column in cursor.description or ()], rows

    columns, rows = _user_sql(connection, database, timeout, fetch, read_only=True)
    if len(rows) > max_rows:
        raise ValidationError(
            f"the result has more than {max_rows} rows; add LIMIT and page with OFFSET",
            code="too_many_results",
        )
    return {
        "rows": [dict(zip(columns, row, strict=True)) for row in rows],
        "columns": columns,
        "row_count": len(rows),
    }


def _write(
    connection: sqlite3.Connection,
    database: Database,
    timeout: float,
    sql: str,
    parameters: Sequence[Any],
    *,
    many: bool = False,
) -> dict[str, Any]:
    guard = _guard_of(database)

    def run(c: sqlite3.Connection) -> dict[str, Any]:
        cursor = c.executemany(sql, parameters) if many else c.execute(sql, parameters)
        cursor.fetchall()  # step RETURNING statements to completion
        last_insert_id = None
        if guard.saw_insert and cursor.rowcount > 0:
            # executemany() leaves cursor.lastrowid unset; the connection still knows it.
            last_insert_id = c.execute("SELECT last_insert_rowid()").fetchone()[0]
        return {"rows_affected": max(cursor.rowcount, 0), "last_insert_id": last_insert_id}

    return _user_sql(connection, database, timeout, run, read_only=False)


def _quote(identifier: str) -> str:
    # Identifiers are validated as [A-Za-z_][A-Za-z0-9_]*, so quoting cannot be escaped.
    return f'"{identifier}"'


def _conditions(filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    if not filters:
        return "", []
    parts = [
        f"{_quote(column)} IS NULL" if value is None else f"{_quote(column)} = ?"
        for column, value in filters.items()
    ]
    return " WHERE " + " AND ".join(parts), [v for v in filters.values() if v is not None]


# ---------------------------------------------------------------------------------------------


class DbService(Service):
    """The tenant's SQL database (its own SQLite file)."""

    async def _database(self) -> Database:
        store, tenant_id = self._runtime.store, self._tenant_id
        # Opening a tenant's file (and migrating it) is disk I/O: only on a worker thread.
        opened = store.opened_tenant(tenant_id)
        if opened is not None:
            return opened
        return await anyio.to_thread.run_sync(store.tenant, tenant_id)

    async def _read(self, sql: str, parameters: Sequence[Any]) -> dict[str, Any]:
        database, settings = await self._database(), self._runtime.settings
        return await database.run(
            lambda c: _read(c, database, settings.query_timeout, settings.max_rows, sql, parameters)
        )

    async def _mutate(
        self,
        method: str,
        arguments: dict[str, Any],
        idempotency_key: str | None,
        sql: str,
        parameters: Sequence[Any],
        *,
        many: bool = False,
    ) -> dict[str, Any]:
        database, timeout = await self._database(), self._runtime.settings.query_timeout
        return await self._context.mutate(
            method,
            arguments,
            idempotency_key,
            lambda c: _write(c, database, timeout, sql, parameters, many=many),
            database=database,
        )

    @endpoint("db:read")
    async def query(self, sql: SqlText, params: Parameters | None = None) -> dict[str, Any]:
        """Run one read-only statement; returns ``{rows, columns, row_count}``."""
        return await self._read(sql, params or [])

    @endpoint("db:write")
    async def execute(
        self,
        sql: SqlText,
        params: Parameters | None = None,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Run one statement that may write; returns ``{rows_affected, last_insert_id}``."""
        arguments = {"sql": sql, "params": params or []}
        return await self._mutate("db.execute", arguments, idempotency_key, sql, params or [])

    @endpoint("db:write")
    async def batch(
        self, statements: Statements, idempotency_key: IdempotencyKey | None = None
    ) -> list[dict[str, Any]]:
        """Run statements in order in one transaction: all take effect, or (on error) none."""
        database, timeout = await self._database(), self._runtime.settings.query_timeout

        def run_all(c: sqlite3.Connection) -> list[dict[str, Any]]:
            results = []
            for index, statement in enumerate(statements):
                try:
                    result = _write(
                        c, database, timeout, statement["sql"], statement.get("params") or []
                    )
                except DotDoError as exc:
                    exc.details["statement"] = index
                    exc.message = f"statement {index}: {exc.message}"
                    raise
                results.append(result)
            return results

        arguments = {"statements": statements}
        return await self._context.mutate(
            "db.batch", arguments, idempotency_key, run_all, database=database
        )

    @endpoint("db:write")
    async def begin(self) -> Transaction:
        """Open a transaction on a connection of its own; see :class:`Transaction`."""
        runtime, tenant_id = self._runtime, self._tenant_id

        def open_transaction() -> Database:
            database = runtime.store.open_tenant(tenant_id)
            try:
                database.call(lambda c: c.execute("BEGIN IMMEDIATE"))
            except sqlite3.OperationalError:
                database.close()
                raise busy_error() from None
            return database

        database = await anyio.to_thread.run_sync(open_transaction)
        return Transaction(self._context, database)

    @endpoint("db:read")
    async def tables(self) -> list[str]:
        """Names of the tenant's tables, sorted."""
        rows = await (await self._database()).run(
            lambda c: c.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                " AND name NOT LIKE '\\_dotdo\\_%' ESCAPE '\\' ORDER BY name"
            ).fetchall()
        )
        return [row[0] for row in rows]

    @endpoint("db:read")
    async def select(
        self,
        table: Identifier,
        filters: Filters | None = None,
        order_by: Identifier | None = None,
        descending: bool | None = None,
        limit: Limit | None = None,
        offset: Offset | None = None,
    ) -> dict[str, Any]:
        """Rows of ``table`` whose columns equal ``filters`` (None matches NULL).

        Returns the same shape as ``query``.
        """
        where, parameters = _conditions(filters)
        sql = f"SELECT * FROM {_quote(table)}{where}"
        if order_by is not None:
            sql += f" ORDER BY {_quote(order_by)} {'DESC' if descending else 'ASC'}"
        if limit is not None or offset is not None:
            sql += " LIMIT ? OFFSET ?"
            parameters += [-1 if limit is None else limit, offset or 0]
        return await self._read(sql, parameters)

    @endpoint("db:write")
    async def insert(
        self,
        table: Identifier,
        values: Values,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Insert one row; returns ``{rows_affected, last_insert_id}``."""
        columns = ", ".join(_quote(column) for column in values)
        marks = ", ".join("?" * len(values))
        sql = f"INSERT INTO {_quote(table)} ({columns}) VALUES ({marks})"
        arguments = {"table": table, "values": values}
        return await self._mutate(
            "db.insert", arguments, idempotency_key, sql, list(values.values())
        )

    @endpoint("db:write")
    async def bulk_insert(
        self,
        table: Identifier,
        rows: BulkRows,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Insert many rows, all with the same columns, atomically."""
        names = list(rows[0])
        for index, row in enumerate(rows):
            if set(row) != set(names):
                raise ValidationError(
                    f"invalid arguments to bulk_insert(): rows[{index}] has different columns"
                    " from rows[0]; every row must have the same columns"
                )
        columns = ", ".join(_quote(column) for column in names)
        sql = f"INSERT INTO {_quote(table)} ({columns}) VALUES ({', '.join('?' * len(names))})"
        parameters = [[row[name] for name in names] for row in rows]
        arguments = {"table": table, "rows": rows}
        return await self._mutate(
            "db.bulk_insert", arguments, idempotency_key, sql, parameters, many=True
        )

    @endpoint("db:write")
    async def update(
        self,
        table: Identifier,
        values: Values,
        filters: RequiredFilters,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Set ``values`` on the rows matching ``filters`` (at least one filter is required)."""
        assignments = ", ".join(f"{_quote(column)} = ?" for column in values)
        where, parameters = _conditions(filters)
        sql = f"UPDATE {_quote(table)} SET {assignments}{where}"
        arguments = {"table": table, "values": values, "filters": filters}
        return await self._mutate(
            "db.update", arguments, idempotency_key, sql, [*values.values(), *parameters]
        )

    @endpoint("db:write")
    async def delete(
        self,
        table: Identifier,
        filters: RequiredFilters,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Delete the rows matching ``filters`` (at least one filter is required)."""
        where, parameters = _conditions(filters)
        sql = f"DELETE FROM {_quote(table)}{where}"
        arguments = {"table": table, "filters": filters}
        return await self._mutate("db.delete", arguments, idempotency_key, sql, parameters)


TransactionState = Literal["open", "committed", "rolled_back", "expired"]


class Transaction(RpcTarget):
    """An open transaction from ``db.begin()``, on its own connection.

    It holds the tenant database's write lock until ``commit()`` or ``rollback()``; other writers
    wait up to ``busy_timeout`` and then fail with ConflictError(code="busy"). It is rolled back if
    the peer releases it, when the platform closes, or ``transaction_timeout`` seconds after
    ``begin()``, whichever comes first.
    """

    def __init__(self, context: AuthContext, database: Database) -> None:
        self._context = context
        self._database = database
        self._state: TransactionState = "open"
        self._lock = threading.Lock()
        settings = context.runtime.settings
        self._timeout = settings.query_timeout
        self._timer = threading.Timer(settings.transaction_timeout, self._end, ("expired",))
        self._timer.daemon = True
        self._timer.start()
        context.runtime.open_transactions.add(self)

    async def _authorize(self, scope: str | None) -> None:
        await self._context.authorize(scope)

    def _closed_error(self) -> ConflictError:
        reasons = {
            "committed": "the transaction was already committed",
            "rolled_back": "the transaction was rolled back",
            "expired": "the transaction stayed open too long and was rolled back",
        }
        return ConflictError(reasons.get(self._state, "the transaction is closed"), code="closed")

    def _while_open(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._state != "open":
                raise self._closed_error()
            return self._database.call(work)

    def _end(self, outcome: TransactionState) -> TransactionState:
        """Commit or roll back and close the connection; returns the final state."""
        with self._lock:
            if self._state != "open":
                return self._state
            self._timer.cancel()
            self._context.runtime.open_transactions.discard(self)
            try:
                if outcome == "committed":
                    self._database.call(lambda c: c.commit())
            except sqlite3.Error as exc:
                outcome = "rolled_back"
                raise ConflictError(f"commit failed and was rolled back: {exc}") from None
            finally:
                self._state = outcome
                self._database.close()  # rolls back whatever is still open
            return outcome

    def _on_rpc_dispose(self) -> None:
        # Called on the event loop, possibly while a statement holds the lock: roll back from a
        # thread of its own rather than block the loop.
        threading.Thread(target=self._end, args=("rolled_back",), daemon=True).start()

    def _abandon(self) -> None:
        self._end("rolled_back")

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._while_open, work)

    @endpoint("db:read")
    async def query(self, sql: SqlText, params: Parameters | None = None) -> dict[str, Any]:
        """Like ``db.query``, seeing this transaction's uncommitted writes."""
        database, timeout = self._database, self._timeout
        max_rows = self._context.runtime.settings.max_rows
        return await self._run(lambda c: _read(c, database, timeout, max_rows, sql, params or []))

    @endpoint("db:write")
    async def execute(
        self,
        sql: SqlText,
        params: Parameters | None = None,
        idempotency_key: IdempotencyKey | None = None,
    ) -> dict[str, Any]:
        """Like ``db.execute``, inside this transaction (its key is forgotten on rollback)."""
        database, timeout = self._database, self._timeout
        ledger, tenant_id = self._context.runtime.ledger, self._context.tenant_id
        arguments = {"sql": sql, "params": params or []}

        def run(c: sqlite3.Connection) -> dict[str, Any]:
            result: dict[str, Any] = ledger.once(
                c,
                tenant_id=tenant_id,
                key=idempotency_key,
                method="db.transaction.execute",
                arguments=arguments,
                work=lambda c: _write(c, database, timeout, sql, params or []),
            )
            return result

        return await self._run(run)

    @endpoint("db:write")
    async def commit(self, idempotency_key: IdempotencyKey | None = None) -> dict[str, Any]:
        """Make the transaction's writes permanent. Committing twice answers the same.

        Raises:
            ConflictError: it was already rolled back (or expired), or the commit failed.
        """
        state = await anyio.to_thread.run_sync(self._end, "committed")
        if state != "committed":
            raise self._closed_error()
        return {"status": "committed"}

    @endpoint("db:write")
    async def rollback(self, idempotency_key: IdempotencyKey | None = None) -> dict[str, Any]:
        """Discard the transaction's writes. Rolling back twice answers the same.

        Raises:
            ConflictError: it was already committed.
        """
        state = await anyio.to_thread.run_sync(self._end, "rolled_back")
        if state == "committed":
            raise self._closed_error()
        return {"status": "rolled_back"}
