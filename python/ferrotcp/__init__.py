"""ferrotcp: a userspace TCP with a Rust protocol core.

The simulated network (:class:`Network`) runs whole TCP conversations in virtual time with
seeded faults; :class:`Connection` is the sans-I/O core for people who bring their own I/O.
"""

from ferrotcp._core import Connection, __version__, rule_ids
from ferrotcp.sim import Host, Network, SimConnection

__all__ = ["Connection", "Host", "Network", "SimConnection", "__version__", "rule_ids"]
