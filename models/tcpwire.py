"""Just enough of the TCP header (RFC 9293 3.1) for the conformance tests: read the fields
the spec talks about from what the core sends, and build arbitrary segments to inject.

The core's own parser is in Rust (``rust/core/src/wire``); this one is independent on
purpose, so that the tests do not take the core's word for what it sent.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10}


@dataclass(frozen=True)
class Seg:
    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: frozenset[str]
    wnd: int
    payload: bytes = b""

    @property
    def len(self) -> int:
        return len(self.payload)

    def fields(self) -> dict[str, int | bool]:
        """The segment as the spec's ``seg.*`` / ``out.*`` names see it."""
        f: dict[str, int | bool] = {"seq": self.seq, "ack": self.ack, "len": self.len}
        f["wnd"] = self.wnd
        for name in ("SYN", "ACK", "FIN", "RST"):
            f[name] = name in self.flags
        return f

    def flag_text(self) -> str:
        return ",".join(n for n in ("SYN", "ACK", "FIN", "RST") if n in self.flags)


def parse(data: bytes) -> Seg:
    """The header fields of a TCP segment (no checksum check: the core's receiver does it)."""
    if len(data) < 20:
        raise ValueError(f"segment of {len(data)} bytes is shorter than a TCP header")
    sport, dport, seq, ack, off_flags, wnd = struct.unpack_from("!HHIIHH", data)
    offset = (off_flags >> 12) * 4
    if offset < 20 or offset > len(data):
        raise ValueError(f"bad data offset {offset}")
    flags = frozenset(n for n, bit in FLAG_BITS.items() if off_flags & bit and n != "PSH")
    return Seg(sport, dport, seq, ack, flags, wnd, bytes(data[offset:]))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build(seg: Seg, src_ip: str, dst_ip: str) -> bytes:
    """Encode ``seg`` with a correct checksum over the IPv4 or IPv6 pseudo-header."""
    bits = sum(FLAG_BITS[f] for f in seg.flags)
    header = struct.pack(
        "!HHIIHHHH",
        seg.src_port,
        seg.dst_port,
        seg.seq & 0xFFFFFFFF,
        seg.ack & 0xFFFFFFFF,
        (5 << 12) | bits,
        seg.wnd & 0xFFFF,
        0,
        0,
    )
    body = header + seg.payload
    src, dst = ipaddress.ip_address(src_ip), ipaddress.ip_address(dst_ip)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(body))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(body), 6)
    csum = _checksum(pseudo + body)
    return body[:16] + struct.pack("!H", csum) + body[18:]
