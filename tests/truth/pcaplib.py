"""pcaplib.py – the truth harness's own view of a capture: read and write classic pcap files
(Ethernet, as tcpdump writes on lo), split them into TCP connections, reassemble each
direction with a map of which bytes the capture really holds, and the rewrites that make the
capture variants (snaplen cut, 802.1Q tag, seeded loss/duplication/reordering, one
connection's frames only).  Stdlib only; nothing here knows HTTP or MySQL."""
import random
import struct

LINKTYPE_ETHERNET = 1


class Frame:
    __slots__ = ("ts_sec", "ts_frac", "orig_len", "data")

    def __init__(self, ts_sec, ts_frac, orig_len, data):
        self.ts_sec, self.ts_frac, self.orig_len, self.data = ts_sec, ts_frac, orig_len, data

    def time(self, nano):
        return self.ts_sec + self.ts_frac / (1e9 if nano else 1e6)


class Pcap:
    def __init__(self, frames, linktype=LINKTYPE_ETHERNET, snaplen=262144, nano=False):
        self.frames, self.linktype, self.snaplen, self.nano = frames, linktype, snaplen, nano


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack("<I", raw[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d):
        end = "<"
    else:
        magic = struct.unpack(">I", raw[:4])[0]
        assert magic in (0xa1b2c3d4, 0xa1b23c4d), f"{path}: not a classic pcap file"
        end = ">"
    nano = magic == 0xa1b23c4d
    _, _, _, _, snaplen, linktype = struct.unpack(end + "HHiIII", raw[4:24])
    frames, off = [], 24
    hdr = struct.Struct(end + "IIII")
    while off + 16 <= len(raw):
        s, frac, incl, orig = hdr.unpack_from(raw, off)
        off += 16
        frames.append(Frame(s, frac, orig, raw[off:off + incl]))
        off += incl
    return Pcap(frames, linktype, snaplen, nano)


def write(path, pcap):
    magic = 0xa1b23c4d if pcap.nano else 0xa1b2c3d4
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, pcap.snaplen, pcap.linktype))
        for fr in pcap.frames:
            f.write(struct.pack("<IIII", fr.ts_sec, fr.ts_frac, len(fr.data), fr.orig_len))
            f.write(fr.data)


# --- decoding ---------------------------------------------------------------------------

class Seg:
    """One TCP segment as captured: addresses, flags, sequence number, the payload length on
    the wire (from the IP header) and the payload bytes the capture holds (maybe fewer)."""
    __slots__ = ("idx", "t", "src", "sport", "dst", "dport", "flags", "seq", "wire_len", "payload")


def decode(pcap, idx, fr):
    d = fr.data
    if pcap.linktype != LINKTYPE_ETHERNET or len(d) < 14:
        return None
    off, etype = 12, None
    while True:
        if len(d) < off + 2:
            return None
        etype = struct.unpack_from(">H", d, off)[0]
        if etype in (0x8100, 0x88a8):
            off += 4
            continue
        off += 2
        break
    if etype != 0x0800 or len(d) < off + 20:
        return None
    vihl = d[off]
    ihl = (vihl & 15) * 4
    total = struct.unpack_from(">H", d, off + 2)[0]
    if d[off + 9] != 6 or len(d) < off + ihl + 20:
        return None
    src, dst = d[off + 12:off + 16], d[off + 16:off + 20]
    t = off + ihl
    sport, dport, seq = struct.unpack_from(">HHI", d, t)
    doff = (d[t + 12] >> 4) * 4
    s = Seg()
    s.idx, s.t = idx, fr.time(pcap.nano)
    s.src, s.sport, s.dst, s.dport = bytes(src), sport, bytes(dst), dport
    s.flags, s.seq = d[t + 13], seq
    s.wire_len = max(0, total - ihl - doff)
    s.payload = d[t + doff:off + total] if len(d) >= t + doff else b""
    return s


SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10


class Stream:
    """One direction of a connection: bytes by offset from the first byte after the SYN,
    with `have` marking the bytes the capture holds (1) or lacks (0)."""

    def __init__(self):
        self.isn = None
        self.data = bytearray()
        self.have = bytearray()
        self.frames = {}           # stream offset where a segment starts -> frame indexes
        self.segs = []             # (start, end, time) of each segment, capture order
        self.rst_t = None          # time of this direction's first RST

    def add(self, seg):
        if seg.flags & RST and self.rst_t is None:
            self.rst_t = seg.t
        if seg.flags & SYN:
            self.isn = (seg.seq + 1) & 0xffffffff
            return
        if self.isn is None:
            self.isn = seg.seq     # capture started mid-connection
        if seg.wire_len == 0:
            return
        off = (seg.seq - self.isn) & 0xffffffff
        if off > 1 << 30:
            return                 # before the start: ignore
        end = off + seg.wire_len
        if len(self.data) < end:
            grow = end - len(self.data)
            self.data.extend(bytes(grow))
            self.have.extend(bytes(grow))
        n = len(seg.payload)
        self.data[off:off + n] = seg.payload
        self.have[off:off + n] = b"\x01" * n
        self.frames.setdefault(off, []).append(seg.idx)
        self.segs.append((off, end, seg.t))

    def time_of(self, off):
        """Capture time of the first segment that carried stream byte off (None if none)."""
        for st, en, t in self.segs:
            if st <= off < en:
                return t
        return None

    def captured(self):
        """The stream with the bytes the capture lacks as NULs."""
        if self.have.find(b"\x00") < 0:
            return bytes(self.data)
        return bytes(d if h else 0 for d, h in zip(self.data, self.have))

    def held(self, start, end):
        """True when every byte in [start, end) is in the capture."""
        end = min(end, len(self.have))
        return start < end and self.have.find(b"\x00", start, end) < 0


