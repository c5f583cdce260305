"""What tenant SQL may do, enforced by SQLite's authorizer on every statement as it is prepared.

Each tenant has its own database file, so a statement can only reach another tenant's rows by
leaving that file. The guard closes every way out: ``ATTACH`` (which ``VACUUM`` and
``VACUUM INTO`` also go through) and ``DETACH``, any schema other than ``main`` and ``temp``,
``load_extension`` and other dangerous functions, every pragma but a few read-only introspection
ones, explicit transaction control (the platform owns transactions), virtual-table modules other
than full-text search and r-trees, and the platform's own ``_dotdo_`` tables.

The platform's own statements run *trusted*; user SQL runs inside :meth:`SqlGuard.untrusted`, which
also sets a deadline enforced by a progress handler, so a runaway query is interrupted.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RESERVED_TABLE_PREFIX", "SqlGuard"]

RESERVED_TABLE_PREFIX = "_dotdo_"

_ALLOWED_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
        "collation_list",
        # FTS5 reads this internally while creating and querying its tables.
        "data_version",
    }
)
_DENIED_FUNCTIONS = frozenset(
    {"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit", "sqlite_offset"}
)
_ALLOWED_VTABLE_MODULES = frozenset({"fts3", "fts4", "fts5", "rtree", "rtree_i32"})
_ALLOWED_SCHEMAS = frozenset({"main", "temp"})

# Actions whose first argument is a table (or index/trigger/view) name to protect.
_TABLE_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_TABLE,
        sqlite3.SQLITE_DROP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_TABLE,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_CREATE_TEMP_VIEW,
        sqlite3.SQLITE_CREATE_VTABLE,
        sqlite3.SQLITE_DROP_VTABLE,
        sqlite3.SQLITE_ANALYZE,
    }
)
# Actions whose second argument is the table they act on.
_ON_TABLE_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TEMP_INDEX,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_DROP_TEMP_INDEX,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
        sqlite3.SQLITE_DROP_TRIGGER,
        sqlite3.SQLITE_DROP_TEMP_TRIGGER,
        sqlite3.SQLITE_ALTER_TABLE,
    }
)
_READ_ONLY_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_PRAGMA,
        sqlite3.SQLITE_RECURSIVE,
    }
)
_ALWAYS_DENIED = {
    sqlite3.SQLITE_ATTACH: "ATTACH (and VACUUM, which attaches)",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_TRANSACTION: "transaction control (use db.batch or db.begin)",
    sqlite3.SQLITE_SAVEPOINT: "savepoints (use db.batch or db.begin)",
}

_PROGRESS_STEPS = 2000


class SqlGuard:
    """The authorizer and deadline for one tenant connection.

    Not thread-safe by itself: the connection's lock must be held while it is used, which the store
    guarantees.
    """

    def __init__(self, *, query_timeout: float) -> None:
        self._query_timeout = query_timeout
        self._trusted = True
        self._read_only = False
        self._deadline = 0.0
        self.denied: str | None = None
        self.saw_insert = False
        self.interrupted = False

    def install(self, connection: sqlite3.Connection) -> None:
        """Attach the authorizer, the deadline check and hard limits to ``connection``."""
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        connection.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 1_000_000)
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 16 * 1024 * 1024)
        connection.set_authorizer(self._authorize)
        connection.set_progress_handler(self._progress, _PROGRESS_STEPS)

    @contextmanager
    def untrusted(self, *, read_only: bool) -> Iterator[None]:
        """Run user SQL under the rules; ``read_only`` also refuses every write."""
        self._trusted = False
        self._read_only = read_only
        self._deadline = time.monotonic() + self._query_timeout
        self.denied = None
        self.saw_insert = False
        self.interrupted = False
        try:
            yield
        finally:
            self._trusted = True
            self._read_only = False

    def _progress(self) -> int:
        if not self._trusted and time.monotonic() > self._deadline:
            self.interrupted = True
            return 1
        return 0

    def _authorize(
        self, action: int, first: str | None, second: str | None, schema: str | None, _: str | None
    ) -> int:
        if self._trusted:
            return sqlite3.SQLITE_OK
        reason = self._refusal(action, first, second, schema)
        if reason is not None:
            self.denied = reason
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_INSERT and not (first or "").startswith("sqlite_"):
            self.saw_insert = True
        return sqlite3.SQLITE_OK

    def _refusal(
        self, action: int, first: str | None, second: str | None, schema: str | None
    ) -> str | None:
        """Why this action is refused, or None to allow it."""
        if action in _ALWAYS_DENIED:
            return _ALWAYS_DENIED[action]
        if schema is not None and schema not in _ALLOWED_SCHEMAS:
            return f"schema {schema!r}"
        if action == sqlite3.SQLITE_PRAGMA:
            return None if first in _ALLOWED_PRAGMAS else f"PRAGMA {first}"
        if action == sqlite3.SQLITE_FUNCTION:
            return f"function {second}()" if (second or "").lower() in _DENIED_FUNCTIONS else None
        if action == sqlite3.SQLITE_CREATE_VTABLE and second not in _ALLOWED_VTABLE_MODULES:
            return f"virtual table module {second!r}"
        table = (
            first if action in _TABLE_ACTIONS else second if action in _ON_TABLE_ACTIONS else None
        )
        if table is not None and table.lower().startswith(RESERVED_TABLE_PREFIX):
            return f"table {table!r} (reserved by the platform)"
        if self._read_only and action not in _READ_ONLY_ACTIONS:
            # SQLite reports schema-table updates while it loads eponymous virtual tables such as
            # json_each; real writes to sqlite_master are refused by SQLite itself.
            if action == sqlite3.SQLITE_UPDATE and first in ("sqlite_master", "sqlite_temp_master"):
                return None
            return "writes in db.query (use db.execute)"
        return None
