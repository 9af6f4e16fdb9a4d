"""Write IP packets to a pcap file that Wireshark and tcpdump read (``LINKTYPE_RAW``: each
record is a bare IPv4 or IPv6 packet, no link-layer header).

The stacks already speak whole IP packets with real headers and checksums, whatever carries
them (UDP, the simulator), so a capture shows exactly what TCP sent and received.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

LINKTYPE_RAW = 101
#: Classic pcap with microsecond timestamps (the nanosecond variant is less widely read).
MAGIC_US = 0xA1B2C3D4
SNAPLEN = 65_535

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapWriter:
    """Append packets to ``target`` (a path, or a binary file the caller owns and closes).

    Timestamps are nanoseconds since the Unix epoch, stored with microsecond precision.
    """

    def __init__(self, target: str | Path | BinaryIO, *, snaplen: int = SNAPLEN) -> None:
        if isinstance(target, (str, Path)):
            self._file: BinaryIO = open(target, "wb")  # closed by close()
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self.snaplen = snaplen
        self.packets = 0
        self._file.write(_GLOBAL.pack(MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_RAW))

    def write(self, timestamp_ns: int, packet: bytes) -> None:
        """One packet, truncated to the snap length (the record keeps its original length)."""
        sec, ns = divmod(timestamp_ns, 1_000_000_000)
        data = packet[: self.snaplen]
        self._file.write(_RECORD.pack(sec, ns // 1000, len(data), len(packet)) + data)
        self.packets += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self._owned:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
