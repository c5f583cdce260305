"""Fixtures for the Cap'n Web interop tests: the Node reference server and our Python server.

Both servers run as subprocesses on loopback with an ephemeral port, once per test session. Each
is spawned with ``stdin=PIPE``: closing that pipe (or this process dying) makes it exit. At the end
each is stopped by its own pid, and only if it is still running.

Every test in this folder is marked ``interop``. The Node side needs ``npm ci --prefix
tests/interop/node``; without it the tests fail (they are never skipped silently).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

INTEROP_DIR = Path(__file__).resolve().parent
NODE_DIR = INTEROP_DIR / "node"
PROJECT_ROOT = INTEROP_DIR.parent.parent
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0

INSTALL_HINT = (
    "the Node side of the interop tests is not installed: "
    f"{NODE_DIR / 'node_modules'} is missing. Install it from the repository root with\n\n"
    "    npm ci --prefix tests/interop/node\n\n"
    "(needs Node.js 20+; see tests/interop/README.md)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEROP_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.interop)


@dataclass(frozen=True)
class Server:
    """A running server: where to reach it and the process behind it."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/rpc"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/rpc"

    def url(self, transport: str) -> str:
        return self.ws_url if transport == "websocket" else self.http_url

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def node_executable() -> str:
    """The ``node`` binary, after checking that the reference client/server is installed."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js (`node`, 20+) is not on PATH; the interop tests need it. " + INSTALL_HINT
        )
    if not (NODE_DIR / "node_modules" / "capnweb").is_dir():
        pytest.fail(INSTALL_HINT)
    return node


def _read_lines(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    try:
        for line in stream:
            lines.put(line)
    finally:
        lines.put(None)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server we started: EOF on stdin first, then SIGTERM, then SIGKILL, by its pid."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=STOP_TIMEOUT)
        return
    except subprocess.TimeoutExpired:
        pass
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def _spawn(name: str, argv: list[str], cwd: Path) -> Iterator[Server]:
    """Start a server that prints ``LISTENING <port>``; yield it; stop it on exit."""
    with tempfile.TemporaryDirectory(prefix=f"dotdo-interop-{name}-") as tmp:
        stderr_path = Path(tmp) / "stderr.log"
        with stderr_path.open("wb") as stderr:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        try:
            assert process.stdout is not None
            lines: queue.Queue[bytes | None] = queue.Queue()
            reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
            reader.start()
            try:
                first = lines.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                first = b"<nothing within %d s>" % STARTUP_TIMEOUT
            text = (first or b"<stdout closed>").decode(errors="replace").strip()
            parts = text.split()
            if len(parts) != 2 or parts[0] != "LISTENING" or not parts[1].isdigit():
                _stop(process)
                pytest.fail(
                    f"the {name} server did not start: expected 'LISTENING <port>', got {text!r}"
                    f" (exit code {process.poll()}).\nstderr:\n"
                    + stderr_path.read_text(errors="replace")[-4000:]
                )
            yield Server(name, int(parts[1]), process, stderr_path)
        finally:
            _stop(process)
            if process.stdout is not None:
                reader.join(timeout=STOP_TIMEOUT)
                process.stdout.close()


@pytest.fixture(scope="session")
def node_server(node_executable: str) -> Iterator[Server]:
    """capnweb's own server for TestApi (tests/interop/node/server.mjs)."""
    with _spawn(
        "node", [node_executable, str(NODE_DIR / "server.mjs"), "--port", "0"], NODE_DIR
    ) as server:
        yield server


@pytest.fixture(scope="session")
def python_server() -> Iterator[Server]:
    """Our ASGI app serving the Python TestApi on uvicorn (tests/interop/serve.py)."""
    with _spawn(
        "python", [sys.executable, "-m", "tests.interop.serve", "--port", "0"], PROJECT_ROOT
    ) as server:
        yield server


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Every interop test runs on the stdlib event loop and on uvloop (the `fast` extra)."""
    return request.param
