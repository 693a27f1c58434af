"""Write small pcap files of hand-made TCP/IPv4 Ethernet frames for bad-input tests."""
import struct


def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                     bytes(src), bytes(dst))
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return b"\x00" * 6 + b"\x02" * 6 + b"\x08\x00" + ip + tcp


class Conn:
    """One TCP connection between a client and a server; builds frames in order."""

    def __init__(self, cport=40000, sport=80, client=(10, 0, 0, 1), server=(10, 0, 0, 2)):
        self.c, self.s, self.cport, self.sport = client, server, cport, sport
        self.cseq, self.sseq = 1000, 5000

    def handshake(self):
        out = [frame(self.c, self.s, self.cport, self.sport, self.cseq, 0, 0x02),
               frame(self.s, self.c, self.sport, self.cport, self.sseq, self.cseq + 1, 0x12),
               frame(self.c, self.s, self.cport, self.sport, self.cseq + 1, self.sseq + 1, 0x10)]
        self.cseq += 1
        self.sseq += 1
        return out

    def client(self, data, mss=1400):
        out = []
        for i in range(0, len(data), mss):
            chunk = data[i:i + mss]
            out.append(frame(self.c, self.s, self.cport, self.sport, self.cseq, self.sseq, 0x18, chunk))
            self.cseq += len(chunk)
        return out

    def server(self, data, mss=1400):
        out = []
        for i in range(0, len(data), mss):
            chunk = data[i:i + mss]
            out.append(frame(self.s, self.c, self.sport, self.cport, self.sseq, self.cseq, 0x18, chunk))
            self.sseq += len(chunk)
        return out

    def close(self):
        out = [frame(self.c, self.s, self.cport, self.sport, self.cseq, self.sseq, 0x11),
               frame(self.s, self.c, self.sport, self.cport, self.sseq, self.cseq + 1, 0x11)]
        return out


def write(path, frames, t0=1700000000.0, step=0.001, linktype=1):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, linktype))
        t = t0
        for fr in frames:
            sec = int(t)
            usec = int(round((t - sec) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)))
            f.write(fr)
            t += step
