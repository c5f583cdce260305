"""Exactly-once mutations: a repeat with the same idempotency key gets the first answer.

The record ``(tenant, key) -> (method, fingerprint, sealed answer)`` is written in the same SQLite
transaction as the mutation itself, so either both happen or neither does; a crash can never leave
a change without its record, or a record without its change. Answers are sealed with the secret
box, because some (a newly created API key) are shown once and must not sit in plaintext on disk;
fingerprints are keyed hashes, because arguments may hold passwords and secret values.

Only successful answers are remembered: a call that raised changed nothing, so a retry with the
same key simply runs again. Records older than the TTL (24 h by default) are forgotten.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from dotdo.errors import ConflictError
from dotdo.server.crypto import SecretBox

__all__ = ["IdempotencyLedger", "decode_value", "encode_value"]


def encode_value(value: Any) -> Any:
    """Turn an answer into plain JSON without losing its types (bytes, lists versus dicts)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return {"b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return {"l": [encode_value(item) for item in value]}
    if isinstance(value, dict):
        return {"d": {str(key): encode_value(item) for key, item in value.items()}}
    raise TypeError(f"cannot remember an answer of type {type(value).__name__}")


def decode_value(encoded: Any) -> Any:
    """Inverse of :func:`encode_value`."""
    if not isinstance(encoded, dict):
        return encoded
    if "b" in encoded:
        return base64.b64decode(encoded["b"])
    if "l" in encoded:
        return [decode_value(item) for item in encoded["l"]]
    return {key: decode_value(item) for key, item in encoded["d"].items()}


def _canonical(value: Any) -> bytes:
    return json.dumps(encode_value(value), sort_keys=True, separators=(",", ":")).encode()


class IdempotencyLedger:
    """Reads and writes idempotency records on a connection that is inside a transaction.

    Args:
        box: seals stored answers and keys the argument fingerprints.
        clock: wall-clock seconds since the epoch.
        ttl: seconds a record is honoured.
    """

    def __init__(self, box: SecretBox, *, clock: Callable[[], float], ttl: float) -> None:
        self._box = box
        self._clock = clock
        self._ttl = ttl

    def once(
        self,
        connection: sqlite3.Connection,
        *,
        tenant_id: str,
        key: str | None,
        method: str,
        arguments: Mapping[str, Any],
        work: Callable[[sqlite3.Connection], Any],
    ) -> Any:
        """Run ``work`` unless this key was already used; then replay its answer.

        Must be called inside a transaction on ``connection`` that also covers ``work``.

        Raises:
            ConflictError: the key was used within the TTL for a different method or arguments.
        """
        if key is None:
            return work(connection)
        now = self._clock()
        fingerprint = self._box.fingerprint(method.encode() + b"\0" + _canonical(arguments))
        row = connection.execute(
            "SELECT method, fingerprint, response FROM _dotdo_idempotency"
            " WHERE tenant_id = ? AND key = ? AND created_at > ?",
            (tenant_id, key, now - self._ttl),
        ).fetchone()
        if row is not None:
            if row[0] != method or row[1] != fingerprint:
                raise ConflictError(
                    "this idempotency key was already used for a different call; "
                    "use a new key for each distinct mutation",
                    code="idempotency_key_reused",
                    details={"method": row[0]},
                )
            return decode_value(json.loads(self._box.open(row[2], _aad(tenant_id, key))))
        answer = work(connection)
        sealed = self._box.seal(_canonical(answer), _aad(tenant_id, key))
        connection.execute(
            "DELETE FROM _dotdo_idempotency WHERE created_at <= ?", (now - self._ttl,)
        )
        connection.execute(
            "INSERT OR REPLACE INTO _dotdo_idempotency"
            " (tenant_id, key, method, fingerprint, response, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (tenant_id, key, method, fingerprint, sealed, now),
        )
        return answer


def _aad(tenant_id: str, key: str) -> bytes:
    return b"dotdo-idempotency/v1\0" + tenant_id.encode() + b"\0" + key.encode()
