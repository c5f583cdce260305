"""The local platform as a real process (``python -m dotdo.server``) that tests kill and restart.

Data lives in one directory across restarts, so acknowledged writes must survive a SIGKILL. The
port is fixed on the first start and reused, so a client (or a proxy) keeps one address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path

__all__ = ["PlatformProcess", "free_port"]

_START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PlatformProcess:
    """One ``python -m dotdo.server`` at a time, on a fixed port and data directory.

    Args:
        data_dir: the platform's data (kept across restarts).
        config_dir: where the dev login is saved (``DOTDO_CONFIG_DIR``), away from the user's.
        port: the port to listen on; 0 picks a free one on the first start.
    """

    def __init__(self, data_dir: Path, config_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir
        self.config_dir = config_dir
        self.port = port or free_port()
        self.api_key: str | None = None
        self.starts = 0
        self.last_ready_at: float | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._output: list[str] = []

    @property
    def url(self) -> str:
        """The WebSocket endpoint, straight to the platform."""
        return f"ws://127.0.0.1:{self.port}/rpc"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the platform and wait for ``LISTENING <port>``; learn the dev API key."""
        if self.running:
            return
        env = {
            **os.environ,
            "DOTDO_CONFIG_DIR": str(self.config_dir),
            "DOTDO_NO_KEYCHAIN": "1",
            "PYTHONUNBUFFERED": "1",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dotdo.server",
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        self._process = process
        try:
            await asyncio.wait_for(self._read_until_listening(process), _START_TIMEOUT_S)
        except BaseException:
            await self.kill()
            raise
        self.starts += 1
        self.last_ready_at = time.monotonic()

    async def _read_until_listening(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            raw = await process.stdout.readline()
            if not raw:
                output = "".join(self._output[-20:])
                raise RuntimeError(f"the platform exited before listening:\n{output}")
            line = raw.decode(errors="replace")
            self._output.append(line)
            words = line.split()
            if words[:2] == ["api", "key"] and len(words) >= 3 and words[2].startswith("dotdo_"):
                self.api_key = words[2]
            if words[:1] == ["LISTENING"]:
                # Keep draining its output, or a chatty platform would block on a full pipe.
                self._drain = asyncio.create_task(self._drain_output(process))
                return

    async def _drain_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            self._output.append(line.decode(errors="replace"))

    async def kill(self) -> None:
        """SIGKILL the platform (no shutdown, no flush) and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
        await process.wait()
        drain, self._drain = self._drain, None
        if drain is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await drain

    async def restart(self) -> None:
        """SIGKILL, then start again on the same port and data."""
        await self.kill()
        await self.start()

    def output(self) -> str:
        """What the platform printed (for failure messages)."""
        return "".join(self._output)
