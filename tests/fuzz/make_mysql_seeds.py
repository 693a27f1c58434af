#!/usr/bin/env python3
"""make_mysql_seeds.py – writes tests/fuzz/seeds/mysql/<name> from the MySQL captures of
pcaps/: each TCP payload of the capture's first connection becomes a data step of
proto_script.h's script (direction by port 3306), in capture order. Config byte 0 (the
defaults) or 8 (send_response). Run from the repository root after new captures."""
import os
import struct
import sys

from pcaplib import script, steps

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CAPTURES = {"libmariadb": 0, "local_infile": 0, "progress": 8, "prepared_nocache": 8}

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
    exchange = [(0, pkt(0, greet)), (1, pkt(1, login)), (0, pkt(2, ok)), (1, pkt(0, query)),
                (0, pkt(1, ok)), (1, pkt(0, prep)), (0, pkt(1, prep_ok) + pkt(2, pdef)),
                (1, pkt(0, execute)), (0, pkt(1, ok))]     # (from the client, packet)
    return bytes([4]) + steps((from_client == 0, data) for from_client, data in exchange)


def main():
    dst = os.path.join(HERE, "seeds", "mysql")
    for name, config in CAPTURES.items():
        data = script(os.path.join(ROOT, "pcaps", f"mysql_{name}.pcap"), config, {3306},
                      first_only=False)
        with open(os.path.join(dst, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
    with open(os.path.join(dst, "query_attributes"), "wb") as f:
        f.write(query_attributes())


if __name__ == "__main__":
    sys.exit(main())
