"""dotdo: the platform's services as one local object."""

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

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "CapabilityError",
    "CircuitOpenError",
    "ConflictError",
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
]
