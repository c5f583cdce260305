"""The stored login: keychain first, an encrypted 0600 file when the keychain fails or hangs."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import keyring.core
import platformdirs
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import null
from keyring.errors import KeyringLocked, PasswordDeleteError

from dotdo._credentials import CredentialStore, StoredLogin
from dotdo.errors import ValidationError

KEY = "sk_test_credentials_5b8e1f"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.stored.jwt"
LOGIN = StoredLogin(endpoint="wss://api.example.test/rpc", api_key=KEY, token=TOKEN, expires_at=2e9)
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 0.2
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


# -- keyring backends for these tests; priority -1, so keyring never picks one by itself ---------


class FakeKeyring(KeyringBackend):
    """Base of the backends below."""

    priority = -1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]


class MemoryKeyring(FakeKeyring):
    """A keychain that works."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[service, username] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class RaisingKeyring(FakeKeyring):
    """A locked collection, as on a headless Linux box; the error quotes the password."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked(f"Failed to unlock the collection to store {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


class HangingKeyring(FakeKeyring):
    """An unlock prompt nobody answers: every call blocks far longer than the store waits."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def _hang(self) -> None:
        self.release.wait(30 * TIMEOUT)

    def get_password(self, service: str, username: str) -> str | None:
        self._hang()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._hang()

    def delete_password(self, service: str, username: str) -> None:
        self._hang()


class RecordingKeyring(MemoryKeyring):
    """A working keychain that notes every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append("get")
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls.append("set")
        super().set_password(service, username, password)


@pytest.fixture(autouse=True)
def use_keyring(monkeypatch: pytest.MonkeyPatch) -> Callable[[KeyringBackend], None]:
    """Set the keyring backend for one test; by default a raising one, never the real keychain."""
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # restored after the test
    keyring.set_keyring(RaisingKeyring())
    return keyring.set_keyring


@pytest.fixture
def hanging(use_keyring: Callable[[KeyringBackend], None]) -> Iterator[HangingKeyring]:
    backend = HangingKeyring()
    use_keyring(backend)
    yield backend
    backend.release.set()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "config" / "dotdo"


def make_store(config_dir: Path, **environ: str) -> CredentialStore:
    return CredentialStore(config_dir, keyring_timeout=TIMEOUT, environ=environ)


def file_store(config_dir: Path) -> CredentialStore:
    return make_store(config_dir, DOTDO_NO_KEYCHAIN="1")


# -- round trips ---------------------------------------------------------------------------------


def test_file_round_trip(config_dir: Path) -> None:
    """What is saved to the file loads back equal, labelled as from the file."""
    store = file_store(config_dir)
    assert store.save(LOGIN) == "file"
    loaded = store.load()
    assert loaded == LOGIN
    assert loaded is not None
    assert loaded.source == "file"


def test_keychain_round_trip(config_dir: Path, use_keyring: Callable[..., None]) -> None:
    """With a working keychain the login goes there and loads back from there."""
    use_keyring(MemoryKeyring())
    store = make_store(config_dir)
    assert store.save(LOGIN) == "keychain"
    loaded = store.load()
    assert loaded == LOGIN
    assert loaded is not None
    assert loaded.source == "keychain"


def test_keychain_entry_is_under_service_dotdo(
    config_dir: Path, use_keyring: Callable[..., None]
) -> None:
    """The entry uses the service name "dotdo"."""
    backend = MemoryKeyring()
    use_keyring(backend)
    make_store(config_dir).save(LOGIN)
    assert [service for service, _ in backend.entries] == ["dotdo"]


def test_saving_to_keychain_removes_the_file_copy(
    config_dir: Path, use_keyring: Callable[..., None]
) -> None:
    """No stale key is left on disk once the keychain holds the login."""
    file_store(config_dir).save(LOGIN)
    use_keyring(MemoryKeyring())
    make_store(config_dir).save(LOGIN)
    assert not (config_dir / "credentials.enc").exists()


def test_missing_login_loads_as_none(config_dir: Path) -> None:
    """Nothing stored is not an error."""
    assert file_store(config_dir).load() is None


def test_clear_forgets_keychain_entry_and_files(
    config_dir: Path, use_keyring: Callable[..., None]
) -> None:
    """After clear() nothing is left in the keychain or the config dir."""
    file_store(config_dir).save(LOGIN)
    backend = MemoryKeyring()
    use_keyring(backend)
    store = make_store(config_dir)
    store.save(LOGIN)
    store.clear()
    assert (backend.entries, store.load()) == ({}, None)
    assert list(config_dir.iterdir()) == []


def test_clear_with_nothing_stored_is_fine(config_dir: Path) -> None:
    """Logging out twice does not fail."""
    file_store(config_dir).clear()


# -- keychain trouble falls back to the file ------------------------------------------------------


def test_failing_keychain_falls_back_to_the_file(config_dir: Path) -> None:
    """A keyring that raises (locked, no D-Bus) sends the login to the file, silently."""
    store = make_store(config_dir)
    assert store.save(LOGIN) == "file"
    assert make_store(config_dir).load() == LOGIN


def test_keychain_failure_is_logged_at_debug_without_secrets(
    config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The fallback is logged on the "dotdo" logger at DEBUG, with no key or token in it."""
    with caplog.at_level(logging.DEBUG, logger="dotdo"):
        make_store(config_dir).save(LOGIN)
    records = [r for r in caplog.records if r.name == "dotdo"]
    assert records
    assert all(r.levelno == logging.DEBUG for r in records)
    text = caplog.text + "".join(str(r.args) for r in records)
    assert "keychain" in text
    assert KEY not in text
    assert TOKEN not in text


