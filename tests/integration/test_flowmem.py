"""Memory per flow (issue 13): connections that each sent half an HTTP request head stay
within protocols.http.max_memory_mb. The replay of N such connections at a 1 MiB budget
costs little more than the replay of N SYN-only connections (table entries only); every
half request is still reported once, the dropped ones marked and counted."""
import os
import subprocess
import sys

from conftest import PKTLOG, ROOT, get, run

N = 40000
GEN = os.path.join(ROOT, "bench", "flowmem_gen.py")
CONFIG = ("flows:\n  max_flows: %d\nprotocols:\n  http:\n    max_memory_mb: 1\n" % (2 * N))
# ASan keeps freed blocks in quarantine: without this, every state handed back would
# still count toward the RSS compared here.
ASAN = {"ASAN_OPTIONS": "quarantine_size_mb=0:detect_leaks=1"}


def peak_rss_kb(argv):
    """Peak RSS of one pktlog run (its own rusage, not the test process's children)."""
    env = dict(os.environ, **ASAN)
    proc = subprocess.Popen([PKTLOG, *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err[-4000:]
    assert "Sanitizer" not in err, err[-4000:]
    return usage.ru_maxrss


def test_half_requests_stay_within_the_budget(tmp_path):
    half, syn = str(tmp_path / "half.pcap"), str(tmp_path / "syn.pcap")
    subprocess.run([sys.executable, GEN, "half", str(N), half], check=True)
    subprocess.run([sys.executable, GEN, "syn", str(N), syn], check=True)
    cfg = tmp_path / "bound.yml"
    cfg.write_text(CONFIG)

    base = peak_rss_kb(["--config", str(cfg), "--pcap", syn, "--output", "null"])
    bound = peak_rss_kb(["--config", str(cfg), "--pcap", half, "--output", "null"])
    # Unbounded, each half request held ~2.5 KB (~100 MB here, more under ASan); within
    # the budget the difference is the 1 MiB plus the allocator's and ASan's overhead.
    assert bound - base < 12 * 1024, (bound, base)

    r = run(["--pcap", half, "-v"], config=CONFIG, env=ASAN)
    assert r.rc == 0, r.stderr[-4000:]
    assert len(r.events) == N
    def notes(e):
        m = get(e, "error.message", [])
        return [m] if isinstance(m, str) else m
    marked = [e for e in r.events if any("max_memory_mb" in m for m in notes(e))]
    summary = [l for l in r.stderr.splitlines() if "summary:" in l][-1]
    assert "connections' protocol state dropped (memory bounds)" in summary, summary
    dropped = int(summary.split(" connections' protocol state dropped")[0].rsplit(" ", 1)[1])
    assert N // 2 < dropped < N, summary
    assert len(marked) == dropped
    for e in marked:
        assert e["url"]["path"] == "/shop/item"
        assert e["status"] == "Error"


def test_dropped_connections_resynchronise(tmp_path):
    """The same half heads, then each connection ends its head, gets its answer and closes:
    connections whose state stayed give one OK event; those whose state was dropped give
    their marked request and, the head's end skipped, an unmatched response. Nothing is lost
    or reported twice, and nothing crashes."""
    n = 20000
    pcap = str(tmp_path / "finish.pcap")
    subprocess.run([sys.executable, GEN, "finish", str(n), pcap], check=True)
    r = run(["--pcap", pcap, "-v"], config=CONFIG, env=ASAN)
    assert r.rc == 0, r.stderr[-4000:]
    summary = [l for l in r.stderr.splitlines() if "summary:" in l][-1]
    dropped = int(summary.split(" connections' protocol state dropped")[0].rsplit(" ", 1)[1])
    assert n // 2 < dropped < n, summary
    ok = [e for e in r.events if e["status"] == "OK"]
    assert len(ok) == n - dropped
    assert len(r.events) == n + dropped
    ports = {}
    for e in r.events:
        ports.setdefault((get(e, "client.ip"), get(e, "client.port")), []).append(e)
    assert len(ports) == n
