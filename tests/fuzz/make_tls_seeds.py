#!/usr/bin/env python3
"""make_tls_seeds.py – writes tests/fuzz/seeds/tls/<case> from the TLS captures of pcaps/:
each TCP payload of the capture's first connection becomes a data step of proto_script.h's
script (direction by the server's port), in capture order. Config byte 0 (the defaults) or 1
(a small max_handshake_bytes). Run from the repository root after new captures."""
import glob
import os

from pcaplib import script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER_PORTS = {9243, 8883, 5223, 995}


def main():
    out = os.path.join(HERE, "seeds", "tls")
    os.makedirs(out, exist_ok=True)
    for pcap in sorted(glob.glob(os.path.join(ROOT, "pcaps", "tls_*.pcap"))):
        name = os.path.basename(pcap)[4:-5]
        for config in (0, 1):
            with open(os.path.join(out, f"{name}.{config}"), "wb") as f:
                f.write(script(pcap, config, SERVER_PORTS))
    print(out)


if __name__ == "__main__":
    main()
