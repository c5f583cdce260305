"""Cap'n Web transport benchmark: our client and server against npm capnweb, in one run.

    python benchmarks/transport.py            # short mode (CI-sized, about a minute)
    python benchmarks/transport.py --long     # 15 repeats instead of 3
    python benchmarks/transport.py --smoke    # seconds: only checks that it runs (CI does)

Starts the Node reference server (tests/interop/node/server.mjs) and our ASGI server
(tests/interop/serve.py) on loopback, then measures, each REPEATS times, taking the median:

* clients against the SAME Node server: the Node capnweb client (bench.mjs), our client (on the
  stdlib loop, and on uvloop when the `fast` extra is installed), and a raw Python WebSocket echo
  round trip (the floor under "sequential");
* servers driven by the SAME Node client: our ASGI server against the Node server.

Needs `npm ci --prefix tests/interop/node`. Prints one table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "interop" / "node"

MEASURES = [
    ("sequential_calls_per_s", "sequential calls/s", "higher"),
    ("inflight100_calls_per_s", "calls/s, 100 in flight", "higher"),
    ("chain10_median_ms", "10-call pipelined chain, ms", "lower"),
    ("map1000_median_ms", ".map() over 1,000, ms", "lower"),
    ("payload1000_median_ms", "1,000-object result, ms", "lower"),
]
CLIENT_MEASURES = [
    # Process CPU (user + system, all threads) per call of the sequential measure: where the
    # time of a sequential call goes when it is not spent waiting for the server.
    ("sequential_cpu_us_per_call", "CPU per sequential call, us", "lower"),
]


@contextmanager
def serve(command: list[str]) -> Any:
    """Run a server that prints ``LISTENING <port>``; stop it by closing stdin, then by pid."""
    process = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("LISTENING"):
            raise RuntimeError(f"{command[0]} did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def node_client(url: str, seconds: float, echo_url: str | None = None) -> dict[str, Any]:
    command = ["node", str(NODE_DIR / "bench.mjs"), url, "--seconds", str(seconds)]
    if echo_url:
        command += ["--echo-url", echo_url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(output.stdout)  # type: ignore[no-any-return]


def python_client(url: str, echo_url: str, seconds: float, loop: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--python-client", url, echo_url]
    command += ["--seconds", str(seconds), "--loop", loop]
    output = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(output.stdout)  # type: ignore[no-any-return]


async def _python_client_measures(url: str, echo_url: str, seconds: float) -> dict[str, Any]:
    from dotdo.transport import connect

    results: dict[str, Any] = {}
    async with connect(url) as api:
        for i in range(300):
            assert await api.square(i) == i * i
        count, start, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            await api.square(count)
            count += 1
        results["sequential_calls_per_s"] = count / (time.perf_counter() - start)
        results["sequential_cpu_us_per_call"] = (time.process_time() - cpu) / count * 1e6

        done = [0]
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            i = 0
            while time.perf_counter() < stop:
                await api.square(i)
                i += 1
                done[0] += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(100)))
        results["inflight100_calls_per_s"] = done[0] / (time.perf_counter() - start)

        async def chain() -> None:
            value = api.add(0, 1)
            for _ in range(9):
                value = api.add(value, 1)
            assert await value == 10

        async def mapped() -> None:
            squares = await api.bigPayload(1000).map(lambda item: api.square(item.id))
            assert squares[999] == 999 * 999

        async def payload() -> None:
            assert len(await api.bigPayload(1000)) == 1000

        for key, operation in (("chain10", chain), ("map1000", mapped), ("payload1000", payload)):
            latencies = []
            stop = time.perf_counter() + seconds
            while time.perf_counter() < stop or len(latencies) < 5:
                start = time.perf_counter()
                await operation()
                latencies.append((time.perf_counter() - start) * 1000)
            results[f"{key}_median_ms"] = statistics.median(latencies)
    results["echo_roundtrips_per_s"] = await _echo_floor(echo_url, seconds)
    return results


async def _echo_floor(echo_url: str, seconds: float) -> float:
    from websockets.asyncio.client import connect

    async with connect(echo_url, compression=None, proxy=None) as socket:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            await socket.send('["push",["pipeline",0,["square"],[3]]]')
            await socket.recv()
            count += 1
        return count / (time.perf_counter() - start)


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(run[key]) for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", action="store_true", help="15 repeats of 1 s per measure")
    parser.add_argument(
        "--smoke", action="store_true", help="1 run of 0.2 s per measure: checks the script works"
    )
    parser.add_argument("--python-client", nargs=2, metavar=("URL", "ECHO_URL"))
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.python_client:
        url, echo_url = args.python_client
        measures = _python_client_measures(url, echo_url, args.seconds)
        if args.loop == "uvloop":
            import uvloop

            print(json.dumps(uvloop.run(measures)))
        else:
            print(json.dumps(asyncio.run(measures)))
        return
    try:
        import uvloop  # only checking that the `fast` extra is installed

        loops = ["asyncio", "uvloop"]
    except ImportError:
        loops = ["asyncio"]

    # Many short repeats rather than a few long ones: load on this shared machine drifts over
    # seconds, and finely interleaved runs let that drift hit every client alike.
    repeats, seconds = (15, 1.0) if args.long else (1, 0.2) if args.smoke else (3, 1.0)
    node_server = ["node", str(NODE_DIR / "server.mjs"), "--port", "0"]
    python_server = [sys.executable, "-m", "tests.interop.serve", "--port", "0"]
    with serve(node_server) as node_port, serve(python_server) as python_port:
        node_url = f"ws://127.0.0.1:{node_port}/rpc"
        echo_url = f"ws://127.0.0.1:{node_port}/echo"
        ours_url = f"ws://127.0.0.1:{python_port}/rpc"
        node_vs_node: list[dict[str, Any]] = []
        node_vs_ours: list[dict[str, Any]] = []
        ours_vs_node: dict[str, list[dict[str, Any]]] = {loop: [] for loop in loops}
        for _ in range(repeats):  # interleaved, so drift in machine load hits all alike
            node_vs_node.append(node_client(node_url, seconds, echo_url))
            for loop in loops:
                ours_vs_node[loop].append(python_client(node_url, echo_url, seconds, loop))
            node_vs_ours.append(node_client(ours_url, seconds))

    print(f"\nCap'n Web transport benchmark — medians of {repeats} runs, {seconds:g} s per measure")
    for loop in loops:
        runs = ours_vs_node[loop]
        print(f"\nClients against the same Node capnweb server (dotdo on the {loop} loop)")
        header = f"{'measure':32} {'Node client':>12} {'dotdo client':>13} {'ratio':>7}"
        print(header)
        print("-" * len(header))
        for key, label, better in MEASURES + CLIENT_MEASURES:
            node_value, ours_value = median_of(node_vs_node, key), median_of(runs, key)
            ratio = ours_value / node_value if better == "higher" else node_value / ours_value
            print(f"{label:32} {node_value:12.1f} {ours_value:13.1f} {ratio:6.2f}x")
    node_echo = median_of(node_vs_node, "echo_roundtrips_per_s")
    python_echo = median_of(ours_vs_node["asyncio"], "echo_roundtrips_per_s")
    print(
        f"{'raw WebSocket echo round trips/s':32} {node_echo:12.0f} {python_echo:13.0f}"
        "   (floor: Node ws / Python websockets)"
    )
    print("\nServers driven by the same Node capnweb client")
    header = f"{'measure':32} {'Node server':>12} {'dotdo server':>13} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for key, label, better in MEASURES:
        node_value, ours_value = median_of(node_vs_node, key), median_of(node_vs_ours, key)
        ratio = ours_value / node_value if better == "higher" else node_value / ours_value
        print(f"{label:32} {node_value:12.1f} {ours_value:13.1f} {ratio:6.2f}x")
    print("\nratio: dotdo relative to Node, >1 is better (for times: Node time / dotdo time).")
    print(
        "targets: client sequential >= 1.0x, client 100-in-flight >= 0.6x, "
        "server (both measures) >= 0.5x"
    )


if __name__ == "__main__":
    main()
