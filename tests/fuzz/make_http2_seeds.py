#!/usr/bin/env python3
"""make_http2_seeds.py – writes tests/fuzz/seeds/http2/<case> from the h2c and gRPC captures of pcaps/:
each TCP payload of the capture's first connection becomes a data step of proto_script.h's
script (direction by the server's port), in capture order. Config byte 0 (the defaults) or 1
(send_all_headers). The 1 MiB capture and h2load's are cut to their first 64 KiB of steps
(libFuzzer's inputs stay small). Run from the repository root after new captures."""
import glob
import os

from pcaplib import script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER_PORTS = {50051}


def main():
    out = os.path.join(HERE, "seeds", "http2")
    os.makedirs(out, exist_ok=True)
    for pcap in sorted(glob.glob(os.path.join(ROOT, "pcaps", "h2c_*.pcap")) +
                       glob.glob(os.path.join(ROOT, "pcaps", "grpc_*.pcap"))):
        name = os.path.basename(pcap)[:-5]
        for config in (0, 1):
            with open(os.path.join(out, f"{name}.{config}"), "wb") as f:
                f.write(script(pcap, config, SERVER_PORTS, max_bytes=65536))
    print(out)


if __name__ == "__main__":
    main()
