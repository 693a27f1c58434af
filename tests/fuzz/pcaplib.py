"""pcaplib.py – the little the fuzz scripts need of classic pcap files: read the records,
write them back, find the TCP header of an Ethernet/IPv4/IPv6 frame (to tamper with it or to
pull out a connection's payload), and turn a capture into a proto_script.h script (one data
step per TCP payload, direction by the server's port). Standard library only."""
import struct

MAGICS = {0xa1b2c3d4: ("<", False), 0xa1b23c4d: ("<", True),
          0xd4c3b2a1: (">", False), 0x4d3cb2a1: (">", True)}


class Capture:
    def __init__(self, endian, nano, header, linktype, records):
        self.endian = endian
        self.nano = nano
        self.header = header          # the 24-byte file header, as read
        self.linktype = linktype
        self.records = records        # [(ts_sec, ts_frac, wire_len, bytes)]


def read(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in MAGICS:
        raise ValueError(f"{path}: not a classic pcap file")
    e, nano = MAGICS[magic]
    linktype = struct.unpack(e + "I", data[20:24])[0]
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, frac, cap, wire = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        recs.append((sec, frac, wire, data[off:off + cap]))
        off += cap
    return Capture(e, nano, data[:24], linktype, recs)


def write(path, cap, records=None, header=None):
    """Write cap's header and records (or the given ones); a record's caplen is the
    length of its bytes, its wire length is kept as given."""
    e = cap.endian
    with open(path, "wb") as f:
        f.write(header if header is not None else cap.header)
        for sec, frac, wire, b in (cap.records if records is None else records):
            f.write(struct.pack(e + "IIII", sec & 0xffffffff, frac & 0xffffffff, len(b),
                                wire & 0xffffffff))
            f.write(b)


def tcp_offsets(frame):
    """(ip_off, tcp_off, payload_off, ip_version) of an Ethernet frame holding TCP over
    IPv4 or IPv6 (no extension headers), else None."""
    if len(frame) < 14:
        return None
    et = struct.unpack("!H", frame[12:14])[0]
    off = 14
    while et in (0x8100, 0x88a8) and len(frame) >= off + 4:
        et = struct.unpack("!H", frame[off + 2:off + 4])[0]
        off += 4
    if et == 0x0800 and len(frame) >= off + 20 and frame[off + 9] == 6:
        ihl = (frame[off] & 15) * 4
        t = off + ihl
        ver = 4
    elif et == 0x86dd and len(frame) >= off + 40 and frame[off + 6] == 6:
        t = off + 40
        ver = 6
    else:
        return None
    if len(frame) < t + 20:
        return None
    return off, t, t + (frame[t + 12] >> 4) * 4, ver


def tcp_fields(frame):
    """(src, dst, sport, dport, seq, flags, payload) of a TCP frame, else None."""
    o = tcp_offsets(frame)
    if not o:
        return None
    ip, t, p, ver = o
    if ver == 4:
        src, dst = frame[ip + 12:ip + 16], frame[ip + 16:ip + 20]
        end = min(len(frame), ip + struct.unpack("!H", frame[ip + 2:ip + 4])[0])
    else:
        src, dst = frame[ip + 8:ip + 24], frame[ip + 24:ip + 40]
        end = min(len(frame), ip + 40 + struct.unpack("!H", frame[ip + 4:ip + 6])[0])
    sport, dport, seq = struct.unpack("!HHI", frame[t:t + 8])
    return src, dst, sport, dport, seq, frame[t + 13], frame[p:max(p, end)]


MAX_STEP = 65536       # the longest data step proto_script.h's two length bytes can say


def payloads(path, server_ports, first_only=True):
    """(to_client, payload) of each TCP segment with data, in capture order: of the capture's
    first connection (told apart by its client port), or of all when first_only is False."""
    first = None
    for rec in read(path).records:
        f = tcp_fields(rec[3])
        if not f:
            continue
        sport, dport, pay = f[2], f[3], f[6]
        client = dport if sport in server_ports else sport
        first = first or client
        if pay and (not first_only or client == first):
            yield sport in server_ports, pay


def steps(pairs):
    """proto_script.h data steps (long form) of (to_client, bytes) pairs; longer data is
    split into steps of MAX_STEP bytes."""
    out = bytearray()
    for to_client, data in pairs:
        for i in range(0, len(data), MAX_STEP):
            part = data[i:i + MAX_STEP]
            out.append(63 << 2 | int(to_client))
            out += struct.pack(">H", len(part) - 1)
            out += part
    return bytes(out)


def script(path, config, server_ports, first_only=True, max_bytes=None):
    """The script of a capture: config byte, then a step per payload (see payloads); with
    max_bytes, no step is begun once the script is longer than that."""
    out = bytearray([config])
    for to_client, pay in payloads(path, server_ports, first_only):
        if max_bytes is not None and len(out) > max_bytes:
            break
        out += steps([(to_client, pay)])
    return bytes(out)
