"""Run every document's Python blocks once per test session, one subprocess per document.

The subprocesses start together on first use and run in parallel; each runs its document's
blocks in order (``run_blocks.py``), with a fresh in-process platform per block. Nothing touches
the machine: ``DOTDO_ENDPOINT=memory://``, and ``DOTDO_CONFIG_DIR``, ``DOTDO_DATA_DIR`` and the
working directory are private temporary directories, with the keychain switched off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .doc_blocks import DOCUMENTS, Block, python_blocks

RUNNER = Path(__file__).with_name("run_blocks.py")
RUN_TIMEOUT_S = 300


def isolated_environ(directory: Path) -> dict[str, str]:
    """The environment with no DOTDO_* from outside, an in-process platform, private dirs."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("DOTDO_")}
    environ.update(
        DOTDO_ENDPOINT="memory://",
        DOTDO_CONFIG_DIR=str(directory / "config"),
        DOTDO_DATA_DIR=str(directory / "data"),
        DOTDO_NO_KEYCHAIN="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return environ


class BlockRuns:
    """The runner subprocesses, one per document, and their results once they finish."""

    def __init__(self, directory: Path) -> None:
        self._processes: dict[Path, tuple[subprocess.Popen[str], Path]] = {}
        self._results: dict[Path, dict[int, dict[str, Any]]] = {}
        runnable = [block for block in python_blocks() if block.skip_reason is None]
        for document in DOCUMENTS:
            requests = [
                {"path": str(block.path), "line": block.line, "code": block.code}
                for block in runnable
                if block.path == document
            ]
            if not requests:
                continue
            workdir = directory / document.stem
            workdir.mkdir()
            results = workdir / "results.json"
            process = subprocess.Popen(
                [sys.executable, str(RUNNER), str(results)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=workdir,
                env=isolated_environ(workdir),
            )
            assert process.stdin is not None
            process.stdin.write(json.dumps(requests))
            process.stdin.close()
            self._processes[document] = (process, results)

    def result(self, block: Block) -> dict[str, Any]:
        """The result of ``block``, waiting for its document's runner to finish."""
        if block.path not in self._results:
            process, results = self._processes[block.path]
            try:
                output = process.stdout.read() if process.stdout else ""
                process.wait(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"the runner for {block.path.name} took over {RUN_TIMEOUT_S} s")
            if process.returncode != 0 or not results.exists():
                pytest.fail(f"the runner for {block.path.name} crashed:\n{output}")
            loaded = json.loads(results.read_text(encoding="utf-8"))
            self._results[block.path] = {entry["line"]: entry for entry in loaded}
        return self._results[block.path][block.line]

    def stop(self) -> None:
        for process, _ in self._processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def block_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlockRuns]:
    runs = BlockRuns(tmp_path_factory.mktemp("doc-blocks"))
    try:
        yield runs
    finally:
        runs.stop()
