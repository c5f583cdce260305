"""capnweb's own client suite (tests/interop/node/client.mjs) against dotdo's Python server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import Server

NODE_DIR = Path(__file__).resolve().parent / "node"

SUITE_TIMEOUT = 45  # seconds for the whole client run (the suite caps itself at --timeout 30)
MIN_CASES = {"websocket": 60, "http-batch": 50}  # a suite that ran almost nothing is a failure
# Cases the suite skips in http-batch mode: they need the server to call the client, or a stub
# kept across batches (see tests/interop/README.md).
# Cases a batch cannot run: the server would have to call back into the client (callbacks, and
# the pipe a stream needs), which a finished batch cannot answer.
BATCH_SKIPPABLE = (
    "callback:",
    "capability:client-target",
    "capability:server-stub-roundtrip",
    "stream:",
)
BATCH_SKIPPABLE_COUNTER = ("counter:awaited-stub", "counter:nested-in-object-awaited")


def _run_suite(node: str, url: str, transport: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    try:
        done = subprocess.run(
            [node, str(NODE_DIR / "client.mjs"), url, transport, "--timeout", "30"],
            cwd=NODE_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SUITE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:  # subprocess.run killed the client it started
        pytest.fail(f"client.mjs ({transport}) did not finish within {SUITE_TIMEOUT} s: {expired}")
    return done, [_parse(line) for line in done.stdout.splitlines() if line.strip()]


def _parse(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return {"unparsed": line}
    return record if isinstance(record, dict) else {"unparsed": line}


@pytest.mark.parametrize("transport", ["websocket", "http-batch"])
def test_capnweb_client_suite(node_executable: str, python_server: Server, transport: str) -> None:
    done, records = _run_suite(node_executable, python_server.url(transport), transport)
    cases = [r for r in records if "case" in r]
    summaries = [r for r in records if r.get("summary")]
    failed = [r for r in cases if not r.get("ok")]
    unparsed = [r["unparsed"] for r in records if "unparsed" in r]

    problems: list[str] = []
    if done.returncode != 0:
        problems.append(f"client.mjs exited with {done.returncode}")
    for case in failed:
        problems.append(f"FAILED {case['case']}: {case.get('detail')}")
    if len(summaries) != 1:
        problems.append(f"expected one summary line, got {len(summaries)}")
    else:
        summary = summaries[0]
        if summary.get("timedOut"):
            problems.append("the suite timed out")
        if summary.get("failed"):
            problems.append(f"summary: {summary['failed']} failed: {summary.get('failures')}")
        if summary.get("passed", 0) < MIN_CASES[transport]:
            problems.append(f"only {summary.get('passed')} cases passed")
        unexpected_skips = [
            name
            for name in summary.get("skipped", [])
            if transport == "websocket"
            or not (name.startswith(BATCH_SKIPPABLE) or name in BATCH_SKIPPABLE_COUNTER)
        ]
        if unexpected_skips:
            problems.append(f"unexpected skipped cases: {unexpected_skips}")
    if unparsed:
        problems.append(f"lines that are not JSON: {unparsed[:5]}")

    if problems:
        pytest.fail(
            f"capnweb client suite ({transport}) against the Python server:\n  "
            + "\n  ".join(problems)
            + f"\n\nclient stderr:\n{done.stderr[-3000:]}"
            + f"\nserver stderr (tail):\n{python_server.stderr_tail(3000)}",
            pytrace=False,
        )