class Conn:
    def __init__(self, key, t):
        self.key = key             # (client ip, client port, server ip, server port)
        self.start = t
        self.end = t
        self.c2s = Stream()
        self.s2c = Stream()
        self.frames = []           # every frame index of this connection
        self.closed = False

    @property
    def cport(self):
        return self.key[1]


def connections(pcap, server_port):
    """Every TCP connection to server_port in capture order. A new SYN on a 4-tuple that was
    used before starts a new connection (ephemeral ports are reused)."""
    conns, live = [], {}
    for i, fr in enumerate(pcap.frames):
        s = decode(pcap, i, fr)
        if s is None:
            continue
        if s.dport == server_port:
            key, c2s = (s.src, s.sport, s.dst, s.dport), True
        elif s.sport == server_port:
            key, c2s = (s.dst, s.dport, s.src, s.sport), False
        else:
            continue
        c = live.get(key)
        if c2s and s.flags & SYN and not s.flags & ACK and (c is None or c.closed or c.c2s.isn is not None
                                                              and ((s.seq + 1) & 0xffffffff) != c.c2s.isn):
            c = Conn(key, s.t)
            live[key] = c
            conns.append(c)
        if c is None:
            c = Conn(key, s.t)
            live[key] = c
            conns.append(c)
        c.end = s.t
        c.frames.append(i)
        (c.c2s if c2s else c.s2c).add(s)
        if s.flags & (FIN | RST):
            c.closed = True
    return conns


# --- rewrites (the capture variants) ----------------------------------------------------

def cut_snaplen(pcap, snaplen):
    """What capturing at snaplen would have given: each record's caplen cut."""
    fr = [Frame(f.ts_sec, f.ts_frac, f.orig_len, f.data[:snaplen]) for f in pcap.frames]
    return Pcap(fr, pcap.linktype, snaplen, pcap.nano)


def add_vlan(pcap, vid=100):
    tag = struct.pack(">HH", 0x8100, vid & 0x0fff)
    fr = [Frame(f.ts_sec, f.ts_frac, f.orig_len + 4, f.data[:12] + tag + f.data[12:])
          for f in pcap.frames]
    return Pcap(fr, pcap.linktype, pcap.snaplen + 4, pcap.nano)


def impair(pcap, seed, loss=0.005, dup=0.02, reorder=0.02, server_port=None):
    """Seeded frame-level impairment of the payload-carrying frames: drop with probability
    loss, duplicate with dup, swap with the next frame with reorder. SYN/FIN/RST frames are
    kept so that connection boundaries stay visible. Returns (pcap, dropped frame indexes
    of the input)."""
    rnd = random.Random(seed)
    out, dropped = [], set()
    frames = list(enumerate(pcap.frames))
    i = 0
    while i < len(frames):
        idx, f = frames[i]
        s = decode(pcap, idx, f)
        data_frame = s is not None and s.wire_len > 0 and not s.flags & (SYN | FIN | RST)
        r = rnd.random()
        if data_frame and r < loss:
            dropped.add(idx)
            i += 1
            continue
        if data_frame and r < loss + reorder and i + 1 < len(frames):
            # Swapped frames swap their times too: a capture's clock does not run back, the
            # late frame was seen later.
            g = frames[i + 1][1]
            out.append(Frame(f.ts_sec, f.ts_frac, g.orig_len, g.data))
            out.append(Frame(g.ts_sec, g.ts_frac, f.orig_len, f.data))
            i += 2
            continue
        out.append(f)
        if data_frame and r < loss + reorder + dup:
            out.append(f)
        i += 1
    return Pcap(out, pcap.linktype, pcap.snaplen, pcap.nano), dropped


def only_conn(pcap, conn):
    """The frames of one connection (its 4-tuple, between its first and last frame)."""
    keep = set(conn.frames)
    return Pcap([f for i, f in enumerate(pcap.frames) if i in keep], pcap.linktype,
                pcap.snaplen, pcap.nano)


def ip_str(b):
    return ".".join(str(x) for x in b)
