"""common.py – what the truth harness's HTTP and MySQL halves share: free ports, a tcpdump on
lo for one port, running pktlog on a capture, bounded waits.  Nothing protocol-specific."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

ENV = dict(os.environ,
           ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1",
           UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")


def free_port():
    """A port nothing listens on, chosen by the kernel (not 8080: another helper's)."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p != 8080:
            return p


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def listening(port):
    out = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True).stdout
    return bool(out.strip())


class Tcpdump:
    """tcpdump -i lo, full snaplen, of one TCP port, into path."""

    def __init__(self, path, port, workdir):
        self.path = path
        self.err = os.path.join(workdir, f"tcpdump-{port}.err")
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-s", "0", "-B", "65536", "-U", "--immediate-mode",
             "-Z", "root", "-w", path, f"tcp port {port}"],
            stdout=subprocess.DEVNULL, stderr=open(self.err, "w"))
        wait_for(lambda: "listening on" in open(self.err).read(), 10, "tcpdump to start")
        time.sleep(0.2)

    def stop(self):
        time.sleep(0.5)            # the last FIN/ACKs
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        err = open(self.err).read()
        dropped = [l for l in err.splitlines() if "dropped by kernel" in l]
        if dropped and not dropped[0].startswith("0 "):
            raise RuntimeError(f"tcpdump dropped packets: {err}")


def pktlog_binary():
    p = os.environ.get("PKTLOG") or os.path.join(ROOT, "build", "asan", "pktlog")
    if not os.path.exists(p):
        raise RuntimeError(f"{p} is missing: run make asan (or set PKTLOG=./pktlog)")
    return p


def run_pktlog(pcap, http_port=None, mysql_port=None, timeout=600):
    """pktlog --pcap on one capture with only the given ports; its events, sorted by start."""
    cfg = "protocols:\n"
    cfg += "  http:\n    ports: [%d]\n" % (http_port or 1)
    cfg += "  mysql:\n    ports: [%d]\n" % (mysql_port or 2)
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write(cfg)
        cfgfile = f.name
    try:
        proc = subprocess.run([pktlog_binary(), "--config", cfgfile, "--output", "console",
                               "--pcap", pcap], capture_output=True, text=True,
                              timeout=timeout, env=ENV)
    finally:
        os.unlink(cfgfile)
    if proc.returncode != 0 or "Sanitizer" in proc.stderr or "runtime error" in proc.stderr:
        raise RuntimeError(f"pktlog failed on {pcap} (rc {proc.returncode}): {proc.stderr[-3000:]}")
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    return events


def get(ev, dotted, default=None):
    cur = ev
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def errors_of(ev):
    """Every error text on an event (error.message may be a string or a list)."""
    m = get(ev, "error.message")
    if m is None:
        return []
    return m if isinstance(m, list) else [m]


def ts(iso):
    """ECS timestamp (nanoseconds, Z) to float seconds."""
    import datetime
    base, frac = iso.rstrip("Z").split(".")
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return t + float("0." + frac)
