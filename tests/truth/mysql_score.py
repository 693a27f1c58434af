"""mysql_score.py – MySQL truth: MariaDB's general log per connection (its thread id is read
from the server greeting in the capture), the client log of clients that report rows and
error codes, where each command lies in the client stream, and the comparison of pktlog's
events with them.

Notes on the comparison:
- The general log does not log COM_PING (nor a successful login's Connect as an event):
  pktlog's PING events are not scored.
- An Execute's general-log text has the parameters substituted; pktlog's `query` is the
  prepared text, so the truth is the thread's Prepare whose text matches with each `?`
  standing for one value.
- Rows and affected rows come from the client log (pymysql, stmt_client); statements with
  several results are not compared for rows. The mariadb CLI's commands have no client log.
- pktlog keeps at most protocols.mysql.max_query_length (8192) statement bytes: a longer
  statement's `query` must be its prefix.
- Drivers send statements of their own (connector-python's SET NAMES, Connector/J's
  session queries): a client-log entry that names its SQL ("sql") is given only to the
  general-log record of that text (an Execute: of that prepared text), others get none.
- COM_RESET_CONNECTION is not in the general log either: a RESET_CONNECTION event is
  accepted for each one the client log holds. MariaDB logs a COM_STMT_BULK_EXECUTE as one
  Execute whose text keeps the `?`s.
- MariaDB logs a COM_STMT_CLOSE only for a statement that exists: MySQL Connector/J
  closes a refused PREPARE as statement 0 (ids start at 1), connector-python closes its
  last statement again after a refused PREPARE, and a RESET_CONNECTION or CHANGE_USER
  ends every statement before it (ids only grow). A STMT_CLOSE event is accepted for each
  such close in the capture.
- At snaplen 96 a statement's first keyword may lie beyond the captured bytes (after a
  long comment): pktlog's method "QUERY" on a cut COM_QUERY whose captured text does not
  show the keyword is "unknown, marked", not wrong.
"""
import collections
import re
import struct

from common import errors_of, get, ts
from score import Tally, align, event_time, events_by_conn

UNSCORED_METHODS = {"PING"}
COMMAND_METHOD = {"Prepare": "STMT_PREPARE", "Close stmt": "STMT_CLOSE", "Quit": "QUIT",
                  "Init DB": "INIT_DB", "Reset stmt": "STMT_RESET", "Field List": "FIELD_LIST",
                  "Change user": "CHANGE_USER", "Set option": "SET_OPTION"}
UNLOGGED_CMDS = {0x0e, 0x09, 0x1c, 0x1f}  # ping, statistics, fetch, reset connection: not in the general log
QUERY_MAX = 8192
COMMAND_BYTE = {"Quit": 0x01, "Init DB": 0x02, "Query": 0x03, "Field List": 0x04, "Prepare": 0x16,
                "Execute": 0x17, "Close stmt": 0x19, "Reset stmt": 0x1a, "Change user": 0x11,
                "Set option": 0x1b}
BULK_EXECUTE = 0xfa                       # MariaDB's COM_STMT_BULK_EXECUTE: an "Execute" too
# an event of either is a general-log "Execute" (its SQL unknown when the PREPARE was lost)
EXECUTES = ("STMT_EXECUTE", "STMT_BULK_EXECUTE")
CLIENT_SQL_KEEP = 4096                    # what the client log keeps of a statement


def first_keyword(sql):
    s = sql
    while True:
        s = s.lstrip(" \t\r\n(")
        if s.startswith("/*"):
            e = s.find("*/")
            s = s[e + 2:] if e >= 0 else ""
        elif s.startswith("#") or s.startswith("-- "):
            e = s.find("\n")
            s = s[e + 1:] if e >= 0 else ""
        else:
            break
    m = re.match(r"[A-Za-z_]+", s)
    return m.group(0).upper() if m else None


def greeting_thread(conn):
    d = bytes(conn.s2c.data[:200])
    if len(d) < 5 or d[4] != 10:
        return None
    end = d.find(b"\x00", 5)
    if end < 0 or len(d) < end + 5:
        return None
    return struct.unpack_from("<I", d, end + 1)[0]


