#!/usr/bin/python3
"""regress.py – replays the connections the truth harness saved (pcaps/truth/*.meta.json)
and scores pktlog's events on each against the server's records kept beside it, with the
same rules as the harness. A saved connection passes when nothing disagrees.

    tests/truth/regress.py [pcaps/truth/NAME.meta.json ...]     (default: every pcaps/truth/*.meta.json)
Exit status 1 when one fails; each failure prints what disagrees."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pcaplib                          # noqa: E402
from common import ROOT, run_pktlog     # noqa: E402
from score import Tally                 # noqa: E402


def check(meta_path):
    """(ok, text) for one saved connection."""
    base = meta_path[:-len(".meta.json")]
    meta = json.load(open(meta_path))
    proto, variant, port = meta["proto"], meta["variant"], meta["port"]
    vpcap = pcaplib.read(base + ".pcap")
    full = pcaplib.read(base + ".full.pcap") if os.path.exists(base + ".full.pcap") else vpcap
    recs = [json.loads(l) for l in open(base + ".truth.jsonl") if l.strip()]
    if proto == "http":
        import http_score as ps
        events = run_pktlog(base + ".pcap", http_port=port)
        for e in events:
            e["_f"] = ps.ev_fields(e)
    else:
        import mysql_score as ps
        events = [e for e in run_pktlog(base + ".pcap", mysql_port=port)
                  if e.get("method") not in ps.UNSCORED_METHODS]
        for e in events:
            e["_f"] = ps.ev_fields(e)
    conns = pcaplib.connections(full, port)
    vconns = pcaplib.connections(vpcap, port)
    if len(conns) != 1 or len(vconns) != 1:
        return False, f"{base}: expected one connection, found {len(conns)}/{len(vconns)}"
    t = Tally(proto, variant)
    from score import event_time
    evs = sorted(events, key=lambda e: (event_time(e), e.get("method") == "QUIT"))
    bad = ps.score_conn(t, os.path.basename(base), conns[0], vconns[0], recs, evs, variant)
    kinds = [k for k in t.kinds]
    if variant.startswith("snap"):
        bad += [f"{k} ×{n}" for k, n in t.kinds.items() if k.startswith("value not in") or k.startswith("truncation")]
    ok = not bad and not kinds
    unsure = t.fields.get("status marked uncertain (requests cut)")
    said = f" ({unsure[1]} marked uncertain, {unsure[0]} of them right)" if unsure else ""
    text = f"{os.path.basename(base)} ({proto} {variant}): " + ("ok" + said if ok else "\n  " + "\n  ".join(
        bad + [f"kind: {k}" for k in kinds]))
    return ok, text


def main():
    paths = sys.argv[1:] or sorted(glob.glob(os.path.join(ROOT, "pcaps", "truth", "*.meta.json")))
    failed = 0
    for p in paths:
        ok, text = check(p)
        print(text)
        failed += not ok
    print(f"{len(paths) - failed} of {len(paths)} saved connections right")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
