"""Shared fixtures: seeds are printed on failure through the test ids and messages."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ferrotcp import Network, SimConnection

CLIENT = "192.0.2.1"
SERVER = "192.0.2.2"
PORT = 80


@dataclass
class Transfer:
    net: Network
    client: SimConnection
    server: SimConnection
    up: bytes
    down: bytes
    got_up: bytes
    got_down: bytes


def run_transfer(
    seed: int, size: int, host: Mapping[str, Any] | None = None, **link: float | int
) -> Transfer:
    """Both directions at once, then an orderly close of both sides; ``host``: connection
    settings of both hosts."""
    net = Network(seed)
    c = net.add_host("client", CLIENT, **(host or {}))
    s = net.add_host("server", SERVER, **(host or {}))
    net.link(c, s, **link)
    s.listen(PORT)
    rng = random.Random(seed)
    up, down = rng.randbytes(size), rng.randbytes(size)
    client = c.connect((SERVER, PORT))
    client.send(up)
    client.close()
    server = s.accept(PORT)
    server.send(down)
    server.close()
    # Virtual time: 20% loss without SACK needs many 1 s timeouts; wall time stays short.
    budget = 3_600_000_000
    server.wait_received(size, budget)
    client.wait_received(size, budget)
    client.wait_closed(budget)
    server.wait_closed(budget)
    return Transfer(net, client, server, up, down, server.recv(), client.recv())


def digest(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()
