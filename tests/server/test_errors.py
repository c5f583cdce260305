"""redact_error: only declared errors cross the wire."""

from __future__ import annotations

import logging

import pytest

from dotdo.errors import NotFoundError, ServiceError
from dotdo.server import redact_error


def test_a_dotdo_error_passes_through_unchanged() -> None:
    error = NotFoundError("no secret named 'X'")
    assert redact_error(error) is error


def test_any_other_exception_becomes_an_internal_service_error() -> None:
    redacted = redact_error(KeyError("/srv/data/platform.sqlite3 SELECT sealed FROM secrets"))
    assert isinstance(redacted, ServiceError)
    assert redacted.message == "internal error"
    assert "sqlite" not in str(redacted)


def test_each_redacted_error_gets_a_fresh_request_id() -> None:
    first, second = redact_error(RuntimeError("a")), redact_error(RuntimeError("a"))
    assert isinstance(first, ServiceError)
    assert isinstance(second, ServiceError)
    assert first.request_id
    assert second.request_id
    assert first.request_id != second.request_id


def test_the_original_is_logged_under_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="dotdo.server"):
        redacted = redact_error(ZeroDivisionError("details for operators"))
    assert isinstance(redacted, ServiceError)
    [record] = caplog.records
    assert record.name == "dotdo.server"
    assert redacted.request_id in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError
