"""Resilience for dotdo calls: small, pure policies and the one runner that applies them.

Nothing here does I/O: clocks, sleeps and randomness are injected, so every policy can be tested
on a fake clock. :func:`call_with_resilience` is the only place the policies are combined.

- ``classify``: where a call failed, which decides whether it may be retried;
- ``retry``: how many retries and the full-jitter backoff between them;
- ``retry_budget``: a token bucket that stops retries while an endpoint keeps failing;
- ``deadline``: the total deadline and the per-attempt and connect limits inside it;
- ``attempt_timer``: the per-attempt limit itself, one timer per event loop rather than per call;
- ``breaker``: the per-endpoint circuit breaker (``window``: its sliding counts);
- ``cold_start``: waiting for a backend that scales to zero, and failing fast when it is paused;
- ``token_cache``: the access token, refreshed ahead of expiry, one fetch at a time;
- ``runner``: :func:`call_with_resilience`.
"""

from dotdo.resilience.breaker import BreakerConfig, BreakerStats, CircuitBreaker, CircuitState
from dotdo.resilience.classify import (
    REQUEST_SENT_KEY,
    FailureKind,
    classify_failure,
    request_was_sent,
)
from dotdo.resilience.cold_start import ColdStart, ColdStartPolicy, WarmUp, is_warming_failure
from dotdo.resilience.deadline import Deadline, TimeoutPolicy
from dotdo.resilience.retry import RetryPolicy, is_retryable, kind_is_retryable, retry_after_hint
from dotdo.resilience.retry_budget import RetryBudget
from dotdo.resilience.runner import DEFAULT_RETRY_POLICY, call_with_resilience
from dotdo.resilience.token_cache import Token, TokenCache

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "REQUEST_SENT_KEY",
    "BreakerConfig",
    "BreakerStats",
    "CircuitBreaker",
    "CircuitState",
    "ColdStart",
    "ColdStartPolicy",
    "Deadline",
    "FailureKind",
    "RetryBudget",
    "RetryPolicy",
    "TimeoutPolicy",
    "Token",
    "TokenCache",
    "WarmUp",
    "call_with_resilience",
    "classify_failure",
    "is_retryable",
    "is_warming_failure",
    "kind_is_retryable",
    "request_was_sent",
    "retry_after_hint",
]
