"""http_score.py – HTTP truth: nginx's access-log records per connection, where each request
lies in the client's byte stream, and the comparison of pktlog's events with them.

What nginx's fields mean next to pktlog's (why some are compared only in some cases):
- $request_length counts the request line, headers and the body nginx read; a body nginx
  discarded (early response: `return`, 413, 401/403, redirects, a 100-continue refused) is
  not counted, so client.bytes is compared only when nginx read the body (status 2xx from a
  handler that reads it, and no early-answer location).
- $bytes_sent counts every byte nginx sent for the request, interim "100 Continue" included;
  pktlog's server.bytes counts the same (interim responses count toward the final one).
- $request_time runs from the first request byte nginx read to the last response byte it
  wrote ($msec, ms resolution); pktlog's event end (start + duration) is the first response
  byte, so it must lie in [$msec - $request_time, $msec] (±10 ms). The start is not pinned:
  a pipelined request is on the wire before nginx starts it.
- $bytes_sent counts what nginx wrote to the socket: when the client reset the connection
  mid-response, the wire holds less, so that last response's size and a note on it are not
  judged.
- A record with $bytes_sent 0 had no response on the wire (client gone: 499, 400 on a cut
  body): its event must carry no status.  A record with an empty $request (head cut or
  garbage) names no method or path: it is not demanded, but an event there is not extra.
"""
import collections
import re

from common import errors_of, get, ts
from score import Tally, align, event_time, events_by_conn

EARLY = ("/early", "/small", "/auth/", "/deny/", "/redir", "/moved", "/r204")



def final_off(stream, off):
    """Where the final response starts in the server stream, when the record's bytes at off
    begin with 1xx interim heads ("100 Continue"): pktlog's end is the final response's first
    byte, and nginx's clock ($msec is cached per event-loop turn) can lag a long body read."""
    data = bytes(stream.data)
    while data.startswith(b"HTTP/1.", off) and data[off + 9:off + 10] == b"1":
        e = data.find(b"\r\n\r\n", off)
        if e < 0:
            break
        off = e + 4
    return off

def split_request(req):
    """(method, path, query) of a complete request line; Nones for a partial one (the
    client cut the head: nginx logs what it read, and no event can be demanded)."""
    parts = req.split(" ")
    if len(parts) < 3 or not parts[0].isalpha() or not re.fullmatch(r"HTTP/\d\.\d", parts[-1]):
        return None, None, None
    uri = " ".join(parts[1:-1]) if len(parts) >= 3 else parts[1]
    path, q, query = uri.partition("?")
    return parts[0], path, (query if q else None)


def truth_by_conn(records, conns):
    """nginx's records grouped per captured connection, in the server's order: nginx
    connections with one client port, by $connection, zip with the captured ones."""
    by_port = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in records:
        by_port[r["remote_port"]][r["connection"]].append(r)
    cap_by_port = collections.defaultdict(list)
    for c in conns:
        cap_by_port[c.cport].append(c)
    out = {}
    for port, cs in cap_by_port.items():
        ngx = [sorted(v, key=lambda r: r["connection_requests"])
               for _, v in sorted(by_port.get(port, {}).items())]
        # A connection that never sent a request has no record: match from the end.
        while len(ngx) < len(cs):
            ngx.insert(0, [])
        for c, recs in zip(cs, ngx[-len(cs):]):
            out[id(c)] = recs
    return out


def messages(stream):
    """Where each request lies in a client stream: [(start, head_end, end)]. Follows
    Content-Length and chunked framing; stops at the first thing it cannot frame."""
    d, out, off = bytes(stream.data), [], 0
    while off < len(d):
        he = d.find(b"\r\n\r\n", off)
        if he < 0:
            out.append((off, len(d), len(d)))
            break
        he += 4
        hdr = d[off:he].decode("latin-1").lower()
        clen, chunk = 0, False
        for line in hdr.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip() == "content-length":
                try:
                    clen = int(v.strip())
                except ValueError:
                    pass
            elif k.strip() == "transfer-encoding" and "chunked" in v:
                chunk = True
        end = he + clen
        if chunk:
            p = he
            while True:
                le = d.find(b"\r\n", p)
                if le < 0:
                    end = len(d)
                    break
                try:
                    n = int(d[p:le].split(b";")[0], 16)
                except ValueError:
                    # not a chunk: the client gave up the body (a final answer to
                    # Expect: 100-continue) and sent the next request instead
                    end = he if p == he and re.match(rb"[A-Z]+ ", d[p:p + 16]) else len(d)
                    break
                if n == 0:
                    te = d.find(b"\r\n\r\n", le)
                    end = len(d) if te < 0 else te + 4
                    break
                p = le + 2 + n + 2
        out.append((off, he, min(end, len(d))))
        off = end
    return out


