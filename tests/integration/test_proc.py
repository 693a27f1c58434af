"""Process attribution (issue 16 §2): live capture in network namespaces against real
servers (nginx with a master and a worker, MariaDB, a Python HTTP/1.1 server) and real
clients (Python, curl, mariadb); every event that carries a process must name the right
one, checked against /proc read by the test while that process was alive. Needs root;
nothing skips."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import livenet as ln
from conftest import PKTLOG, run

PORT = 8080          # inside the namespaces: private to this test
PYPORT = 8181

CLIENT = r'''
import os, socket, sys, time
host, port, mode, sync = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port))
def get(path, read=True):
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
    if not read:
        return
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < n:
        body += s.recv(65536)
import re
get("/one")
if sync != "-":                      # wait until the test has started pktlog
    while not os.path.exists(sync):
        time.sleep(0.02)
time.sleep(0.3)
get("/two")
if mode == "exit":                   # ask for a slow answer and leave before it comes
    time.sleep(0.3)
    get("/slow", read=False)
    os._exit(0)
time.sleep(0.5)
s.close()
'''

SERVER = r'''
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(1.0)
        body = b"hello from the python server\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def truth(pid):
    """What /proc says of pid (read while it lives)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        raw = f.read()
    args = [a.decode() for a in raw.split(b"\0")]
    if raw.endswith(b"\0"):
        args = args[:-1]
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    ppid = int(stat[stat.rindex(")") + 2:].split()[1])
    with open(f"/proc/{pid}/status") as f:
        uid = re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1)
    return {"pid": pid, "name": comm, "executable": os.readlink(f"/proc/{pid}/exe"),
            "args": args[:16], "args_count": len(args), "parent": {"pid": ppid},
            "user": {"id": uid}}


def same_process(got, want):
    """got (an event's process) is want; the eBPF source keeps the command line's first 255
    bytes, so args may be a prefix of want's, and args_count then absent."""
    assert {k: v for k, v in got.items() if k not in ("args", "args_count")} == \
        {k: v for k, v in want.items() if k not in ("args", "args_count")}, (got, want)
    assert got["args"] == want["args"][:len(got["args"])] and got["args"], (got, want)
    if "args_count" in got or len("\0".join(want["args"])) < 255:
        assert got["args"] == want["args"] and got["args_count"] == want["args_count"], (got, want)


BPF_LINE = "process attribution: source ebpf: a BPF program (tp_btf/sys_exit) records the process"
PROC_LINE = "process attribution: source proc: reading /proc"
# root without the capabilities a tracing program needs (capture keeps CAP_NET_RAW)
NO_BPF = ["setpriv", "--inh-caps=-bpf,-perfmon,-sys_admin",
          "--bounding-set=-bpf,-perfmon,-sys_admin"]


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def config(extra="", workers=1, flows=""):
    """process.source is left to its default (auto: eBPF first) unless extra names it."""
    return (ln.config(ebpf="off", workers=workers) + flows +
            "process:\n  refresh_interval: 100ms\n" + extra)


