#!/usr/bin/env python3
"""make_http2_seeds.py – writes tests/fuzz/seeds/http2/<case> from the h2c and gRPC captures of pcaps/:
each TCP payload of the capture's first connection becomes a data step of proto_script.h's
script (direction by the server's port), in capture order. Config byte 0 (the defaults) or 1
(send_all_headers). The 1 MiB capture and h2load's are cut to their first 64 KiB of steps
(libFuzzer's inputs stay small). Run from the repository root after new captures."""
import glob
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER_PORTS = {50051}


def segments(path):
    """(to_client, payload) of each TCP segment with data of the first connection."""
    first = None
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
            client = dport if sport in SERVER_PORTS else sport
            first = first or client
            pay = tcp[(tcp[12] >> 4) * 4:]
            if pay and client == first:
                yield sport in SERVER_PORTS, pay


def script(path, config):
    out = bytearray([config])
    for to_client, pay in segments(path):
        if len(out) > 65536:
            break
        pay = pay[:65536]
        out.append(63 << 2 | int(to_client))
        out += struct.pack(">H", len(pay) - 1)
        out += pay
    return bytes(out)


def main():
    out = os.path.join(HERE, "seeds", "http2")
    os.makedirs(out, exist_ok=True)
    for pcap in sorted(glob.glob(os.path.join(ROOT, "pcaps", "h2c_*.pcap")) +
                       glob.glob(os.path.join(ROOT, "pcaps", "grpc_*.pcap"))):
        name = os.path.basename(pcap)[:-5]
        for config in (0, 1):
            with open(os.path.join(out, f"{name}.{config}"), "wb") as f:
                f.write(script(pcap, config))
    print(out)


if __name__ == "__main__":
    main()
