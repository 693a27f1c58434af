"""HTTP/1 hands a connection to HTTP/2 on a port that is only an HTTP port (8002, not under
protocols.http2.ports): the captures of pcaps/make-h1h2-pcaps.sh — `Upgrade: h2c` answered
by `101 Switching Protocols` (curl --http2, nghttp -u against pcaps/h2c_server.py, a
python3-h2 server, since nginx 1.22 does not answer it), an Upgrade refused in HTTP/1.1 and
asked again on the same connection, and the prior-knowledge preface (curl
--http2-prior-knowledge, nghttp; nghttpd, which sends its SETTINGS first) — replayed and
compared with the server's own log of each request and with the expected events."""
import glob
import json
import os

import pytest

from conftest import PCAPS, get, replay, strip_volatile

CAPTURES = sorted(glob.glob(os.path.join(PCAPS, "h1h2_*.pcap")))


def log_of(pcap):
    with open(pcap[:-len(".pcap")] + ".server.jsonl") as f:
        return [json.loads(l) for l in f if l.strip()]


def uri(ev):
    q = get(ev, "url.query")
    return get(ev, "url.path") + (f"?{q}" if q else "")


def test_there_are_captures():
    names = {os.path.basename(c) for c in CAPTURES}
    assert {"h1h2_upgrade_curl.pcap", "h1h2_upgrade_nghttp.pcap", "h1h2_upgrade_refused.pcap",
            "h1h2_prior_curl.pcap", "h1h2_prior_nghttpd.pcap"} <= names


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_matches_server_log(pcap):
    """Each request the server logged is one event: HTTP/2 streams (the Upgrade request as
    stream 1) as version 2 with their stream id, an HTTP/1.1 answer as 1.1; method, URI,
    authority, status and body bytes as the server saw them. No event for the 101."""
    r = replay(pcap)
    logged = log_of(pcap)
    assert len(r.events) == len(logged), r.stderr
    assert not [e for e in r.events if get(e, "http.response.status_code") == 101]
    left = list(r.events)
    for entry in logged:
        ev = [e for e in left if uri(e) == entry["path"] and e["method"] == entry["method"] and
              get(e, "http2.stream_id") == entry["stream"]]
        assert len(ev) == 1, (entry, r.events)
        ev = ev[0]
        left.remove(ev)
        assert get(ev, "http.version") == ("2" if entry["proto"] == "h2" else "1.1")
        assert get(ev, "http.response.status_code") == entry["status"]
        assert ev["status"] == ("OK" if entry["status"] < 400 else "Error")
        assert get(ev, "url.domain") + ":8002" == entry["authority"]
        assert get(ev, "server.port") == 8002
        if "resp_body_bytes" in entry:
            assert get(ev, "http.response.body.bytes") == entry["resp_body_bytes"]
            assert get(ev, "http.request.body.bytes") == entry["req_body_bytes"]
        assert "error" not in ev, ev
        if entry["upgrade"]:
            # the HTTP/1.1 request's own bytes; the response's include the 101's head
            assert entry["stream"] == 1
            assert get(ev, "http.request.bytes") > 100
            assert get(ev, "http.response.bytes") > 71 + entry["resp_body_bytes"]


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_counters(pcap):
    """Every connection of these captures is handed over (the refused one after its second
    Upgrade), counted; nothing is a parse error on either side."""
    r = replay(pcap, args=("-v",))
    conns = len({e["client"]["port"] for e in r.events})
    assert f"http_h2c_switched {conns}," in r.stderr
    assert "0 parse errors; " in r.stderr
    assert "http2_parse_errors" not in r.stderr and "http_resyncs" not in r.stderr


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_matches_expected_events(pcap):
    """The whole event, field by field, against pcaps/<name>.events.jsonl."""
    with open(pcap[:-len(".pcap")] + ".events.jsonl") as f:
        expected = [json.loads(l) for l in f if l.strip()]
    got = [strip_volatile(e) for e in replay(pcap).events]
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"event {i} differs"


def test_http2_port_unchanged():
    """The same prior-knowledge capture with 8002 under protocols.http2.ports (HTTP/2's own
    row, not HTTP/1's hand-over) gives the same events."""
    pcap = os.path.join(PCAPS, "h1h2_prior_curl.pcap")
    a = [strip_volatile(e) for e in replay(pcap).events]
    b = [strip_volatile(e) for e in replay(pcap, extra_config=(
        "protocols:\n  http:\n    ports: [80]\n  http2:\n    ports: [8002]\n")).events]
    assert a == b
