"""pcaps/: captures of a real nginx, each replayed and compared with (1) nginx's own
access log written during the capture and (2) the expected-events file beside it,
field by field."""
import glob
import json
import os

import pytest

from conftest import PCAPS, ROOT, check_expected_events, get, replay, strip_volatile

CAPTURES = sorted(glob.glob(os.path.join(PCAPS, "http_*.pcap")))
# http_snap<N>.pcap: http_early_mix.pcap as a capture at snap length N holds it (snaplen.py)
FULL = [c for c in CAPTURES if "_snap" not in c]
SNAPPED = [c for c in CAPTURES if "_snap" in c]
# What an early-response capture's events may say: curl gave up on the refused upload.
EARLY_NOTES = {"http_early_continue.pcap": "Request incomplete when the connection ended"}
# Fields that depend on the machine running the test, not on the capture.


def access_log(pcap):
    with open(pcap[:-len(".pcap")] + ".access.jsonl") as f:
        return [json.loads(l) for l in f if l.strip()]


def test_there_are_captures():
    assert len(CAPTURES) >= 10


@pytest.mark.parametrize("pcap", FULL, ids=os.path.basename)
def test_matches_nginx_access_log(pcap):
    """Every request nginx logged is one OK event with the same method, URI, status,
    ports and exact byte counts; nothing else is emitted."""
    r = replay(pcap)
    logged = access_log(pcap)
    assert len(r.events) == len(logged), r.stderr
    # Within a connection events come out in request order; match by (port, n-th request).
    by_conn = {}
    for ev in r.events:
        by_conn.setdefault(get(ev, "client.port"), []).append(ev)
    for entry in logged:
        ev = by_conn[entry["remote_port"]][entry["connection_requests"] - 1]
        uri = entry["request_uri"]
        path, _, query = uri.partition("?")
        # The request line itself: $request_method can name an internal subrequest's.
        method = entry["request"].split(" ")[0]
        assert ev["type"] == "http"
        assert ev["status"] == ("OK" if entry["status"] < 400 else "Error")
        assert get(ev, "http.request.method") == method
        assert ev["method"] == method
        assert get(ev, "url.path") == path
        assert get(ev, "url.query", "") == query
        assert ev["query"] == f"{method} {path}"
        assert get(ev, "http.response.status_code") == entry["status"]
        assert get(ev, "http.version") == entry["server_protocol"].split("/")[1]
        assert get(ev, "client.port") == entry["remote_port"]
        assert get(ev, "server.port") == entry["server_port"]
        assert get(ev, "client.ip") == entry["remote_addr"]
        assert get(ev, "server.bytes") == entry["bytes_sent"]
        if "_early_" in pcap:
            # nginx answered before reading the body and leaves what it discarded out of
            # request_length; pktlog counts every byte the client sent
            assert get(ev, "client.bytes") >= entry["request_length"]
        else:
            assert get(ev, "client.bytes") == entry["request_length"]
            assert get(ev, "network.bytes") == entry["request_length"] + entry["bytes_sent"]
        if method != "HEAD" and entry["status"] not in (204, 304) \
                and not entry.get("transfer_encoding"):
            # nginx counts an interim "100 Continue" into $body_bytes_sent; the
            # response's own Content-Length is the body when it has one.
            want = int(entry["content_length"]) if entry["content_length"] \
                else entry["body_bytes_sent"]
            assert get(ev, "http.response.body.bytes") == want
        if entry["http_user_agent"]:
            assert get(ev, "user_agent.original") == entry["http_user_agent"]
        if entry["http_referer"]:
            assert get(ev, "http.request.referrer") == entry["http_referer"]
        assert get(ev, "error.message") == EARLY_NOTES.get(os.path.basename(pcap))
        assert get(ev, "event.duration") >= 0
        assert get(ev, "event.start") <= get(ev, "event.end")


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_matches_expected_events(pcap):
    """The whole event, field by field, against pcaps/<name>.events.jsonl."""
    check_expected_events(pcap)


