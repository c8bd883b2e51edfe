"""The one way every Breakwater service is started: `python -m <service> --port N`, on uvicorn."""

from __future__ import annotations

import argparse
import os
import socket

import uvicorn

from .httpprotocol import CoalescingHttpToolsProtocol

# What a service writes holds tenant data or secrets (logs, the host's Postgres logs and capture
# passwords, the local edge's event queues): readable by the service's own user only.
PRIVATE_UMASK = 0o077


def serve(
    prog: str,
    factory: str,
    default_port: int,
    description: str | None,
    keep_alive_seconds: int = 5,
    ws: str = "auto",
) -> None:
    """Parse --host/--port/--log-level and run the ASGI app built by `factory` ("module:function");
    `ws`: uvicorn's WebSocket protocol (a name, or "module:Class")."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--fd",
        type=int,
        default=None,
        help="serve on this inherited, listening socket instead of binding --host/--port (the stack "
        "runner binds the port itself, so nothing can take it between its choice and our start)",
    )
    args = parser.parse_args()
    os.umask(PRIVATE_UMASK)
    if args.fd is not None:
        accept_without_delay(args.fd)
    uvicorn.run(
        factory,
        factory=True,
        host=args.host,
        port=args.port,
        fd=args.fd,
        log_level=args.log_level,
        access_log=False,
        timeout_keep_alive=keep_alive_seconds,
        ws=ws,
        http=CoalescingHttpToolsProtocol,
    )


def accept_without_delay(fd: int) -> None:
    """Set TCP_NODELAY on the inherited listening socket `fd`, which Linux passes on to every connection
    it accepts. uvicorn wraps an inherited fd as a Unix socket, so asyncio never sets it on their
    transports itself, and small answers would wait ~40 ms for the client's delayed ACK."""
    listener = socket.socket(fileno=fd)
    try:
        if listener.family in (socket.AF_INET, socket.AF_INET6):
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    finally:
        listener.detach()
