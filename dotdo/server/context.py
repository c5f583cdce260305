"""What the services share: settings, the runtime (store, keys, clock), and per-Api auth context."""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from dotdo.errors import AuthenticationError, AuthorizationError
from dotdo.server.crypto import SecretBox
from dotdo.server.idempotency import IdempotencyLedger
from dotdo.server.principal import Principal, is_active
from dotdo.server.store import Database, Store
from dotdo.server.tokens import TokenSigner

__all__ = ["AuthContext", "Runtime", "Settings"]

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Tunable limits of the local platform. Every value is documented in docs/platform.md.

    Attributes:
        token_ttl: default lifetime of a minted JWT, in seconds.
        max_token_ttl: the longest lifetime a caller may ask for.
        token_leeway: clock skew tolerated when verifying a JWT's time claims.
        bcrypt_rounds: bcrypt cost factor for passwords (tests lower it; never below 4).
        revocation_cache_seconds: how long an ``Api`` trusts its last "still active" check.
        idempotency_ttl: how long an idempotency key is remembered.
        query_timeout: seconds one SQL statement may run before it is interrupted.
        busy_timeout: seconds a write waits for another writer (such as an open transaction).
        transaction_timeout: seconds a ``db.begin()`` transaction may stay open.
        max_rows: the most rows one ``db`` read may return.
        max_documents: the most documents one ``collections.query`` may return.
        default_tenant: the tenant ``login`` uses when none is named.
    """

    token_ttl: int = 900
    max_token_ttl: int = 3600
    token_leeway: float = 5.0
    bcrypt_rounds: int = 12
    revocation_cache_seconds: float = 1.0
    idempotency_ttl: float = 24 * 3600.0
    query_timeout: float = 10.0
    busy_timeout: float = 5.0
    transaction_timeout: float = 60.0
    max_rows: int = 10_000
    max_documents: int = 1_000
    default_tenant: str = "dev"


class _Abandonable(Protocol):
    def _abandon(self) -> None: ...


class Runtime:
    """Everything a platform's services share: storage, keys, clock and settings."""

    def __init__(
        self,
        *,
        store: Store,
        box: SecretBox,
        signer: TokenSigner,
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.box = box
        self.signer = signer
        self.settings = settings
        self.clock = clock
        self.ledger = IdempotencyLedger(box, clock=clock, ttl=settings.idempotency_ttl)
        self.open_transactions: set[_Abandonable] = set()
        self._auth_epoch = 0

    @property
    def auth_epoch(self) -> int:
        """A counter bumped whenever a key is revoked or a user deleted or disabled."""
        return self._auth_epoch

    def credentials_changed(self) -> None:
        """Make every ``Api`` in this process re-check its credential on its next call."""
        self._auth_epoch += 1


class AuthContext:
    """The binding between one ``Api`` capability and the credential that made it.

    Every service method calls :meth:`authorize` first: it fails once the token has expired, once
    the user or key behind it is gone (checked at most every ``revocation_cache_seconds``, and at
    once after a revocation in this process), or when the principal lacks the scope.
    """

    def __init__(self, runtime: Runtime, principal: Principal) -> None:
        self.runtime = runtime
        self.principal = principal
        self._checked_at = -math.inf
        self._checked_epoch = runtime.auth_epoch
        self._revoked = False

    @property
    def tenant_id(self) -> str:
        """The tenant every call through this context acts on."""
        return self.principal.tenant_id

    async def authorize(self, scope: str | None) -> None:
        """Raise unless the credential is still valid and carries ``scope``.

        Raises:
            AuthenticationError: expired, revoked, or deleted.
            AuthorizationError: valid, but without ``scope``.
        """
        self._check_expiry()
        if self._recheck_due():
            epoch = self.runtime.auth_epoch
            principal = self.principal
            active = await self.runtime.store.platform.run(
                lambda connection: is_active(connection, principal)
            )
            self._checked_at = time.monotonic()
            self._checked_epoch = epoch
            self._revoked = self._revoked or not active
        self.authorize_cached(scope)

    def authorize_cached(self, scope: str | None) -> None:
        """:meth:`authorize` without I/O: expiry, the last revocation check, and the scope."""
        self._check_expiry()
        if self._revoked:
            raise AuthenticationError("the credential behind this session was revoked")
        if scope is not None and scope not in self.principal.scopes:
            raise AuthorizationError(
                f"this credential lacks the {scope!r} scope", details={"scope": scope}
            )

    def _check_expiry(self) -> None:
        expires_at = self.principal.expires_at
        if expires_at is not None and self.runtime.clock() >= expires_at:
            raise AuthenticationError(
                "the token behind this session has expired; authenticate again",
                code="token_expired",
            )

    def _recheck_due(self) -> bool:
        if self._revoked:
            return False
        if self._checked_epoch != self.runtime.auth_epoch:
            return True
        age = time.monotonic() - self._checked_at
        return age >= self.runtime.settings.revocation_cache_seconds

    async def mutate(
        self,
        method: str,
        arguments: Mapping[str, Any],
        idempotency_key: str | None,
        work: Callable[[sqlite3.Connection], T],
        *,
        database: Database | None = None,
    ) -> T:
        """Run ``work`` in one write transaction, exactly once per idempotency key.

        Args:
            method: the public method name, e.g. ``"secrets.set"``; part of the key's identity.
            arguments: the validated arguments (without the key), fingerprinted for reuse checks.
            database: where the mutation happens; the platform file unless given.
        """
        target = database if database is not None else self.runtime.store.platform
        ledger, tenant_id = self.runtime.ledger, self.tenant_id

        def once(connection: sqlite3.Connection) -> T:
            result: T = ledger.once(
                connection,
                tenant_id=tenant_id,
                key=idempotency_key,
                method=method,
                arguments=arguments,
                work=work,
            )
            return result

        return await target.write(once)
