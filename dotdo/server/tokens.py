"""Credentials the platform issues: API keys (stored only as hashes) and short-lived JWTs.

API keys are 256 bits from the OS random source, so one SHA-256 is enough to store them safely;
bcrypt is kept for passwords, whose entropy is low. JWTs are HS256, signed with a key kept beside
the data, and carry the tenant, the principal and its scopes.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from dotdo.errors import AuthenticationError

__all__ = [
    "API_KEY_PREFIX",
    "TokenClaims",
    "TokenSigner",
    "generate_api_key",
    "hash_api_key",
    "key_hint",
    "looks_like_api_key",
]

API_KEY_PREFIX = "dotdo_sk_"
SIGNING_KEY_BYTES = 64
ISSUER = "dotdo-platform"
AUDIENCE = "dotdo-api"
_ALGORITHM = "HS256"
_MAX_TOKEN_CHARS = 8192
_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "tid", "knd", "scp", "jti"]

PrincipalKind = Literal["user", "api_key"]


def generate_api_key() -> str:
    """A new API key: the prefix and 43 characters of URL-safe randomness (256 bits)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """The hex SHA-256 of an API key: what the store keeps instead of the key."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def key_hint(api_key: str) -> str:
    """The first characters of a key, enough for a person to tell keys apart in a list."""
    return api_key[: len(API_KEY_PREFIX) + 4] + "…"


def looks_like_api_key(token: str) -> bool:
    """True when ``token`` has the shape of a dotdo API key (rather than a JWT)."""
    return token.startswith(API_KEY_PREFIX)


@dataclass(frozen=True)
class TokenClaims:
    """What a verified JWT says about its bearer."""

    subject: str
    tenant_id: str
    kind: PrincipalKind
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    issued_at: float
    expires_at: int
    token_id: str
    user_id: str | None
    api_key_id: str | None


class TokenSigner:
    """Mints and verifies the platform's HS256 JWTs.

    Signature, algorithm, ``iss`` and ``aud`` are checked by PyJWT. The time claims (``exp``,
    ``nbf``, ``iat``) are checked here against the platform clock, so an expiry seen by
    :meth:`verify` is the same expiry every later call is held to.

    Args:
        key: the HMAC signing key (at least 32 bytes).
        clock: wall-clock seconds since the epoch.
        leeway: seconds of clock skew tolerated on the time claims.
    """

    def __init__(
        self,
        key: bytes,
        *,
        clock: Callable[[], float],
        leeway: float = 5.0,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
    ) -> None:
        if len(key) < 32:
            raise ValueError("the JWT signing key must be at least 32 bytes")
        self._key = key
        self._clock = clock
        self._leeway = leeway
        self._issuer = issuer
        self._audience = audience

    def __repr__(self) -> str:
        return f"TokenSigner(issuer={self._issuer!r}, key=<redacted>)"

    def mint(
        self,
        *,
        subject: str,
        tenant_id: str,
        kind: PrincipalKind,
        scopes: Sequence[str],
        roles: Sequence[str] = (),
        ttl_seconds: int,
        user_id: str | None = None,
        api_key_id: str | None = None,
    ) -> tuple[str, int]:
        """Sign a token for a principal.

        Returns:
            ``(token, expires_at)`` with ``expires_at`` in whole seconds since the epoch.
        """
        now = math.floor(self._clock())
        expires_at = now + ttl_seconds
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "tid": tenant_id,
            "knd": kind,
            "scp": list(scopes),
            "rol": list(roles),
            "iat": now,
            "nbf": now,
            "exp": expires_at,
            "jti": secrets.token_hex(12),
        }
        if user_id is not None:
            claims["uid"] = user_id
        if api_key_id is not None:
            claims["kid"] = api_key_id
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM), expires_at

    def verify(self, token: str) -> TokenClaims:
        """Check a token's signature, issuer, audience and time claims.

        Raises:
            AuthenticationError: the token is malformed, forged, not yet valid or expired.
        """
        if len(token) > _MAX_TOKEN_CHARS:
            raise AuthenticationError("the token is too long to be a dotdo token")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise AuthenticationError("the token is invalid") from None
        parsed = _parse_claims(claims)
        self._check_times(parsed, claims)
        return parsed

    def _check_times(self, parsed: TokenClaims, claims: dict[str, Any]) -> None:
        now = self._clock()
        not_before = claims["nbf"]
        if not _is_number(not_before) or now + self._leeway < not_before:
            raise AuthenticationError("the token is not valid yet")
        if now - self._leeway >= parsed.expires_at:
            raise AuthenticationError("the token has expired", code="token_expired")
        if now + self._leeway < parsed.issued_at:
            raise AuthenticationError("the token was issued in the future")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _string_list(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return tuple(value)


def _optional_string(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise AuthenticationError("the token is invalid")
    return value


def _parse_claims(claims: dict[str, Any]) -> TokenClaims:
    scopes = _string_list(claims["scp"])
    roles = _string_list(claims.get("rol", []))
    kind = claims["knd"]
    subject, tenant_id, token_id = claims["sub"], claims["tid"], claims["jti"]
    well_formed = (
        scopes is not None
        and roles is not None
        and kind in ("user", "api_key")
        and all(isinstance(value, str) for value in (subject, tenant_id, token_id))
        and isinstance(claims["exp"], int)
        and _is_number(claims["iat"])
    )
    if not well_formed or scopes is None or roles is None:
        raise AuthenticationError("the token is invalid")
    return TokenClaims(
        subject=subject,
        tenant_id=tenant_id,
        kind=kind,
        scopes=scopes,
        roles=roles,
        issued_at=float(claims["iat"]),
        expires_at=claims["exp"],
        token_id=token_id,
        user_id=_optional_string(claims, "uid"),
        api_key_id=_optional_string(claims, "kid"),
    )