class NginxMW:
    """nginx with a master (root) and one worker (its configured user), on PORT in ns."""

    def __init__(self, ns):
        self.dir = tempfile.mkdtemp(prefix="pktlog-proc-nginx-")
        os.chmod(self.dir, 0o755)
        os.makedirs(os.path.join(self.dir, "html"))
        with open(os.path.join(self.dir, "html", "index.html"), "w") as f:
            f.write("proc test\n")
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
master_process on;
worker_processes 1;
user nobody nogroup;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/tmp;
    proxy_temp_path {self.dir}/tmp;
    fastcgi_temp_path {self.dir}/tmp;
    uwsgi_temp_path {self.dir}/tmp;
    scgi_temp_path {self.dir}/tmp;
    server {{ listen {PORT}; root {self.dir}/html; location / {{ try_files $uri /index.html; }} }}
}}
""")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "nginx", "-p", self.dir, "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ln.wait_port(ns, PORT)
        end = time.time() + 10
        while not children(self.proc.pid) and time.time() < end:
            time.sleep(0.05)
        self.master = self.proc.pid
        self.worker = children(self.master)[0]
        self.truth = truth(self.worker)

    def stop(self):
        ln.stop_nginx(self.proc, self.dir)


@pytest.fixture(scope="module")
def nets():
    assert os.geteuid() == 0, "process attribution tests need root (network namespaces)"
    assert os.path.exists(PKTLOG), f"{PKTLOG} is missing: run make asan"
    ln.netns_up()
    nginx = NginxMW(ln.SRV)
    tmp = tempfile.mkdtemp(prefix="pktlog-proc-")
    os.chmod(tmp, 0o755)
    for name, text in (("client.py", CLIENT), ("server.py", SERVER)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    yield nginx, tmp
    nginx.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    ln.netns_down(ln.SRV, ln.CLI)


def settle(p, n, timeout=15):
    end = time.time() + timeout
    while time.time() < end and len(p.events()) < n:
        time.sleep(0.1)
    return p.events()


def counters(stderr):
    """The proc_* counters of pktlog's exit summary (absent = 0)."""
    out = {k: 0 for k in ("proc_lookups", "proc_hits", "proc_misses", "proc_fallbacks",
                          "proc_scans", "proc_rate_limited", "proc_errors", "proc_ebpf",
                          "proc_iter_sockets", "proc_ebpf_closes", "proc_ebpf_evicted",
                          "proc_ebpf_queue_full", "proc_ebpf_entries")}
    for m in re.finditer(r"\b(proc_[a-z_]+) (\d+)", stderr):
        out[m.group(1)] = int(m.group(2))
    return out


def start_client(tmp, ns, host, port, mode="keep", sync="-"):
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, os.path.join(tmp, "client.py"),
                             host, str(port), mode, sync], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def start_pyserver(tmp, ns):
    srv = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable,
                            os.path.join(tmp, "server.py"), str(PYPORT)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ln.wait_port(ns, PYPORT)
    return srv


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
    proc.wait(timeout=10)


def test_server_side_is_the_nginx_worker(nets, live):
    """Captured on the server's veth: the server side is local (nginx's worker, a child of
    the master, user nobody), the client is in the other namespace: top-level process.*"""
    nginx, tmp = nets
    p = live(ln.SRV, ln.VSRV, config("  source: proc\n"))
    # the /proc reader: capture.user (nobody), only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH
    (helper,) = children(p.proc.pid)
    with open(f"/proc/{helper}/status") as f:
        st = dict(l.split(":", 1) for l in f.read().splitlines())
    assert st["Name"].strip() == "pktlog-proc"
    assert st["Uid"].split() == ["65534"] * 4, st["Uid"]
    for cap in ("CapEff", "CapPrm", "CapBnd"):
        assert int(st[cap], 16) == (1 << 19) | (1 << 2), (cap, st[cap])
    assert int(st["CapInh"], 16) == 0 and st["NoNewPrivs"].strip() == "1"
    c = start_client(tmp, ln.CLI, ln.SRV_IP, PORT)
    assert c.wait(timeout=20) == 0, c.stderr.read()
    evs = settle(p, 2)
    assert p.stop() == 0
    err = p.stderr()
    assert PROC_LINE + " (process.source: proc)" in err, err
    assert len(evs) == 2, evs
    for ev in evs:
        assert ev["process"] == nginx.truth, ev
        assert ev["process"]["parent"]["pid"] == nginx.master
        assert ev["process"]["user"]["id"] == "65534"
        assert "process" not in ev["client"] and "process" not in ev["server"]
        assert "process" not in ev["source"] and "process" not in ev["destination"]
    n = counters(err)
    assert n["proc_lookups"] == 2 and n["proc_hits"] == 2 and n["proc_misses"] == 0, n
    assert n["proc_fallbacks"] >= 1 and n["proc_scans"] >= 1 and n["proc_errors"] == 0, n
    assert n["proc_ebpf"] == 0 and n["proc_iter_sockets"] == 0, n


