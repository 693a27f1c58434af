"""tlsref.py – independent references for the TLS tests: tshark's reading of the hellos in a
capture (its JA3/JA3S, and the fields JA4 needs), and JA4/JA4S computed here in Python from
FoxIO's definition (github.com/FoxIO-LLC/ja4, technical_details/JA4.md and JA4S.md), not from
pktlog's code."""
import hashlib
import subprocess

TSHARK_ENV = {"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
FIELDS = ["tcp.stream", "tcp.srcport", "tcp.dstport", "tls.handshake.type", "tls.handshake.version",
          "tls.handshake.ciphersuite", "tls.handshake.extension.type", "tls.handshake.sig_hash_alg",
          "tls.handshake.extensions.supported_version", "tls.handshake.extensions_alpn_str",
          "tls.handshake.extensions_server_name", "tls.handshake.ja3", "tls.handshake.ja3s"]


def hellos(pcap, tshark_ports=()):
    """{client port: {"ch": fields, "sh": fields}} of the first ClientHello and ServerHello of
    each connection, as tshark decodes them."""
    args = ["tshark", "-r", pcap, "-Y", "tls.handshake.type==1 || tls.handshake.type==2",
            "-T", "fields", "-E", "aggregator=,", "-E", "occurrence=a"]
    for p in tshark_ports:
        args += ["-d", f"tcp.port=={p},tls"]
    for f in FIELDS:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, env=TSHARK_ENV, check=True).stdout
    conns = {}
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        types = v["tls.handshake.type"].split(",")
        if "1" in types:
            conns.setdefault(int(v["tcp.srcport"]), {}).setdefault("ch", v)
        if "2" in types:
            c = conns.setdefault(int(v["tcp.dstport"]), {})
            # a HelloRetryRequest is a ServerHello too: keep the last one (the real one)
            c["sh"] = v
    return conns


def _ints(s):
    return [int(x, 16) if x.startswith("0x") else int(x) for x in s.split(",") if x]


def _grease(v):
    return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)


_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
             0xfeff: "d1", 0xfefd: "d2", 0xfefc: "d3"}


def alpn_chars(first):
    """First and last character of the first ALPN value (bytes), per JA4.md."""
    if not first:
        return "00"
    a, b = first[0], first[-1]
    alnum = lambda c: chr(c).isascii() and chr(c).isalnum()  # noqa: E731
    if alnum(a) and alnum(b):
        return chr(a) + chr(b)
    return f"{a:02x}"[0] + f"{b:02x}"[1]


def sha12(s):
    return hashlib.sha256(s.encode()).hexdigest()[:12]


def ja4(version, ciphers, exts, sig_algs, supported_versions, alpn_first, sni):
    """JA4 of a ClientHello given as lists of ints (alpn_first: bytes or None)."""
    sv = [v for v in supported_versions if not _grease(v)]
    ver = _VERSIONS.get(max(sv) if sv else version, "00")
    cs = [c for c in ciphers if not _grease(c)]
    es = [e for e in exts if not _grease(e)]
    a = "t%s%s%02d%02d%s" % (ver, "d" if sni else "i", min(len(cs), 99), min(len(es), 99),
                             alpn_chars(alpn_first))
    b = sha12(",".join("%04x" % c for c in sorted(cs))) if cs else "000000000000"
    eh = sorted(e for e in es if e not in (0x0000, 0x0010))
    if eh:
        s = ",".join("%04x" % e for e in eh)
        sig = [x for x in sig_algs if not _grease(x)]
        if sig:
            s += "_" + ",".join("%04x" % x for x in sig)
        c = sha12(s)
    else:
        c = "000000000000"
    return f"{a}_{b}_{c}"


def ja4s(version, cipher, exts, selected_version, alpn):
    es = [e for e in exts if not _grease(e)]
    a = "t%s%02d%s" % (_VERSIONS.get(selected_version or version, "00"), min(len(es), 99),
                       alpn_chars(alpn))
    c = sha12(",".join("%04x" % e for e in es)) if es else "000000000000"
    return f"{a}_{cipher:04x}_{c}"


def ja4_of(ch):
    """JA4 from tshark's fields of a ClientHello."""
    alpn = ch["tls.handshake.extensions_alpn_str"].split(",")[0]
    return ja4(_ints(ch["tls.handshake.version"])[0], _ints(ch["tls.handshake.ciphersuite"]),
               _ints(ch["tls.handshake.extension.type"]), _ints(ch["tls.handshake.sig_hash_alg"]),
               _ints(ch["tls.handshake.extensions.supported_version"]),
               alpn.encode() if alpn else None, bool(ch["tls.handshake.extensions_server_name"]))


def ja4s_of(sh):
    alpn = sh["tls.handshake.extensions_alpn_str"].split(",")[0]
    sel = _ints(sh["tls.handshake.extensions.supported_version"])
    return ja4s(_ints(sh["tls.handshake.version"])[0], _ints(sh["tls.handshake.ciphersuite"])[0],
                _ints(sh["tls.handshake.extension.type"]), sel[0] if sel else 0,
                alpn.encode() if alpn else None)
