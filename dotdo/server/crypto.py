"""Key material for the local platform: private key files and the AES-256-GCM secret box.

Secrets (and stored idempotent answers) are sealed with AES-256-GCM under one master key. The
key comes from, in order: the ``master_key`` argument, ``DOTDO_MASTER_KEY`` (base64 of 32 bytes),
or a ``master.key`` file beside the data, created with mode 0600 on first use. Every sealed value
is bound to where it lives by its associated data, so a ciphertext moved to another row won't open.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dotdo.errors import ServiceError, ValidationError

__all__ = [
    "MASTER_KEY_ENV",
    "SecretBox",
    "load_or_create_key",
    "master_key_from_env",
    "read_private_file",
    "write_private_file",
]

MASTER_KEY_ENV = "DOTDO_MASTER_KEY"
MASTER_KEY_BYTES = 32
_NONCE_BYTES = 12


def write_private_file(path: Path, data: bytes, *, replace: bool = True) -> bool:
    """Write ``data`` to ``path`` with mode 0600 from the first byte, atomically.

    The bytes go to a temporary file in the same directory, are flushed to disk, then moved into
    place. With ``replace=False`` an existing file wins and is left untouched.

    Returns:
        True when this call wrote the file, False when ``replace=False`` found one already there.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            # link() fails if the target exists, so two processes racing to create a key agree
            # on whichever landed first.
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def read_private_file(path: Path) -> bytes:
    """Read a file that must be private to this user (no group or other permission bits).

    Raises:
        ServiceError: the file is a symlink, or readable or writable by others.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ServiceError(f"cannot open {path.name}: it must be a regular file") from None
    with os.fdopen(descriptor, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if os.name != "nt" and stat.S_IMODE(mode) & 0o077:
            raise ServiceError(
                f"{path} is readable or writable by other users; run `chmod 600 {path}`"
            )
        return handle.read()


def load_or_create_key(path: Path, size: int) -> bytes:
    """Return the base64 key stored at ``path``, creating a random one (mode 0600) if absent."""
    if not path.exists():
        encoded = base64.b64encode(secrets.token_bytes(size)) + b"\n"
        write_private_file(path, encoded, replace=False)
    try:
        key = base64.b64decode(read_private_file(path).strip(), validate=True)
    except binascii.Error:
        raise ServiceError(f"{path} does not hold a base64 key") from None
    if len(key) != size:
        raise ServiceError(f"{path} holds a {len(key)}-byte key; expected {size} bytes")
    return key


def master_key_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The master key from ``DOTDO_MASTER_KEY`` (base64 of 32 bytes), or None when unset.

    Raises:
        ValidationError: the variable is set but is not base64 of exactly 32 bytes.
    """
    value = (os.environ if environ is None else environ).get(MASTER_KEY_ENV)
    if not value:
        return None
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise ValidationError(f"{MASTER_KEY_ENV} must be base64 of 32 random bytes") from None
    if len(key) != MASTER_KEY_BYTES:
        raise ValidationError(
            f"{MASTER_KEY_ENV} must decode to 32 bytes, got {len(key)}; make one with"
            " `openssl rand -base64 32`"
        )
    return key


class SecretBox:
    """AES-256-GCM sealing under one master key, with a fresh 96-bit nonce per value.

    A sealed value is ``nonce || ciphertext || tag``. The associated data names where the value
    lives (tenant, secret name, ...) and must be given again to open it.
    """

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise ValidationError(f"the master key must be 32 bytes, got {len(master_key)}")
        self._aead = AESGCM(master_key)
        # A separate key for fingerprints, so no HMAC output is ever computed under the AEAD key.
        self._fingerprint_key = hmac.new(master_key, b"dotdo-fingerprint/v1", "sha256").digest()

    def __repr__(self) -> str:
        return "SecretBox(<redacted>)"

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt ``plaintext`` bound to ``associated_data``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def open(self, sealed: bytes, associated_data: bytes) -> bytes:
        """Decrypt a value made by :meth:`seal` with the same associated data.

        Raises:
            ServiceError: the value was altered, moved, or sealed under another master key.
        """
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated_data)
        except (InvalidTag, ValueError):
            raise ServiceError(
                "stored ciphertext does not open: altered, or sealed under another master key",
                code="corrupt",
            ) from None

    def fingerprint(self, data: bytes) -> str:
        """A keyed hash of ``data``: comparable, but not brute-forceable without the master key."""
        return hmac.new(self._fingerprint_key, data, hashlib.sha256).hexdigest()