@pytest.mark.parametrize("source", ["ebpf", "proc"])
def test_both_sides_on_loopback(nets, live, source):
    """Client and server on one host (lo): client.process and server.process, each the
    right one; the connection was opened before pktlog started. eBPF: the start-up iterator
    (iter/task_file) found both sockets, nothing was asked of /proc; proc: the helper."""
    _, tmp = nets
    srv = start_pyserver(tmp, ln.CLI)
    sync = os.path.join(tmp, "go-both")
    c = start_client(tmp, ln.CLI, "127.0.0.1", PYPORT, sync=sync)
    try:
        time.sleep(0.5)                       # its first request is done before start-up
        want_c, want_s = truth(c.pid), truth(srv.pid)
        cfg = config(f"  source: {source}\n")
        p = live(ln.CLI, "lo", cfg.replace(f"ports: [{ln.HTTP_PORT}]", f"ports: [{PYPORT}]"))
        open(sync, "w").close()
        assert c.wait(timeout=20) == 0, c.stderr.read()
        evs = settle(p, 1)
        assert p.stop() == 0
    finally:
        stop(srv)
        os.unlink(sync)
    err = p.stderr()
    assert [e["url"]["path"] for e in evs] == ["/two"], evs
    n = counters(err)
    if source == "ebpf":
        # made before start-up: found by the iterator (both sockets; others of the host too)
        assert BPF_LINE in err, err
        found = int(re.search(r"the iterator \(iter/task_file\) found (\d+) connections", err).group(1))
        assert found >= 2 and n["proc_iter_sockets"] == found, (found, n)
        assert n["proc_ebpf"] == 1 and n["proc_fallbacks"] == 0 and n["proc_scans"] == 0, n
    else:
        assert PROC_LINE in err, err
        assert n["proc_fallbacks"] >= 1 and n["proc_iter_sockets"] == 0, n
    ev = evs[0]
    assert ev["client"]["process"] == want_c, ev
    assert ev["server"]["process"] == want_s, ev
    assert want_c["name"] == "python3" and want_c["args"][1].endswith("client.py")
    assert "process" not in ev and "process" not in ev["source"], ev


def test_client_gone_before_its_event(nets, live):
    """The client sends a request whose answer takes 1 s and exits at once: the event,
    emitted after the process is gone, still names it (learnt on the connection's first
    event, while it lived)."""
    _, tmp = nets
    srv = start_pyserver(tmp, ln.CLI)
    try:
        p = live(ln.CLI, "lo", config().replace(f"ports: [{ln.HTTP_PORT}]", f"ports: [{PYPORT}]"))
        c = start_client(tmp, ln.CLI, "127.0.0.1", PYPORT, mode="exit")
        time.sleep(0.15)
        want_c = truth(c.pid)
        assert c.wait(timeout=20) == 0, c.stderr.read()
        gone_at = time.time()
        evs = settle(p, 3)
        assert p.stop() == 0
    finally:
        stop(srv)
    assert [e["url"]["path"] for e in evs] == ["/one", "/two", "/slow"], evs
    assert not os.path.exists(f"/proc/{want_c['pid']}")
    assert gone_at < time.time()
    assert BPF_LINE in p.stderr()
    for ev in evs:
        same_process(ev["client"]["process"], want_c)
        assert ev["server"]["process"]["pid"] == srv.pid, ev


