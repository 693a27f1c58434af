"""TLS handshakes (the `tls` event): captures of a real nginx in pcaps/tls_*.pcap, replayed and
held to (1) the expected events beside them, (2) nginx's own access log of each connection
(protocol, cipher, curve, SNI, ALPN, reuse, client certificate), (3) tshark's JA3/JA3S and
(4) JA4/JA4S computed by tlsref.py from tshark's reading of the hellos. One test makes fresh
captures at test time (nginx, curl, openssl s_client, Python's ssl) and checks them the same
way; others cut packets out of a capture and check the event says so."""
import glob
import json
import os
import shutil
import struct
import subprocess

import pytest

import tlsref
from conftest import PCAPS, ROOT, get, replay, strip_volatile

CAPTURES = sorted(glob.glob(os.path.join(PCAPS, "tls_*.pcap")))
CASES = {os.path.basename(c)[4:-5] for c in CAPTURES}
TLS_PORTS = (9243, 8883, 5223, 995)


def expected(pcap):
    with open(pcap[:-len(".pcap")] + ".events.jsonl") as f:
        return [json.loads(l) for l in f if l.strip()]


def access_log(pcap):
    with open(pcap[:-len(".pcap")] + ".access.jsonl") as f:
        return [json.loads(l) for l in f if l.strip()]


def openssl_to_iana():
    """OpenSSL's cipher names → IANA names, from the openssl in use (nginx logs OpenSSL's)."""
    out = subprocess.run(["openssl", "ciphers", "-V", "-stdname", "ALL:@SECLEVEL=0"],
                         capture_output=True, text=True, check=True).stdout
    m = {}
    for line in out.splitlines():
        f = line.split()
        m[f[4]] = f[2]       # "0xC0,0x30 - IANA - OPENSSL ..."
    return m


NGINX_CURVE = {"X25519": "x25519", "prime256v1": "secp256r1", "secp384r1": "secp384r1",
               "secp521r1": "secp521r1", "X448": "x448"}


def test_every_case_is_captured():
    assert {"curl_tls12", "curl_tls13", "curl_ecdsa_tls12", "sclient_ciphers", "python_ssl",
            "resume_tls12", "resume_tls13", "early_data", "alert_cipher", "alert_unknown_ca_tls12",
            "alert_unknown_ca_tls13", "client_cert", "hello_retry", "resume_id_tls12"} <= CASES


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_expected_events(pcap):
    r = replay(pcap)
    assert [strip_volatile(e) for e in r.events] == expected(pcap)


def check_against_nginx(events, logged):
    """Each connection nginx logged a request on is one established tls event agreeing with
    nginx on everything both can see."""
    names = openssl_to_iana()
    by_port = {get(e, "client.port"): e for e in events}
    for entry in logged:
        ev = by_port[entry["remote_port"]]
        t = ev["tls"]
        assert ev["type"] == "tls" and ev["status"] == "OK", ev
        assert t["established"] is True
        assert get(ev, "server.port") == entry["server_port"]
        assert t["version_protocol"] == "tls"
        assert "TLSv" + t["version"] == entry["ssl_protocol"]
        assert t["cipher"] == names.get(entry["ssl_cipher"], entry["ssl_cipher"])
        if t["version"] == "1.2" and entry["ssl_session_reused"] == "r":
            assert "curve" not in t      # an abbreviated handshake exchanges no key
        else:
            assert t["curve"] == NGINX_CURVE[entry["ssl_curve"]]
        assert get(ev, "tls.client.server_name") == entry["ssl_server_name"]
        assert t["resumed"] is (entry["ssl_session_reused"] == "r")
        if t["version"] == "1.2":   # TLS 1.3 sends the chosen ALPN encrypted
            assert t.get("next_protocol", "") == entry["ssl_alpn_protocol"]
        else:
            assert "next_protocol" not in t
        if entry["ssl_client_s_dn"] and t["version"] == "1.2":
            assert get(ev, "tls.client.x509.subject.distinguished_name") == entry["ssl_client_s_dn"]
        if entry["ssl_early_data"] == "1":
            assert get(ev, "tls.detailed.early_data_offered") is True
            assert get(ev, "tls.detailed.early_data_bytes") > 0
        d = get(ev, "event.duration")
        assert d and d > 0


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_matches_nginx_access_log(pcap):
    check_against_nginx(replay(pcap).events, access_log(pcap))


