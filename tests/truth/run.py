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
import http_score                                # noqa: E402
from common import Tcpdump, run_pktlog           # noqa: E402
from score import Tally                          # noqa: E402

VARIANTS = ["full", "impaired", "snap96", "snap200", "vlan"]

# Issue 12's thresholds, per variant kind.
FULL_RECALL, FULL_PRECISION, FULL_FIELD = 0.995, 0.999, 0.995
EXACT_FIELDS = ("method", "path", "status")       # 100 % without loss
SNAP_PRECISION = 0.99
SNAP_RECALL = 0.99
# --slack K: a rate counts as missed only when more than K items beyond what it allows fail.
# The figures are for 1,000 rounds; make test's slice scores a few hundred messages
# of live captures, where one impaired-capture disagreement alone would fall under 99.9 %.
SLACK = 0


def below(ok, total, rate):
    """ok of total is under rate, beyond SLACK items (none for a 100 % rate)."""
    slack = SLACK if rate < 1.0 else 0
    return total > 0 and (total - ok) > int((1 - rate) * total + 1e-9) + slack


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
        # Issue 12 item 2: what the capture holds of a request line is reported, so a message
        # whose start is captured is demanded (recall), beside the "Done when" figures.
        if below(t.found, t.truth, SNAP_RECALL):
            miss.append(f"recall {100 * t.recall():.2f}% < {100 * SNAP_RECALL}% of the messages whose start is captured")
        if below(t.aligned, t.events, SNAP_PRECISION):
            miss.append(f"precision {100 * t.precision():.2f}% < {100 * SNAP_PRECISION}%")
        if t.invented:
            miss.append(f"{t.invented} values not in the captured bytes")
        if t.cut_marked < t.cut:
            miss.append(f"{t.cut - t.cut_marked} cut messages not marked as truncated")
        return miss
    if below(t.found, t.truth, FULL_RECALL):
        miss.append(f"recall {100 * t.recall():.2f}% < {100 * FULL_RECALL}%")
    if below(t.aligned, t.events, FULL_PRECISION):
        miss.append(f"precision {100 * t.precision():.2f}% < {100 * FULL_PRECISION}%")
    for name in t.fields:
        if name == http_score.UNSURE_FIELD:
            continue    # a count of what the events say is uncertain, right or not
        need = 1.0 if name in EXACT_FIELDS and t.variant != "impaired" else FULL_FIELD
        if below(*t.fields.get(name, (0, 0)), need):
            miss.append(f"{name} {100 * t.agreement(name):.2f}% < {100 * need}%")
    return miss


class Saver:
    """Keeps, per protocol, variant and disagreement kind, the smallest disagreeing
    connection, and writes them at the end as <save>/<name>.pcap (the connection's frames as
    pktlog should read them), <name>.full.pcap (the same connection at full snaplen, for the
    cut and impaired variants), <name>.truth.jsonl (the server's records with the expected
    fields under "_f"), <name>.events.jsonl (what pktlog gave), <name>.expected.jsonl and
    <name>.meta.json (protocol, variant, port, kinds, why). tests/truth/regress.py replays
    them."""

    def __init__(self, directory):
        self.dir, self.best, self.saved = directory, {}, []

    def __call__(self, proto, variant, seed, rnd, vpcap, full, conn, truth, events, expected, bad, kinds):
        if not self.dir:
            return
        vconn = [c for c in pcaplib.connections(vpcap, conn.key[3]) if c.key == conn.key]
        # the 4-tuple may have been reused: the variant's connection that started with this one
        vconn.sort(key=lambda c: abs(c.start - conn.start))
        vsub = pcaplib.only_conn(vpcap, vconn[0] if vconn else conn)
        size = sum(len(f.data) for f in vsub.frames)
        item = None
        for k in kinds:
            cur = self.best.get((proto, variant, k))
            if cur is None or size < cur["size"]:
                if item is None:
                    item = {"size": size, "name": f"{proto}-{variant}-s{seed}r{rnd}-{conn.cport}",
                            "pcap": vsub, "full": pcaplib.only_conn(full, conn) if vpcap is not full else None,
                            "truth": truth, "events": events, "expected": expected,
                            "meta": {"proto": proto, "variant": variant, "port": conn.key[3],
                                     "client_port": conn.cport, "seed": seed, "round": rnd,
                                     "why": bad}}
                self.best[(proto, variant, k)] = item

    def write(self):
        if not self.dir:
            return
        os.makedirs(self.dir, exist_ok=True)
        chosen = {}
        for (proto, variant, k), item in sorted(self.best.items()):
            chosen.setdefault(id(item), item)["meta"].setdefault("kinds", []).append(k)
        for item in chosen.values():
            base = os.path.join(self.dir, item["name"])
            pcaplib.write(base + ".pcap", item["pcap"])
            if item["full"] is not None:
                pcaplib.write(base + ".full.pcap", item["full"])
            for ext, rows in (("truth", item["truth"]), ("events", item["events"]),
                              ("expected", item["expected"])):
                with open(f"{base}.{ext}.jsonl", "w") as f:
                    for r in rows:
                        if ext == "events":
                            r = {k: v for k, v in r.items() if k != "_f"}
                        f.write(json.dumps(r, default=str) + "\n")
            with open(base + ".meta.json", "w") as f:
                json.dump(item["meta"], f, indent=1)
            self.saved.append(item["name"])


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
                Gen(ngx.port, seed, args.sessions, work).run(cover=rnd == 0)
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

                def on_bad(conn, recs, evs, bad, kinds, vp=vp, variant=variant):
                    saver("http", variant, args.seed, rnd, vp, full, conn, recs, evs,
                          http_score.expected_events(recs), bad, kinds)
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
                client_log = Gen(db, seed, args.sessions, work).run(cover=rnd == 0)
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

                def on_bad(conn, recs, evs, bad, kinds, vp=vp, variant=variant):
                    saver("mysql", variant, args.seed, rnd, vp, full, conn, recs, evs,
                          mysql_score.expected_events(recs), bad, kinds)
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
    ap.add_argument("--pktlog", default="", help="the pktlog to test (default build/asan/pktlog)")
    ap.add_argument("--keep", default="", help="keep the work dir (captures) here")
    ap.add_argument("--json", default="", help="write the figures as JSON here")
    ap.add_argument("--slack", type=int, default=0,
                    help="disagreements tolerated beyond each rate (make test's slice: 1)")
    args = ap.parse_args()
    global SLACK
    SLACK = args.slack
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
    if args.pktlog:
        os.environ["PKTLOG"] = os.path.abspath(args.pktlog)
    saver = Saver(args.save)
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
    saver.write()
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
