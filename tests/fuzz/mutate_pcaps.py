#!/usr/bin/env python3
"""mutate_pcaps.py – mutate the real captures of pcaps/ and replay each mutant through the
sanitizer build (build/asan/pktlog --pcap), as a hostile capture file would be replayed.

  mutate_pcaps.py [--seed S] [--count N] [--pktlog BIN] [--pcaps DIR] [--save DIR]
                  [--keep DIR] [--max-records N] [--replay FILE...]

Each mutant takes one capture (large ones cut to --max-records records) and applies one to
four mutations, all from a random.Random(seed + i), so mutant i of a seed is the same on
every run:
  flip     overwrite payload bytes of TCP segments
  token    replace an HTTP or MySQL token in a payload (status line, Content-Length,
           chunk sizes, Transfer-Encoding, methods, MySQL packet headers and commands)
  seq      move a segment's sequence number (by 2^31, by +-1..64 KiB, or anywhere)
  flags    set or clear SYN, FIN, RST, PSH in a segment
  reorder  swap records within a small window
  dup      duplicate records (in place or a little later)
  drop     remove records
  cut      shorten records (caplen < wire length), including to 0 or 14 bytes
  trunc    end the file inside a record
A mutant fails when pktlog prints a sanitizer report or "runtime error", exits other than
0 or 1, or runs past the timeout. Failing mutants are written to --save (default
tests/fuzz/regress/pcap/) so they are replayed from then on (--replay, fuzz_pcap).
Exit status: 0 when every mutant passed, 1 otherwise."""
import argparse
import glob
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcaplib  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1",
           UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")

HTTP_TOKENS = [
    b"HTTP/1.1", b"HTTP/1.0", b" 200 OK", b" 200", b"Content-Length: ", b"chunked",
    b"Transfer-Encoding", b"Connection: ", b"keep-alive", b"\r\n\r\n", b"\r\n", b"GET ",
    b"POST ", b"HEAD ", b"Host: ", b"Expect: 100-continue", b"0\r\n\r\n", b"?", b"/",
]
HTTP_REPL = [
    b"", b"HTTP/1.1 200\r\n", b"HTTP/1.1 200 \r\n", b"HTTP/9.9", b"HTTP/1.", b" 000 ",
    b" 99999 ", b"Content-Length: -1\r\n", b"Content-Length: 18446744073709551616\r\n",
    b"Content-Length: 4294967296\r\n", b"Content-Length: 0\r\nContent-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffff\r\n", b"fffffffff\r\n", b"\n", b"\r",
    b"\r\n\r\n", b"\x00", b"%", b"%zz", b"?&&==&", b"CONNECT ", b"PRI * HTTP/2.0\r\n",
    b"Upgrade: websocket\r\n", b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 101 S\r\n\r\n",
    b"X" * 9000, b"Authorization: Basic \r\n", b"Authorization: Basic ====\r\n",
    b"Cookie:\r\n", b"Host: [::1\r\n", b"Host: :\r\n", b"X-Forwarded-For: ,,\r\n",
]
MYSQL_CMDS = [0x00, 0x01, 0x02, 0x03, 0x0e, 0x11, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1c,
              0xfe, 0xff, 0xfb, 0x00]


def tcp_records(recs):
    return [i for i, r in enumerate(recs) if pcaplib.tcp_offsets(r[3])]


def payload_records(recs):
    out = []
    for i, r in enumerate(recs):
        o = pcaplib.tcp_offsets(r[3])
        if o and len(r[3]) > o[2]:
            out.append(i)
    return out


def set_bytes(recs, i, b):
    sec, frac, wire, _ = recs[i]
    recs[i] = (sec, frac, max(wire, len(b)) if wire >= len(recs[i][3]) else wire, b)


def m_flip(rnd, recs):
    idx = payload_records(recs)
    if not idx:
        return
    for _ in range(rnd.randint(1, 8)):
        i = rnd.choice(idx)
        b = bytearray(recs[i][3])
        p = pcaplib.tcp_offsets(bytes(b))[2]
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(p, len(b))] = rnd.choice([0, 0xff, 0x0a, 0x0d, 0x20, 0x3a,
                                                      rnd.getrandbits(8)])
        set_bytes(recs, i, bytes(b))


