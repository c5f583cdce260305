"""Serve the Python TestApi for the Node client: ``python -m tests.interop.serve [--port N]``.

Prints ``LISTENING <port>`` once ready; exits on SIGTERM/SIGINT or when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import threading

import uvicorn

from dotdo.transport import RpcAsgiApp
from tests.interop.api import TestApi


def build_server(port: int) -> tuple[uvicorn.Server, socket.socket]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        RpcAsgiApp(TestApi),
        log_level="warning",
        ws=os.environ.get("DOTDO_BENCH_WS", "websockets-sansio"),  # type: ignore[arg-type]
        loop=os.environ.get("DOTDO_BENCH_LOOP", "auto"),  # type: ignore[arg-type]
        ws_max_size=32 * 1024 * 1024,
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        lifespan="off",
    )
    return uvicorn.Server(config), listener


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server, listener = build_server(args.port)

    def watch_stdin() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"LISTENING {listener.getsockname()[1]}", flush=True)
    asyncio.run(server.serve(sockets=[listener]))


if __name__ == "__main__":
    main()
