#!/usr/bin/env python3
"""make_mysql_seeds.py – writes tests/fuzz/seeds/mysql/<name> from the MySQL captures of
pcaps/: each TCP payload of the capture's first connection becomes a data step of
proto_script.h's script (direction by port 3306), in capture order. Config byte 0 (the
defaults) or 8 (send_response). Run from the repository root after new captures."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CAPTURES = {"libmariadb": 0, "local_infile": 0, "progress": 8, "prepared_nocache": 8}
MAX_STEP = 65536


def segments(path):
    """(to_client, payload) of each TCP segment with data, Ethernet/IPv4 only."""
    with open(path, "rb") as f:
        f.read(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            incl = struct.unpack("<IIII", h)[2]
            frame = f.read(incl)
            ip = frame[14:]
            tcp = ip[(ip[0] & 15) * 4:]
            sport, dport = struct.unpack(">HH", tcp[:4])
            pay = tcp[(tcp[12] >> 4) * 4:]
            if pay:
                yield sport == 3306, pay


def script(path, config):
    out = bytearray([config])
    for to_client, pay in segments(path):
        for i in range(0, len(pay), MAX_STEP):
            part = pay[i:i + MAX_STEP]
            out.append(63 << 2 | int(to_client))
            out += struct.pack(">H", len(part) - 1)
            out += part
    return bytes(out)


def pkt(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def lenstr(b):
    return bytes([len(b)]) + b


def query_attributes():
    """MySQL 8 with CLIENT_QUERY_ATTRIBUTES: a COM_QUERY and an execute carrying attributes
    (packets laid out as in MySQL's protocol documentation)."""
    caps = 0x000aa20f | 0x08000000
    greet = (b"\x0a8.0.36\0" + struct.pack("<I", 9) + b"abcdefgh\0" + struct.pack("<H", caps & 0xffff)
             + b"\xff" + struct.pack("<H", 2) + struct.pack("<H", caps >> 16) + b"\x15" + b"\0" * 10
             + b"ijklmnopqrst\0caching_sha2_password\0")
    login = (struct.pack("<IIB", caps, 1 << 24, 255) + b"\0" * 23 + b"app\0" + b"\x20" + b"p" * 32
             + b"shop\0caching_sha2_password\0")
    ok = b"\0\0\0\x02\0\0\0"
    query = (b"\x03\x02\x01\x02\x01" + b"\xfe\0" + lenstr(b"trace_id") + b"\x08\0" + lenstr(b"n")
             + lenstr(b"abc-123") + b"SELECT 1")
    prep = b"\x16SELECT a FROM t WHERE b = ?"
    prep_ok = b"\0" + struct.pack("<IHHBH", 3, 0, 1, 0, 0)
    pdef = lenstr(b"def") + b"\0\0\0" + lenstr(b"?") + b"\0\x0c" + b"\0" * 12
    execute = (b"\x17" + struct.pack("<IBI", 3, 8, 1) + b"\x02\0\x01" + b"\x03\0\0" + b"\xfe\0"
               + lenstr(b"trace_id") + struct.pack("<i", 42) + lenstr(b"abc-123"))
    steps = [(0, pkt(0, greet)), (1, pkt(1, login)), (0, pkt(2, ok)), (1, pkt(0, query)),
             (0, pkt(1, ok)), (1, pkt(0, prep)), (0, pkt(1, prep_ok) + pkt(2, pdef)),
             (1, pkt(0, execute)), (0, pkt(1, ok))]
    out = bytearray([4])
    for to_client, data in steps:
        out.append(63 << 2 | int(to_client == 0))
        out += struct.pack(">H", len(data) - 1) + data
    return bytes(out)


def main():
    dst = os.path.join(HERE, "seeds", "mysql")
    for name, config in CAPTURES.items():
        data = script(os.path.join(ROOT, "pcaps", f"mysql_{name}.pcap"), config)
        with open(os.path.join(dst, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
    with open(os.path.join(dst, "query_attributes"), "wb") as f:
        f.write(query_attributes())


if __name__ == "__main__":
    sys.exit(main())