def m_token(rnd, recs):
    idx = payload_records(recs)
    if not idx:
        return
    for _ in range(rnd.randint(1, 4)):
        i = rnd.choice(idx)
        b = recs[i][3]
        p = pcaplib.tcp_offsets(b)[2]
        head, pl = b[:p], b[p:]
        f = pcaplib.tcp_fields(b)
        if f and (f[2] in (3306, 3307) or f[3] in (3306, 3307)) and len(pl) >= 5:
            pl = bytearray(pl)
            what = rnd.randrange(4)
            if what == 0:      # the 3-byte packet length
                pl[0:3] = struct.pack("<I", rnd.choice([0, 1, 0xffffff, len(pl), len(pl) + 1,
                                                        rnd.getrandbits(24)]))[:3]
            elif what == 1:    # the sequence id
                pl[3] = rnd.getrandbits(8)
            elif what == 2:    # the command or the first byte of the response
                pl[4] = rnd.choice(MYSQL_CMDS)
            else:              # a length-encoded integer marker somewhere after
                pl[rnd.randrange(4, len(pl))] = rnd.choice([0xfb, 0xfc, 0xfd, 0xfe, 0xff])
            pl = bytes(pl)
        else:
            toks = [t for t in HTTP_TOKENS if t in pl]
            if toks:
                t = rnd.choice(toks)
                at = [k for k in range(len(pl)) if pl.startswith(t, k)]
                k = rnd.choice(at)
                pl = pl[:k] + rnd.choice(HTTP_REPL) + pl[k + len(t):]
            else:
                k = rnd.randrange(len(pl) + 1)
                pl = pl[:k] + rnd.choice(HTTP_REPL) + pl[k:]
        nb = head + pl
        sec, frac, wire, old = recs[i]
        recs[i] = (sec, frac, len(nb) + max(0, wire - len(old)), nb)


def m_seq(rnd, recs):
    idx = tcp_records(recs)
    if not idx:
        return
    for _ in range(rnd.randint(1, 3)):
        i = rnd.choice(idx)
        b = bytearray(recs[i][3])
        t = pcaplib.tcp_offsets(bytes(b))[1]
        seq = struct.unpack("!I", b[t + 4:t + 8])[0]
        seq = rnd.choice([seq ^ 0x80000000, seq + rnd.randint(1, 65536), seq - rnd.randint(1, 65536),
                          rnd.getrandbits(32), seq + 0x7fffffff, seq + 1, seq - 1]) & 0xffffffff
        b[t + 4:t + 8] = struct.pack("!I", seq)
        if rnd.random() < 0.3:
            b[t + 8:t + 12] = struct.pack("!I", rnd.getrandbits(32))   # the ack number
        set_bytes(recs, i, bytes(b))


def m_flags(rnd, recs):
    idx = tcp_records(recs)
    if not idx:
        return
    for _ in range(rnd.randint(1, 3)):
        i = rnd.choice(idx)
        b = bytearray(recs[i][3])
        t = pcaplib.tcp_offsets(bytes(b))[1]
        b[t + 13] ^= rnd.choice([0x01, 0x02, 0x04, 0x08, 0x10, 0x03, 0x06, 0x07])
        if rnd.random() < 0.2:
            b[t + 12] = (rnd.choice([0, 4, 5, 15]) << 4) | (b[t + 12] & 15)  # data offset
        set_bytes(recs, i, bytes(b))


def m_reorder(rnd, recs):
    if len(recs) < 3:
        return
    for _ in range(rnd.randint(1, 6)):
        i = rnd.randrange(len(recs) - 1)
        j = min(len(recs) - 1, i + rnd.randint(1, 8))
        recs[i], recs[j] = recs[j], recs[i]


def m_dup(rnd, recs):
    for _ in range(rnd.randint(1, 6)):
        i = rnd.randrange(len(recs))
        recs.insert(min(len(recs), i + rnd.randint(0, 10)), recs[i])


def m_drop(rnd, recs):
    for _ in range(rnd.randint(1, 6)):
        if len(recs) > 1:
            del recs[rnd.randrange(len(recs))]


