#!/usr/bin/env python3
"""Write pcaps/<name>.events.jsonl from pktlog's current output for each capture given
(default: every capture in pcaps/, HTTP, MySQL and TLS). Review the diff before committing: these files are what the tests hold
pktlog to, and test_matches_nginx_access_log checks them against nginx's own log."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from conftest import PCAPS, replay, strip_volatile  # noqa: E402


def write(pcaps):
    """Replay each capture and write its expected events next to it."""
    for pcap in pcaps:
        events = [strip_volatile(e) for e in replay(pcap).events]
        out = pcap[:-len(".pcap")] + ".events.jsonl"
        with open(out, "w") as f:
            for e in events:
                f.write(json.dumps(e, sort_keys=True) + "\n")
        print(f"{out}: {len(events)} events")


if __name__ == "__main__":
    write(sys.argv[1:] or sorted(glob.glob(os.path.join(PCAPS, "*.pcap"))))