def commands(stream):
    """Client command packets: [(start, end, cmd byte)], after the handshake response."""
    d, out, off = bytes(stream.data), [], 0
    first = True
    cur = None
    while off + 4 <= len(d):
        n = d[off] | d[off + 1] << 8 | d[off + 2] << 16
        seq = d[off + 3]
        if seq == 0 and not first and off + 4 < len(d):
            cur = [off, off + 4 + n, d[off + 4]]
            out.append(cur)
        elif cur is not None and cur[1] == off:
            cur[1] = off + 4 + n         # a continuation of a 16 MiB packet
        first = False
        off += 4 + n
    return [tuple(c) for c in out]


def client_matches(c, cmd, arg, tmpl):
    """A client-log entry that names its SQL is for the record of that text only."""
    sql = c.get("sql")
    if sql is None:
        return True
    text = tmpl if cmd == "Execute" else arg
    if text is None:
        return False
    a, b = text.strip(), sql.strip()
    return a[:CLIENT_SQL_KEEP] == b[:CLIENT_SQL_KEEP] and (len(b) < CLIENT_SQL_KEEP or len(a) >= len(b))


def unlogged_closes(conn):
    """COM_STMT_CLOSEs of statements that did not exist (see the module's notes)."""
    data, n, closed, top, dead = bytes(conn.c2s.data), 0, set(), 0, 0
    for st, en, b in commands(conn.c2s):
        if b in (0x11, 0x1f):
            dead = top
            continue
        if b not in (0x17, 0x18, 0x19, 0x1a, 0x1c, BULK_EXECUTE) or en < st + 9:
            continue
        sid = struct.unpack_from("<I", data, st + 5)[0]
        if b == 0x19:
            if sid == 0 or sid in closed or sid <= dead:
                n += 1
            closed.add(sid)
        if sid != 0xffffffff:
            top = max(top, sid)
    return n


def truth_for_thread(recs, client):
    """General-log entries that make events, with the expected fields."""
    prepares, out = [], []
    by_cmd = collections.defaultdict(list)
    for c in client or []:
        if c["cmd"] == "Prepare" and c["errno"]:
            continue                # a refused PREPARE is not in the general log
        by_cmd[c["cmd"]].append(c)
    seen = collections.Counter()
    for r in recs:
        cmd, arg = r["command"], r["argument"]
        if cmd == "Connect":
            if "denied" in arg.lower():
                out.append(dict(r, _f={"method": "LOGIN", "query": None, "error": True}))
            continue
        f = {"method": None, "query": None, "rows": None, "affected": None, "errno": None}
        if cmd == "Query":
            f["method"], f["query"] = first_keyword(arg), arg
        elif cmd == "Prepare":
            f["method"], f["query"] = "STMT_PREPARE", arg
            prepares.append(arg)
        elif cmd == "Execute":
            tmpl = None
            for p in reversed(prepares):
                rx = "".join("(.+?)" if ch == "?" else re.escape(ch) for ch in p)
                if re.fullmatch(rx, arg, re.S):
                    tmpl = p
                    break
            f["method"], f["query"] = first_keyword(tmpl or arg), tmpl
        else:
            f["method"] = COMMAND_METHOD.get(cmd, cmd.upper().replace(" ", "_"))
        lst = by_cmd.get(cmd)
        if lst is not None and seen[cmd] < len(lst) and \
                not client_matches(lst[seen[cmd]], cmd, arg, f["query"] if cmd == "Execute" else None):
            out.append(dict(r, _f=f))           # the driver's own statement: no client record
            continue
        if lst is not None and seen[cmd] < len(lst):
            c = lst[seen[cmd]]
            f["rows"] = c["rows"] if c["rows"] >= 0 else None
            f["affected"] = c["affected"] if c["affected"] >= 0 else None
            f["errno"] = c["errno"]
            f["client"] = c.get("client")
        seen[cmd] += 1
        out.append(dict(r, _f=f))
    if out:
        out[0]["_client_all"] = client or []
    return out


def ev_fields(e):
    return {"method": e.get("method"), "query": e.get("query"),
            "rows": get(e, "mysql.num_rows"), "affected": get(e, "mysql.affected_rows"),
            "errno": get(e, "mysql.error_code"), "status": e.get("status")}


