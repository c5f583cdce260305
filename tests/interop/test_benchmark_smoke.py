"""`benchmarks/transport.py --smoke`: the benchmark still runs end to end and prints every row.

Nothing is measured here (the figures of a 0.2-second run mean nothing); this only keeps the
script, the Node bench client and their shared JSON keys from drifting apart unnoticed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_transport_benchmark_runs_and_prints_every_row() -> None:
    output = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "transport.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout
    for label in (
        "sequential calls/s",
        "calls/s, 100 in flight",
        "10-call pipelined chain, ms",
        ".map() over 1,000, ms",
        "1,000-object result, ms",
        "CPU per sequential call, us",
        "raw WebSocket echo round trips/s",
        "Servers driven by the same Node capnweb client",
    ):
        assert label in output, f"{label!r} missing from:\n{output}"
