"""Just enough of the TCP header (RFC 9293 3.1) for the conformance tests: read the fields
the spec talks about from what the core sends, and build arbitrary segments to inject. Of
the options, those a SYN negotiates (MSS, window scale, SACK-permitted) and the Timestamps
option (RFC 7323 3.2) are kept, so a segment read and built again carries them on.

The core's own parser is in Rust (``rust/core/src/wire``); this one is independent on
purpose, so that the tests do not take the core's word for what it sent.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10}
# Option kinds (RFC 9293 3.1, RFC 7323 2.2, RFC 2018 2).
EOL, NOP, MSS, WSCALE, SACK_PERMITTED, TIMESTAMPS = 0, 1, 2, 3, 4, 8


@dataclass(frozen=True)
class Seg:
    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: frozenset[str]
    wnd: int  # the 16-bit window field as on the wire (unscaled)
    payload: bytes = b""
    mss: int | None = None
    wscale: int | None = None  # the shift of a Window Scale option, as sent (not clamped)
    sack_permitted: bool = False
    ts: tuple[int, int] | None = None  # (TSval, TSecr) of a Timestamps option
    # Sent by the core: it resends bytes its SACK scoreboard held as received (the harness
    # sets it, from the scoreboard before the segments went; see `[sent]`).
    sacked: bool = False

    @property
    def len(self) -> int:
        return len(self.payload)

    def window(self, shift: int) -> int:
        """The window in bytes for a receiver whose Snd.Wind.Shift is ``shift``: a SYN's
        field is never scaled (RFC 7323 2.2), any other is shifted left (2.3)."""
        return self.wnd if "SYN" in self.flags else self.wnd << shift

    def fields(self, shift: int = 0) -> dict[str, int | bool]:
        """The segment as the spec's ``seg.*`` / ``out.*`` names see it, its window in bytes
        (the spec speaks of bytes; ``shift`` scales the field as the receiver does)."""
        f: dict[str, int | bool] = {"seq": self.seq, "ack": self.ack, "len": self.len}
        f["wnd"] = self.window(shift)
        for name in ("SYN", "ACK", "FIN", "RST"):
            f[name] = name in self.flags
        f["TS"] = self.ts is not None
        f["tsval"], f["tsecr"] = self.ts or (0, 0)
        f["sacked"] = self.sacked
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
    mss, wscale, sack_permitted, ts = _options(data[20:offset])
    return Seg(
        sport, dport, seq, ack, flags, wnd, bytes(data[offset:]), mss, wscale, sack_permitted, ts
    )


def _options(area: bytes) -> tuple[int | None, int | None, bool, tuple[int, int] | None]:
    """MSS, window scale shift, SACK-permitted and timestamps from an option area; others
    skipped."""
    mss, wscale, sack_permitted = None, None, False
    ts: tuple[int, int] | None = None
    i = 0
    while i < len(area):
        kind = area[i]
        if kind == EOL:
            break
        if kind == NOP:
            i += 1
            continue
        if i + 1 >= len(area) or area[i + 1] < 2 or i + area[i + 1] > len(area):
            raise ValueError(f"malformed option area {area.hex()}")
        body = area[i + 2 : i + area[i + 1]]
        if kind == MSS and len(body) == 2:
            mss = int.from_bytes(body, "big")
        elif kind == WSCALE and len(body) == 1:
            wscale = body[0]
        elif kind == SACK_PERMITTED and not body:
            sack_permitted = True
        elif kind == TIMESTAMPS and len(body) == 8:
            tsval, tsecr = struct.unpack("!II", body)
            ts = (tsval, tsecr)
        i += area[i + 1]
    return mss, wscale, sack_permitted, ts


def _encode_options(seg: Seg) -> bytes:
    out = b""
    if seg.mss is not None:
        out += struct.pack("!BBH", MSS, 4, seg.mss)
    if seg.wscale is not None:
        out += bytes([NOP, WSCALE, 3, seg.wscale])
    if seg.sack_permitted:
        out += bytes([NOP, NOP, SACK_PERMITTED, 2])
    if seg.ts is not None:
        out += bytes([NOP, NOP, TIMESTAMPS, 10])
        out += struct.pack("!II", seg.ts[0] & 0xFFFFFFFF, seg.ts[1] & 0xFFFFFFFF)
    return out


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
    options = _encode_options(seg)
    header = struct.pack(
        "!HHIIHHHH",
        seg.src_port,
        seg.dst_port,
        seg.seq & 0xFFFFFFFF,
        seg.ack & 0xFFFFFFFF,
        ((5 + len(options) // 4) << 12) | bits,
        seg.wnd & 0xFFFF,
        0,
        0,
    )
    body = header + options + seg.payload
    src, dst = ipaddress.ip_address(src_ip), ipaddress.ip_address(dst_ip)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(body))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(body), 6)
    csum = _checksum(pseudo + body)
    return body[:16] + struct.pack("!H", csum) + body[18:]