def query_ok(tq, eq, cut):
    if tq is None:
        return True
    if eq == tq:
        return True
    if eq is None:
        return False
    if len(tq.encode()) > QUERY_MAX or cut:
        return len(eq) > 0 and tq.startswith(eq)
    return False


def make_score(cut_variant, loss_variant=False):
    def score(t, e):
        tf, ef = t["_f"], e["_f"]
        s = 0
        if tf["query"] is not None and query_ok(tf["query"], ef["query"], cut_variant):
            s += 2
        if ef["method"] == tf["method"]:
            s += 1
        if (cut_variant or loss_variant) and s == 0 and ef["query"] is None and ef["method"] in EXECUTES \
                and t["command"] == "Execute":
            return 1                # the cut capture lost the PREPARE: no SQL, but no lie
        if t.get("_start_lost"):
            return 0                # the capture lacks its command's first bytes: no event can be it
        return s if (s >= 2 or (tf["query"] is None and s == 1)) else 0
    return score


def score_conn(tally, label, conn, vconn, recs, evs, variant):
    cut_variant = variant.startswith("snap")
    loss_variant = variant == "impaired"
    cmds = [c for c in commands(conn.c2s) if c[2] not in UNLOGGED_CMDS]
    held = [True] * len(recs)
    cut = [False] * len(recs)
    logged = [r for r in recs if r["_f"]["method"] != "LOGIN"]
    if vconn is None:
        held = [False] * len(recs)
    elif cut_variant or loss_variant:
        # Each logged record's command packet: the next one with its command byte (and, for
        # Query/Prepare, its text): commands the server did not log (a refused PREPARE) are
        # passed over.
        k, data = 0, bytes(conn.c2s.data)
        for i, r in enumerate(recs):
            if r["_f"]["method"] == "LOGIN":
                continue
            want = COMMAND_BYTE.get(r["command"])
            wants = {want, BULK_EXECUTE} if want == 0x17 else {want}
            arg = r["argument"].encode()
            while k < len(cmds):
                st, en, b = cmds[k]
                # the general log drops the statement's leading blanks
                txt = data[st + 5:st + 5 + 96].lstrip(b" \t\r\n")
                if b in wants and (b not in (0x03, 0x16) or txt[:min(len(arg), 64)] == arg[:64]):
                    break
                k += 1
            if k == len(cmds):
                break
            st, en, _ = cmds[k]
            k += 1
            held[i] = vconn.c2s.held(st, st + 5) if cut_variant else vconn.c2s.held(st, min(en, st + 200))
            cut[i] = not vconn.c2s.held(st, en)
            if not vconn.c2s.held(st, st + 5):
                # Its header and command byte are not in the capture: an event that looks
                # like it (same prepared text) is a neighbour's, not this one's.
                recs[i] = dict(r, _start_lost=True)
    pairs = align(recs, evs, make_score(cut_variant, loss_variant))
    bad = []
    pt, pe = {i for i, _ in pairs}, {j for _, j in pairs}
    for i, r in enumerate(recs):
        tally.truth_all += 1
        if held[i]:
            tally.truth += 1
            if i in pt:
                tally.found += 1
            else:
                tally.kind(f"missing event ({r['command']})", label, r["argument"][:80])
                bad.append(f"missing event for {r['command']} {r['argument'][:80]!r}")
    tally.events += len(evs)
    tally.aligned += len(pairs)
    # A PREPARE the server refused is not in the general log; the client log knows it.
    failed_prepares = [c for c in (recs[0].get("_client_all") or []) if c["cmd"] == "Prepare" and c["errno"]] \
        if recs else []
    for j, e in enumerate(evs):
        f = e["_f"]
        if j not in pe and failed_prepares and f["method"] == "STMT_PREPARE" and e.get("status") == "Error":
            want = failed_prepares.pop(0)["errno"]
            pe.add(j)
            tally.aligned += 1
            if not cut_variant:
                tally.field("error_code", f["errno"] == want or (loss_variant and f["errno"] is None))
    # Nor is a COM_STMT_CLOSE of a statement that did not exist: the capture shows them.
    closes0 = unlogged_closes(conn)
    for j, e in enumerate(evs):
        if j not in pe and closes0 and e["_f"]["method"] == "STMT_CLOSE":
            closes0 -= 1
            pe.add(j)
            tally.aligned += 1
    # Nor is a COM_RESET_CONNECTION: the client log knows how many were sent.
    resets = sum(1 for c in (recs[0].get("_client_all") or []) if c["cmd"] == "Reset connection") if recs else 0
    for j, e in enumerate(evs):
        if j not in pe and resets and e["_f"]["method"] == "RESET_CONNECTION":
            resets -= 1
            pe.add(j)
            tally.aligned += 1
            if not cut_variant and not loss_variant:
                tally.field("status", e.get("status") != "Error")
    for j, e in enumerate(evs):
        if j not in pe:
            f = e["_f"]
            why = "; ".join(errors_of(e))[:60]
            tally.kind(f"extra event ({why or f['method']})", label, f"{f['method']} {str(f['query'])[:60]!r}")
            bad.append(f"extra event {f['method']} {str(f['query'])[:80]!r} errors {errors_of(e)}")
    for i, j in pairs:
        r, e = recs[i], evs[j]
        tf, ef = r["_f"], e["_f"]
        if tf["method"] == "LOGIN":
            continue
        ok_m = ef["method"] == tf["method"]
        ok_q = query_ok(tf["query"], ef["query"], cut_variant)
        if cut_variant and cut[i] and not ok_m and ef["method"] == "QUERY" and r["command"] == "Query" \
                and ok_q and first_keyword(ef["query"] or "") != tf["method"]:
            ok_m = True             # its keyword is not in the captured bytes: marked unknown
            tally.field("keyword not captured (method QUERY)", True)
        if (cut_variant or loss_variant) and ef["query"] is None and ef["method"] in EXECUTES:
            ok_m = ok_q = True      # the PREPARE was not captured: unknown, not wrong
            tally.field("execute without its PREPARE (unknown SQL)", True)
        tally.field("method", ok_m)
        if tf["query"] is not None:
            tally.field("sql", ok_q)
        if not ok_m:
            tally.kind(f"wrong method ({ef['method']} for {tf['method']})", label, r["argument"][:60])
        if not ok_q:
            tally.kind(f"wrong SQL text ({r['command']})", label,
                       f"{str(ef['query'])[:50]!r} for {str(tf['query'])[:50]!r}")
        errs = errors_of(e)
        unknown = loss_variant and any("loss" in m.lower() or "unmatched" in m.lower() for m in errs)
        if unknown:
            tally.field("response fields marked unknown (loss)", True)
        if tf.get("errno") is not None and not cut_variant and not unknown:
            want = tf["errno"] or None
            got = ef["errno"] or None
            ok_e = want == got
            tally.field("error_code", ok_e)
            if not ok_e:
                tally.kind(f"wrong error code ({got} for {want}; {tf.get('client')} {r['command']})", label,
                           f"{r['argument'][:50]!r} {'; '.join(errs)[:80]}")
            if not loss_variant:
                ok_st = (e.get("status") == "Error") == bool(want)
                tally.field("status", ok_st)
                if not ok_st:
                    tally.kind(f"status {e.get('status')} for errno {want} ({tf.get('client')} {r['command']})",
                               label, f"{r['argument'][:50]!r} {'; '.join(errs)[:80]}")
            if tf["rows"] is not None and not want:
                ok_r = ef["rows"] == tf["rows"]
                tally.field("rows", ok_r)
                if not ok_r:
                    tally.kind(f"wrong num_rows ({tf.get('client')} {r['command']})", label,
                               f"{r['argument'][:50]!r}: {ef['rows']} for {tf['rows']} {'; '.join(errs)[:80]}")
            if tf["affected"] is not None and not want and not loss_variant:
                ok_a = ef["affected"] == tf["affected"]
                tally.field("affected_rows", ok_a)
                if not ok_a:
                    tally.kind(f"wrong affected_rows ({tf.get('client')} {r['command']})", label,
                               f"{r['argument'][:50]!r}: {ef['affected']} for {tf['affected']}")
        if not cut_variant:
            # The server logs a statement once it has read it all: between the event's
            # start (first request byte) and its end (response). When the event says its
            # response is unknown, only the start is pinned.
            start = ts(get(e, "event.start") or e["@timestamp"])
            end = ts(get(e, "event.end") or get(e, "event.start") or e["@timestamp"])
            no_response = get(e, "event.end") is None       # QUIT, STMT_CLOSE: logged whenever
            ok_t = start - 0.05 <= r["time"] and (unknown or no_response or r["time"] <= end + 0.05)
            tally.field("timing", ok_t)
            if not ok_t:
                tally.kind("event start far from the general log's time", label,
                           f"{r['argument'][:40]!r}: {r['time'] - start:+.3f}s after start, {r['time'] - end:+.3f}s after end")
        if cut[i]:
            tally.cut += 1
            if any("trunc" in m.lower() or "snaplen" in m.lower() or "loss" in m.lower() for m in errs):
                tally.cut_marked += 1
            else:
                tally.kind("truncation not marked", label, r["argument"][:60])
        if not (ok_m and ok_q):
            bad.append(f"{r['command']} {r['argument'][:80]!r}: got {ef['method']} {str(ef['query'])[:80]!r}")
    if vconn is not None:
        check_invented(tally, label, vconn, evs)
    return bad