def ev_fields(e):
    return {
        "method": get(e, "http.request.method") or e.get("method"),
        "path": get(e, "url.path"),
        "query": get(e, "url.query"),
        "status": get(e, "http.response.status_code"),
        "req_bytes": get(e, "client.bytes"),
        "resp_bytes": get(e, "server.bytes"),
    }


INTERIM_100 = len(b"HTTP/1.1 100 Continue\r\n\r\n")


def truth_fields(r):
    m, p, q = split_request(r["request"])
    # nginx logs 408 (body timeout) or 400 after sending only "100 Continue": no final
    # response was on the wire, so no status can be demanded.
    sent = r["bytes_sent"]
    if r.get("expect") and r["status"] in (400, 408, 499) and sent <= INTERIM_100:
        sent = 0
    return {"method": m, "path": p, "query": q,
            "status": r["status"] if sent > 0 else None,
            "req_bytes": r["request_length"], "resp_bytes": sent or None}


def make_score(prefix_ok):
    def score(t, e):
        tf, ef = t["_f"], e["_f"]
        if ef["method"] is None and ef["status"] is not None and tf["method"] is not None:
            # A response whose request the capture lacks (lost, or begun mid-segment past
            # the snap length): the event says so (a note) and is that record's transaction.
            # So is a request whose start is captured but not its whole method (snap*): the
            # event can hold no method, and its truncation note says so.
            unread = not t.get("_held", True) or t.get("_method_cut", False)
            # (its pairing marked uncertain: another record's status, weighed below a match)
            if not unread or not errors_of(e):
                return 0
            return 1 if tf["status"] == ef["status"] else 0.5 if pairing_unsure(e) else 0
        if tf["method"] is None:    # a partial head: an event there must agree with its bytes
            part = t["request"]
            ok = (ef["method"] is None or part.startswith(ef["method"] + " ")) and \
                (ef["path"] is None or ef["path"] in part)
            return 1 if ok else 0
        s = 0
        cut_ok = prefix_ok or head_limited(e)
        if ef["path"] == tf["path"] or (cut_ok and ef["path"] and tf["path"].startswith(ef["path"])):
            s += 2
        elif ef["path"] is None and t.get("_path_cut", False) and ef["method"] == tf["method"]:
            s += 2      # no path where the capture holds none of it, and the method it holds
        if ef["method"] == tf["method"]:
            s += 1
        if s >= 2 and t.get("_held", True):
            s += 1      # of two like requests, the one whose start the capture holds
        return s if s >= 2 else 0
    return score


SIZE_NOTE = "kept in part (size limits)"
# pktlog paired this event while holes on both sides may hold messages of unknown count
# (requests cut by the snap length or lost, their responses' heads cut too): its status may
# be another request's, and the event says so.
UNSURE_NOTE = "Pairing uncertain: requests cut in the capture"
UNSURE_FIELD = "status marked uncertain (requests cut)"


def pairing_unsure(e):
    """The event says its pairing is uncertain: its status is tallied apart (UNSURE_FIELD,
    not a threshold), never as a right or wrong status."""
    return any(m.startswith(UNSURE_NOTE) for m in errors_of(e))


def head_limited(e):
    """The event says pktlog kept the request head in part (max_url_length, the kept-bytes
    cap): a cut value is then marked, and a prefix of the truth is right."""
    return any(SIZE_NOTE in m for m in errors_of(e))


