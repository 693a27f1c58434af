#!/usr/bin/env python3
# snaplen.py – rewrites a pcap file as a capture at a shorter snap length would have written it:
# each record keeps its original length (wire length) and only its first SNAPLEN bytes, caplen
# cut to match. Byte-identical to what `tcpdump -s SNAPLEN` holds for the same packets.
#
#   pcaps/snaplen.py IN.pcap OUT.pcap SNAPLEN
import struct
import sys


def rewrite(src, dst, snaplen):
    with open(src, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise SystemExit(f"{src}: not a little-endian pcap file")
    out = bytearray(data[:24])
    out[16:20] = struct.pack("<I", snaplen)          # the file header's snaplen field
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack("<IIII", data[off:off + 16])
        keep = min(caplen, snaplen)
        out += struct.pack("<IIII", sec, frac, keep, wirelen)
        out += data[off + 16:off + 16 + keep]
        off += 16 + caplen
    with open(dst, "wb") as f:
        f.write(out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: snaplen.py IN.pcap OUT.pcap SNAPLEN")
    rewrite(sys.argv[1], sys.argv[2], int(sys.argv[3]))