def check_invented(tally, label, vconn, evs):
    c2s, s2c = vconn.c2s.captured(), vconn.s2c.captured()
    for e in evs:
        f = e["_f"]
        checks = []
        if f["query"]:
            checks.append(("sql", f["query"].encode()[:QUERY_MAX], c2s))
        if f["errno"]:
            checks.append(("error_code", b"\xff" + struct.pack("<H", f["errno"]), s2c))
        for name, needle, hay in checks:
            tally.invented_checked += 1
            if needle not in hay:
                tally.invented += 1
                tally.kind(f"value not in the captured bytes: {name}", label,
                           f"{needle[:40]!r} ({'; '.join(errors_of(e))[:60]})")


def expected_events(recs):
    out = []
    for r in recs:
        f = r["_f"]
        out.append({"method": f["method"], "query": f.get("query"), "mysql.num_rows": f.get("rows"),
                    "mysql.affected_rows": f.get("affected"), "mysql.error_code": f.get("errno") or None,
                    "general_log": {k: v for k, v in r.items() if k != "_f"}})
    return out


def score_run(tally, full, variant_pcap, variant, records, client_log, events, port, on_bad):
    import pcaplib
    conns = pcaplib.connections(full, port)
    # A client port may be reused within a round: the k-th connection of a 4-tuple in the
    # variant is the k-th of the full capture (the variants keep every SYN, FIN and RST).
    vconns, nth = None, collections.Counter()
    if variant_pcap is not full:
        vconns, seen = {}, collections.Counter()
        for vc in pcaplib.connections(variant_pcap, port):
            vconns[(vc.key, seen[vc.key])] = vc
            seen[vc.key] += 1
    by_thread = collections.defaultdict(list)
    for r in records:
        by_thread[r["thread"]].append(r)
    events = [e for e in events if e.get("method") not in UNSCORED_METHODS]
    for e in events:
        e["_f"] = ev_fields(e)
    emap, orphans = events_by_conn(events, conns)
    for e in orphans:
        tally.events += 1
        tally.kind("event on no captured connection", "-", str(get(e, "client.port")))
    for c in conns:
        th = greeting_thread(c)
        recs = truth_for_thread(by_thread.get(th, []), client_log.get(th)) if th is not None else []
        vc = c if vconns is None else vconns.get((c.key, nth[c.key]))
        nth[c.key] += 1
        # In start order; QUIT last among equals (pktlog gives events it flushes at the close
        # the close's time).
        evs = sorted(emap.get(id(c), []), key=lambda e: (event_time(e), e.get("method") == "QUIT"))
        label = f"port {c.cport} thread {th}"
        local = Tally(tally.proto, tally.variant)
        bad = score_conn(local, label, c, vc, recs, evs, variant)
        tally.merge(local)
        if bad or local.kinds:
            on_bad(c, recs, evs, bad + [f"{k} ×{n}: {local.examples[k][1]}" for k, n in local.kinds.items()],
                   sorted(local.kinds))
