"""ferrotcp: a userspace TCP with a Rust protocol core.

The simulated network (:class:`Network`) runs whole TCP conversations in virtual time with
seeded faults; :class:`Connection` and :class:`Endpoint` are the sans-I/O core for people who
bring their own I/O; :class:`UdpStack` runs the core on a thread over UDP, with blocking
socket-like :class:`Socket` objects, seeded faults (:class:`FaultProfile`) and pcap capture;
:class:`TunStack` does the same over a Linux TUN device, with the kernel's TCP as the peer.
:func:`open_connection` and :func:`start_server` are asyncio streams over any stack.
"""

from ferrotcp._core import Connection, Endpoint, __version__, rule_ids
from ferrotcp.pcap import PcapWriter
from ferrotcp.sim import Host, Network, SimConnection
from ferrotcp.sockets import Socket
from ferrotcp.stack import Stack, UdpStack
from ferrotcp.streams import open_connection, start_server
from ferrotcp.trace import format_trace
from ferrotcp.transports import FaultProfile, UdpTransport
from ferrotcp.transports.tun import TunTransport
from ferrotcp.tunstack import TunStack

__all__ = [
    "Connection",
    "Endpoint",
    "FaultProfile",
    "Host",
    "Network",
    "PcapWriter",
    "SimConnection",
    "Socket",
    "Stack",
    "TunStack",
    "TunTransport",
    "UdpStack",
    "UdpTransport",
    "__version__",
    "format_trace",
    "open_connection",
    "rule_ids",
    "start_server",
]
