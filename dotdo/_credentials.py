"""Where ``dotdo login`` keeps its login: the OS keychain, else an encrypted file.

**Keychain first.** The login is one keyring entry (service ``"dotdo"``, user ``"login"``) holding
JSON. Every keyring call runs in a daemon worker thread with a timeout, because keyring on
headless Linux can raise (no backend, a locked collection, no D-Bus) or hang forever on
``collection.unlock()``. A failure, a timeout, or a backend that cannot store anything (the
``fail`` and ``null`` backends, a chainer with nothing to chain) sends the store to the file,
with a DEBUG log on ``logging.getLogger("dotdo")``: never an exception, never a secret. Once the
keychain has failed, that store object does not try it again. ``DOTDO_NO_KEYCHAIN=1`` skips it.

**The file** lives in ``DOTDO_CONFIG_DIR``, else ``platformdirs.user_config_dir("dotdo")``:
``credentials.enc`` holds ``{"v": 1, "nonce": b64, "ciphertext": b64}``, AES-256-GCM with a fresh
random 96-bit nonce per write, and ``credentials.key`` holds the random 32-byte key. Both files
are created ``0600`` from their first byte (``os.open`` flags, then ``os.replace``); the directory
is ``0700``. A file readable by others is refused on read.

What the encryption honestly buys (research §4.4): the key sits next to the ciphertext, so this is
*obfuscation with tamper detection*, not secrecy. It protects against the credentials file alone
leaking (a backup, a dotfile repo, a support bundle) and detects tampering or truncation (the GCM
tag). It does nothing against malware or any process running as the same user, which can read
both files; against those, only the ``0600`` permissions, short-lived tokens and the OS keychain
help. Call it "file (obfuscated, local key)" to users, not "encrypted".

A missing, corrupted or undecryptable file makes :meth:`CredentialStore.load` return ``None``
with a DEBUG log, so a broken file never breaks a program that has other credentials. A command
that reads the login on purpose (``dotdo auth status``) passes ``strict=True`` to get a
:class:`~dotdo.errors.ValidationError` that says what is wrong and how to fix it.

cryptography, keyring and platformdirs are imported inside the functions that use them, so
``import dotdo`` never pays for them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from dotdo.errors import ValidationError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = ["CredentialStore", "StoredLogin"]

_log = logging.getLogger("dotdo")

KEYCHAIN_SERVICE: Final = "dotdo"
KEYCHAIN_USER: Final = "login"
DATA_FILE: Final = "credentials.enc"
KEY_FILE: Final = "credentials.key"
_FORMAT_VERSION: Final = 1
_AAD: Final = b"dotdo-credentials/v1"
_KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12
_NO_FOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_POSIX: Final = os.name == "posix"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})

_T = TypeVar("_T")
Where = Literal["keychain", "file"]


@dataclass(frozen=True, kw_only=True)
class StoredLogin:
    """A saved login: the endpoint it belongs to, the API key, and optionally a cached JWT.

    Attributes:
        endpoint: the platform this login is for; its credentials are sent nowhere else.
        api_key: the long-lived key that mints JWTs.
        token: a JWT minted earlier, so a CLI command need not exchange the key again.
        expires_at: when ``token`` expires, in Unix seconds.
        source: where :meth:`CredentialStore.load` found it; ``None`` for one built in code.
    """

    endpoint: str
    api_key: str | None = None
    token: str | None = None
    expires_at: float | None = None
    source: Where | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        key = None if self.api_key is None else "***"
        token = None if self.token is None else "***"
        return (
            f"StoredLogin(endpoint={self.endpoint!r}, api_key={key!r}, token={token!r}, "
            f"expires_at={self.expires_at!r}, source={self.source!r})"
        )

    def to_json(self) -> str:
        """The login as the JSON text both the keychain and the file store."""
        body = {"v": _FORMAT_VERSION, "endpoint": self.endpoint, "api_key": self.api_key}
        body.update(token=self.token, expires_at=self.expires_at)
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, source: Where) -> StoredLogin:
        """Parse :meth:`to_json` output.

        Raises:
            ValueError: the text is not a version-1 login (the message holds no secret).
        """
        body = json.loads(text)
        if not isinstance(body, dict) or body.get("v") != _FORMAT_VERSION:
            raise ValueError("not a version-1 dotdo login")
        endpoint, api_key, token = body.get("endpoint"), body.get("api_key"), body.get("token")
        expires_at = body.get("expires_at")
        if not isinstance(endpoint, str) or not all(_is_optional_str(v) for v in (api_key, token)):
            raise ValueError("a dotdo login field has the wrong type")
        if expires_at is not None and not _is_number(expires_at):
            raise ValueError("a dotdo login's expires_at is not a number")
        when = None if expires_at is None else float(expires_at)
        return cls(endpoint=endpoint, api_key=api_key, token=token, expires_at=when, source=source)


def _is_optional_str(value: object) -> bool:
    return value is None or isinstance(value, str)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class CredentialStore:
    """Loads, saves and clears the one stored login: keychain first, else the file.

    Every method blocks for at most about ``keyring_timeout`` seconds on the keychain plus some
    small file I/O; async callers should run them in a worker thread.

    Args:
        config_dir: where the fallback file lives. Default: ``DOTDO_CONFIG_DIR``, else the
            platform's user config dir for ``dotdo``.
        use_keychain: ``False`` goes straight to the file. ``DOTDO_NO_KEYCHAIN=1`` does the same.
        keyring_timeout: seconds to wait for each keychain operation before giving up on it.
        environ: where to read ``DOTDO_CONFIG_DIR`` and ``DOTDO_NO_KEYCHAIN`` (default
            ``os.environ``), read once, here.

    Raises:
        ValidationError: ``DOTDO_NO_KEYCHAIN`` is not a yes/no value, or the timeout is not
            positive.
    """

    def __init__(
        self,
        config_dir: Path | None = None,
        *,
        use_keychain: bool = True,
        keyring_timeout: float = 2.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        if not keyring_timeout > 0:
            msg = f"keyring_timeout must be a positive number of seconds, got {keyring_timeout!r}"
            raise ValidationError(msg, details={"setting": "keyring_timeout"})
        self.config_dir = config_dir if config_dir is not None else _default_config_dir(env)
        self._keychain_usable = use_keychain and not _no_keychain(env)
        self._keyring_timeout = keyring_timeout

    @property
    def data_path(self) -> Path:
        """The encrypted login file."""
        return self.config_dir / DATA_FILE

    @property
    def key_path(self) -> Path:
        """The file holding the key for :attr:`data_path`."""
        return self.config_dir / KEY_FILE

    def __repr__(self) -> str:
        return f"CredentialStore(config_dir={str(self.config_dir)!r})"

    # -- public operations ------------------------------------------------------------------

    def load(self, *, strict: bool = False) -> StoredLogin | None:
        """The stored login, from the keychain if it has one, else from the file; or ``None``.

        Args:
            strict: raise instead of returning ``None`` when the file exists but cannot be used.

        Raises:
            ValidationError: only with ``strict=True``: the file is unreadable, corrupted,
                undecryptable or readable by other users. Keychain trouble never raises.
        """
        found, text = self._in_keychain("read", _read_entry)
        if found and text is not None:
            try:
                return StoredLogin.from_json(text, "keychain")
            except ValueError as exc:
                _log.debug("the keychain entry is not a dotdo login (%s); trying the file", exc)
        try:
            return self._read_file()
        except ValidationError as exc:
            if strict:
                raise
            _log.debug("ignoring the stored login file: %s", exc.message)
            return None

    def save(self, login: StoredLogin) -> Where:
        """Store ``login``, replacing any earlier one; returns where it went.

        On the keychain, any file copy is removed so no stale key lingers on disk.

        Raises:
            OSError: the keychain was unusable and the file could not be written either.
        """
        payload = login.to_json()
        stored, _ = self._in_keychain("write", lambda backend: _write_entry(backend, payload))
        if stored:
            _remove(self.data_path)
            return "keychain"
        self._write_file(payload)
        return "file"

    def clear(self) -> None:
        """Forget the login: the keychain entry, the file and its key. Missing ones are fine.

        Raises:
            OSError: a file exists but could not be removed.
        """
        self._in_keychain("delete", _delete_entry)
        _remove(self.data_path)
        _remove(self.key_path)

    # -- keychain ------------------------------------------------------------------------------

    def _in_keychain(
        self, action: str, work: Callable[[KeyringBackend], _T]
    ) -> tuple[bool, _T | None]:
        """Run ``work`` on the keyring backend in a worker thread: ``(True, result)`` on success.

        ``(False, None)`` means the keychain is unusable (skipped, no backend, raised, or timed
        out); the store then stops trying it.
        """
        if not self._keychain_usable:
            return False, None
        outcome: dict[str, Any] = {}
        worker = threading.Thread(
            target=_run_keyring, args=(work, outcome), name=f"dotdo-keychain-{action}", daemon=True
        )
        worker.start()
        worker.join(self._keyring_timeout)
        problem: str | None
        if worker.is_alive():
            problem = f"timed out after {self._keyring_timeout:g}s"
        else:
            problem = outcome.get("problem")
        if problem is None:
            return True, outcome.get("result")
        # A daemon thread is abandoned, not joined: a hung unlock must not block interpreter exit.
        self._keychain_usable = False
        _log.debug("keychain %s unavailable (%s); using the credentials file", action, problem)
        return False, None

    # -- file ----------------------------------------------------------------------------------

    def _read_file(self) -> StoredLogin | None:
        sealed = _read_private(self.data_path)
        if sealed is None:
            return None
        key = _read_private(self.key_path)
        if key is None or len(key) != _KEY_BYTES:
            raise self._unusable("its key file is missing or damaged")
        try:
            return StoredLogin.from_json(_open_sealed(key, sealed), "file")
        except ValueError:
            raise self._unusable("it is corrupted or was written with another key") from None

    def _unusable(self, why: str) -> ValidationError:
        msg = f"the stored login {self.data_path} cannot be used: {why}; run `dotdo login` again"
        return ValidationError(msg, details={"setting": "credentials file"})

    def _write_file(self, payload: str) -> None:
        _ensure_private_dir(self.config_dir)
        key = self._file_key()
        _write_private(self.data_path, _seal(key, payload.encode()))

    def _file_key(self) -> bytes:
        """The existing key if it is sound and private, else a new one."""
        try:
            key = _read_private(self.key_path)
        except ValidationError as exc:
            _log.debug("replacing the credentials key file: %s", exc.message)
            key = None
        if key is not None and len(key) == _KEY_BYTES:
            return key
        key = secrets.token_bytes(_KEY_BYTES)
        _write_private(self.key_path, key)
        return key


# ---------------------------------------------------------------------------------------------
# Keychain helpers (these run in the worker thread)


def _run_keyring(work: Callable[[KeyringBackend], object], outcome: dict[str, Any]) -> None:
    try:
        backend = _usable_backend()
        if backend is None:
            outcome["problem"] = "no usable keyring backend"
            return
        outcome["result"] = work(backend)
    except Exception as exc:
        # The exception's message is left out: a backend could quote what it was asked to store.
        outcome["problem"] = f"{type(exc).__module__}.{type(exc).__name__}"


def _usable_backend() -> KeyringBackend | None:
    """The configured backend, or ``None`` for one that cannot really store anything."""
    import keyring
    from keyring.backends import chainer, fail, null

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def _read_entry(backend: KeyringBackend) -> str | None:
    return backend.get_password(KEYCHAIN_SERVICE, KEYCHAIN_USER)


def _write_entry(backend: KeyringBackend, payload: str) -> None:
    backend.set_password(KEYCHAIN_SERVICE, KEYCHAIN_USER, payload)
    # Some backends accept a write and keep nothing; trust only what reads back.
    if backend.get_password(KEYCHAIN_SERVICE, KEYCHAIN_USER) != payload:
        raise RuntimeError("the keychain did not keep the login")


def _delete_entry(backend: KeyringBackend) -> None:
    from keyring.errors import PasswordDeleteError

    with contextlib.suppress(PasswordDeleteError):  # raised when nothing was stored
        backend.delete_password(KEYCHAIN_SERVICE, KEYCHAIN_USER)


# ---------------------------------------------------------------------------------------------
# File helpers


def _default_config_dir(environ: Mapping[str, str]) -> Path:
    configured = environ.get("DOTDO_CONFIG_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("dotdo", appauthor=False))


def _no_keychain(environ: Mapping[str, str]) -> bool:
    value = environ.get("DOTDO_NO_KEYCHAIN", "").strip().lower()
    if value not in _TRUE | _FALSE:
        msg = f"DOTDO_NO_KEYCHAIN must be one of 1, true, yes, on, 0, false, no, off, got {value!r}"
        raise ValidationError(msg, details={"setting": "DOTDO_NO_KEYCHAIN"})
    return value in _TRUE


def _seal(key: bytes, plaintext: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(_NONCE_BYTES)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, _AAD)
    body = {"v": _FORMAT_VERSION, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}
    return json.dumps(body).encode()


def _open_sealed(key: bytes, sealed: bytes) -> bytes:
    """Decrypt :func:`_seal` output; ``ValueError`` for anything malformed or tampered with."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        body = json.loads(sealed)
        if not isinstance(body, dict) or body.get("v") != _FORMAT_VERSION:
            raise ValueError("not a version-1 credentials file")
        nonce = base64.b64decode(body["nonce"], validate=True)
        ciphertext = base64.b64decode(body["ciphertext"], validate=True)
        return AESGCM(key).decrypt(nonce, ciphertext, _AAD)
    except (KeyError, TypeError, binascii.Error, InvalidTag) as exc:
        raise ValueError("the credentials file cannot be decrypted") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _read_private(path: Path) -> bytes | None:
    """A file's bytes; ``None`` if absent. Refuses symlinks and files others can read or own.

    Raises:
        ValidationError: the file cannot be read or is not private to this user.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NO_FOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        msg = f"{path} cannot be read ({exc.strerror}); run `dotdo login` again"
        raise ValidationError(msg, details={"setting": "credentials file"}) from None
    with os.fdopen(fd, "rb") as file:
        if _POSIX:
            status = os.fstat(file.fileno())
            if status.st_uid != os.getuid() or status.st_mode & 0o077:
                msg = f"{path} is open to other users; run `chmod 600 {path}` or `dotdo login`"
                raise ValidationError(msg, details={"setting": "credentials file"})
        return file.read()


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically to a file that is ``0600`` from its first byte."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW | getattr(os, "O_BINARY", 0)
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise
    _sync_directory(path.parent)


def _ensure_private_dir(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _POSIX:
        status = directory.stat()
        if status.st_uid == os.getuid() and status.st_mode & 0o077:
            directory.chmod(0o700)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable; not possible (nor needed) on Windows."""
    if not _POSIX:
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