def unfinished(stream):
    """Whether the client stream ends inside its last framed request (the client declared
    a body it never sent: e.g. curl after a final answer to Expect: 100-continue)."""
    msgs = messages(stream)
    if not msgs:
        return False
    st, he, en = msgs[-1]
    d = bytes(stream.data)
    if he >= len(d) and d.find(b"\r\n\r\n", st) < 0:
        return True
    hdr = d[st:he].decode("latin-1").lower()
    for line in hdr.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip() == "content-length" and v.strip().isdigit():
            return he + int(v.strip()) > len(d)
        if k.strip() == "transfer-encoding" and "chunked" in v:
            return not chunked_ends(d, he)
    return False


def body_skipped(stream, msgs, i):
    """Whether framed request i declared a chunked body the client did not send (the next
    request follows its head): the bytes after the head are not a chunked body, and a parse
    error note there is right."""
    if i >= len(msgs):
        return False
    st, he, en = msgs[i]
    d = bytes(stream.data)
    return en == he and b"chunked" in d[st:he].lower() and bool(re.match(rb"[A-Z]+ ", d[he:he + 16]))


def chunked_ends(d, p):
    """Whether the chunked body starting at d[p] ends (last chunk and trailers) in d."""
    while True:
        le = d.find(b"\r\n", p)
        if le < 0:
            return False
        try:
            n = int(d[p:le].split(b";")[0], 16)
        except ValueError:
            return False
        if n == 0:
            return d.find(b"\r\n\r\n", le) >= 0 or d.endswith(b"\r\n", le)
        p = le + 2 + n + 2
        if p > len(d):
            return False


def framed_as_logged(stream, msgs, recs):
    """Whether the i-th framed request is the i-th record: the counts agree, or the client
    sent requests after the last one nginx logged (it closed after a 413 while the client
    kept sending) and each record's request line is that of the framed request at its
    place."""
    if len(msgs) == len(recs):
        return True
    if len(msgs) < len(recs):
        return False
    d = bytes(stream.data)
    for (st, he, en), r in zip(msgs, recs):
        le = d.find(b"\r\n", st, he)
        if le < 0 or d[st:le].decode("latin-1") != r["request"]:
            return False
    return True


