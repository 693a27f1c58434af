"""score.py – matching pktlog's events to the servers' own records, per connection in the
server's order, and the figures: recall, precision, per-field agreement, what the capture
really holds (loss, snaplen), values not in the captured bytes, truncation marks.  The
protocol halves give it per-connection truth lists and the field extractors; this file
knows neither HTTP nor MySQL."""
import collections

from common import get


class Tally:
    """Counts for one protocol × capture variant, summed over rounds."""

    def __init__(self, proto, variant):
        self.proto, self.variant = proto, variant
        self.truth = 0            # server records demanded (request bytes in the capture)
        self.truth_all = 0        # every server record that makes an event
        self.found = 0            # demanded records with an aligned event
        self.events = 0           # pktlog's events on the scored connections
        self.aligned = 0          # events aligned to a server record
        self.fields = collections.OrderedDict()   # name -> [agree, compared]
        self.invented = 0         # field values not in the captured bytes
        self.invented_checked = 0
        self.cut = 0              # aligned messages the capture cut
        self.cut_marked = 0       # ...whose event says so
        self.kinds = collections.Counter()        # disagreement kind -> count
        self.examples = {}        # kind -> first (conn label, detail)

    def field(self, name, ok):
        a = self.fields.setdefault(name, [0, 0])
        a[1] += 1
        if ok:
            a[0] += 1

    def kind(self, kind, label, detail):
        self.kinds[kind] += 1
        self.examples.setdefault(kind, (label, detail))

    def merge(self, o):
        for k in ("truth", "truth_all", "found", "events", "aligned", "invented",
                  "invented_checked", "cut", "cut_marked"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        for n, (a, c) in o.fields.items():
            x = self.fields.setdefault(n, [0, 0])
            x[0] += a
            x[1] += c
        self.kinds.update(o.kinds)
        for k, v in o.examples.items():
            self.examples.setdefault(k, v)

    def recall(self):
        return self.found / self.truth if self.truth else 1.0

    def precision(self):
        return self.aligned / self.events if self.events else 1.0

    def agreement(self, name):
        a, c = self.fields.get(name, (0, 0))
        return a / c if c else 1.0

    def report(self):
        out = [f"{self.proto:5} {self.variant:10} recall {100 * self.recall():6.2f}% "
               f"({self.found}/{self.truth}; server records {self.truth_all}) "
               f"precision {100 * self.precision():6.2f}% ({self.aligned}/{self.events})"]
        out.append("      fields: " + "  ".join(
            f"{n} {100 * a / c:.2f}% ({a}/{c})" for n, (a, c) in self.fields.items() if c))
        if self.invented_checked:
            out.append(f"      values not in the captured bytes: {self.invented} of "
                       f"{self.invented_checked} checked; cut messages marked: "
                       f"{self.cut_marked}/{self.cut}")
        for k, n in self.kinds.most_common():
            lab, det = self.examples[k]
            out.append(f"      {n:5} × {k}   e.g. {lab}: {det}")
        return "\n".join(out)


def align(truth, events, score):
    """Order-preserving alignment maximising the summed score(t, e) (> 0 to pair): a
    weighted longest common subsequence. Returns [(ti, ei)]."""
    n, m = len(truth), len(events)
    if n * m > 4_000_000:        # huge connection: greedy in order
        pairs, j = [], 0
        for i, t in enumerate(truth):
            while j < m and score(t, events[j]) <= 0:
                j += 1
            if j < m:
                pairs.append((i, j))
                j += 1
        return pairs
    s = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, nxt = s[i], s[i + 1]
        for j in range(m - 1, -1, -1):
            best = max(nxt[j], row[j + 1])
            sc = score(truth[i], events[j])
            if sc > 0 and sc + nxt[j + 1] > best:
                best = sc + nxt[j + 1]
            row[j] = best
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        sc = score(truth[i], events[j])
        if sc > 0 and s[i][j] == sc + s[i + 1][j + 1]:
            pairs.append((i, j))
            i += 1
            j += 1
        elif s[i][j] == s[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def event_time(e):
    """An event's place in time: its start, else its end (an unmatched response has no
    start), as the ECS string (sorts like the time)."""
    return get(e, "event.start") or get(e, "event.end") or e.get("@timestamp") or ""


def events_by_conn(events, conns, port_of=lambda e: get(e, "client.port")):
    """Give each event to the connection it belongs to: by client port, and when a port was
    used by several connections, the last one that started at or before the event."""
    from common import ts
    byport = collections.defaultdict(list)
    for c in conns:
        byport[c.cport].append(c)
    out = collections.defaultdict(list)
    orphans = []
    for e in events:
        cs = byport.get(port_of(e))
        if not cs:
            orphans.append(e)
            continue
        t = ts(event_time(e))
        pick = cs[0]
        for c in cs:
            if c.start <= t + 1e-6:
                pick = c
        out[id(pick)].append(e)
    return out, orphans
