"""Transports move IP packets between a stack and the world; faults apply to any of them."""

from ferrotcp.transports.base import Transport
from ferrotcp.transports.faults import FaultCounters, FaultInjector, FaultProfile
from ferrotcp.transports.udp import UdpTransport

__all__ = ["FaultCounters", "FaultInjector", "FaultProfile", "Transport", "UdpTransport"]
