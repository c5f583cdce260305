"""What an error may say on the wire: declared dotdo errors as they are, anything else redacted.

The transport calls :func:`redact_error` on every exception before it is serialised. A
:class:`~dotdo.errors.DotDoError` was raised on purpose and is written for the caller, so it passes
through, and so does a call to a method or service that does not exist (as ``NotFoundError``).
Anything else is a bug or an environment failure whose message, type and traceback may
name files, SQL or data: it is logged here, on the ``dotdo.server`` logger, under a fresh
correlation id, and the caller gets only ``ServiceError("internal error", request_id=...)``.
"""

from __future__ import annotations

import logging
import uuid

from dotdo.errors import DotDoError, NotFoundError, ServiceError
from dotdo.transport.hooks import UnreachableMemberError

__all__ = ["logger", "redact_error"]

logger = logging.getLogger("dotdo.server")


def redact_error(exc: BaseException) -> BaseException:
    """The error to send to the peer in place of ``exc``.

    Returns:
        ``exc`` itself for dotdo errors; otherwise a new ``ServiceError`` whose ``request_id``
        matches the log record holding the details.
    """
    if isinstance(exc, DotDoError):
        return exc
    if isinstance(exc, UnreachableMemberError):
        # A method or service that does not exist is the caller's mistake, not an internal one.
        return NotFoundError(str(exc), code="no_such_method")
    request_id = uuid.uuid4().hex
    logger.error(
        "internal error %s: %s",
        request_id,
        type(exc).__name__,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return ServiceError("internal error", request_id=request_id)
