#!/usr/bin/python3
"""tally.py – sums the figures of several truth runs (`run.py --json FILE`) into one table:
recall, precision, values not in the captured bytes, cut messages marked, and each field's
agreement, per protocol and variant.

    /usr/bin/python3 tests/truth/tally.py runs/*.json
"""
import collections
import json
import sys

COUNTS = ("truth", "found", "events", "aligned", "invented", "invented_checked", "cut", "cut_marked")


def main(paths):
    tot = collections.defaultdict(collections.Counter)
    fields = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    for path in paths:
        with open(path) as f:
            for key, v in json.load(f).items():
                if not isinstance(v, dict) or "truth" not in v:
                    continue
                for c in COUNTS:
                    tot[key][c] += v.get(c, 0)
                for name, (ok, n) in v.get("fields", {}).items():
                    fields[key][name][0] += ok
                    fields[key][name][1] += n
    print(f"{len(paths)} runs")
    for key in sorted(tot):
        t = tot[key]
        print(f"{key:15} recall {100 * t['found'] / max(1, t['truth']):.3f}% ({t['found']}/{t['truth']})"
              f"  precision {100 * t['aligned'] / max(1, t['events']):.3f}% ({t['aligned']}/{t['events']})"
              f"  not in captured bytes {t['invented']}/{t['invented_checked']}"
              f"  cut marked {t['cut_marked']}/{t['cut']}")
        print("    " + "  ".join(f"{name} {100 * ok / max(1, n):.2f}% ({ok}/{n})"
                                 for name, (ok, n) in fields[key].items()))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
