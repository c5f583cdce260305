"""Keyring backends that misbehave the way real ones do on headless machines.

A child process selects one with ``PYTHON_KEYRING_BACKEND=tests.facade.broken_keyrings.Locked``.
"""

from __future__ import annotations

import threading

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordSetError


class Locked(KeyringBackend):
    """Every operation raises, as a locked Secret Service collection does."""

    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("the collection is locked")


class Hanging(KeyringBackend):
    """Every operation blocks until ``release`` is set, as an unanswered unlock prompt does."""

    priority = 1
    release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait()

    def delete_password(self, service: str, username: str) -> None:
        self.release.wait()