def score_conn(tally, label, conn, vconn, recs, evs, variant):
    """Score one connection; returns a list of disagreement strings (empty when right)."""
    full_msgs = messages(conn.c2s)
    for r in recs:
        r["_f"] = truth_fields(r)
    for e in evs:
        e["_f"] = ev_fields(e)
    cut_variant = variant.startswith("snap")
    loss_variant = variant == "impaired"
    # Which records the capture holds: the i-th framed request is the i-th record when the
    # counts agree, or when the records' request lines begin the framed ones
    # (framed_as_logged); else every record is demanded.
    held = [True] * len(recs)
    cut = [False] * len(recs)
    mapped = framed_as_logged(conn.c2s, full_msgs, recs)
    # Where each response starts in the server stream ($bytes_sent each, in order).
    resp_off = [None] * len(recs)
    if mapped:
        o = 0
        for i, r in enumerate(recs):
            resp_off[i] = o if r["bytes_sent"] > 0 else None
            o += r["bytes_sent"]
    if vconn is not None and mapped:
        # nginx's responses lie in the server stream in order, $bytes_sent each: a message is
        # cut when its request's bytes or its own response's bytes are not all captured.
        roff = 0
        for i, (st, he, en) in enumerate(full_msgs[:len(recs)]):
            sent = recs[i]["bytes_sent"]
            if cut_variant:
                held[i] = vconn.c2s.held(st, st + 1)
                m = recs[i]["_f"]["method"]
                recs[i]["_method_cut"] = m is not None and not vconn.c2s.held(st, st + len(m) + 1)
                # the capture holds the method and its space, not the path's first byte: an
                # event can report the method and no path ("GET " before the snap length)
                recs[i]["_path_cut"] = m is not None and not recs[i]["_method_cut"] and \
                    not vconn.c2s.held(st + len(m) + 1, st + len(m) + 2)
                cut[i] = not vconn.c2s.held(st, en) or \
                    (sent > 0 and not vconn.s2c.held(roff, min(roff + sent, len(vconn.s2c.have))))
                # Its method cut ("G") and its final status line not captured either: the
                # capture holds nothing of it an event could report (no method, path or
                # status), so it is not demanded (pktlog counts such a request, no event).
                fo = final_off(conn.s2c, roff) if sent > 0 else None
                if recs[i]["_method_cut"] and (fo is None or not vconn.s2c.held(fo, fo + 12)):
                    held[i] = False
            elif loss_variant:
                held[i] = vconn.c2s.held(st, he)
            roff += sent
    elif vconn is None:
        held = [False] * len(recs)
    # nginx counts in $bytes_sent what it wrote to the socket; a client that reset the
    # connection mid-response (raw_cut) received less. The last response is then cut on the
    # wire: its size is not demanded, and a note on it is right.
    wire_cut = len(conn.s2c.data) < sum(r["bytes_sent"] for r in recs)
    if conn.c2s.rst_t is not None:
        # what the server sent after the client's reset never reached it: the connection
        # had ended, and pktlog's flow ends there too
        before = max([en for st, en, t in conn.s2c.segs if t <= conn.c2s.rst_t], default=0)
        wire_cut = wire_cut or before < sum(r["bytes_sent"] for r in recs)
    client_unfinished = len(full_msgs) == len(recs) and unfinished(conn.c2s)
    for i, r in enumerate(recs):
        r["_held"] = held[i]
    pairs = align(recs, evs, make_score(cut_variant))
    bad = []
    paired_t = {i for i, _ in pairs}
    paired_e = {j for _, j in pairs}
    for i, r in enumerate(recs):
        if r["_f"]["method"] is None:
            continue
        tally.truth_all += 1
        if held[i]:
            tally.truth += 1
            if i in paired_t:
                tally.found += 1
            else:
                tally.kind("missing event", label, r["request"][:80])
                bad.append(f"missing event for {r['request'][:80]!r} status {r['status']}")
    tally.events += len(evs)
    tally.aligned += len(pairs)
    # Requests nginx never read (it closed after an error, e.g. 413, while the client kept
    # sending) have no record: an event for one, after the last paired event and with no
    # status, is right. At most as many as the client stream frames beyond the records.
    unlogged = max(0, len(full_msgs) - len(recs))
    last = max(paired_e) if paired_e else -1
    for j, e in enumerate(evs):
        if j in paired_e or j < last or unlogged <= 0 or e["_f"]["status"] is not None \
                or e["_f"]["method"] is None:
            continue
        unlogged -= 1
        paired_e.add(j)
        tally.aligned += 1
        tally.field("unlogged request reported without status", True)
    for j, e in enumerate(evs):
        if j not in paired_e:
            f = e["_f"]
            why = "; ".join(errors_of(e))[:60]
            k = "extra event" + (f" ({why})" if why else "") + \
                (f" method {f['method']}" if f["method"] and not cut_variant else "")
            tally.kind(k, label, f"{f['method']} {f['path']} status {f['status']}")
            bad.append(f"extra event {f['method']} {f['path']} status {f['status']} errors {errors_of(e)}")
    for i, j in pairs:
        r, e = recs[i], evs[j]
        tf, ef = r["_f"], e["_f"]
        if tf["method"] is None:
            continue
        if ef["method"] is None:    # a response whose request the capture lacks (see make_score)
            if pairing_unsure(e):
                tally.field(UNSURE_FIELD, ef["status"] == tf["status"])
                continue
            tally.field("status of a response whose request is not captured", ef["status"] == tf["status"])
            continue
        ok_m = ef["method"] == tf["method"]
        ok_p = ef["path"] == tf["path"]
        ok_q = (ef["query"] or None) == (tf["query"] or None)
        if head_limited(e):
            # pktlog kept the head in part and says so: a prefix is right, a longer value not.
            ok_p = ok_p or (ef["path"] is not None and tf["path"].startswith(ef["path"]))
            ok_q = ok_q or (ef["query"] is not None and (tf["query"] or "").startswith(ef["query"]))
        if cut_variant:
            # Only what the capture holds can be demanded: a cut path must be a prefix.
            ok_p = ok_p or (ef["path"] is not None and tf["path"].startswith(ef["path"])) or \
                (ef["path"] is None and r.get("_path_cut", False))
            ok_q = ok_q or ef["query"] is None or (tf["query"] or "").startswith(ef["query"])
        tally.field("method", ok_m)
        tally.field("path", ok_p)
        tally.field("query", ok_q)
        if not ok_m:
            tally.kind(f"wrong method ({ef['method']} for {tf['method']})", label, r["request"][:80])
        if not ok_p:
            tally.kind("wrong path", label, f"{ef['path']!r} for {tf['path'][:60]!r}")
        if not ok_q:
            tally.kind("wrong query", label, f"{str(ef['query'])[:40]!r} for {str(tf['query'])[:40]!r}")
        ok_s = ef["status"] == tf["status"]
        if cut_variant and ef["status"] is None:
            ok_s = True             # a cut response may lose its status; never a wrong one
        if loss_variant and ef["status"] is None and errors_of(e):
            ok_s = True             # said so: the response was not captured
        if pairing_unsure(e):
            # said so: which response is this request's the capture cannot tell
            tally.field(UNSURE_FIELD, ok_s)
            ok_s = True
        else:
            tally.field("status", ok_s)
        if not ok_s:
            k = ("shifted pairing: status of another response" if tf["status"] and ef["status"]
                 else "status where no response was sent" if ef["status"] else "status missing")
            tally.kind(k, label, f"{r['request'][:60]!r}: {ef['status']} for {tf['status']}")
        last_cut = wire_cut and i == len(recs) - 1
        if not cut_variant and not loss_variant and tf["status"] and not last_cut:
            notes = errors_of(e)
            # Right notes on a complete exchange: a head kept in part where the head is
            # longer than pktlog keeps (max_url_length 8192, 16 kB kept); a request whose
            # declared body the client never sent (the last one, client stream unfinished).
            if len(r["request"]) > 8192 or (len(full_msgs) == len(recs)
                                            and full_msgs[i][1] - full_msgs[i][0] > 16384):
                notes = [m for m in notes if SIZE_NOTE not in m]
            if client_unfinished and i == len(recs) - 1:
                notes = [m for m in notes if m != "Request incomplete when the connection ended"]
            if body_skipped(conn.c2s, full_msgs, i):
                notes = [m for m in notes if m != "Parse error in the request"]
            ok_clean = not notes
            tally.field("no error note", ok_clean)
            if not ok_clean:
                tally.kind(f"error note on a complete exchange ({'; '.join(errors_of(e))[:60]})", label,
                           f"{r['request'][:60]!r} {r['status']}")
        early = any(tf["path"].startswith(x) for x in EARLY) or r["status"] >= 300 or r["expect"]
        if not cut_variant and not loss_variant and tf["status"] and not early:
            ok_rq = ef["req_bytes"] == tf["req_bytes"]
            tally.field("req_bytes", ok_rq)
            if not ok_rq:
                tally.kind("request bytes differ from $request_length", label,
                           f"{r['request'][:50]!r}: {ef['req_bytes']} for {tf['req_bytes']}")
        if not cut_variant and not loss_variant and tf["status"] and not last_cut:
            ok_rs = ef["resp_bytes"] == tf["resp_bytes"]
            tally.field("resp_bytes", ok_rs)
            if not ok_rs:
                tally.kind("response bytes differ from $bytes_sent", label,
                           f"{r['request'][:50]!r} {r['status']}: {ef['resp_bytes']} for {tf['resp_bytes']}")
        if tf["status"] and ef["status"] and not pairing_unsure(e):
            # (an event marked uncertain may time another response: not judged)
            # nginx logs at its last response byte ($msec) and started the request
            # $request_time before; pktlog's end is the first response byte. A pipelined
            # request starts on the wire before nginx starts it, so only the end is pinned.
            start = ts(get(e, "event.start") or e["@timestamp"])
            end = start + (get(e, "event.duration") or 0) / 1e9
            n_end, n_start = float(r["msec"]), float(r["msec"]) - float(r["request_time"])
            ok_t = n_start - 0.01 <= end <= n_end + 0.01 and start <= end
            if not ok_t and resp_off[i] is not None and start <= end:
                # A pipelined response queued behind a long one (the client's window full)
                # goes on the wire after nginx logged it, and `impaired` swaps a frame into
                # the next one's time slot: the first byte of this record's own response in
                # the capture pktlog read is then the time to meet.
                s2c = (vconn or conn).s2c
                wt = s2c.time_of(final_off(s2c, resp_off[i]))
                ok_t = wt is not None and n_start - 0.01 <= end and abs(end - wt) <= 0.002
            tally.field("timing", ok_t)
            if not ok_t:
                tally.kind("response time outside nginx's request", label,
                           f"{r['request'][:50]!r}: first response byte {end - n_start:+.3f}s after nginx's "
                           f"start, {end - n_end:+.3f}s after its end")
        if cut[i]:
            tally.cut += 1
            if any("trunc" in m.lower() or "snaplen" in m.lower() or "loss" in m.lower()
                   for m in errors_of(e)):
                tally.cut_marked += 1
            else:
                tally.kind("truncation not marked", label, r["request"][:60])
        if not (ok_m and ok_p and ok_q and ok_s):
            bad.append(f"{r['request'][:80]!r}: got {ef['method']} {ef['path']} ?{ef['query']} "
                       f"status {ef['status']}, nginx {tf['status']}")
    if vconn is not None:
        check_invented(tally, label, vconn, evs)
    return bad


