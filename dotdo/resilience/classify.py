"""Sort a failed attempt into the one kind that decides whether it may be retried.

What may be retried depends on *where* the call failed, not only on the error type (gRPC retry
design A6): a call that never left the client is always safe to send again; a call that may have
reached the application is safe only when the method is idempotent or carries an idempotency key.

Transports say a failure happened before any byte of the request left by putting
``details["request_sent"] = False`` on the :class:`~dotdo.errors.DotDoConnectionError`,
:class:`~dotdo.errors.DotDoTimeoutError` or :class:`~dotdo.errors.ServiceError` they raise.
Without that mark the request is assumed sent: a wrong guess there could run a write twice.
"""

from __future__ import annotations

import enum

from dotdo.errors import (
    DotDoConnectionError,
    DotDoError,
    DotDoTimeoutError,
    RateLimitError,
    ServiceError,
)

__all__ = ["REQUEST_SENT_KEY", "FailureKind", "classify_failure", "request_was_sent"]

REQUEST_SENT_KEY = "request_sent"
"""The ``details`` key a transport sets to ``False`` when the request never left the client."""


class FailureKind(enum.Enum):
    """Where and how an attempt failed; each kind has one retry rule."""

    NOT_SENT = "not_sent"
    """The request never left the client (refused, DNS, connect timeout): always retryable."""
    THROTTLED = "throttled"
    """The server refused to run it for now (rate limited): always retryable, after retry_after."""
    TIMED_OUT = "timed_out"
    """No answer in time after the request was sent: retryable only if idempotent."""
    AMBIGUOUS = "ambiguous"
    """The connection broke or the platform failed after sending: retryable only if idempotent."""
    PAUSED = "paused"
    """The backend is paused and will not wake by itself: never retried."""
    DEFINITE = "definite"
    """The platform answered with a definite error (auth, validation, not found...): never."""
    UNEXPECTED = "unexpected"
    """Not a dotdo error at all, most likely a bug: never retried, never counted."""
    CANCELLED = "cancelled"
    """Cancellation or interpreter exit (a BaseException): never retried, never counted."""


_TRANSIENT = (DotDoConnectionError, DotDoTimeoutError, ServiceError)


def request_was_sent(exc: BaseException) -> bool:
    """Whether the request may have left the client; ``False`` only when the transport says so."""
    if isinstance(exc, DotDoError):
        return exc.details.get(REQUEST_SENT_KEY) is not False
    return True


def classify_failure(exc: BaseException, *, request_sent: bool) -> FailureKind:
    """Return the :class:`FailureKind` of ``exc``.

    Args:
        exc: what the attempt raised.
        request_sent: whether the request may have reached the server (see
            :func:`request_was_sent`).
    """
    if not isinstance(exc, Exception):
        return FailureKind.CANCELLED
    if not isinstance(exc, DotDoError):
        return FailureKind.UNEXPECTED
    if isinstance(exc, RateLimitError):
        return FailureKind.THROTTLED
    if isinstance(exc, ServiceError) and exc.code == "paused":
        return FailureKind.PAUSED
    if not isinstance(exc, _TRANSIENT):
        # Authentication, authorization, validation, not found, conflict, capability, protocol,
        # circuit open and remote application errors: sending the same call again changes nothing.
        return FailureKind.DEFINITE
    if not request_sent:
        return FailureKind.NOT_SENT
    if isinstance(exc, DotDoTimeoutError):
        return FailureKind.TIMED_OUT
    return FailureKind.AMBIGUOUS