def check_fingerprints(pcap, events):
    """JA3/JA3S as tshark computes them; JA4/JA4S as tlsref.py computes them from tshark's
    fields. Every handshake tshark saw has its event."""
    ref = tlsref.hellos(pcap, TLS_PORTS)
    by_port = {get(e, "client.port"): e for e in events}
    assert set(ref) == set(by_port)
    for port, h in ref.items():
        ev = by_port[port]
        assert get(ev, "tls.client.ja3") == h["ch"]["tls.handshake.ja3"]
        assert get(ev, "tls.client.ja4") == tlsref.ja4_of(h["ch"])
        if "sh" in h:
            assert get(ev, "tls.server.ja3s") == h["sh"]["tls.handshake.ja3s"]
            assert get(ev, "tls.server.ja4s") == tlsref.ja4s_of(h["sh"])
        else:
            assert get(ev, "tls.server.ja3s") is None


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_fingerprints_match_independent_computation(pcap):
    check_fingerprints(pcap, replay(pcap).events)


def one(case):
    evs = replay(os.path.join(PCAPS, f"tls_{case}.pcap")).events
    return evs


def test_alerts_are_error_messages():
    ev, = one("alert_cipher")          # the server has none of the client's suites
    assert ev["status"] == "Error" and ev["tls"]["established"] is False
    assert get(ev, "error.message") == "handshake_failure"
    assert "version" not in ev["tls"] and "server" not in ev["tls"]   # no ServerHello: absent
    ev, = one("alert_unknown_ca_tls12")  # curl does not trust the test CA
    assert get(ev, "error.message") == "unknown_ca" and ev["tls"]["established"] is False
    assert get(ev, "tls.server.x509.serial_number") == "1A2B3C4D"
    ev, = one("alert_unknown_ca_tls13")
    assert get(ev, "error.message") == "unknown_ca" and ev["tls"]["version"] == "1.3"


def test_certificates_in_clear():
    ev, = one("curl_tls12")
    x = get(ev, "tls.server.x509")
    assert x["subject"]["common_name"] == ["pktlog.test"]
    assert x["issuer"]["distinguished_name"] == "CN=pktlog test CA,O=pktlog test"
    assert x["alternative_names"] == ["pktlog.test", "127.0.0.1"]
    assert (x["public_key_algorithm"], x["public_key_size"]) == ("RSA", 2048)
    assert len(get(ev, "tls.server.hash.sha256")) == 64 and len(get(ev, "tls.server.hash.sha1")) == 40
    ev, = one("curl_ecdsa_tls12")
    x = get(ev, "tls.server.x509")
    assert (x["public_key_algorithm"], x["public_key_size"], x["public_key_curve"]) == \
        ("ECDSA", 256, "prime256v1")
    ev, = one("curl_tls13")               # TLS 1.3 certificates are encrypted: absent
    assert get(ev, "tls.server.x509") is None and get(ev, "tls.server.hash") is None
    ev, = one("client_cert")
    assert get(ev, "tls.client.x509.subject.common_name") == ["pktlog client"]


def test_resumption_and_early_data():
    full, again = one("resume_tls12")   # the second ClientHello carries a 208-byte ticket
    assert full["tls"]["resumed"] is False and again["tls"]["resumed"] is True
    assert get(full, "tls.detailed.resumption_method") is None
    assert get(again, "tls.detailed.resumption_method") == "session_ticket"
    assert get(again, "tls.server.x509") is None     # an abbreviated handshake sends none
    full, again = one("resume_id_tls12")   # -no_ticket: the session cache
    assert full["tls"]["resumed"] is False and again["tls"]["resumed"] is True
    assert get(again, "tls.detailed.resumption_method") == "session_id"
    full, again = one("resume_tls13")
    assert full["tls"]["resumed"] is False
    assert get(again, "tls.detailed.resumption_method") == "psk"
    _, early = one("early_data")
    assert early["tls"]["resumed"] is True and early["tls"]["established"] is True
    assert get(early, "tls.detailed.early_data_offered") is True


# --- captures cut: a gap marks the event --------------------------------------------------

def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    head, off, recs = data[:24], 24, []
    while off < len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        recs.append(data[off:off + 16 + incl])
        off += 16 + incl
    return head, recs


def tcp_payload_len(rec):
    frame = rec[16:]
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    doff = (ip[ihl + 12] >> 4) * 4
    return total - ihl - doff, struct.unpack(">H", ip[ihl:ihl + 2])[0]


def test_gap_in_the_server_flight_marks_the_event(tmp_path):
    head, recs = read_pcap(os.path.join(PCAPS, "tls_curl_tls12.pcap"))
    # the server's largest segment carries its Certificate
    big = max(range(len(recs)), key=lambda i: tcp_payload_len(recs[i])[0]
              if tcp_payload_len(recs[i])[1] == 9243 else 0)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(head + b"".join(r for i, r in enumerate(recs) if i != big))
    ev, = replay(str(cut)).events
    assert ev["status"] == "Error"
    msg = get(ev, "error.message")
    assert "Packet loss during the handshake" in (msg if isinstance(msg, list) else [msg])
    assert ev["tls"]["established"] is False
    assert get(ev, "tls.client.ja3")            # what was seen before the hole stays


