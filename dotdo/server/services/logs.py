"""``api.logs``: structured log entries, written in batches and queried by level, time, category."""

from __future__ import annotations

import json
import sqlite3
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic needs these on Python 3.11
)

from pydantic import Field, JsonValue, StringConstraints, with_config
from typing_extensions import TypedDict

from dotdo.errors import ValidationError
from dotdo.server.services.base import Service
from dotdo.server.validation import IdempotencyKey, endpoint, strict_config

__all__ = ["LEVELS", "LogsService"]

MAX_BATCH = 1_000
MAX_DATA_BYTES = 64 * 1024

Level = Literal["debug", "info", "warning", "error", "critical"]
LEVELS: dict[str, int] = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
Category = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Message = Annotated[str, StringConstraints(max_length=8_192)]
Timestamp = Annotated[float, Field(ge=0)]


@with_config(strict_config)
class LogEntry(TypedDict):
    """One entry of ``logs.write``."""

    level: Level
    message: Message
    category: NotRequired[Category | None]
    data: NotRequired[dict[str, JsonValue] | None]
    timestamp: NotRequired[Timestamp | None]


Entries = Annotated[list[LogEntry], Field(min_length=1, max_length=MAX_BATCH)]
Limit = Annotated[int, Field(ge=1)]


def _data_text(entry: LogEntry, index: int) -> str | None:
    data = entry.get("data")
    if data is None:
        return None
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if len(text.encode("utf-8")) > MAX_DATA_BYTES:
        raise ValidationError(
            f"invalid arguments to write(): entries[{index}].data is larger than"
            f" {MAX_DATA_BYTES} bytes of JSON"
        )
    return text


def _timestamp(entry: LogEntry, now: float) -> float:
    stamp = entry.get("timestamp")
    return now if stamp is None else stamp


class LogsService(Service):
    """The tenant's structured log."""

    @endpoint("logs:write")
    async def write(
        self, entries: Entries, idempotency_key: IdempotencyKey | None = None
    ) -> dict[str, Any]:
        """Append ``entries`` (all or none); returns ``{"written": n}``.

        An entry without ``timestamp`` is stamped with the platform's clock.
        """
        tenant_id, now = self._tenant_id, self._runtime.clock()
        rows = [
            (
                tenant_id,
                _timestamp(entry, now),
                entry["level"],
                LEVELS[entry["level"]],
                entry.get("category"),
                entry["message"],
                _data_text(entry, index),
            )
            for index, entry in enumerate(entries)
        ]

        def append(c: sqlite3.Connection) -> dict[str, Any]:
            c.executemany(
                "INSERT INTO logs (tenant_id, timestamp, level, severity, category, message, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return {"written": len(rows)}

        arguments = {"entries": entries}
        return await self._context.mutate("logs.write", arguments, idempotency_key, append)

    @endpoint("logs:read")
    async def query(
        self,
        level: Level | None = None,
        since: Timestamp | None = None,
        until: Timestamp | None = None,
        category: Category | None = None,
        limit: Limit | None = None,
    ) -> list[dict[str, Any]]:
        """Entries, newest first.

        Args:
            level: the minimum level (``"warning"`` also returns errors and criticals).
            since: only entries at or after this time (seconds since the epoch).
            until: only entries strictly before this time.
            category: only entries with exactly this category.
            limit: at most this many (default 100, at most 1000).
        """
        cap = self._runtime.settings.max_documents
        if limit is not None and limit > cap:
            raise ValidationError(f"invalid arguments to query(): limit may be at most {cap}")
        sql = "SELECT id, timestamp, level, category, message, data FROM logs WHERE tenant_id = ?"
        parameters: list[Any] = [self._tenant_id]
        if level is not None:
            sql += " AND severity >= ?"
            parameters.append(LEVELS[level])
        if since is not None:
            sql += " AND timestamp >= ?"
            parameters.append(since)
        if until is not None:
            sql += " AND timestamp < ?"
            parameters.append(until)
        if category is not None:
            sql += " AND category = ?"
            parameters.append(category)
        sql += " ORDER BY timestamp DESC, id DESC LIMIT ?"
        parameters.append(limit or 100)
        rows = await self._runtime.store.platform.run(
            lambda c: c.execute(sql, parameters).fetchall()
        )
        return [
            {
                "id": row[0],
                "timestamp": row[1],
                "level": row[2],
                "category": row[3],
                "message": row[4],
                "data": None if row[5] is None else json.loads(row[5]),
            }
            for row in rows
        ]
