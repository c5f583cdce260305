"""Where an attempt failed decides its kind, and its kind decides whether it may be retried."""

from __future__ import annotations

import asyncio

import pytest

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
from dotdo.resilience import REQUEST_SENT_KEY, FailureKind, classify_failure, request_was_sent

NOT_SENT = {REQUEST_SENT_KEY: False}


def test_request_counts_as_sent_unless_the_transport_says_otherwise() -> None:
    assert request_was_sent(DotDoConnectionError("reset"))
    assert request_was_sent(ValueError("not ours"))
    assert not request_was_sent(DotDoConnectionError("refused", details=NOT_SENT))


def test_a_connection_failure_before_sending_is_not_sent() -> None:
    exc = DotDoConnectionError("refused", details=NOT_SENT)
    assert classify_failure(exc, request_sent=False) is FailureKind.NOT_SENT


def test_a_connect_timeout_before_sending_is_not_sent() -> None:
    exc = DotDoTimeoutError("connect timed out", details=NOT_SENT)
    assert classify_failure(exc, request_sent=False) is FailureKind.NOT_SENT


def test_a_timeout_after_sending_is_timed_out() -> None:
    assert classify_failure(DotDoTimeoutError("slow"), request_sent=True) is FailureKind.TIMED_OUT


@pytest.mark.parametrize(
    "exc", [DotDoConnectionError("reset mid-call"), ServiceError("internal error")]
)
def test_a_broken_connection_or_platform_failure_after_sending_is_ambiguous(
    exc: DotDoError,
) -> None:
    assert classify_failure(exc, request_sent=True) is FailureKind.AMBIGUOUS


@pytest.mark.parametrize("request_sent", [True, False])
def test_rate_limiting_is_throttled_wherever_it_happened(request_sent: bool) -> None:
    exc = RateLimitError("slow down", retry_after=2.0)
    assert classify_failure(exc, request_sent=request_sent) is FailureKind.THROTTLED


def test_a_paused_backend_is_paused() -> None:
    exc = ServiceError("the project is paused", code="paused")
    assert classify_failure(exc, request_sent=False) is FailureKind.PAUSED


@pytest.mark.parametrize(
    "exc",
    [
        AuthenticationError("bad token"),
        AuthorizationError("no"),
        NotFoundError("no such secret"),
        ValidationError("bad argument"),
        ConflictError("duplicate"),
        CapabilityError("disposed stub"),
        ProtocolError("bad frame"),
        CircuitOpenError("open"),
        RpcError("TypeError in handler", remote_type="TypeError"),
        DotDoError("undeclared"),
    ],
    ids=lambda exc: type(exc).__name__,
)
@pytest.mark.parametrize("request_sent", [True, False])
def test_answers_that_sending_again_cannot_change_are_definite(
    exc: DotDoError, request_sent: bool
) -> None:
    assert classify_failure(exc, request_sent=request_sent) is FailureKind.DEFINITE


def test_an_exception_that_is_not_a_dotdo_error_is_unexpected() -> None:
    assert classify_failure(KeyError("bug"), request_sent=False) is FailureKind.UNEXPECTED


@pytest.mark.parametrize("exc", [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit()])
def test_cancellation_and_interpreter_exit_are_cancelled(exc: BaseException) -> None:
    assert classify_failure(exc, request_sent=False) is FailureKind.CANCELLED
