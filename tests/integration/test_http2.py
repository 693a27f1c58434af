"""HTTP/2 in clear (h2c) and gRPC: the captures of pcaps/make-h2-pcaps.sh (nginx 1.22 with
`listen … http2` reached by curl --http2-prior-knowledge, nghttp and h2load; nginx grpc_pass
to a Python gRPC server) replayed and compared with nginx's access log, the gRPC server's log
of each call and the expected events; and the same captures with segments removed (what a
monitor port that loses frames records) before and after the first HEADERS."""
import glob
import importlib.util
import json
import os
import sys

import pytest

from conftest import PCAPS, check_expected_events, get, replay, strip_volatile

# tests/fuzz/pcaplib.py under its own name: tests/truth/ has a pcaplib module too, and
# test_truth.py imports that one in the same pytest process.
_spec = importlib.util.spec_from_file_location(
    "fuzz_pcaplib", os.path.join(os.path.dirname(__file__), "..", "fuzz", "pcaplib.py"))
pcaplib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pcaplib)

CAPTURES = sorted(glob.glob(os.path.join(PCAPS, "h2c_*.pcap")) +
                  glob.glob(os.path.join(PCAPS, "grpc_*.pcap")))
# X-Request-Id (nginx's $request_id, added to every response) names each stream's log entry.
CFG = "protocols:\n  http:\n    send_headers: [x-request-id]\n"


def log_of(pcap, kind="access"):
    with open(pcap[:-len(".pcap")] + f".{kind}.jsonl") as f:
        return [json.loads(l) for l in f if l.strip()]


def request_id(ev):
    return get(ev, "http.response.headers.x-request-id")


def test_there_are_captures():
    names = {os.path.basename(c) for c in CAPTURES}
    assert {"h2c_curl.pcap", "h2c_nghttp.pcap", "h2c_large.pcap", "h2c_h2load.pcap",
            "grpc_calls.pcap"} <= names


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_matches_nginx_access_log(pcap):
    """Each stream nginx logged is one event with its method, URI, status, ports and the
    exact bytes nginx sent (frames of the response, and its body)."""
    r = replay(pcap, extra_config=CFG)
    logged = log_of(pcap)
    by_id = {request_id(e): e for e in r.events if request_id(e)}
    unanswered = [e for e in r.events if not request_id(e)]
    assert len(r.events) == len(logged), r.stderr
    for entry in logged:
        ev = by_id.get(entry["request_id"])
        if ev is None:
            # the client gave up (gRPC deadline): nginx's answer came after the RST_STREAM
            ev = [e for e in unanswered if get(e, "url.path") == entry["request_uri"]][0]
            assert "Stream reset by the client (CANCEL)" in get(ev, "error.message")
            continue
        path, _, query = entry["request_uri"].partition("?")
        grpc_ok = entry["grpc_status"] in ("", "0")
        assert ev["status"] == ("OK" if entry["status"] < 400 and grpc_ok else "Error")
        assert get(ev, "http.version") == "2" == entry["server_protocol"].split("/")[1][:1]
        assert ev["method"] == get(ev, "http.request.method") == entry["request_method"]
        assert get(ev, "url.path") == path
        assert get(ev, "url.query", "") == query
        assert get(ev, "http.response.status_code") == entry["status"]
        assert get(ev, "client.port") == entry["remote_port"]
        assert get(ev, "server.port") == entry["server_port"]
        assert get(ev, "server.bytes") == entry["bytes_sent"]
        assert get(ev, "http.response.body.bytes") == entry["body_bytes_sent"]
        assert get(ev, "url.domain") + ":" + str(get(ev, "url.port")) == entry["http_host"]
        if entry["http_user_agent"]:
            assert get(ev, "user_agent.original") == entry["http_user_agent"]
        if entry["http_referer"]:
            assert get(ev, "http.request.referrer") == entry["http_referer"]
        if entry["content_type"]:
            assert get(ev, "http.response.mime_type") == entry["content_type"]
        assert get(ev, "error.message") is None
        assert get(ev, "event.duration") >= 0
        assert isinstance(get(ev, "http2.stream_id"), int)


@pytest.mark.parametrize("pcap", CAPTURES, ids=os.path.basename)
def test_matches_expected_events(pcap):
    """The whole event, field by field, against pcaps/<name>.events.jsonl."""
    check_expected_events(pcap)


def test_grpc_matches_server_log():
    """Every call the gRPC server logged: service, method, messages each way, status."""
    pcap = os.path.join(PCAPS, "grpc_calls.pcap")
    calls = log_of(pcap, "calls")
    events = replay(pcap).events
    assert len(events) == len(calls) == 7
    remaining = list(events)
    for call in calls:
        svc, method = call["method"].strip("/").split("/")
        ev = next(e for e in remaining if get(e, "rpc.method") == method)
        remaining.remove(ev)
        assert get(ev, "rpc.system") == "grpc"
        assert get(ev, "rpc.service") == svc
        assert get(ev, "rpc.grpc.request.messages") == call["requests"]
        if call["code_name"] == "DEADLINE_EXCEEDED":
            # the client's deadline passed first: it cancelled the stream
            assert get(ev, "rpc.grpc.status_code") is None
            assert get(ev, "error.message") == "Stream reset by the client (CANCEL)"
            assert ev["status"] == "Error"
            continue
        assert get(ev, "rpc.grpc.response.messages") == call["responses"]
        assert get(ev, "rpc.grpc.status_code") == call["code"]
        assert get(ev, "rpc.grpc.status_message", "") == call["details"]
        assert ev["status"] == ("OK" if call["code"] == 0 else "Error")


