"""A stored login when the keychain fails: the encrypted 0600 file, picked up by ``DotDo``."""

from __future__ import annotations

import logging
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import keyring.core
import pytest

from dotdo import DotDo
from dotdo._credentials import CredentialStore, StoredLogin

from .broken_keyrings import Hanging, Locked
from .conftest import SocketPlatform

ENDPOINT = "ws://stored.example:9000/rpc"
KEY = "dotdo_sk_keychain_fallback_0123456789"


@pytest.fixture
def keychain_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOTDO_NO_KEYCHAIN")


@pytest.fixture
def locked_keychain(keychain_allowed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", Locked())  # type: ignore[no-untyped-call]


@pytest.fixture
def hanging_keychain(keychain_allowed: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(keyring.core, "_keyring_backend", Hanging())  # type: ignore[no-untyped-call]
    Hanging.release.clear()
    yield
    Hanging.release.set()  # let the abandoned worker threads finish


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_failing_keychain_sends_the_login_to_a_private_file(
    locked_keychain: None, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dotdo")
    store = CredentialStore()
    assert store.save(StoredLogin(endpoint=ENDPOINT, api_key=KEY)) == "file"
    assert mode(config_dir) == 0o700
    assert mode(store.data_path) == 0o600
    assert mode(store.key_path) == 0o600
    assert KEY.encode() not in store.data_path.read_bytes()
    assert "keychain" in caplog.text
    assert KEY not in caplog.text


def test_the_client_uses_the_file_when_the_keychain_fails(locked_keychain: None) -> None:
    CredentialStore().save(StoredLogin(endpoint=ENDPOINT, api_key=KEY))
    settings = DotDo().settings
    assert (settings.endpoint, settings.api_key) == (ENDPOINT, KEY)
    assert settings.credential_source == "file"


def test_a_hanging_keychain_costs_a_bounded_wait_then_the_file(
    hanging_keychain: None, config_dir: Path
) -> None:
    store = CredentialStore(keyring_timeout=0.2)
    started = time.monotonic()
    assert store.save(StoredLogin(endpoint=ENDPOINT, api_key=KEY)) == "file"
    assert time.monotonic() - started < 2
    started = time.monotonic()
    settings = DotDo().settings  # the client's store waits its default 2 s at most
    assert time.monotonic() - started < 4
    assert settings.api_key == KEY


def test_a_file_others_can_read_is_refused(config_dir: Path) -> None:
    store = CredentialStore()
    store.save(StoredLogin(endpoint=ENDPOINT, api_key=KEY))
    store.data_path.chmod(0o644)
    assert DotDo().settings.api_key is None  # a broken file never breaks the client


@pytest.mark.anyio
async def test_a_file_login_reaches_the_real_platform(
    locked_keychain: None, socket_platform: SocketPlatform, secret_name: str
) -> None:
    CredentialStore().save(
        StoredLogin(endpoint=socket_platform.endpoint, api_key=socket_platform.api_key)
    )
    client = DotDo()  # endpoint and key both from the file
    assert await client.secrets.get(secret_name, default="absent") == "absent"
    assert client.settings.credential_source == "file"
    await client.close()