@pytest.mark.parametrize("source,workers", [("proc", 1), ("auto", 1), ("auto", 2), ("ebpf", 1)])
def test_short_lived_curls(nets, live, source, workers):
    """curl opens, asks once and exits. The /proc reader may see the connection or not (it
    is documented to miss those between two scans) but what it reports is right; the eBPF
    source, which records the worker at accept(), attributes every one. Every lookup is
    counted as a hit or a miss."""
    nginx, tmp = nets
    p = live(ln.SRV, ln.VSRV, config(f"  source: {source}\n", workers=workers))
    for _ in range(20):
        ln.sh("curl", "-sf", "-o", "/dev/null", f"http://{ln.SRV_IP}:{PORT}/", ns=ln.CLI)
    evs = settle(p, 20)
    assert p.stop() == 0
    assert len(evs) == 20
    attributed = [e for e in evs if "process" in e]
    for ev in attributed:
        same_process(ev["process"], nginx.truth)
        assert "process" not in ev["client"], ev   # curl is in the other namespace
    n = counters(p.stderr())
    assert n["proc_lookups"] == 20, n
    assert n["proc_hits"] == len(attributed) and n["proc_misses"] == 20 - len(attributed), n
    if source != "proc":
        assert BPF_LINE in p.stderr()
        assert len(attributed) == 20 and n["proc_fallbacks"] == 0, n
    print(f"short-lived curls, source {source}: {len(attributed)}/20 attributed; {n}")


def test_short_lived_on_loopback_both_sides(nets, live):
    """curl against the Python server on one host: both sides of each one-request
    connection, with the client's own command line (eBPF source)."""
    _, tmp = nets
    srv = start_pyserver(tmp, ln.CLI)
    want_s = truth(srv.pid)
    try:
        p = live(ln.CLI, "lo", config().replace(f"ports: [{ln.HTTP_PORT}]", f"ports: [{PYPORT}]"))
        for i in range(5):
            ln.sh("curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{PYPORT}/n{i}", ns=ln.CLI)
        evs = settle(p, 5)
        assert p.stop() == 0
    finally:
        stop(srv)
    assert len(evs) == 5
    pids = set()
    for i, ev in enumerate(evs):
        c = ev["client"]["process"]
        assert c["name"] == "curl" and c["executable"] == shutil.which("curl"), ev
        assert c["args"] == ["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{PYPORT}/n{i}"]
        assert c["user"]["id"] == "0" and c["parent"]["pid"] > 1
        pids.add(c["pid"])
        same_process(ev["server"]["process"], want_s)
    assert len(pids) == 5   # five processes, each its own


TLS_SERVER = r'''
import http.server, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[2])   # certificate, key
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
'''


