"""Free TCP ports for the servers the tests start."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 15000  # above the fixed ports of the storage emulators (Azurite 10000-10002) and redis


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port nothing listens on, from below the kernel's ephemeral range.

    The kernel's own pick (binding port 0) comes from the range that outgoing connections take their
    local ports from: between that pick and the server's bind, a client connection anywhere in the
    suite could take the port, and the server failed with "Address already in use" (seen in a full
    run). Ports below the range are never handed out that way.
    """
    high = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(LOWEST, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a crowded range: the kernel's pick
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