def m_cut(rnd, recs):
    for _ in range(rnd.randint(1, 6)):
        i = rnd.randrange(len(recs))
        sec, frac, wire, b = recs[i]
        n = rnd.choice([0, 14, 20, 34, 54, rnd.randrange(len(b) + 1)])
        recs[i] = (sec, frac, max(wire, len(b)), b[:n])


MUTATIONS = [m_flip, m_token, m_token, m_seq, m_flags, m_reorder, m_dup, m_drop, m_cut]


def mutant(rnd, caps, max_records):
    path = rnd.choice(caps)
    cap = pcaplib.read(path)
    recs = list(cap.records)
    if len(recs) > max_records:
        start = rnd.randrange(0, len(recs) - max_records) if rnd.random() < 0.3 else 0
        recs = recs[start:start + max_records]
    names = []
    for _ in range(rnd.randint(1, 4)):
        m = rnd.choice(MUTATIONS)
        m(rnd, recs)
        names.append(m.__name__[2:])
    return cap, recs, os.path.basename(path), names, rnd.random() < 0.05


def write_mutant(out, cap, recs, trunc, rnd):
    pcaplib.write(out, cap, recs)
    if trunc:
        size = os.path.getsize(out)
        with open(out, "r+b") as f:
            f.truncate(rnd.randrange(24, size + 1))


def replay(pktlog, path, timeout):
    """(ok, why) of one replay."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([pktlog, "--pcap", path, "--output", "null"], env=ENV,
                           capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout}s"
    except OSError as e:          # the binary is being relinked: once more, a moment later
        time.sleep(2)
        return replay(pktlog, path, timeout) if e.errno in (13, 26) else (False, str(e))
    err = p.stderr
    if "Sanitizer" in err or "runtime error" in err:
        lines = [l for l in err.splitlines() if "ERROR" in l or "runtime error" in l or " #" in l]
        return False, "\n".join(lines[:12])
    if p.returncode not in (0, 1):
        return False, f"exit status {p.returncode}: {err[-500:]}"
    return True, "%.2fs" % (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--pktlog", default=os.path.join(ROOT, "build", "asan", "pktlog"))
    ap.add_argument("--pcaps", default=os.path.join(ROOT, "pcaps"))
    ap.add_argument("--save", default=os.path.join(ROOT, "tests", "fuzz", "regress", "pcap"))
    ap.add_argument("--keep", help="write every mutant here too")
    ap.add_argument("--max-records", type=int, default=3000)
    ap.add_argument("--timeout", type=int, default=60)
    ap.add_argument("--replay", nargs="*", help="replay these files instead of mutating")
    a = ap.parse_args()
    failures = 0
    if a.replay is not None:
        for path in a.replay:
            ok, why = replay(a.pktlog, path, a.timeout)
            if not ok:
                failures += 1
                print(f"FAIL {path}: {why}")
        print(f"mutate_pcaps: replayed {len(a.replay)} saved inputs, {failures} failed")
        return 1 if failures else 0
    caps = sorted(glob.glob(os.path.join(a.pcaps, "*.pcap")))
    counts = {}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pktlog-mutants-") as tmp:
        for i in range(a.count):
            rnd = random.Random(a.seed * 1000003 + i)
            cap, recs, src, names, trunc = mutant(rnd, caps, a.max_records)
            out = os.path.join(a.keep or tmp, f"m{a.seed}_{i}.pcap")
            if a.keep:
                os.makedirs(a.keep, exist_ok=True)
            write_mutant(out, cap, recs, trunc, rnd)
            for n in names:
                counts[n] = counts.get(n, 0) + 1
            ok, why = replay(a.pktlog, out, a.timeout)
            if not ok:
                failures += 1
                os.makedirs(a.save, exist_ok=True)
                saved = os.path.join(a.save, f"mutant_{a.seed}_{i}_{src[:-5]}.pcap")
                with open(out, "rb") as f, open(saved, "wb") as g:
                    g.write(f.read())
                print(f"FAIL mutant {i} of seed {a.seed} ({src}: {'+'.join(names)}), "
                      f"saved as {saved}:\n{why}", flush=True)
            if not a.keep:
                os.unlink(out)
    print(f"mutate_pcaps: seed {a.seed}: {a.count} mutants of {len(caps)} captures in "
          f"{time.monotonic() - t0:.0f}s, {failures} failed; mutations: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
