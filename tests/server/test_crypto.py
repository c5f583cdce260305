"""Key loading and the AES-256-GCM secret box."""

from __future__ import annotations

import base64

import pytest

from dotdo.errors import ServiceError, ValidationError
from dotdo.server.crypto import SecretBox, master_key_from_env


def test_the_master_key_comes_from_the_environment() -> None:
    key = bytes(range(32))
    assert master_key_from_env({"DOTDO_MASTER_KEY": base64.b64encode(key).decode()}) == key


def test_no_environment_variable_means_no_key() -> None:
    assert master_key_from_env({}) is None


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_environment_key_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ValidationError, match="DOTDO_MASTER_KEY") as caught:
        master_key_from_env({"DOTDO_MASTER_KEY": value})
    assert value not in str(caught.value)


def test_a_sealed_value_opens_with_the_same_associated_data() -> None:
    box = SecretBox(bytes(32))
    assert box.open(box.seal(b"value", b"tenant/name"), b"tenant/name") == b"value"


def test_a_sealed_value_moved_elsewhere_does_not_open() -> None:
    box = SecretBox(bytes(32))
    with pytest.raises(ServiceError):
        box.open(box.seal(b"value", b"tenant-a/name"), b"tenant-b/name")


def test_a_tampered_value_does_not_open() -> None:
    box = SecretBox(bytes(32))
    sealed = bytearray(box.seal(b"value", b"x"))
    sealed[-1] ^= 1
    with pytest.raises(ServiceError):
        box.open(bytes(sealed), b"x")


def test_sealing_twice_gives_different_ciphertexts() -> None:
    box = SecretBox(bytes(32))
    assert box.seal(b"value", b"x") != box.seal(b"value", b"x")


def test_the_box_never_shows_its_key() -> None:
    assert repr(SecretBox(bytes(range(32)))) == "SecretBox(<redacted>)"