def test_hanging_keychain_falls_back_within_the_timeout(
    config_dir: Path, hanging: HangingKeyring
) -> None:
    """A keyring stuck on unlock costs one timeout, then the file is used."""
    store = make_store(config_dir)
    started = time.monotonic()
    where = store.save(LOGIN)
    elapsed = time.monotonic() - started
    assert where == "file"
    assert elapsed < TIMEOUT + 1.0


def test_hung_keychain_is_not_tried_again_by_the_same_store(
    config_dir: Path, hanging: HangingKeyring
) -> None:
    """After one timeout the store goes straight to the file."""
    store = make_store(config_dir)
    store.save(LOGIN)
    started = time.monotonic()
    assert store.load() == LOGIN
    assert time.monotonic() - started < TIMEOUT


def test_null_keyring_counts_as_no_keychain(
    config_dir: Path, use_keyring: Callable[..., None]
) -> None:
    """The null backend accepts writes and keeps nothing, so the file is used instead."""
    use_keyring(null.Keyring())  # type: ignore[no-untyped-call]
    assert make_store(config_dir).save(LOGIN) == "file"


def test_keychain_that_drops_writes_counts_as_no_keychain(
    config_dir: Path, use_keyring: Callable[..., None]
) -> None:
    """A write that does not read back is not trusted."""

    class Forgetful(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            pass

    use_keyring(Forgetful())
    assert make_store(config_dir).save(LOGIN) == "file"


def test_unusable_keychain_entry_falls_back_to_the_file(
    config_dir: Path, use_keyring: Callable[..., None]
) -> None:
    """A keychain entry that is not a dotdo login does not hide the file's login."""
    file_store(config_dir).save(LOGIN)
    backend = MemoryKeyring()
    backend.entries["dotdo", "login"] = "not json"
    use_keyring(backend)
    assert make_store(config_dir).load() == LOGIN


def test_no_keychain_variable_skips_the_keychain(
    config_dir: Path, use_keyring: Callable[..., None]
) -> None:
    """DOTDO_NO_KEYCHAIN=1: the keyring is never called."""
    backend = RecordingKeyring()
    use_keyring(backend)
    store = make_store(config_dir, DOTDO_NO_KEYCHAIN="1")
    store.save(LOGIN)
    store.load()
    store.clear()
    assert backend.calls == []


def test_use_keychain_false_skips_the_keychain(
    config_dir: Path, use_keyring: Callable[..., None]
) -> None:
    """The constructor switch does the same as the variable."""
    backend = RecordingKeyring()
    use_keyring(backend)
    CredentialStore(config_dir, use_keychain=False, environ={}).save(LOGIN)
    assert backend.calls == []


def test_bad_no_keychain_value_is_refused(config_dir: Path) -> None:
    """A typo in DOTDO_NO_KEYCHAIN is named rather than guessed at."""
    with pytest.raises(ValidationError, match="DOTDO_NO_KEYCHAIN"):
        make_store(config_dir, DOTDO_NO_KEYCHAIN="please")


# -- where the file lives ------------------------------------------------------------------------


def test_config_dir_comes_from_the_environment(tmp_path: Path) -> None:
    """DOTDO_CONFIG_DIR chooses the directory."""
    store = CredentialStore(environ={"DOTDO_CONFIG_DIR": str(tmp_path)})
    assert store.config_dir == tmp_path


def test_config_dir_defaults_to_the_platform_user_config_dir() -> None:
    """Without DOTDO_CONFIG_DIR the platform's convention is followed."""
    store = CredentialStore(environ={})
    assert store.config_dir == Path(platformdirs.user_config_dir("dotdo", appauthor=False))


# -- what is on disk -----------------------------------------------------------------------------


@posix_only
def test_files_are_0600_and_directory_0700(config_dir: Path) -> None:
    """Only the user can read the login, its key, or list the directory."""
    file_store(config_dir).save(LOGIN)
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    for name in ("credentials.enc", "credentials.key"):
        assert stat.S_IMODE((config_dir / name).stat().st_mode) == 0o600


@posix_only
def test_files_are_private_even_under_a_permissive_umask(config_dir: Path) -> None:
    """Permissions come from os.open's mode, not from the umask or a later chmod."""
    previous = os.umask(0)
    try:
        file_store(config_dir).save(LOGIN)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((config_dir / "credentials.enc").stat().st_mode) == 0o600


@posix_only
def test_existing_open_directory_is_tightened(config_dir: Path) -> None:
    """A config dir created loosely by something else is made 0700 on save."""
    config_dir.mkdir(parents=True, mode=0o755)
    config_dir.chmod(0o755)
    file_store(config_dir).save(LOGIN)
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700


def test_file_does_not_hold_the_key_or_token_in_plaintext(config_dir: Path) -> None:
    """Neither secret appears on disk as text or as base64."""
    file_store(config_dir).save(LOGIN)
    data = (config_dir / "credentials.enc").read_bytes()
    for secret in (KEY, TOKEN):
        assert secret.encode() not in data
        assert base64.b64encode(secret.encode()) not in data


def test_every_write_uses_a_fresh_nonce(config_dir: Path) -> None:
    """Saving the same login twice gives different ciphertexts."""
    store = file_store(config_dir)
    store.save(LOGIN)
    first = json.loads((config_dir / "credentials.enc").read_bytes())
    store.save(LOGIN)
    second = json.loads((config_dir / "credentials.enc").read_bytes())
    assert first["nonce"] != second["nonce"]
    assert len(base64.b64decode(first["nonce"])) == 12


def test_key_file_is_reused_across_saves(config_dir: Path) -> None:
    """A new save keeps the existing 32-byte key."""
    store = file_store(config_dir)
    store.save(LOGIN)
    key = (config_dir / "credentials.key").read_bytes()
    store.save(LOGIN)
    assert (config_dir / "credentials.key").read_bytes() == key
    assert len(key) == 32


def test_saving_leaves_no_temporary_files(config_dir: Path) -> None:
    """The atomic write cleans up after itself."""
    file_store(config_dir).save(LOGIN)
    assert sorted(p.name for p in config_dir.iterdir()) == ["credentials.enc", "credentials.key"]


# -- damaged files -------------------------------------------------------------------------------


def test_corrupted_file_loads_as_none(config_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A damaged file is ignored with a DEBUG log, not an exception."""
    store = file_store(config_dir)
    store.save(LOGIN)
    data_path = config_dir / "credentials.enc"
    data = bytearray(data_path.read_bytes())
    data[-10] ^= 1
    data_path.write_bytes(bytes(data))
    with caplog.at_level(logging.DEBUG, logger="dotdo"):
        assert store.load() is None
    assert "credentials.enc" in caplog.text


def test_tampered_ciphertext_loads_as_none(config_dir: Path) -> None:
    """The GCM tag catches a changed byte inside valid-looking JSON."""
    store = file_store(config_dir)
    store.save(LOGIN)
    data_path = config_dir / "credentials.enc"
    body = json.loads(data_path.read_bytes())
    ciphertext = bytearray(base64.b64decode(body["ciphertext"]))
    ciphertext[0] ^= 1
    body["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    data_path.write_text(json.dumps(body))
    assert store.load() is None


def test_file_written_with_another_key_loads_as_none(config_dir: Path) -> None:
    """A lost key file makes the login unreadable, not a crash."""
    store = file_store(config_dir)
    store.save(LOGIN)
    (config_dir / "credentials.key").unlink()
    assert store.load() is None


def test_strict_load_explains_a_corrupted_file(config_dir: Path) -> None:
    """`dotdo auth status` can ask for the reason, which names the file and the fix."""
    store = file_store(config_dir)
    store.save(LOGIN)
    (config_dir / "credentials.enc").write_text("garbage")
    (config_dir / "credentials.enc").chmod(0o600)
    with pytest.raises(ValidationError, match=r"credentials\.enc.*dotdo login"):
        store.load(strict=True)


@posix_only
def test_file_open_to_other_users_is_refused(config_dir: Path) -> None:
    """A login file others can read is not trusted (as ssh does with private keys)."""
    store = file_store(config_dir)
    store.save(LOGIN)
    (config_dir / "credentials.enc").chmod(0o644)
    assert store.load() is None
    with pytest.raises(ValidationError, match="chmod 600"):
        store.load(strict=True)


@posix_only
def test_symlinked_file_is_refused(config_dir: Path, tmp_path: Path) -> None:
    """The login file is never read through a symlink."""
    store = file_store(config_dir)
    store.save(LOGIN)
    elsewhere = tmp_path / "elsewhere"
    (config_dir / "credentials.enc").rename(elsewhere)
    (config_dir / "credentials.enc").symlink_to(elsewhere)
    assert store.load() is None


# -- no leaks, no import cost --------------------------------------------------------------------


def test_stored_login_repr_hides_secrets() -> None:
    """repr() of a login shows where it is for, not what it holds."""
    text = repr(LOGIN)
    assert "api.example.test" in text
    assert KEY not in text
    assert TOKEN not in text


def test_store_errors_never_hold_secrets(config_dir: Path) -> None:
    """A strict-mode error about a bad file does not quote the file's contents."""
    store = file_store(config_dir)
    store.save(LOGIN)
    (config_dir / "credentials.key").write_bytes(b"k" * 32)
    (config_dir / "credentials.key").chmod(0o600)
    with pytest.raises(ValidationError) as caught:
        store.load(strict=True)
    assert KEY not in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_import_does_not_load_cryptography_keyring_or_platformdirs() -> None:
    """`import dotdo._credentials` defers its heavy libraries to first use."""
    code = (
        "import sys, dotdo._credentials\n"
        "heavy = [m for m in ('cryptography', 'keyring', 'platformdirs') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stderr
