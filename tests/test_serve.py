"""Services started on an inherited listening socket (the stack runner's `--fd`)."""

from __future__ import annotations

import socket

from bwdev.stack import listening_socket
from bwservice.serve import accept_without_delay


def test_an_inherited_listener_hands_nodelay_to_the_connections_it_accepts() -> None:
    listener = listening_socket(0)
    try:
        accept_without_delay(listener.fileno())
        assert listener.fileno() >= 0  # still open: only a duplicate view of it was let go
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            # Linux passes the listener's TCP_NODELAY on; without it, small answers wait for the
            # client's delayed ACK (~40 ms each).
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()
