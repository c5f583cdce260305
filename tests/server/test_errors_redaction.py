"""What the platform lets an error say on the wire."""

from __future__ import annotations

from dotdo.errors import NotFoundError, ServiceError, ValidationError
from dotdo.server.errors import redact_error
from dotdo.transport.hooks import unreachable


def test_a_declared_error_passes_through_unchanged() -> None:
    error = ValidationError("bad name")
    assert redact_error(error) is error


def test_an_unknown_method_or_service_becomes_not_found() -> None:
    redacted = redact_error(unreachable("nope"))
    assert isinstance(redacted, NotFoundError)
    assert "'nope'" in redacted.message


def test_an_unexpected_exception_becomes_an_internal_error_with_a_request_id() -> None:
    redacted = redact_error(KeyError("secret-table-name"))
    assert isinstance(redacted, ServiceError)
    assert "secret-table-name" not in str(redacted)
    assert redacted.request_id
