"""Fixtures for the facade tests: a clean environment, and the two platforms a client can reach.

Every test runs with no ``DOTDO_*`` variable from the outer environment, a private
``DOTDO_CONFIG_DIR`` and ``DOTDO_NO_KEYCHAIN=1``, so no real login or keychain is ever touched.

``target`` runs a test twice: against ``memory://`` (the platform in this process) and against a
real socket platform, ``python -m dotdo.server --port 0``, started once per test session.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import dotdo as dotdo_package
from dotdo import DotDo, dotdo
from dotdo._credentials import CredentialStore

from .helpers import clean_environ

DEV_SERVER = Path(dotdo_package.__file__).parent / "server" / "dev.py"
START_TIMEOUT_S = 30.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Remove every DOTDO_* variable; point the stored login at an empty private directory."""
    for name in [name for name in os.environ if name.startswith("DOTDO_")]:
        monkeypatch.delenv(name)
    directory = tmp_path / "config"
    monkeypatch.setenv("DOTDO_CONFIG_DIR", str(directory))
    monkeypatch.setenv("DOTDO_NO_KEYCHAIN", "1")
    return directory


@pytest.fixture
def singleton() -> Iterator[DotDo]:
    """The module-level ``dotdo``, reset before and after the test."""
    dotdo.reset()
    yield dotdo
    dotdo.reset()


@pytest.fixture
def secret_name() -> str:
    """A secret name no other test uses (the socket platform is shared by the whole run)."""
    return f"T_{uuid.uuid4().hex[:12].upper()}"


# -- the socket platform ------------------------------------------------------------------------


@dataclass(frozen=True)
class SocketPlatform:
    """A running ``python -m dotdo.server`` and what a client needs to reach it."""

    endpoint: str
    api_key: str
    config_dir: Path  # where the server saved its login (endpoint and key) for the SDK
    output: list[str]  # everything it printed so far


@pytest.fixture(scope="session")
def socket_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SocketPlatform]:
    with running_platform(tmp_path_factory.mktemp("socket-platform")) as (server, _):
        yield server


@contextlib.contextmanager
def running_platform(root: Path) -> Iterator[tuple[SocketPlatform, subprocess.Popen[str]]]:
    """Start ``python -m dotdo.server --port 0`` with its data and login under ``root``."""
    if not DEV_SERVER.exists():
        pytest.skip("dotdo/server/dev.py is not written yet")
    config_dir = root / "config"
    process = subprocess.Popen(
        [sys.executable, "-m", "dotdo.server", "--port", "0", "--data", str(root / "data")],
        env=clean_environ(DOTDO_CONFIG_DIR=config_dir, DOTDO_NO_KEYCHAIN="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_drain, args=(process, output, lines), daemon=True).start()
    try:
        port = _wait_for_port(lines, output)
        login = CredentialStore(config_dir, use_keychain=False).load(strict=True)
        assert login is not None, "the server saved no login"
        assert login.api_key, "the server's login has no API key"
        endpoint = f"ws://127.0.0.1:{port}/rpc"
        assert login.endpoint == endpoint
        yield SocketPlatform(endpoint, login.api_key, config_dir, output), process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drain(process: subprocess.Popen[str], output: list[str], lines: queue.Queue[Any]) -> None:
    # Read until the server exits, so a chatty server never blocks on a full pipe.
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line.rstrip("\n"))
        lines.put(line)
    lines.put(None)


def _wait_for_port(lines: queue.Queue[str | None], output: list[str]) -> int:
    while True:
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"no LISTENING line; the server said: {output}") from None
        if line is None:
            raise AssertionError(f"the server exited before listening: {output}")
        if line.startswith("LISTENING "):
            return int(line.split()[1])


# -- a client on either platform ---------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A platform a client can be pointed at."""

    name: str
    endpoint: str
    api_key: str | None  # None on memory://: the in-process dev tenant's key is used

    def client(self, **options: Any) -> DotDo:
        return DotDo(**{"endpoint": self.endpoint, "api_key": self.api_key, **options})


@pytest.fixture(params=["memory", "socket"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "memory":
        return Target("memory", "memory://", None)
    server: SocketPlatform = request.getfixturevalue("socket_platform")
    return Target("socket", server.endpoint, server.api_key)


@pytest.fixture
async def client(target: Target) -> AsyncIterator[DotDo]:
    """A fresh client on ``target``, closed after the test."""
    made = target.client()
    yield made
    await made.close()