def test_chunked_response_body_decoded_size():
    pcap = os.path.join(PCAPS, "http_chunked.pcap")
    ev = replay(pcap).events[0]
    entry = access_log(pcap)[0]
    assert entry["transfer_encoding"] == "chunked"
    # body.bytes counts the payload without the chunk framing; bytes counts everything.
    assert 0 < get(ev, "http.response.body.bytes") < get(ev, "server.bytes")


def test_continue_is_one_transaction():
    ev = replay(os.path.join(PCAPS, "http_continue.pcap")).events
    assert len(ev) == 1
    assert get(ev[0], "http.response.status_code") == 201


def test_same_events_every_run():
    pcap = os.path.join(PCAPS, "http_concurrent.pcap")
    a = [strip_volatile(e) for e in replay(pcap).events]
    b = [strip_volatile(e) for e in replay(pcap).events]
    assert a == b


def test_several_files_in_one_run():
    files = [os.path.join(PCAPS, n) for n in ("http_head.pcap", "http_not_found.pcap")]
    from conftest import run
    r = run(["--pcap", *files])
    assert r.rc == 0
    assert [get(e, "http.response.status_code") for e in r.events] == [200, 404]


def test_early_mix_every_status():
    """300 requests on keep-alive connections, early answers (413, return on POST, 401)
    among ordinary GETs: every event has nginx's status, method and URI, in order."""
    pcap = os.path.join(PCAPS, "http_early_mix.pcap")
    logged = access_log(pcap)
    ev = replay(pcap).events
    assert len(logged) == 300
    assert len(ev) == 300
    kinds = {e["status"] for e in logged}
    assert {200, 301, 401, 413} <= kinds
    by_conn = {}
    for e in ev:
        by_conn.setdefault(get(e, "client.port"), []).append(e)
    for entry in logged:
        e = by_conn[entry["remote_port"]][entry["connection_requests"] - 1]
        assert get(e, "http.response.status_code") == entry["status"]
        assert e["query"] == " ".join(entry["request"].split(" ")[:2])
        assert "error" not in e


def test_early_continue_refused():
    """Expect: 100-continue refused with 413 before the body: one event, marked incomplete,
    not an unmatched response."""
    ev = replay(os.path.join(PCAPS, "http_early_continue.pcap")).events
    assert len(ev) == 1
    assert get(ev[0], "http.response.status_code") == 413
    assert get(ev[0], "http.request.method") == "PUT"
    assert get(ev[0], "error.message") == "Request incomplete when the connection ended"


@pytest.mark.parametrize("pcap", SNAPPED, ids=os.path.basename)
def test_snapped_heads(pcap):
    """At snap length 96 (30 bytes of TCP payload) and 200 what was captured of the request
    and status lines is reported right, truncation is marked, nothing is made up; a request
    whose bytes the capture lacks (it rode at the end of a cut body segment) is not demanded:
    its response is reported unmatched, and no later pairing shifts."""
    logged = access_log(pcap)
    ev = replay(pcap).events
    assert len(ev) == len(logged)
    by_conn = {}
    for e in ev:
        by_conn.setdefault(get(e, "client.port"), []).append(e)
    seen = 0
    for entry in logged:
        e = by_conn[entry["remote_port"]][entry["connection_requests"] - 1]
        notes = get(e, "error.message")
        notes = notes if isinstance(notes, list) else [notes]
        assert get(e, "http.response.status_code") == entry["status"]
        assert "Response head truncated in the capture" in notes
        method = get(e, "http.request.method")
        if method is None:
            assert "Unmatched response" in notes
            continue
        seen += 1
        assert method == entry["request"].split(" ")[0]
        assert entry["request_uri"].startswith(get(e, "url.path"))
        # the head is marked cut exactly when it was; content-length is reported (measured
        # when absent, as Packetbeat) only for a head read whole, never made up
        whole = "Request head truncated in the capture" not in notes
        assert whole == ("content-length" in (get(e, "http.request.headers") or {}))
        if "96" in pcap:
            assert not whole
    assert seen >= 0.95 * len(logged)
