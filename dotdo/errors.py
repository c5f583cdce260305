"""Every error dotdo raises, in one hierarchy.

    DotDoError                      code, message, details, request_id
    ├── AuthenticationError         no, bad, expired or revoked credentials
    ├── AuthorizationError          authenticated, but not allowed to do this
    ├── NotFoundError               the thing asked for does not exist
    ├── ValidationError             an argument or setting is wrong; fix the call
    ├── ConflictError               the write clashes with existing state
    ├── RateLimitError              slow down; see retry_after
    ├── ServiceError                the platform failed (internal error, unavailable, paused)
    ├── DotDoConnectionError        the connection could not be made or was lost
    ├── DotDoTimeoutError           the call ran out of time (also a builtin TimeoutError)
    ├── RpcError                    the remote raised an error of a type dotdo does not declare
    ├── CapabilityError             a stub was used after disposal or after its session died
    ├── CircuitOpenError            the endpoint is failing; calls are refused until retry_at
    └── ProtocolError               the peer broke the Cap'n Web protocol or a limit

Every class has a stable ``code`` string. Declared errors cross the wire as the Cap'n Web error
expression ``["error", ClassName, message, null, {"code": ..., "details": ..., ...}]`` and are
rebuilt on the other side by :func:`error_from_wire`; anything else arrives as :class:`RpcError`.
Messages never contain a secret: callers pass names, never values.
"""

from __future__ import annotations

from typing import Any, ClassVar

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
    "error_from_wire",
]


class DotDoError(Exception):
    """Base class of every dotdo error.

    Attributes:
        code: a stable, machine-readable string such as ``"not_found"``.
        message: what went wrong, in words a person can act on.
        details: extra machine-readable facts (never secrets).
        request_id: the correlation id the platform logged this under, when there is one.
    """

    default_code: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})
        self.request_id = request_id

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id {self.request_id})"
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def wire_props(self) -> dict[str, Any]:
        """The extra properties sent beside the message in a Cap'n Web error expression."""
        props: dict[str, Any] = {"code": self.code}
        if self.details:
            props["details"] = self.details
        if self.request_id:
            props["request_id"] = self.request_id
        return props


class AuthenticationError(DotDoError):
    """The credentials are missing, malformed, expired or revoked."""

    default_code = "unauthenticated"


class AuthorizationError(DotDoError):
    """The caller is authenticated but lacks the role or scope this needs."""

    default_code = "forbidden"


class NotFoundError(DotDoError):
    """The secret, row, document, user or key asked for does not exist."""

    default_code = "not_found"


class ValidationError(DotDoError, ValueError):
    """An argument, setting or payload is invalid; the message names which and why."""

    default_code = "invalid"


class ConflictError(DotDoError):
    """The write clashes with existing state (a duplicate name, a constraint)."""

    default_code = "conflict"


class RateLimitError(DotDoError):
    """Too many requests; wait ``retry_after`` seconds (when known) before trying again."""

    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def wire_props(self) -> dict[str, Any]:
        props = super().wire_props()
        if self.retry_after is not None:
            props["retry_after"] = self.retry_after
        return props


class ServiceError(DotDoError):
    """The platform failed to serve the call: an internal error, unavailable, or paused."""

    default_code = "internal"


class DotDoConnectionError(DotDoError):
    """The connection to the platform could not be made, or was lost during the call."""

    default_code = "connection"


class DotDoTimeoutError(DotDoError, TimeoutError):
    """The call did not finish within its deadline."""

    default_code = "timeout"


class RpcError(DotDoError):
    """The remote side raised an error that is not one of dotdo's declared errors.

    Attributes:
        remote_type: the remote error's type name, e.g. ``"TypeError"``.
    """

    default_code = "remote_error"

    def __init__(self, message: str, *, remote_type: str = "Error", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.remote_type = remote_type

    def __repr__(self) -> str:
        return f"RpcError(remote_type={self.remote_type!r}, message={self.message!r})"


class CapabilityError(DotDoError):
    """A stub was used after it was disposed, or after the session that made it ended."""

    default_code = "capability"


class CircuitOpenError(DotDoError):
    """Calls to this endpoint are refused for now because it keeps failing.

    Attributes:
        retry_at: the monotonic time (``time.monotonic()``) at which a probe call is allowed.
    """

    default_code = "circuit_open"

    def __init__(self, message: str, *, retry_at: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_at = retry_at


class ProtocolError(DotDoError):
    """The peer sent something the Cap'n Web protocol or a configured limit does not allow."""

    default_code = "protocol"


_DECLARED: dict[str, type[DotDoError]] = {
    cls.__name__: cls
    for cls in (
        DotDoError,
        AuthenticationError,
        AuthorizationError,
        NotFoundError,
        ValidationError,
        ConflictError,
        RateLimitError,
        ServiceError,
        DotDoConnectionError,
        DotDoTimeoutError,
        CapabilityError,
        CircuitOpenError,
        ProtocolError,
    )
}


def error_from_wire(type_name: str, message: str, props: dict[str, Any] | None) -> DotDoError:
    """Rebuild the error a peer sent as ``["error", type_name, message, stack, props]``.

    Declared dotdo errors come back as their own class; any other type becomes :class:`RpcError`
    carrying the remote type name. Unknown props are ignored, so a peer cannot inject attributes.
    """
    props = props or {}
    details = props.get("details")
    request_id = props.get("request_id")
    code = props.get("code")
    common: dict[str, Any] = {
        "code": code if isinstance(code, str) else None,
        "details": details if isinstance(details, dict) else None,
        "request_id": request_id if isinstance(request_id, str) else None,
    }
    cls = _DECLARED.get(type_name)
    if cls is None:
        return RpcError(message, remote_type=type_name, **common)
    if cls is RateLimitError:
        retry_after = props.get("retry_after")
        seconds: float | None = None
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
            try:
                seconds = float(retry_after)
            except OverflowError:  # a bigint far beyond any real delay
                seconds = None
            if seconds is not None and not (0 <= seconds < float("inf")):
                seconds = None
        return RateLimitError(message, retry_after=seconds, **common)
    return cls(message, **common)
