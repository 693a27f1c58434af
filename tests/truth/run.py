#!/usr/bin/python3
"""run.py – the truth harness's driver: start a private nginx and/or MariaDB, run N seeded
rounds of generated traffic under tcpdump, derive the capture variants (impaired, snaplen 96
and 200, VLAN), run pktlog --pcap on each, score every event against the servers' records,
print the figures, save each disagreeing connection under --save as a minimal capture with
its truth and expected events, and exit 1 when a threshold of issue 12 is missed.

    tests/truth/run.py --seed 1 --rounds 3 [--proto http,mysql] [--variants full,impaired,...]
                       [--sessions 30] [--save pcaps/truth] [--keep DIR] [--json FILE]

Run it with Debian's /usr/bin/python3 (pymysql and requests are Debian packages)."""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pcaplib                                   # noqa: E402
from common import Tcpdump, run_pktlog           # noqa: E402
from score import Tally                          # noqa: E402

VARIANTS = ["full", "impaired", "snap96", "snap200", "vlan"]

# Issue 12's thresholds, per variant kind.
FULL_RECALL, FULL_PRECISION, FULL_FIELD = 0.995, 0.999, 0.995
EXACT_FIELDS = ("method", "path", "status")       # 100 % without loss
SNAP_PRECISION = 0.99


def derive(full, variant, seed):
    if variant == "full":
        return full
    if variant == "impaired":
        return pcaplib.impair(full, seed)[0]
    if variant.startswith("snap"):
        return pcaplib.cut_snaplen(full, int(variant[4:]))
    if variant == "vlan":
        return pcaplib.add_vlan(full)
    raise ValueError(variant)


def check(t):
    """The thresholds this tally misses, as strings."""
    miss = []
    if t.variant.startswith("snap"):
        if t.precision() < SNAP_PRECISION:
            miss.append(f"precision {100 * t.precision():.2f}% < {100 * SNAP_PRECISION}%")
        if t.invented:
            miss.append(f"{t.invented} values not in the captured bytes")
        if t.cut_marked < t.cut:
            miss.append(f"{t.cut - t.cut_marked} cut messages not marked as truncated")
        return miss
    if t.recall() < FULL_RECALL:
        miss.append(f"recall {100 * t.recall():.2f}% < {100 * FULL_RECALL}%")
    if t.precision() < FULL_PRECISION:
        miss.append(f"precision {100 * t.precision():.2f}% < {100 * FULL_PRECISION}%")
    for name in t.fields:
        need = 1.0 if name in EXACT_FIELDS and t.variant != "impaired" else FULL_FIELD
        if t.agreement(name) < need:
            miss.append(f"{name} {100 * t.agreement(name):.2f}% < {100 * need}%")
    return miss


class Saver:
    """Writes each disagreeing connection (at most `per_kind` per kind and variant) as
    <save>/<proto>-<variant>-s<seed>r<round>-<port>.{pcap,truth.jsonl,events.jsonl,expected.jsonl}."""

    def __init__(self, directory, limit):
        self.dir, self.limit, self.n, self.saved = directory, limit, {}, []

    def __call__(self, proto, variant, seed, rnd, vpcap, conn, truth, events, expected, bad):
        if not self.dir:
            return
        key = (proto, variant)
        if self.n.get(key, 0) >= self.limit:
            return
        self.n[key] = self.n.get(key, 0) + 1
        os.makedirs(self.dir, exist_ok=True)
        name = f"{proto}-{variant}-s{seed}r{rnd}-{conn.cport}"
        base = os.path.join(self.dir, name)
        vconn = [c for c in pcaplib.connections(vpcap, conn.key[3]) if c.key == conn.key]
        pcaplib.write(base + ".pcap", pcaplib.only_conn(vpcap, vconn[-1] if vconn else conn))
        with open(base + ".truth.jsonl", "w") as f:
            for r in truth:
                f.write(json.dumps({k: v for k, v in r.items() if k != "_f"}, default=str) + "\n")
        with open(base + ".events.jsonl", "w") as f:
            for e in events:
                f.write(json.dumps({k: v for k, v in e.items() if k != "_f"}) + "\n")
        with open(base + ".expected.jsonl", "w") as f:
            for x in expected:
                f.write(json.dumps(x, default=str) + "\n")
        with open(base + ".why.txt", "w") as f:
            f.write("\n".join(bad) + "\n")
        self.saved.append(name)


