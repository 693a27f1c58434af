#!/usr/bin/env python3
"""flowmem_gen.py – writes the captures bench/flowmem replays: N TCP connections to
10.0.0.1:80 that each stay open. Seeded (--seed), so the same N gives the same bytes.

  flowmem_gen.py half N OUT   handshake, then half an HTTP request head (no blank line)
  flowmem_gen.py syn N OUT    the client's SYN only (the baseline: no protocol state)
  flowmem_gen.py finish N OUT as half; then each connection, in the same order, ends its
                              head, is answered (200, 2-byte body) and closes (FIN both ways)
"""
import random
import struct
import sys

REST = b"Accept-Language: en\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
HALF = (b"GET /shop/item?id=%d HTTP/1.1\r\nHost: shop.example.com\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) flowmem\r\nAccept: */*\r\n")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, 6, len(tcp) + len(payload))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp + payload)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + ip + tcp + payload


def main():
    mode, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 13)
    server = bytes([10, 0, 0, 1])
    t = 1_700_000_000 * 1_000_000          # microseconds
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))

        def put(pkt):
            nonlocal t
            t += 1
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(pkt), len(pkt)))
            f.write(pkt)

        conns = []
        for i in range(n):
            client = bytes([10, 1 + (i >> 16) % 250, (i >> 8) & 255, i & 255])
            sport = 1024 + rng.randrange(60000)
            cisn, sisn = rng.getrandbits(32), rng.getrandbits(32)
            put(frame(client, server, sport, 80, cisn, 0, 0x02))
            if mode == "syn":
                continue
            put(frame(server, client, 80, sport, sisn, cisn + 1, 0x12))
            put(frame(client, server, sport, 80, cisn + 1, sisn + 1, 0x10))
            head = HALF % i
            put(frame(client, server, sport, 80, cisn + 1, sisn + 1, 0x18, head))
            conns.append((client, sport, cisn + 1 + len(head), sisn + 1))
        if mode != "finish":
            return
        for client, sport, cseq, sseq in conns:
            put(frame(client, server, sport, 80, cseq, sseq, 0x18, REST))
            cseq += len(REST)
            put(frame(server, client, 80, sport, sseq, cseq, 0x18, RESP))
            sseq += len(RESP)
            put(frame(client, server, sport, 80, cseq, sseq, 0x11))
            put(frame(server, client, 80, sport, sseq, cseq + 1, 0x11))
            put(frame(client, server, sport, 80, cseq + 1, sseq + 1, 0x10))


if __name__ == "__main__":
    main()
