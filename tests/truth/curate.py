#!/usr/bin/python3
"""curate.py – picks regression captures from a `make truth` save directory: for every kind of
disagreement (per protocol and variant; vlan is left out where full shows the same), the
smallest saved connection whose capture is at most --max-bytes, copied to DST (default
pcaps/truth/) with all its files.

    tests/truth/curate.py pcaps/truth/s7 [DST] [--max-bytes 200000]"""
import argparse
import glob
import json
import os
import shutil


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "..", "pcaps", "truth"))
    ap.add_argument("--max-bytes", type=int, default=200000)
    args = ap.parse_args()
    best = {}
    for meta in glob.glob(os.path.join(args.src, "*.meta.json")):
        base = meta[:-len(".meta.json")]
        m = json.load(open(meta))
        size = sum(os.path.getsize(p) for p in glob.glob(base + ".*"))
        if size > args.max_bytes:
            continue
        kinds = set()
        for line in m["why"]:
            if " ×" in line:
                kinds.add(line.split(" ×")[0])
        for k in kinds:
            key = (m["proto"], "full" if m["variant"] == "vlan" else m["variant"], k)
            if key not in best or size < best[key][0]:
                best[key] = (size, base)
    chosen = sorted({b for _, b in best.values()})
    os.makedirs(args.dst, exist_ok=True)
    for base in chosen:
        for p in glob.glob(base + ".*"):
            shutil.copy(p, args.dst)
    for (proto, variant, k), (size, base) in sorted(best.items()):
        print(f"{proto:5} {variant:8} {os.path.basename(base):32} {size:7}  {k}")
    print(f"{len(chosen)} connections copied to {args.dst}")


if __name__ == "__main__":
    main()
