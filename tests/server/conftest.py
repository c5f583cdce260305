"""Fixtures for the platform tests: a real Platform on a temporary directory, two tenants."""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import pytest

from dotdo.server import Api, Platform, Settings

MASTER_KEY = bytes(range(32))
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
FAST = Settings(bcrypt_rounds=4)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """Wall-clock seconds that only move when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Tenant:
    id: str
    name: str
    key: dict[str, Any]
    api: Api


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return FAST


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def platform(data_dir: Path, clock: FakeClock, settings: Settings) -> Iterator[Platform]:
    with Platform(data_dir, master_key=MASTER_KEY, settings=settings, clock=clock) as platform:
        yield platform


async def make_tenant(platform: Platform, name: str) -> Tenant:
    tenant_id = platform.create_tenant(name)
    key = platform.create_api_key(tenant_id, f"{name} admin")
    api = await platform.main().authenticate(key["key"])
    return Tenant(tenant_id, name, key, api)


@pytest.fixture
async def tenant_a(platform: Platform) -> Tenant:
    return await make_tenant(platform, "acme")


@pytest.fixture
async def tenant_b(platform: Platform) -> Tenant:
    return await make_tenant(platform, "globex")


@pytest.fixture
async def api(tenant_a: Tenant) -> Api:
    return tenant_a.api


def files_under(directory: Path) -> list[Path]:
    """Every file below ``directory`` (a plain helper, so async tests need not touch pathlib)."""
    return [path for path in directory.rglob("*") if path.is_file()]


def with_settings(**changes: Any) -> Settings:
    """FAST settings with some limits changed (for a test's ``settings`` override)."""
    return replace(FAST, **changes)


# -- the platform served in a subprocess (tests/server/test_over_socket*.py) --------------------

SERVER_STARTUP_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 15.0


@dataclass
class ServerProcess:
    """``python -m dotdo.server`` running on loopback, and what it printed before LISTENING."""

    process: subprocess.Popen[str]
    port: int
    lines: list[str]
    stderr_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/rpc"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/rpc"

    def printed(self, label: str) -> str:
        """The value after ``label`` on the start-up line that begins with it."""
        for line in self.lines:
            if line.strip().startswith(label):
                return line.strip()[len(label) :].strip()
        raise AssertionError(f"no {label!r} line in {self.lines!r}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` to this server's pid and wait for its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=SERVER_STOP_TIMEOUT)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def server_environment(config_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a test server runs in: its own config dir, no keychain, a fixed key."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DOTDO_") and key != "PYTHONPATH"
    }
    env.update(
        DOTDO_CONFIG_DIR=str(config_dir),
        DOTDO_NO_KEYCHAIN="1",
        DOTDO_MASTER_KEY=base64.b64encode(MASTER_KEY).decode(),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def spawn_server(
    args: list[str], env: dict[str, str], *, log_dir: Path, cwd: Path | None = None
) -> tuple[subprocess.Popen[str], Path]:
    """Start ``python -m dotdo.server ARGS``: stdout piped, stderr to a new file in ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="server-", suffix=".stderr", dir=log_dir)
    with os.fdopen(handle, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "dotdo.server", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=cwd or PROJECT_ROOT,
        )
    return process, Path(name)


def read_startup(
    process: subprocess.Popen[str], timeout: float = SERVER_STARTUP_TIMEOUT
) -> list[str]:
    """Lines printed up to and including ``LISTENING <port>`` (or up to the exit), bounded."""
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, args=(process.stdout,), daemon=True).start()
    printed: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"the server printed no LISTENING line: {printed!r}") from None
        if line is None:
            return printed
        printed.append(line)
        if line.startswith("LISTENING "):
            return printed


@contextlib.contextmanager
def running_server(
    data_dir: Path,
    config_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[ServerProcess]:
    """A server on an ephemeral loopback port; killed by its pid if a test left it running."""
    env = env or server_environment(config_dir)
    arguments = ["--port", "0", "--data", str(data_dir), *args]
    log_dir = data_dir.parent / "logs"
    process, stderr_path = spawn_server(arguments, env, log_dir=log_dir, cwd=cwd)
    try:
        lines = read_startup(process)
        if not lines or not lines[-1].startswith("LISTENING "):
            process.wait(timeout=SERVER_STOP_TIMEOUT)
            raise AssertionError(f"the server did not start: {lines!r}\n{stderr_path.read_text()}")
        yield ServerProcess(process, int(lines[-1].split()[1]), lines, stderr_path)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=SERVER_STOP_TIMEOUT)
