#!/usr/bin/env python3
# check_pcap.py – verifies a capture made by make-pcaps.sh against its nginx access log: every
# connection complete (SYN .. both FINs, no RST, no sequence holes) and nothing else in the file,
# and per connection the client/server payload bytes equal the log's request_length/bytes_sent.
# It only reads; it never rewrites a capture.
import argparse
import json
import os
import struct
import sys

PORT = int(os.environ.get("PORT", "8080"))
SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise SystemExit(f"{path}: not a little-endian pcap file")
    linktype = struct.unpack("<I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, wirelen = struct.unpack("<IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if caplen != wirelen:
            raise SystemExit(f"{path}: truncated frame ({caplen} of {wirelen})")
        yield linktype, frame


def tcp_of(linktype, frame):
    if linktype == 1:        # Ethernet: what Linux gives for lo
        l3 = frame[14:] if struct.unpack("!H", frame[12:14])[0] == 0x0800 else None
    elif linktype == 113:    # Linux cooked
        l3 = frame[16:] if struct.unpack("!H", frame[14:16])[0] == 0x0800 else None
    else:
        raise SystemExit(f"unexpected linktype {linktype}")
    if l3 is None or l3[9] != 6:
        return None
    ihl = (l3[0] & 0x0F) * 4
    total = struct.unpack("!H", l3[2:4])[0]
    tcp = l3[ihl:total]
    sport, dport, seq, ack, offflags = struct.unpack("!HHIIH", tcp[:14])
    hlen = (offflags >> 12) * 4
    return sport, dport, seq, offflags & 0x3F, len(tcp) - hlen


class Dir:
    def __init__(self):
        self.isn = None
        self.next = None
        self.bytes = 0
        self.fin = False
        self.holes = 0
        self.dups = 0

    def segment(self, seq, flags, plen):
        if flags & SYN:
            self.isn, self.next = seq, (seq + 1) & 0xFFFFFFFF
            return
        if self.next is None:
            return
        if plen:
            if seq == self.next:
                self.bytes += plen
                self.next = (seq + plen) & 0xFFFFFFFF
            elif ((seq - self.next) & 0xFFFFFFFF) < 0x80000000:
                self.holes += 1
            else:
                self.dups += 1
        if flags & FIN:
            # A FIN counts only where the stream ends: no bytes may be missing before it.
            self.fin = ((seq + plen) & 0xFFFFFFFF) == self.next


def check(pcap, log, want_conns, want_reqs, server_extra, early=False):
    conns = {}
    problems = []
    npkt = 0
    for linktype, frame in packets(pcap):
        npkt += 1
        t = tcp_of(linktype, frame)
        if t is None:
            problems.append(f"packet {npkt}: not IPv4/TCP")
            continue
        sport, dport, seq, flags, plen = t
        if PORT not in (sport, dport):
            problems.append(f"packet {npkt}: not port {PORT}")
            continue
        client_port, to_server = (sport, True) if dport == PORT else (dport, False)
        c = conns.get(client_port)
        if c is None:
            if not (flags & SYN and to_server):
                problems.append(f"packet {npkt}: connection :{client_port} does not start with SYN")
            c = conns[client_port] = {"c": Dir(), "s": Dir(), "rst": False}
        if flags & RST:
            c["rst"] = True
        c["c" if to_server else "s"].segment(seq, flags, plen)

    lines = [json.loads(l) for l in open(log) if l.strip()]
    by_port = {}
    for e in lines:
        by_port.setdefault(int(e["remote_port"]), []).append(e)

    for port, c in sorted(conns.items()):
        cl, sv = c["c"], c["s"]
        if cl.isn is None or sv.isn is None:
            problems.append(f":{port} no handshake")
        if not (cl.fin and sv.fin):
            problems.append(f":{port} not closed by both FINs")
        if c["rst"]:
            problems.append(f":{port} RST seen")
        if cl.holes or sv.holes:
            problems.append(f":{port} sequence holes (packets missing)")
        reqs = by_port.get(port, [])
        want_c = sum(int(e["request_length"]) for e in reqs)
        want_s = sum(int(e["bytes_sent"]) for e in reqs) + server_extra * len(reqs)
        # early responses: nginx leaves the body it discarded out of request_length
        client_ok = cl.bytes >= want_c if early else cl.bytes == want_c
        if not client_ok or sv.bytes != want_s:
            problems.append(f":{port} payload client {cl.bytes} server {sv.bytes}, "
                            f"log request_length {want_c} bytes_sent(+extra) {want_s}")
    for port in by_port:
        if port not in conns:
            problems.append(f"log line for :{port} has no connection in the capture")
    if len(conns) != want_conns:
        problems.append(f"{len(conns)} connections, expected {want_conns}")
    if len(lines) != want_reqs:
        problems.append(f"{len(lines)} log lines, expected {want_reqs}")
    return npkt, len(conns), len(lines), problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("log")
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--server-extra", type=int, default=0,
                    help="bytes per request the server sends but nginx leaves out of bytes_sent")
    ap.add_argument("--early", action="store_true",
                    help="early responses: client bytes may exceed request_length (discarded bodies)")
    a = ap.parse_args()
    npkt, nconn, nreq, problems = check(a.pcap, a.log, a.conns, a.requests, a.server_extra,
                                        a.early)
    print(f"{a.pcap}: {npkt} packets, {nconn} connections, {nreq} requests"
          + ("" if not problems else f", {len(problems)} problem(s)"))
    for p in problems[:20]:
        print("  " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