def test_h2load_many_streams():
    """400 requests on 2 connections with up to 20 streams in flight: 400 events, each with
    its own stream id, none dropped or in error."""
    r = replay(os.path.join(PCAPS, "h2c_h2load.pcap"), args=("-v",))
    assert len(r.events) == 400
    ids = {(get(e, "client.port"), get(e, "http2.stream_id")) for e in r.events}
    assert len(ids) == 400
    assert all(e["status"] == "OK" for e in r.events)
    assert "http2_streams_dropped" not in r.stderr


def payload_records(cap, to_server, port=50051):
    """Indexes of the records carrying TCP payload in one direction."""
    out = []
    for i, (_, _, _, b) in enumerate(cap.records):
        offs = pcaplib.tcp_offsets(b)
        if not offs:
            continue
        _, tcp, pay, _ = offs
        dport = int.from_bytes(b[tcp + 2:tcp + 4], "big")
        if len(b) > pay and (dport == port) == to_server:
            out.append(i)
    return out


def without(tmp_path, name, drop):
    cap = pcaplib.read(os.path.join(PCAPS, name))
    recs = [r for i, r in enumerate(cap.records) if i not in drop]
    out = os.path.join(str(tmp_path), "lossy_" + name)
    pcaplib.write(out, cap, recs)
    return out


def test_loss_before_first_headers(tmp_path):
    """The client's segment with its HEADERS frames is lost: the requests cannot be read,
    yet every response is reported with nginx's status and bytes, and the loss is said."""
    cap = pcaplib.read(os.path.join(PCAPS, "h2c_nghttp.pcap"))
    client = payload_records(cap, True)
    # nghttp sends the preface, SETTINGS, PRIORITY and all 5 HEADERS in one segment
    pcap = without(tmp_path, "h2c_nghttp.pcap", {client[0]})
    events = replay(pcap, extra_config=CFG).events
    logged = {e["request_id"]: e for e in log_of(os.path.join(PCAPS, "h2c_nghttp.pcap"))}
    assert len(events) == len(logged) == 5
    for ev in events:
        entry = logged[request_id(ev)]
        assert get(ev, "http.response.status_code") == entry["status"]
        assert get(ev, "server.bytes") == entry["bytes_sent"]
        assert get(ev, "http.request.method") is None
        assert "HTTP/2 framing lost in the request direction (gap or parse error)" in \
            get(ev, "error.message")
        assert ev["status"] == "Error"


def test_loss_after_first_headers(tmp_path):
    """A server segment after the first response is lost (gRPC, one connection): the calls
    answered before it are whole; the later ones are reported at the end, marked."""
    name = "grpc_calls.pcap"
    cap = pcaplib.read(os.path.join(PCAPS, name))
    server = payload_records(cap, False)
    full = replay(os.path.join(PCAPS, name)).events
    pcap = without(tmp_path, name, {server[len(server) // 2]})
    events = replay(pcap).events
    assert len(events) == len(full) == 7
    whole = [e for e in events if get(e, "error.message") is None]
    marked = [e for e in events if get(e, "error.message") is not None]
    assert whole and marked
    for ev in whole:
        same = [f for f in full if get(f, "http2.stream_id") == get(ev, "http2.stream_id")]
        assert strip_volatile(ev) == strip_volatile(same[0])
    for ev in marked:
        assert get(ev, "http.request.method") == "POST" or \
            "Stream reset" in str(get(ev, "error.message"))


@pytest.mark.parametrize("name,port", [("http_keepalive.pcap", 8080), ("http_early_mix.pcap", 8002),
                                       ("http_pipelining.pcap", 8080)])
def test_http1_port_also_under_http2(name, port):
    """A port under both protocols.http.ports and protocols.http2.ports: HTTP/1.x
    connections give exactly the events they give on an HTTP-only port."""
    pcap = os.path.join(PCAPS, name)
    plain = [strip_volatile(e) for e in replay(pcap).events]
    cfg = "protocols:\n  http2:\n    ports: [%d]\n" % port
    both = [strip_volatile(e) for e in replay(pcap, extra_config=cfg).events]
    assert plain and both == plain


def test_prior_knowledge_on_http_port():
    """The preface on a port that is an HTTP port too: the connection is read as HTTP/2."""
    pcap = os.path.join(PCAPS, "h2c_nghttp.pcap")
    plain = [strip_volatile(e) for e in replay(pcap).events]
    cfg = "protocols:\n  http:\n    ports: [80, 50051]\n  http2:\n    ports: [50051]\n"
    both = [strip_volatile(e) for e in replay(pcap, extra_config=cfg).events]
    assert len(both) == 5 and both == plain


@pytest.mark.parametrize("cfg", ["protocols:\n  http2:\n    enabled: false\n",
                                 "protocols:\n  http2:\n    ports: [9999]\n"])
def test_http2_config_turns_it_off(cfg):
    """protocols.http2.enabled and .ports are read: off, or elsewhere, nothing is parsed."""
    r = replay(os.path.join(PCAPS, "h2c_nghttp.pcap"), extra_config=cfg, args=("-v",))
    assert r.events == []
    assert "http2_streams" not in r.stderr
