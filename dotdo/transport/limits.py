"""Receive-side limits that keep one peer from exhausting this process.

Defaults match the reference implementation (`src/serialize.ts`, `DEFAULT_LIMITS`) where it has
one; the caps on exports, pending pulls and HTTP batches go beyond it. Limits are local and never
negotiated. A message from the peer that breaks one aborts that session with a `ProtocolError`
(other sessions are untouched); a result of ours that would need more exports than allowed fails
only that call, with the same error. An oversize HTTP batch is answered with 413.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-session resource limits.

    Attributes:
        max_message_size: largest message, in UTF-8 bytes. The reference counts UTF-16 code units;
            a UTF-8 byte count is never smaller, so this is at least as strict.
        max_depth: deepest nesting of one message, counted through call arguments too.
        max_bigint_digits: longest ``["bigint", "..."]`` string, sign included.
        max_exports: most entries the peer may pin in our export table at once.
        max_imports: most entries the peer may make us hold in our import table at once.
        max_pending_pulls: most results the peer may have asked for and not yet received.
        max_batch_bytes: largest HTTP-batch request body (answered with 413 beyond it).
        max_batch_messages: most messages (lines) in one HTTP batch.
    """

    max_message_size: int = 32 * 1024 * 1024
    max_depth: int = 256
    max_bigint_digits: int = 16_384
    max_exports: int = 100_000
    max_imports: int = 100_000
    max_pending_pulls: int = 10_000
    max_batch_bytes: int = 32 * 1024 * 1024
    max_batch_messages: int = 10_000


DEFAULT_LIMITS = Limits()
