"""Setting up a TUN device for a ferrotcp stack with iproute2's ``ip`` command: the kernel's
own addresses on the device, a route to each of the stack's addresses, the link up.

The kernel and the stack are two hosts on one point-to-point link: the kernel owns, say,
192.0.2.1/24 and 2001:db8::1/64 on the device, and ferrotcp answers for 192.0.2.2 and
2001:db8::2, which the kernel reaches through the device (the prefix routes that come with its
own addresses cover them; a stack address outside those prefixes gets a host route). IPv6
addresses are added with ``nodad``: a TUN device has no neighbours to ask, and duplicate
address detection would leave the address unusable ("tentative") for a second or more.

:func:`setup_commands` lists the commands, for people who prefer to run them by hand (see the
README); :func:`configure` runs them and needs root or ``CAP_NET_ADMIN``.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterable, Sequence

#: Seconds one ``ip`` command may take; it is a local netlink call and returns at once.
IP_TIMEOUT_S = 10.0


def setup_commands(
    device: str,
    kernel_addresses: Iterable[str],
    stack_addresses: Iterable[str] = (),
    *,
    mtu: int = 1500,
) -> list[list[str]]:
    """The ``ip`` commands that make ``device`` usable: kernel addresses (``"192.0.2.1/24"``,
    ``"2001:db8::1/64"``), host routes for any stack address (``"192.0.2.2"``) outside
    their prefixes, the MTU, and the link up."""
    cmds = [["ip", "link", "set", "dev", device, "mtu", str(mtu)]]
    networks = []
    for spec in kernel_addresses:
        iface = ipaddress.ip_interface(spec)
        networks.append(iface.network)
        cmd = ["ip", f"-{iface.version}", "addr", "add", str(iface), "dev", device]
        if iface.version == 6:
            cmd.append("nodad")
        cmds.append(cmd)
    cmds.append(["ip", "link", "set", "dev", device, "up"])
    for addr in stack_addresses:
        ip = ipaddress.ip_address(addr)
        if not any(ip.version == n.version and ip in n for n in networks):
            cmds.append(["ip", f"-{ip.version}", "route", "add", str(ip), "dev", device])
    return cmds


def run_ip(cmd: Sequence[str]) -> None:
    """Run one ``ip`` command; ``OSError`` with its message if it fails."""
    if shutil.which(cmd[0]) is None:
        raise FileNotFoundError(f"{cmd[0]!r} not found: install iproute2 (or configure the "
                                "TUN device yourself, see ferrotcp.transports.netconf)")
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if proc.returncode != 0:
        raise OSError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")


def configure(
    device: str,
    kernel_addresses: Iterable[str],
    stack_addresses: Iterable[str] = (),
    *,
    mtu: int = 1500,
) -> None:
    """Run :func:`setup_commands` (root or ``CAP_NET_ADMIN``)."""
    for cmd in setup_commands(device, kernel_addresses, stack_addresses, mtu=mtu):
        run_ip(cmd)
