#!/usr/bin/env python3
"""make_corpus.py [PCAPS_DIR] [SEEDS_DIR] – seed every libFuzzer harness from the real
captures of pcaps/ and pcaps/truth/ (nginx and MariaDB traffic), in each harness's own input format:

  decode/real_*  link-type index 0 (Ethernet) + one frame: a few frames of each capture
                 (handshake, request, response, a FIN), IPv4 and IPv6 alike;
  http/real_*    proto_script.h step scripts: a config byte, then each HTTP connection's
                 payload in capture order (retransmissions trimmed), to server / to client;
  mysql/real_*   the same for the MySQL connections;
  reasm/real_*   fuzz_reasm.c's 12-byte segment headers with the real flags, sequence
                 numbers, lengths and timing of a connection (payload up to 511 bytes);
  pcap/real_*    each capture's first records, as a capture file.

Deterministic (same captures, same seeds) and small: every seed is capped (SEED_MAX bytes)
and only the first connections of a capture are used. Run it again after pcaps/ changes;
the output replaces the real_* files only."""
import glob
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcaplib  # noqa: E402

SEED_MAX = 6000           # bytes per seed (a decode seed: FRAME_MAX)
FRAME_MAX = 1600
CONNS_PER_CAPTURE = 3
PCAP_RECORDS = 48
MYSQL_PORTS = (3306, 3307)


def connections(cap):
    """{key: [(to_server, seq, flags, payload, ts_ms)]} per TCP connection, in capture
    order; the server is the side that answered a SYN (else the lower port)."""
    conns, servers = {}, {}
    for sec, frac, wire, fr in cap.records:
        f = pcaplib.tcp_fields(fr)
        if not f:
            continue
        src, dst, sp, dp, seq, flags, pl = f
        key = tuple(sorted([(src, sp), (dst, dp)]))
        if flags & 0x12 == 0x02:           # SYN without ACK: dst is the server
            servers[key] = (dst, dp)
        server = servers.get(key, min(key, key=lambda a: a[1]))
        ms = sec * 1000 + (frac // (1000000 if cap.nano else 1000))
        conns.setdefault(key, []).append(((dst, dp) == server, seq, flags, pl, ms, server[1]))
    return conns


def script_data(d, b):
    out = b""
    while b:
        chunk, b = b[:65536], b[65536:]
        n = len(chunk)
        if n <= 63:
            out += bytes([((n - 1) << 2) | d]) + chunk
        else:
            out += bytes([(63 << 2) | d, (n - 1) >> 8, (n - 1) & 255]) + chunk
    return out


def stream_script(segs, cfg_byte):
    """In-order payload per direction (bytes already seen trimmed, as flow.c does)."""
    nxt = {}
    out = bytes([cfg_byte])
    for to_server, seq, flags, pl, _, _ in segs:
        d = 0 if to_server else 1
        if flags & 0x02:
            nxt[d] = (seq + 1) & 0xffffffff
            continue
        if d not in nxt:
            nxt[d] = seq
        skip = (nxt[d] - seq) & 0xffffffff
        if skip >= 1 << 31:            # ahead of what we have: a hole; keep going
            skip = 0
        if skip >= len(pl):
            continue
        pl = pl[skip:]
        step = script_data(d, pl)
        if len(out) + len(step) > SEED_MAX:
            break
        out += step
        nxt[d] = (seq + skip + len(pl)) & 0xffffffff
    return out


def reasm_script(segs):
    out, last = b"", None
    for to_server, seq, flags, pl, ms, _ in segs:
        step = 0 if last is None else max(0, min(ms - last, 65535))
        last = ms
        pl = pl[:511]
        hdr = bytes([(flags & 0x1f) | (0 if to_server else 0x80), 1]) + struct.pack(
            "!IHHH", seq, len(pl), 0, step)
        if len(out) + len(hdr) + len(pl) > SEED_MAX:
            break
        out += hdr + pl
    return out


def interesting_frames(cap):
    """A handful of distinct frames: the first SYN, SYN-ACK, data each way, a FIN."""
    picked, kinds = [], set()
    for _, _, _, fr in cap.records:
        f = pcaplib.tcp_fields(fr)
        if not f:
            continue
        flags, pl = f[5], f[6]
        kind = ("syn" if flags & 0x02 else "fin" if flags & 0x01 else "rst" if flags & 0x04
                else "data" if pl else "ack", f[3] < f[2])
        if kind in kinds or len(fr) > FRAME_MAX:
            continue
        kinds.add(kind)
        picked.append(fr)
    return picked


def write(dirname, name, data):
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, name), "wb") as f:
        f.write(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    pcaps = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "pcaps")
    seeds = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "seeds")
    for old in glob.glob(os.path.join(seeds, "*", "real_*")):
        os.unlink(old)
    n = 0
    # the captures of pcaps/ and the truth harness's saved connections (pcaps/truth/: one
    # connection each, the cases it found; their .full.pcap twins add nothing)
    paths = sorted(glob.glob(os.path.join(pcaps, "*.pcap")))
    paths += sorted(p for p in glob.glob(os.path.join(pcaps, "truth", "*.pcap"))
                    if not p.endswith(".full.pcap"))
    for path in paths:
        stem = os.path.basename(path)[:-5]
        if os.path.basename(os.path.dirname(path)) == "truth":
            stem = "truth_" + stem
        cap = pcaplib.read(path)
        for i, fr in enumerate(interesting_frames(cap)):
            write(os.path.join(seeds, "decode"), f"real_{stem}_{i}", b"\x00" + fr)
            n += 1
        conns = [c for c in connections(cap).values() if any(s[3] for s in c)]
        for i, segs in enumerate(conns[:CONNS_PER_CAPTURE]):
            harness = "mysql" if segs[0][5] in MYSQL_PORTS else "http"
            if stem.startswith("tls_"):
                # not HTTP: only the reassembly harness takes them (fuzz_tls is seeded by
                # pcaps/make-tls-pcaps.sh)
                write(os.path.join(seeds, "reasm"), f"real_{stem}_{i}", reasm_script(segs))
                n += 1
                continue
            cfgs = (0, 4) if harness == "mysql" else (0, 56)
            if stem.startswith("mysql_tls"):
                cfgs += (64,)    # protocols.tls enabled: the SSLRequest hands over to TLS
            for cfg_byte in cfgs:
                write(os.path.join(seeds, harness), f"real_{stem}_{i}_{cfg_byte}",
                      stream_script(segs, cfg_byte))
                n += 1
            write(os.path.join(seeds, "reasm"), f"real_{stem}_{i}", reasm_script(segs))
            n += 1
        recs = cap.records[:PCAP_RECORDS]
        while recs and 24 + sum(16 + len(r[3]) for r in recs) > SEED_MAX:
            recs = recs[:-1]
        out = os.path.join(seeds, "pcap", f"real_{stem}.pcap")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        pcaplib.write(out, cap, recs)
        n += 1
    print(f"make_corpus: {n} seeds from {pcaps} in {seeds}")


if __name__ == "__main__":
    main()