def check_invented(tally, label, vconn, evs):
    """Every method, path and status in an event must be bytes the capture holds."""
    c2s, s2c = vconn.c2s.captured(), vconn.s2c.captured()
    for e in evs:
        f = e["_f"]
        checks = []
        if f["method"]:
            checks.append(("method", (f["method"] + " ").encode(), c2s))
        if f["path"]:
            checks.append(("path", f["path"].encode(), c2s))
        if f["status"] is not None:
            checks.append(("status", b" %d" % f["status"], s2c))
        for name, needle, hay in checks:
            tally.invented_checked += 1
            if needle not in hay:
                tally.invented += 1
                tally.kind(f"value not in the captured bytes: {name}", label,
                           f"{needle[:40]!r} ({'; '.join(errors_of(e))[:60]})")


def expected_events(recs):
    """What pktlog should report for a saved connection, from nginx's records."""
    out = []
    for r in recs:
        f = truth_fields(r)
        if f["method"] is None:
            continue
        out.append({"method": f["method"], "url.path": f["path"], "url.query": f["query"],
                    "http.response.status_code": f["status"],
                    "server.bytes": f["resp_bytes"], "nginx": {k: v for k, v in r.items() if k != "_f"}})
    return out


def score_run(tally, full, variant_pcap, variant, records, events, port, on_bad):
    import pcaplib
    conns = pcaplib.connections(full, port)
    # A 4-tuple reused by a later connection: the variant's connections pair with the full
    # capture's in order, per 4-tuple.
    vconns = None
    if variant_pcap is not full:
        vconns = collections.defaultdict(list)
        for c in pcaplib.connections(variant_pcap, port):
            vconns[c.key].append(c)
    seen = collections.Counter()
    tmap = truth_by_conn(records, conns)
    emap, orphans = events_by_conn(events, conns)
    for e in orphans:
        tally.events += 1
        tally.kind("event on no captured connection", "-", str(get(e, "client.port")))
    for c in conns:
        k = seen[c.key]
        seen[c.key] += 1
        vc = c if vconns is None else (vconns[c.key][k] if k < len(vconns[c.key]) else None)
        recs = tmap.get(id(c), [])
        evs = sorted(emap.get(id(c), []), key=event_time)
        label = f"port {c.cport}"
        local = Tally(tally.proto, tally.variant)
        bad = score_conn(local, label, c, vc, recs, evs, variant)
        tally.merge(local)
        if bad or local.kinds:
            on_bad(c, recs, evs, bad + [f"{k} ×{n}: {local.examples[k][1]}" for k, n in local.kinds.items()],
                   sorted(local.kinds))