def test_tls_event_both_sides(nets, live, tmp_path):
    """A TLS handshake on loopback (Python's ssl server, a certificate made by openssl
    now, curl): the tls event names both processes."""
    _, tmp = nets
    key, crt, script = tmp_path / "k.pem", tmp_path / "c.pem", tmp_path / "tls_server.py"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=proc.test"], check=True,
                   capture_output=True)
    script.write_text(TLS_SERVER)
    srv = subprocess.Popen(["ip", "netns", "exec", ln.CLI, sys.executable, str(script), "8443",
                            str(key), str(crt)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ln.wait_port(ln.CLI, 8443)
        want_s = truth(srv.pid)
        cfg = config().replace("  tls:\n    enabled: false\n", "  tls:\n    ports: [8443]\n")
        p = live(ln.CLI, "lo", cfg)
        ln.sh("curl", "-skf", "-o", "/dev/null", "https://127.0.0.1:8443/", ns=ln.CLI)
        evs = settle(p, 1)
        assert p.stop() == 0
    finally:
        stop(srv)
    tls = [e for e in evs if e["type"] == "tls"]
    assert len(tls) == 1, evs
    assert tls[0]["tls"]["established"] is True
    assert tls[0]["client"]["process"]["name"] == "curl", tls[0]
    assert tls[0]["client"]["process"]["args"][-1] == "https://127.0.0.1:8443/"
    same_process(tls[0]["server"]["process"], want_s)


def test_ebpf_unavailable_falls_back_to_proc(nets, live):
    """Without CAP_BPF/CAP_PERFMON the tracing program cannot load: auto says why once and
    reads /proc; source: ebpf with enabled: on refuses to start."""
    nginx, tmp = nets
    p = live(ln.SRV, ln.VSRV, config(), prefix=NO_BPF)
    c = start_client(tmp, ln.CLI, ln.SRV_IP, PORT)
    assert c.wait(timeout=20) == 0, c.stderr.read()
    evs = settle(p, 2)
    assert p.stop() == 0
    err = p.stderr()
    assert PROC_LINE + " (cannot load tp_btf/sys_exit: Operation not " \
           "permitted (needs CAP_BPF and CAP_PERFMON, or root))" in err, err
    assert counters(err)["proc_ebpf"] == 0
    assert len(evs) == 2 and all(ev["process"] == nginx.truth for ev in evs), evs
    p = live(ln.SRV, ln.VSRV, config("  enabled: on\n  source: ebpf\n"), prefix=NO_BPF,
             wait=False)
    assert p.proc.wait(timeout=30) == 1
    assert "process attribution: process.source: ebpf: cannot load tp_btf/sys_exit: " \
           "Operation not permitted" in p.stderr(), p.stderr()


def test_mysql_server_process(nets, live):
    """A MariaDB session: its events carry mariadbd as the server's process."""
    _, tmp = nets
    db = ln.Mariadb(ln.SRV)
    try:
        want = truth(db.proc.pid)
        p = live(ln.SRV, ln.VSRV, ln.config(ebpf="off", mysql=True) +
                 "process:\n  refresh_interval: 100ms\n")
        ln.mysql_client("SELECT 1; SELECT SLEEP(0.3); SELECT 2;")
        evs = settle(p, 3)
        assert p.stop() == 0
    finally:
        db.stop()
    queries = [e for e in evs if e["type"] == "mysql" and e["method"] == "SELECT"]
    assert len(queries) == 3, evs
    for ev in queries:
        same_process(ev["process"], want)
    # process.source was not named: the default, auto, took eBPF
    assert BPF_LINE in p.stderr() and counters(p.stderr())["proc_ebpf"] == 1


MANY = r'''
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
time.sleep(0.6)                      # the test reads /proc/PID meanwhile
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /m%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
    while s.recv(65536):
        pass
    s.close()
'''


def usr1_counters(p, before):
    """SIGUSR1: pktlog prints its counters; those of the summary after `before` bytes."""
    p.proc.send_signal(signal.SIGUSR1)
    end = time.time() + 10
    while time.time() < end:
        tail = p.stderr()[before:]
        if "pktlog: counters:" in tail:
            return counters(tail)
        time.sleep(0.1)
    raise AssertionError("no counters after SIGUSR1:\n" + p.stderr())


def owners_ports():
    """(local port, remote port) of every entry in the newest pktlog's `owners` map (bpftool;
    struct pl_pa_key: netns u32, lport u16, rport u16, host byte order)."""
    maps = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], check=True,
                                     capture_output=True, text=True).stdout)
    ids = [m["id"] for m in maps if m.get("name") == "owners"]
    assert ids, "no owners map loaded"
    dump = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "id", str(max(ids))],
                                     check=True, capture_output=True, text=True).stdout)
    out = set()
    for e in dump:
        k = bytes(int(b, 16) for b in e["key"])
        out.add((int.from_bytes(k[4:6], "little"), int.from_bytes(k[6:8], "little")))
    return out


