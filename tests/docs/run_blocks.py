"""Run Markdown code blocks one after another, each against a fresh local platform.

Started by ``conftest.py`` as ``python run_blocks.py RESULTS.json`` with the blocks as JSON on
stdin (``[{"path", "line", "code"}, ...]``) and ``DOTDO_ENDPOINT=memory://`` in the environment.
It writes one result per block (``status``, ``seconds``, ``output``, ``error``) to RESULTS.json.

How a block runs:

- Its line numbers are those of the Markdown file, so a traceback points at the document line.
- A block that uses ``await`` at the top level runs as the body of a coroutine in a new event
  loop, followed by ``await dotdo.close()``; any other block (a script with
  ``asyncio.run(main())``, or synchronous code) is executed as is.
- A block that defines ``test_*`` functions at the top level is a test module: it is written to a
  file and run with pytest (which must pass).
- Afterwards ``dotdo.reset()`` drops the singleton's sessions and its in-process platform, and
  the environment, the working directory and the logging handlers are put back as they were.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import json
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK_TIMEOUT_S = 60


def main() -> None:
    results_path = Path(sys.argv[1])
    requests = json.load(sys.stdin)
    results = [run(request) for request in requests]
    results_path.write_text(json.dumps(results), encoding="utf-8")


def run(request: dict[str, Any]) -> dict[str, Any]:
    from dotdo import dotdo

    output = io.StringIO()
    started = time.perf_counter()
    error = None
    try:
        with (
            isolated(),
            contextlib.redirect_stdout(output),
            contextlib.redirect_stderr(output),
            time_limit(BLOCK_TIMEOUT_S),
        ):
            execute(request["path"], request["line"], request["code"])
    except BaseException:  # SystemExit and KeyboardInterrupt from a block are failures too
        error = traceback.format_exc()
    finally:
        dotdo.reset()
    return {
        "line": request["line"],
        "status": "failed" if error else "passed",
        "seconds": round(time.perf_counter() - started, 3),
        "output": output.getvalue()[-20_000:],
        "error": error,
    }


def execute(path: str, line: int, code: str) -> None:
    tree = ast.parse(code, filename=path)
    ast.increment_lineno(tree, line)  # code line 1 is the line after the fence
    if defines_tests(tree):
        run_with_pytest(path, line, code)
        return
    compiled = compile(tree, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    module = types.ModuleType("__main__")
    module.__file__ = path
    saved_main = sys.modules["__main__"]
    sys.modules["__main__"] = module  # so pydantic and dataclasses find the block's names
    try:
        if compiled.co_flags & inspect.CO_COROUTINE:
            asyncio.run(_await_block(compiled, module.__dict__))
        else:
            exec(compiled, module.__dict__)  # noqa: S102 - running documentation is the point
    finally:
        sys.modules["__main__"] = saved_main


async def _await_block(compiled: types.CodeType, namespace: dict[str, Any]) -> None:
    from dotdo import dotdo

    try:
        await eval(compiled, namespace)  # noqa: S307 - running documentation is the point
    finally:
        await dotdo.close()


def defines_tests(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
        for node in tree.body
    )


def run_with_pytest(path: str, line: int, code: str) -> None:
    import pytest

    directory = Path(tempfile.mkdtemp(prefix="dotdo-doc-test-"))
    test_file = directory / f"test_{Path(path).stem.replace('-', '_').lower()}_{line}.py"
    test_file.write_text("\n" * line + code, encoding="utf-8")  # keep the document's lines
    status = pytest.main(
        [str(test_file), "-q", "-p", "no:cacheprovider", "--rootdir", str(directory)]
    )
    if status != 0:
        raise AssertionError(f"pytest exited with {status!r} for the block at {path}:{line}")


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Put back the environment, the working directory and logging after the block."""
    environ = dict(os.environ)
    cwd = os.getcwd()
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    state = {id(logger): (list(logger.handlers), logger.level) for logger in loggers}
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            if isinstance(logger, logging.Logger):
                handlers, level = state.get(id(logger), ([], logging.NOTSET))
                logger.handlers[:] = handlers
                logger.setLevel(level)


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the block did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


if __name__ == "__main__":
    main()
