"""test_reload.py – SIGHUP under load (issue 7): live capture of steady HTTP requests and
numbered lines appended to tailed files at once, a reload that adds an nginx port, adds two
tail inputs (start_position beginning and end), removes one and changes another's fields,
then a broken reload; the event stream is checked for loss and duplicates. Also a
tail-only reload that removes and re-adds an input (resumes, never re-reads), and a reload
that adds then removes a protocols.http2 port (nginx h2c, two capture workers). Needs root
(network namespaces); nothing skips."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import livenet as ln
from conftest import PKTLOG
from test_tail import SEQ_FMT, Tailer, Writer, events, wait_for

# An HTTP client in the client namespace: one new connection per request (a flow never
# straddles the reload), alternating ports, each request named by ?r=N; it logs
# "N port t_start t_end" (CLOCK_MONOTONIC, shared with the test) and stops when the
# stop file appears.
CLIENT = r"""
import http.client, os, sys, time
host, stop, log = sys.argv[1], sys.argv[2], sys.argv[3]
ports = [int(p) for p in sys.argv[4:]]
n = 0
with open(log, "w", buffering=1) as out:
    while not os.path.exists(stop):
        port = ports[n % len(ports)]
        t0 = time.monotonic()
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", "/small.txt?r=%d" % n, headers={"Connection": "close"})
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status == 200
        out.write("%d %d %f %f\n" % (n, port, t0, time.monotonic()))
        n += 1
        time.sleep(0.004)
