"""SQLite storage for the local platform: one platform file, and one file per tenant for ``db``.

Layout of a data directory::

    platform.sqlite3        tenants, secrets, documents, users, API keys, logs, idempotency records
    tenants/<tenant>.sqlite3   that tenant's own SQL database (and its db idempotency records)
    master.key              AES-256-GCM key for secrets, unless DOTDO_MASTER_KEY is set (0600)
    jwt-signing.key         HS256 key for tokens (0600)

Every file runs in WAL mode with ``synchronous=FULL``, so an acknowledged write survives a crash.
Each :class:`Database` is one connection guarded by one lock; async callers reach it through
:meth:`Database.run`, which holds the lock in a worker thread so the event loop never blocks on
disk. Schemas are versioned with ``PRAGMA user_version`` and a list of migrations.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from dotdo.errors import ConflictError, ServiceError
from dotdo.server.sqlguard import SqlGuard

__all__ = [
    "PLATFORM_MIGRATIONS",
    "TENANT_MIGRATIONS",
    "Database",
    "Store",
    "busy_error",
    "transact",
]

T = TypeVar("T")

_IDEMPOTENCY_TABLE = """
CREATE TABLE _dotdo_idempotency (
    tenant_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    method      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response    BLOB NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;
CREATE INDEX _dotdo_idempotency_by_age ON _dotdo_idempotency (created_at);
"""

PLATFORM_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE tenants (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE secrets (
        tenant_id  TEXT NOT NULL REFERENCES tenants (id),
        name       TEXT NOT NULL,
        sealed     BLOB NOT NULL,
        comment    TEXT,
        version    INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (tenant_id, name)
    ) WITHOUT ROWID;
    CREATE TABLE documents (
        tenant_id  TEXT NOT NULL REFERENCES tenants (id),
        collection TEXT NOT NULL,
        id         TEXT NOT NULL,
        data       TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (tenant_id, collection, id)
    ) WITHOUT ROWID;
    CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        tenant_id     TEXT NOT NULL REFERENCES tenants (id),
        username      TEXT NOT NULL,
        password_hash BLOB NOT NULL,
        roles         TEXT NOT NULL,
        scopes        TEXT NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL,
        UNIQUE (tenant_id, username)
    );
    CREATE TABLE api_keys (
        id         TEXT PRIMARY KEY,
        tenant_id  TEXT NOT NULL REFERENCES tenants (id),
        name       TEXT NOT NULL,
        key_hash   TEXT NOT NULL UNIQUE,
        hint       TEXT NOT NULL,
        scopes     TEXT NOT NULL,
        created_by TEXT,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at);
    CREATE TABLE logs (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL REFERENCES tenants (id),
        timestamp REAL NOT NULL,
        level     TEXT NOT NULL,
        severity  INTEGER NOT NULL,
        category  TEXT,
        message   TEXT NOT NULL,
        data      TEXT
    );
    CREATE INDEX logs_by_time ON logs (tenant_id, timestamp);
    """
    + _IDEMPOTENCY_TABLE,
)

TENANT_MIGRATIONS: tuple[str, ...] = (_IDEMPOTENCY_TABLE,)

_TENANT_ID = re.compile(r"t_[0-9a-f]{16,32}")