def test_not_tls_and_mid_stream_make_no_event(tmp_path):
    head, recs = read_pcap(os.path.join(PCAPS, "tls_curl_tls12.pcap"))
    # drop the ClientHello: the connection is picked up without its handshake start
    ch = next(i for i, r in enumerate(recs) if tcp_payload_len(r)[0] > 0)
    cut = tmp_path / "noch.pcap"
    cut.write_bytes(head + b"".join(r for i, r in enumerate(recs) if i != ch))
    r = replay(str(cut), args=["-v"])
    assert r.events == []
    assert "1 connections without a handshake start" in r.stderr


def test_port_option_and_overlap_check():
    pcap = os.path.join(PCAPS, "tls_curl_tls12.pcap")
    assert replay(pcap, extra_config="protocols:\n  tls:\n    ports: [443]\n").events == []
    assert replay(pcap, extra_config="protocols:\n  tls:\n    enabled: false\n").events == []
    from conftest import run
    r = run(["--pcap", pcap], config="protocols:\n  tls:\n    ports: [80]\n")
    assert r.rc != 0 and "port 80 is configured for both http and tls" in r.stderr


# --- fresh captures at test time --------------------------------------------------------

def test_live_nginx_captures(tmp_path):
    """Runs pcaps/make-tls-pcaps.sh into a temp dir: a real nginx with certificates made now,
    reached by curl (TLS 1.2 and 1.3), s_client (ciphers, ALPN, SNI, resumption, a client
    certificate), Python's ssl, and refused handshakes; then checks each capture as above."""
    for tool in ("nginx", "tcpdump", "tshark", "openssl", "curl"):
        assert shutil.which(tool), f"{tool} is missing (scripts/install-deps.sh test)"
    assert os.geteuid() == 0, "capturing on lo needs root"
    cases = ["curl_tls12", "curl_tls13", "sclient_ciphers", "python_ssl", "resume_tls12",
             "resume_tls13", "alert_cipher", "client_cert"]
    p = subprocess.run([os.path.join(ROOT, "pcaps", "make-tls-pcaps.sh"), *cases],
                       env=dict(os.environ, PKTLOG_TLS_OUT=str(tmp_path)),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    for case in cases:
        pcap = str(tmp_path / f"tls_{case}.pcap")
        events = replay(pcap).events
        assert events, case
        check_against_nginx(events, access_log(pcap))
        check_fingerprints(pcap, events)


# --- impaired captures: segments cut, reordered and duplicated ----------------------------

def ip_checksum(h):
    s = sum(struct.unpack(">%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def cut_segment(rec, size):
    """One captured TCP segment (Ethernet/IPv4) as several of at most size payload bytes."""
    ts, frame = rec[:8], rec[16:]
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    tcp = ip[ihl:]
    doff = (tcp[12] >> 4) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    pay = ip[ihl + doff:total]
    seq = struct.unpack(">I", tcp[4:8])[0]
    out = []
    for off in range(0, len(pay), size):
        part = pay[off:off + size]
        iph = bytearray(ip[:ihl])
        iph[2:4] = struct.pack(">H", ihl + doff + len(part))
        iph[10:12] = b"\0\0"
        iph[10:12] = struct.pack(">H", ip_checksum(bytes(iph)))
        th = bytearray(tcp[:doff])
        th[4:8] = struct.pack(">I", (seq + off) & 0xffffffff)
        f = frame[:14] + bytes(iph) + bytes(th) + part
        out.append(ts + struct.pack("<II", len(f), len(f)) + f)
    return out


def impaired(recs, size=97):
    """Every data segment cut into pieces of `size` bytes, sent last piece first (out of
    order), with the first piece twice: records and messages then span segments and the
    reassembly reorders and trims."""
    out = []
    for r in recs:
        if tcp_payload_len(r)[0] > size:
            pieces = cut_segment(r, size)
            out += pieces[1:][::-1] + [pieces[0], pieces[0]]
        else:
            out.append(r)
    return out


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_impaired_capture_gives_the_same_handshakes(pcap, tmp_path):
    head, recs = read_pcap(pcap)
    bad = impaired(recs)
    assert len(bad) > len(recs)
    path = tmp_path / "impaired.pcap"
    path.write_bytes(head + b"".join(bad))
    r = replay(str(path), args=["-v"])
    strip = lambda e: (e["status"], e.get("error"), e["tls"], e["client"]["bytes"],  # noqa: E731
                       e["server"]["bytes"])
    assert [strip(e) for e in r.events] == [strip(e) for e in expected(pcap)]
    assert " 0 gaps" in r.stderr and " 0 out-of-order segments" not in r.stderr, r.stderr


def test_hello_retry_request():
    ev, = one("hello_retry")       # an X25519 key share; the server accepts only secp384r1
    assert get(ev, "tls.detailed.hello_retry_request") is True
    assert ev["tls"]["curve"] == "secp384r1" and ev["tls"]["established"] is True
    assert ev["status"] == "OK" and "error" not in ev