"""




def tail_yaml(work, inputs):
    """inputs: (paths, extra lines) pairs, as the tail.inputs list."""
    out = ["tail:", "  commit_interval: 200ms", "  close_removed: 1s", "  inputs:"]
    for paths, extra in inputs:
        out.append("    - paths: [%s]" % ", ".join('"%s"' % os.path.join(work, p) for p in paths))
        out += ["      " + e for e in extra]
    return "\n".join(out) + "\n"


def live_config(work, ports, inputs):
    return (ln.config(ebpf="auto", http_ports=ports, extra='  user: ""\n') +
            f"data_dir: {work}/data\nmetrics:\n  heartbeat: false\n" + tail_yaml(work, inputs))


def seq_lines(evs, path):
    """(generation, number) of each numbered line of `path`, in stream order."""
    out = []
    for e in evs:
        if e.get("log", {}).get("file", {}).get("path") == path:
            g, _, n = e["message"].split()
            out.append((int(g[1:]), int(n)))
    return out


def assert_exactly_once_in_order(got, total, what):
    nums = [n for _, n in got]
    assert nums == list(range(total)), "%s: %d lines, expected 0..%d once each in order; " \
        "missing %s, repeated %s" % (what, len(nums), total - 1,
                                      sorted(set(range(total)) - set(nums))[:10],
                                      sorted({n for n in nums if nums.count(n) > 1})[:10])


def test_reload_under_load(net, tmp_path):
    work = tempfile.mkdtemp(prefix="pktlog-reload-")
    os.chmod(work, 0o755)
    os.makedirs(os.path.join(work, "new"))
    a, b = os.path.join(work, "a.log"), os.path.join(work, "b.log")
    c, e = os.path.join(work, "new", "c.log"), os.path.join(work, "e.log")
    with open(e, "w") as f:
        f.write("".join("old line %d\n" % i for i in range(50)))
    v1 = [(["a.log"], ["fields: {v: one}"]), (["b.log"], [])]
    v2 = [(["a.log"], ["fields: {v: two}"]),
          (["new/*.log"], ["start_position: beginning"]),
          (["e.log"], ["start_position: end"])]
    stopfile, reqlog = os.path.join(work, "stop"), os.path.join(work, "requests")
    net.clear()
    p = ln.Pktlog(PKTLOG, ln.SRV, ln.VSRV, live_config(work, (ln.HTTP_PORT,), v1))
    writers = [Writer(path, rate=400) for path in (a, b, c)]
    client = None
    try:
        for w in writers:
            w.start()
        client = subprocess.Popen(["ip", "netns", "exec", ln.CLI, sys.executable, "-c", CLIENT,
                                   ln.SRV_IP, stopfile, reqlog, str(ln.HTTP_PORT), str(ln.OTHER_PORT)],
                                  stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        n_b_before = writers[1].n
        p.write_config(live_config(work, (ln.HTTP_PORT, ln.OTHER_PORT), v2))
        t_hup = time.monotonic()
        p.proc.send_signal(signal.SIGHUP)
        p.wait_for("tail: reloaded")
        p.wait_for("protocol ports updated")
        time.sleep(0.5)      # each capture worker takes the new ports between two reads
        t_applied = time.monotonic()
        n_b_after = writers[1].n
        we = Writer(e, rate=400)     # written only once e.log is followed from its end
        we.start()
        writers.append(we)
        time.sleep(2)

        # A broken file changes nothing: ports and inputs of v2 stay in force.
        p.write_config("flows:\n  max_flows: [oops\n")
        p.proc.send_signal(signal.SIGHUP)
        p.wait_for("keeping the running configuration")
        time.sleep(2)

        totals = [w.finish() for w in writers]
        with open(stopfile, "w"):
            pass
        assert client.wait(timeout=30) == 0, client.stderr.read()
        done = lambda: all(len(seq_lines(p.events(), path)) >= n
                           for path, n in ((a, totals[0]), (c, totals[2]), (e, totals[3])))
        assert wait_for(done, timeout=30), "the tailer did not catch up"
        time.sleep(1)        # the last HTTP events: a capture timeout or two
        assert p.stop() == 0
        evs = p.events()
        err = p.stderr()
        with open(reqlog) as f:
            reqs = [l.split() for l in f.read().splitlines()]
    finally:
        for w in writers:
            w.running = False
        if client and client.poll() is None:
            client.kill()
        p.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    # Tail: kept, added-from-beginning and added-from-end files complete, once, in order.
    assert_exactly_once_in_order(seq_lines(evs, a), totals[0], "a.log (kept)")
    assert_exactly_once_in_order(seq_lines(evs, c), totals[2], "new/c.log (added, beginning)")
    assert_exactly_once_in_order(seq_lines(evs, e), totals[3], "e.log (added, end)")
    assert not [x for x in evs if x.get("message", "").startswith("old line")]
    # The removed input: a prefix, once each, in order, that ends near the reload.
    got_b = seq_lines(evs, b)
    assert_exactly_once_in_order(got_b, len(got_b), "b.log (removed)")
    assert n_b_before <= len(got_b) <= n_b_after < totals[1]
    # New fields apply from the reload on, to the same file, without a re-read.
    vs = [x["fields"]["v"] for x in evs if x.get("log", {}).get("file", {}).get("path") == a]
    assert vs[0] == "one" and vs[-1] == "two" and vs == sorted(vs, key=["one", "two"].index)

    # HTTP: every request on a configured port exactly once; none on 9090 before SIGHUP.
    seen = {}
    for x in evs:
        if x.get("url", {}).get("path") == "/small.txt":
            r = int(x["url"]["query"].split("=")[1])
            seen[r] = seen.get(r, 0) + 1
    assert all(v == 1 for v in seen.values()), "duplicated requests: %s" % \
        [r for r, v in seen.items() if v > 1][:10]
    must = [int(n) for n, port, t0, t1 in reqs
            if int(port) == ln.HTTP_PORT or float(t0) > t_applied]
    never = [int(n) for n, port, t0, t1 in reqs if int(port) == ln.OTHER_PORT and float(t1) < t_hup]
    assert len(must) > 200 and len(never) > 50
    missing = [r for r in must if r not in seen]
    assert not missing, "%d of %d requests missing, e.g. %s" % (len(missing), len(must), missing[:10])
    assert not [r for r in never if r in seen]
    assert err.count("capturing with") == 1            # capture was never reopened
    assert "Sanitizer" not in err


def test_tail_only_reload_remove_and_readd(tmp_path):
    """Without capture (the tail-only loop): removing an input commits what it delivered,
    adding it back resumes there; a restart-only change is named; --tail patterns survive."""
    work = str(tmp_path)
    a, b, cli = (os.path.join(work, n) for n in ("a.log", "b.log", "cli.log"))
    for path in (a, b, cli):
        open(path, "w").close()
    both = tail_yaml(work, [(["a.log"], []), (["b.log"], [])])
    t = Tailer(work, [cli], config=both, verbose=True)
    cfg = os.path.join(work, "pktlog.yml")

    def hup(text, marker):
        with open(cfg, "w") as f:
            f.write(text)
        t.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: open(t.errpath).read().count(marker) > hup.n, timeout=20)
        hup.n += 1
    hup.n = 0

    def write(path, lines):
        with open(path, "a") as f:
            f.write("".join(SEQ_FMT % (0, n) + "\n" for n in lines))

    def count(path):
        return len(seq_lines(events(work), path))

    try:
        write(a, range(0, 100))
        write(b, range(0, 100))
        write(cli, range(0, 10))
        assert wait_for(lambda: count(a) == 100 and count(b) == 100 and count(cli) == 10)
        hup(tail_yaml(work, [(["a.log"], [])]) + "metrics:\n  listen: 127.0.0.1:1\n", "tail: reloaded")
        write(b, range(100, 200))            # not followed now
        write(a, range(100, 150))
        write(cli, range(10, 20))
        assert wait_for(lambda: count(a) == 150 and count(cli) == 20)
        time.sleep(1)
        assert count(b) == 100
        hup(both, "tail: reloaded")          # b comes back: resumes at 100, no re-read
        write(b, range(200, 250))
        assert wait_for(lambda: count(b) == 250)
        time.sleep(0.5)
    finally:
        err = t.stop()
    evs = events(work)
    assert_exactly_once_in_order(seq_lines(evs, a), 150, "a.log")
    assert_exactly_once_in_order(seq_lines(evs, b), 250, "b.log")
    assert_exactly_once_in_order(seq_lines(evs, cli), 20, "cli.log (--tail)")
    assert "metrics.listen changed; it takes effect only after a restart" in err


H2_PORT = 50061      # nginx `listen … http2` in the server namespace, for the http2 reload


def h2_nginx(d):
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    default_type text/plain;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    log_format pljson escape=json '{{"request_uri":"$request_uri","status":$status,'
        '"bytes_sent":$bytes_sent,"server_protocol":"$server_protocol"}}';
    access_log {d}/access.log pljson;
    server {{
        listen {ln.SRV_IP}:{H2_PORT} http2;
        root {d}/html;
    }}
}}
""")
    os.makedirs(os.path.join(d, "html"))
    os.makedirs(os.path.join(d, "tmp"))
    with open(os.path.join(d, "html", "small.txt"), "w") as f:
        f.write("ok\n")
    proc = subprocess.Popen(["ip", "netns", "exec", ln.SRV, "nginx", "-p", d, "-c",
                             os.path.join(d, "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ln.wait_port(ln.SRV, H2_PORT)
    return proc


def h2_config(h2_ports, ebpf):
    ports = ", ".join(str(p) for p in h2_ports)
    # livenet turns HTTP/2 off; this test turns it on, on its own ports
    return ln.config(ebpf=ebpf, workers=2, extra='  user: ""\n').replace(
        "  http2:\n    enabled: false\n", f"  http2:\n    ports: [{ports}]\n")


@pytest.mark.parametrize("ebpf", ["on", "off"])
def test_reload_http2_port(net, ebpf):
    """protocols.http2.ports changed by SIGHUP: h2c requests (curl with prior knowledge, one
    connection each) to a port added by the reload are captured and parsed as HTTP/2 by
    both workers' filters (the eBPF port map, or each socket's classic filter); before the
    reload and after its removal they are not."""
    d = tempfile.mkdtemp(prefix="pktlog-h2reload-")
    nginx = p = None
    url = f"http://{ln.SRV_IP}:{H2_PORT}/small.txt?r="

    def curl(tag, n):
        for i in range(n):
            ln.sh("curl", "-sf", "--http2-prior-knowledge", "-o", "/dev/null",
                  f"{url}{tag}-{i}", ns=ln.CLI)

    def hup(h2_ports, n):
        p.write_config(h2_config(h2_ports, ebpf))
        p.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: p.stderr().count("protocol ports updated") >= n, timeout=20)
        assert p.stderr().count("protocol ports updated") >= n, p.stderr()[-2000:]
        time.sleep(0.5)      # each capture worker takes the new ports between two reads

    try:
        nginx = h2_nginx(d)
        p = ln.Pktlog(PKTLOG, ln.SRV, ln.VSRV, h2_config((50051,), ebpf))
        curl("before", 5)
        hup((50051, H2_PORT), 1)
        curl("added", 20)
        hup((50051,), 2)
        curl("removed", 5)
        time.sleep(1)
        assert p.stop() == 0
        evs, err = p.events(), p.stderr()
    finally:
        if nginx:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
        if p:
            p.cleanup()
    with open(os.path.join(d, "access.log")) as f:
        logged = {e["request_uri"]: e for e in (json.loads(l) for l in f if l.strip())}
    shutil.rmtree(d, ignore_errors=True)
    assert len(logged) == 30 and all(e["server_protocol"] == "HTTP/2.0" for e in logged.values())
    got = {}
    for e in evs:
        if e.get("url", {}).get("path") == "/small.txt":
            got.setdefault(e["url"]["query"].split("=")[1], []).append(e)
    assert sorted(got) == sorted(f"added-{i}" for i in range(20)), sorted(got)
    for tag, es in got.items():
        assert len(es) == 1, (tag, len(es))
        e, entry = es[0], logged[f"/small.txt?r={tag}"]
        assert e["http"]["version"] == "2" and e["http2"]["stream_id"] == 1
        assert e["server"]["port"] == H2_PORT
        assert e["http"]["response"]["status_code"] == entry["status"] == 200
        assert e["server"]["bytes"] == entry["bytes_sent"]
        assert e["status"] == "OK" and "error" not in e
    assert "Sanitizer" not in err
    assert ("eBPF port filter now on" in err) == (ebpf == "on"), err[-2000:]