def test_closed_entries_evicted_after_grace(nets, live, tmp_path):
    """N one-request connections on lo (both sides in the map): each socket's close stamps its
    entry (tp_btf/inet_sock_set_state TCP_CLOSE), every event is still attributed on both
    sides, and once the grace (flows.idle_timeout + 5 s) has passed the entries are deleted:
    proc_ebpf_evicted counts them and the map's entry count falls."""
    _, tmp = nets
    N = 60
    script = tmp_path / "many.py"
    script.write_text(MANY)
    srv = start_pyserver(tmp, ln.CLI)
    want_s = truth(srv.pid)
    try:
        cfg = config("  source: ebpf\n", flows="flows:\n  idle_timeout: 1s\n")
        p = live(ln.CLI, "lo", cfg.replace(f"ports: [{ln.HTTP_PORT}]", f"ports: [{PYPORT}]"))
        assert "are deleted 6000 ms after the close" in p.stderr(), p.stderr()
        c = subprocess.Popen(["ip", "netns", "exec", ln.CLI, sys.executable, str(script),
                              str(PYPORT), str(N)], stderr=subprocess.PIPE)
        time.sleep(0.2)
        want_c = truth(c.pid)
        assert c.wait(timeout=60) == 0, c.stderr.read()
        closed_at = time.time()
        evs = settle(p, N)
        time.sleep(1.5)                      # a service tick: entries recounted
        mark = len(p.stderr())
        early = usr1_counters(p, mark)
        time.sleep(max(0.0, closed_at + 6 + 2.5 - time.time()))
        late = usr1_counters(p, len(p.stderr()))
        late_keys = owners_ports()
        assert p.stop() == 0
    finally:
        stop(srv)
    assert len(evs) == N, len(evs)
    for ev in evs:                           # attributed although closed at once
        same_process(ev["client"]["process"], want_c)
        same_process(ev["server"]["process"], want_s)
    assert early["proc_ebpf_closes"] >= 2 * N, early
    assert early["proc_ebpf_entries"] >= 2 * N, early
    assert late["proc_ebpf_evicted"] - early["proc_ebpf_evicted"] >= 2 * N, (early, late)
    # the map is the host's: other sockets come and go meanwhile, so its entry count proves
    # nothing; ours, by their ports, must be gone from it
    ours = {(e["client"]["port"], PYPORT) for e in evs} | {(PYPORT, e["client"]["port"]) for e in evs}
    left = ours & late_keys
    assert not left, f"{len(left)} of {len(ours)} closed entries still in the map: {sorted(left)[:6]}"
    assert late["proc_ebpf_queue_full"] == 0, late
    print(f"eviction: early {early}, late {late}")


def test_off(nets, live):
    """process.enabled: off adds nothing and looks nothing up."""
    nginx, tmp = nets
    p = live(ln.SRV, ln.VSRV, config("  enabled: off\n"))
    ln.sh("curl", "-sf", "-o", "/dev/null", f"http://{ln.SRV_IP}:{PORT}/", ns=ln.CLI)
    evs = settle(p, 1)
    assert p.stop() == 0
    assert len(evs) == 1 and "process" not in evs[0]
    assert "process attribution: off (process.enabled: off)" in p.stderr()
    assert counters(p.stderr())["proc_lookups"] == 0


def test_sighup_names_process_options(nets, live):
    """process.* is set up once: a reload that changes it says it needs a restart."""
    p = live(ln.SRV, ln.VSRV, config())
    p.write_config(config("  cache_entries: 64\n"))
    p.proc.send_signal(signal.SIGHUP)
    p.wait_for("SIGHUP: process.* changed; it takes effect only after a restart")
    assert p.stop() == 0


def test_replay_attributes_nothing(tmp_path):
    """--pcap never starts the reader, even with process.enabled: on."""
    pcaps = [os.path.join("pcaps", f) for f in sorted(os.listdir("pcaps")) if f.endswith(".pcap")]
    r = run(["-v", "--pcap", pcaps[0]], config="process:\n  enabled: on\n")
    assert r.rc == 0, r.stderr
    assert r.events and all("process" not in e for e in r.events)
    assert "process attribution" not in r.stderr


@pytest.mark.parametrize("text,msg", [
    ("process:\n  enabled: yes-please\n", "process.enabled"),
    ("process:\n  source: kprobe\n", "process.source"),
    ("process:\n  refresh_interval: 0s\n", "process.refresh_interval"),
    ("process:\n  cache_entries: 2\n", "process.cache_entries"),
])
def test_config_checked(text, msg):
    r = run(["--pcap", "/dev/null"], config=text)
    assert r.rc == 2 and msg in r.stderr, r.stderr