def http_rounds(args, work, tallies, saver):
    import http_score
    from http_work import Gen, Nginx
    ngx = Nginx(work)
    try:
        for rnd in range(args.rounds):
            seed = args.seed * 100003 + rnd
            cap = os.path.join(work, f"http-{rnd}.pcap")
            td = Tcpdump(cap, ngx.port, work)
            try:
                Gen(ngx.port, seed, args.sessions, work).run()
            finally:
                td.stop()
            records = ngx.records()
            full = pcaplib.read(cap)
            for variant in args.variants:
                vp = derive(full, variant, seed)
                vpath = cap if vp is full else os.path.join(work, f"http-{rnd}-{variant}.pcap")
                if vp is not full:
                    pcaplib.write(vpath, vp)
                events = run_pktlog(vpath, http_port=ngx.port)
                t = Tally("http", variant)

                def on_bad(conn, recs, evs, bad, vp=vp, variant=variant):
                    saver("http", variant, args.seed, rnd, vp, conn, recs, evs,
                          http_score.expected_events(recs), bad)
                http_score.score_run(t, full, vp, variant, records, events, ngx.port, on_bad)
                tallies[("http", variant)].merge(t)
                if vp is not full and not args.keep:
                    os.unlink(vpath)
            print(f"http round {rnd} seed {seed}: {len(records)} nginx records", file=sys.stderr)
            if not args.keep:
                os.unlink(cap)
    finally:
        ngx.stop()


def mysql_rounds(args, work, tallies, saver):
    import mysql_score
    from mysql_work import Gen, MariaDB
    db = MariaDB(work)
    try:
        for rnd in range(args.rounds):
            seed = args.seed * 100003 + rnd
            cap = os.path.join(work, f"mysql-{rnd}.pcap")
            td = Tcpdump(cap, db.port, work)
            try:
                client_log = Gen(db, seed, args.sessions, work).run()
            finally:
                td.stop()
            records = db.records()
            full = pcaplib.read(cap)
            for variant in args.variants:
                vp = derive(full, variant, seed)
                vpath = cap if vp is full else os.path.join(work, f"mysql-{rnd}-{variant}.pcap")
                if vp is not full:
                    pcaplib.write(vpath, vp)
                events = run_pktlog(vpath, mysql_port=db.port)
                t = Tally("mysql", variant)

                def on_bad(conn, recs, evs, bad, vp=vp, variant=variant):
                    saver("mysql", variant, args.seed, rnd, vp, conn, recs, evs,
                          mysql_score.expected_events(recs), bad)
                mysql_score.score_run(t, full, vp, variant, records, client_log, events, db.port, on_bad)
                tallies[("mysql", variant)].merge(t)
                if vp is not full and not args.keep:
                    os.unlink(vpath)
            print(f"mysql round {rnd} seed {seed}: {len(records)} general-log records", file=sys.stderr)
            if not args.keep:
                os.unlink(cap)
    finally:
        db.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--sessions", type=int, default=30, help="client sessions per round")
    ap.add_argument("--proto", default="http,mysql")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--save", default="", help="directory for disagreeing connections")
    ap.add_argument("--save-per-variant", type=int, default=20)
    ap.add_argument("--keep", default="", help="keep the work dir (captures) here")
    ap.add_argument("--json", default="", help="write the figures as JSON here")
    args = ap.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    for v in args.variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v}")
    if os.geteuid() != 0:
        ap.error("needs root (tcpdump on lo)")
    work = args.keep or tempfile.mkdtemp(prefix="pktlog-truth.")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    protos = [p for p in args.proto.split(",") if p]
    tallies = {(p, v): Tally(p, v) for p in protos for v in args.variants}
    saver = Saver(args.save, args.save_per_variant)
    t0 = time.monotonic()
    try:
        if "http" in protos:
            http_rounds(args, work, tallies, saver)
        if "mysql" in protos:
            mysql_rounds(args, work, tallies, saver)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    failed = []
    print(f"truth: seed {args.seed}, {args.rounds} rounds of {args.sessions} sessions, "
          f"{time.monotonic() - t0:.0f} s")
    for t in tallies.values():
        print(t.report())
        miss = check(t)
        if miss:
            failed.append(f"{t.proto} {t.variant}: " + "; ".join(miss))
    if saver.saved:
        print(f"saved {len(saver.saved)} disagreeing connections under {args.save}/")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{p}/{v}": {"recall": t.recall(), "precision": t.precision(),
                                    "truth": t.truth, "found": t.found, "events": t.events,
                                    "aligned": t.aligned, "fields": t.fields,
                                    "invented": t.invented, "invented_checked": t.invented_checked,
                                    "cut": t.cut, "cut_marked": t.cut_marked,
                                    "kinds": dict(t.kinds), "misses": check(t)}
                       for (p, v), t in tallies.items()}, f, indent=1)
    for m in failed:
        print("THRESHOLD MISSED: " + m)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
