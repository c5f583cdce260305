"""dotdo: the platform's services — secrets, SQL, collections, auth, logs, RPC — as one object.

    from dotdo import dotdo

    url = await dotdo.secrets.get("DATABASE_URL")

Importing does no I/O and reads no configuration; the first call does.
"""

from dotdo._client import DotDo
from dotdo._version import __version__
from dotdo.errors import (
    AuthenticationError,
    AuthorizationError,
    CapabilityError,
    CircuitOpenError,
    ConflictError,
    DotDoConnectionError,
    DotDoError,
    DotDoTimeoutError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    RpcError,
    ServiceError,
    ValidationError,
)

dotdo: DotDo = DotDo()
"""The module-level client, configured from the environment (or ``configure``) on first use."""

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "CapabilityError",
    "CircuitOpenError",
    "ConflictError",
    "DotDo",
    "DotDoConnectionError",
    "DotDoError",
    "DotDoTimeoutError",
    "NotFoundError",
    "ProtocolError",
    "RateLimitError",
    "RpcError",
    "ServiceError",
    "ValidationError",
    "__version__",
    "dotdo",
]