def transact(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` inside ``BEGIN IMMEDIATE`` … ``COMMIT``, rolling back if it raises.

    Raises:
        ConflictError: (code ``busy``) another connection held the write lock for longer than
            the busy timeout, for example an open ``db.begin()`` transaction.
    """
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        raise busy_error() from None
    try:
        result = work(connection)
    except BaseException:
        if connection.in_transaction:
            connection.rollback()
        raise
    connection.commit()
    return result


def busy_error() -> ConflictError:
    """The error for a write that waited too long on another writer."""
    return ConflictError(
        "the database is busy: another transaction is writing; try again", code="busy"
    )


def _migrate(connection: sqlite3.Connection, migrations: Sequence[str], path: Path) -> None:
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise ServiceError(
            f"{path.name} has schema version {version}, newer than this dotdo understands "
            f"({len(migrations)}); upgrade dotdo"
        )
    for number, script in enumerate(migrations[version:], start=version + 1):
        try:
            connection.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
        except BaseException:
            if connection.in_transaction:
                connection.rollback()
            raise


class Database:
    """One SQLite connection, one lock, and the migrations that shape its file.

    Args:
        path: the database file (created if missing).
        migrations: scripts; script *n* (1-based) moves the file to ``user_version`` *n*.
        guard: for tenant files, the authorizer user SQL runs under.
        busy_timeout: seconds to wait for another writer before failing with "database is locked".
    """

    def __init__(
        self,
        path: Path,
        *,
        migrations: Sequence[str],
        guard: SqlGuard | None = None,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = path
        self.guard = guard
        self._lock = threading.Lock()
        # isolation_level=None: the platform issues BEGIN/COMMIT itself. cached_statements=0: a
        # cached statement skips the authorizer, so user SQL identical to a trusted statement
        # must never be served from the cache.
        self._connection = sqlite3.connect(
            path,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=0,
            timeout=busy_timeout,
        )
        try:
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = FULL")
            self._connection.execute("PRAGMA foreign_keys = ON")
            _migrate(self._connection, migrations, path)
            if guard is not None:
                guard.install(self._connection)
        except BaseException:
            self._connection.close()
            raise
        self._closed = False

    def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` in this thread while holding the connection's lock."""
        with self._lock:
            if self._closed:
                raise ServiceError("the platform is shut down", code="unavailable")
            return work(self._connection)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` in a worker thread while holding the lock."""
        # Cancellation waits for the thread (abandon_on_cancel=False), so the lock and any open
        # transaction are always released before the caller unwinds.
        return await anyio.to_thread.run_sync(self.call, work)

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a worker thread inside one write transaction."""
        return await self.run(lambda connection: transact(connection, work))

    def close(self) -> None:
        """Roll back anything open and close the connection; later calls fail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._connection.in_transaction:
                self._connection.rollback()
            self._connection.close()


class Store:
    """The platform database and the per-tenant databases under one data directory.

    Args:
        data_dir: where the files live; created with mode 0700 if missing.
        query_timeout: seconds a tenant SQL statement may run before it is interrupted.
        busy_timeout: seconds a writer waits for another (for example an open transaction).
    """

    def __init__(self, data_dir: Path, *, query_timeout: float, busy_timeout: float) -> None:
        self.data_dir = data_dir
        self._query_timeout = query_timeout
        self._busy_timeout = busy_timeout
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (data_dir / "tenants").mkdir(mode=0o700, exist_ok=True)
        self.platform = Database(
            data_dir / "platform.sqlite3",
            migrations=PLATFORM_MIGRATIONS,
            busy_timeout=busy_timeout,
        )
        self._tenants: dict[str, Database] = {}
        self._tenants_lock = threading.Lock()

    def tenant_path(self, tenant_id: str) -> Path:
        """The file holding ``tenant_id``'s SQL database."""
        if not _TENANT_ID.fullmatch(tenant_id):
            raise ValueError("malformed tenant id")
        return self.data_dir / "tenants" / f"{tenant_id}.sqlite3"

    def tenant(self, tenant_id: str) -> Database:
        """The shared connection to ``tenant_id``'s SQL database, opened on first use."""
        with self._tenants_lock:
            database = self._tenants.get(tenant_id)
            if database is None:
                database = self.open_tenant(tenant_id)
                self._tenants[tenant_id] = database
            return database

    def opened_tenant(self, tenant_id: str) -> Database | None:
        """The shared connection to ``tenant_id``'s database if it is already open (no I/O)."""
        return self._tenants.get(tenant_id)

    def open_tenant(self, tenant_id: str) -> Database:
        """A new, separate connection to ``tenant_id``'s database (for a transaction)."""
        return Database(
            self.tenant_path(tenant_id),
            migrations=TENANT_MIGRATIONS,
            guard=SqlGuard(query_timeout=self._query_timeout),
            busy_timeout=self._busy_timeout,
        )

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._tenants_lock:
            tenants, self._tenants = list(self._tenants.values()), {}
        for database in tenants:
            database.close()
        self.platform.close()
