"""What importing costs: the sans-IO core loads no I/O library, and ``import dotdo`` stays light.

Each check runs in a fresh interpreter, so what this test process has already imported cannot
hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys

_IO_LIBRARIES = ["asyncio", "anyio", "httpx", "socket", "websockets"]
_HEAVY_LIBRARIES = ["websockets", "httpx", "cryptography", "keyring", "bcrypt", "pydantic"]

# Imports dotdo.transport.session without running dotdo/transport/__init__.py, which re-exports
# the transports; this isolates the session's own import graph.
_BYPASS_PACKAGE_INIT = """
import importlib.util, sys, types
import dotdo
spec = importlib.util.find_spec("dotdo.transport")
package = types.ModuleType("dotdo.transport")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["dotdo.transport"] = package
"""


def _loaded_after(code: str, candidates: list[str]) -> list[str]:
    """Which of ``candidates`` are in sys.modules after running ``code`` in a fresh interpreter."""
    report = f"print(json.dumps([m for m in {candidates!r} if m in sys.modules]))"
    probe = f"{code}\nimport json, sys\n{report}"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_the_probe_sees_an_io_library_when_one_is_imported() -> None:
    assert _loaded_after("import socket", _IO_LIBRARIES) == ["socket"]


def test_importing_the_session_pulls_in_no_io_library() -> None:
    assert _loaded_after("import dotdo.transport.session", _IO_LIBRARIES) == []


def test_the_session_modules_themselves_import_no_io_library() -> None:
    code = _BYPASS_PACKAGE_INIT + "import dotdo.transport.session"

    assert _loaded_after(code, _IO_LIBRARIES) == []


def test_importing_dotdo_pulls_in_no_heavy_dependency() -> None:
    assert _loaded_after("import dotdo", _HEAVY_LIBRARIES) == []
