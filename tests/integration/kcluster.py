"""kcluster.py – the parts of the Kafka cluster tests (test_kafka_cluster.py): a three-node KRaft
cluster run by tests/kafka/broker.sh inside the server's network namespace, a live pktlog and a
tailing pktlog writing to it, the load that feeds them (HTTP requests from the client's
namespace, numbered lines appended to a file), and the reading back: the topic's messages with
kcat, the broker's end offsets, pktlog's exit summary."""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

import livenet as ln
from conftest import ENV, PKTLOG, ROOT

BROKER = os.path.join(ROOT, "tests", "kafka", "broker.sh")
LINE_FMT = "cluster seq %08d"


def in_ns(ns, argv):
    return ["ip", "netns", "exec", ns, *argv]


class Cluster:
    """N combined broker+controller nodes on the loopback of namespace ns."""

    def __init__(self, ns, n=3):
        self.ns, self.n = ns, n
        self.dir = tempfile.mkdtemp(prefix="pktlog-kcluster-")
        self.paused = set()
        out = self.sh("cluster-start", self.dir, str(n))
        if out.returncode != 0:
            self.sh("cluster-stop", self.dir)
            raise AssertionError("the cluster did not start: " + out.stderr[-3000:])
        self.boot = out.stdout.strip().splitlines()[-1]
        self.addrs = self.boot.split(",")
        assert len(self.addrs) == n, self.boot

    def sh(self, *args, timeout=240):
        return subprocess.run(in_ns(self.ns, [BROKER, *args]), capture_output=True, text=True,
                              timeout=timeout)

    def pid(self, k):
        try:
            with open(os.path.join(self.dir, "n%d" % k, "pid")) as f:
                return int(f.read())
        except FileNotFoundError:
            return None

    def alive(self, k):
        pid = self.pid(k)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    def kill(self, k):
        out = self.sh("node-stop", self.dir, str(k), "KILL")
        assert out.returncode == 0, out.stderr

    def start_node(self, k):
        out = self.sh("node-start", self.dir, str(k))
        assert out.returncode == 0, out.stderr

    def stop_all(self):
        self.resume_all()
        out = self.sh("cluster-stop", self.dir)
        assert out.returncode == 0, out.stderr

    def start_all(self):
        out = self.sh("cluster-start", self.dir, str(self.n))
        assert out.returncode == 0, out.stderr

    def pause_all(self):
        for k in range(1, self.n + 1):
            os.kill(self.pid(k), signal.SIGSTOP)
            self.paused.add(k)

    def resume_all(self):
        for k in sorted(self.paused):
            if self.alive(k):
                os.kill(self.pid(k), signal.SIGCONT)
        self.paused.clear()

    def destroy(self):
        self.resume_all()
        self.sh("cluster-stop", self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def kcat(self, *args, timeout=120, text=True):
        return subprocess.run(in_ns(self.ns, ["kcat", "-b", self.boot, *args]),
                              capture_output=True, text=text, timeout=timeout)

    def metadata(self, topic=None):
        """{"brokers": {id, ...}, "parts": {partition: (leader, replicas, isrs)}} as the first
        broker that answers sees it (kcat -L)."""
        out = self.kcat("-L", "-m", "5", *(["-t", topic] if topic else []), timeout=30)
        brokers = {int(m) for m in re.findall(r"^\s+broker (\d+) at ", out.stdout, re.M)}
        parts = {}
        for m in re.finditer(r"partition (\d+), leader (-?\d+), replicas: ([\d,]*), isrs: ([\d,]*)",
                             out.stdout):
            ints = [int(x) for x in m.group(3).split(",") if x]
            isrs = [int(x) for x in m.group(4).split(",") if x]
            parts[int(m.group(1))] = (int(m.group(2)), ints, isrs)
        return {"brokers": brokers, "parts": parts, "ok": out.returncode == 0, "err": out.stderr}

    def leader(self, topic):
        md = self.metadata(topic)
        assert md["parts"], md
        return md["parts"][0][0]

    def wait_healthy(self, topics=(), timeout=90):
        """Every node up and known, every partition of `topics` with all N replicas in sync."""
        want = set(range(1, self.n + 1))
        end = time.time() + timeout
        md = None
        while time.time() < end:
            md = self.metadata()
            good = md["ok"] and md["brokers"] == want
            for t in topics if good else ():
                parts = self.metadata(t)["parts"]
                good = good and parts and all(set(isr) == want and leader in want
                                              for leader, _, isr in parts.values())
            if good:
                return
            time.sleep(0.5)
        raise AssertionError("cluster not healthy within %ds: %s" % (timeout, md))

    def wait_topic(self, topic, timeout=60):
        """Until the topic exists with a leader; returns its partitions."""
        end = time.time() + timeout
        while time.time() < end:
            parts = self.metadata(topic)["parts"]
            if parts and all(p[0] > 0 for p in parts.values()):
                return parts
            time.sleep(0.3)
        raise AssertionError("topic %s has no leader" % topic)

    def end_offsets(self, topic):
        """Sum over the partitions of the topic of the broker's end offset (high watermark)."""
        parts = self.metadata(topic)["parts"]
        assert parts, topic
        out = self.kcat("-Q", *sum((["-t", "%s:%d:-1" % (topic, p)] for p in parts), []), timeout=60)
        assert out.returncode == 0, out.stderr
        offs = [int(m) for m in re.findall(r"\] offset (-?\d+)", out.stdout)]
        assert len(offs) == len(parts), out.stdout
        return sum(offs)

    def consume(self, topic, offsets=False):
        """Every message of the topic, as parsed JSON (kcat -C from the beginning to the end);
        offsets=True: (partition, offset, timestamp, event) tuples."""
        out = self.kcat("-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %o %T %s\\n",
                        timeout=180)
        assert out.returncode == 0, out.stderr[-2000:]
        rows = []
        for line in out.stdout.splitlines():
            if line.strip():
                p, o, t, ev = line.split(" ", 3)
                rows.append((int(p), int(o), int(t), json.loads(ev)))
        return rows if offsets else [r[3] for r in rows]


# ---- pktlog ----

FAST_TAIL = "  close_removed: 1s\n  commit_interval: 200ms\n"


def kafka_section(boot, topic):
    return ("output:\n  kafka:\n    brokers: \"%s\"\n    topic: %s\n    acks: all\n"
            "    idempotence: true\n    message_timeout: 5s\n    flush_timeout: 10s\n"
            "metrics:\n  heartbeat: false\n" % (boot, topic))


class Pktlog:
    """One pktlog inside namespace ns with the Kafka output and -v; `mode` is "live" (capture on
    the server's veth, HTTP on port 8080) or "tail" (one file)."""

    def __init__(self, ns, mode, boot, topic, tail_file=None):
        self.dir = tempfile.mkdtemp(prefix="pktlog-kc-%s-" % mode)
        os.chmod(self.dir, 0o755)          # live capture hands the data dir to capture.user
        cfg = os.path.join(self.dir, "pktlog.yml")
        text = kafka_section(boot, topic)
        argv = [PKTLOG, "--config", cfg, "--data-dir", os.path.join(self.dir, "data"), "-v"]
        # KC_DEBUG=live|tail: librdkafka's msg/eos/broker log for that process (diagnosis)
        if os.environ.get("KC_DEBUG") == mode:
            argv.append("-v")
            text = text.replace("metrics:", "    properties:\n      debug: msg,eos,broker,topic\nmetrics:", 1)
        if mode == "live":
            text += ln.config(ebpf="on")
            argv += ["--iface", ln.VSRV]
        else:
            text += "tail:\n%s  inputs:\n    - paths: \"%s\"\n" % (FAST_TAIL, tail_file)
        with open(cfg, "w") as f:
            f.write(text)
        os.chmod(cfg, 0o644)
        self.errpath = os.path.join(self.dir, "stderr.txt")
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen(in_ns(ns, argv), stdout=subprocess.DEVNULL, stderr=self.err,
                                     env=ENV)
        if mode == "live":
            self.wait_for("capturing with")
            time.sleep(0.3)

    def stderr(self):
        with open(self.errpath) as f:
            return f.read()

    def wait_for(self, text, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if text in self.stderr():
                return
            assert self.proc.poll() is None, "pktlog exited (%s):\n%s" % (self.proc.returncode,
                                                                          self.stderr())
            time.sleep(0.05)
        raise AssertionError("pktlog never said %r:\n%s" % (text, self.stderr()))

    def spooled_bytes(self):
        spool = os.path.join(self.dir, "data", "spool")
        if not os.path.isdir(spool):
            return 0
        return sum(os.path.getsize(os.path.join(spool, n)) for n in os.listdir(spool)
                   if n.endswith(".seg"))

    def stop(self, timeout=120):
        """SIGTERM; the exit status must be 0 and no sanitizer report; returns stderr."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("pktlog did not stop within %ds of SIGTERM:\n%s"
                                 % (timeout, self.stderr()[-4000:]))
        err = self.stderr()
        assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
        assert rc == 0, "exit %d:\n%s" % (rc, err[-4000:])
        return err

    def registry(self):
        """{path: offset} of the tailer's registry (data/tail.db)."""
        db = sqlite3.connect(os.path.join(self.dir, "data", "tail.db"))
        try:
            return dict(db.execute("SELECT path, offset FROM files"))
        finally:
            db.close()

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()
        if os.environ.get("KC_KEEP"):
            print("kept", self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


SUMMARY = re.compile(r"kafka: (\d+) accepted, (\d+) delivered, (\d+) failed, (\d+) re-sent from "
                     r"the spool, (\d+) in flight; spool: (\d+) records written, (\d+) bytes held, "
                     r"(\d+) dropped \(full\), (\d+) corrupt skipped")


def summary(err):
    """The Kafka part of pktlog's -v exit summary, and the count of failed deliveries it says
    the broker may have stored anyway (the redelivery window of a running pktlog)."""
    m = SUMMARY.search(err)
    assert m, err[-3000:]
    keys = ("accepted", "delivered", "failed", "resent", "inflight", "written", "held", "dropped",
            "corrupt")
    st = dict(zip(keys, map(int, m.groups())))
    m = re.search(r"kafka: (\d+) failed deliveries may have been stored", err)
    st["maybe_stored"] = int(m.group(1)) if m else 0
    m = re.search(r"; tail: \d+ files, \d+ bytes, (\d+) lines, (\d+) records \((\d+) delivered\)", err)
    if m:
        st["tail_lines"], st["tail_records"], st["tail_acked"] = map(int, m.groups())
    return st


# ---- load ----

CLIENT = r"""
import http.client, sys, time
host, port, first, last, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
conn = None
t0 = time.monotonic()
for n, i in enumerate(range(first, last)):
    if conn is None or n % 100 == 0:
        if conn is not None:
            conn.close()
        conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/small.txt?i=%d" % i)
    r = conn.getresponse()
    r.read()
    assert r.status == 200, r.status
    delay = t0 + (n + 1) / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
conn.close()
"""


class HttpLoad:
    """Requests /small.txt?i=N for N in [first, last) from the client's namespace to the
    nginx of the server's, at `rate` per second, 100 per keep-alive connection."""

    def __init__(self, first, last, rate):
        self.ids = set(range(first, last))
        self.proc = subprocess.Popen(in_ns(ln.CLI, ["python3", "-c", CLIENT, ln.SRV_IP,
                                                    str(ln.HTTP_PORT), str(first), str(last),
                                                    str(rate)]),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait(self, timeout=600):
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return self.ids


class LineWriter(threading.Thread):
    """Appends LINE_FMT lines numbered first..last-1 to path at `rate` per second."""

    def __init__(self, path, first, last, rate):
        super().__init__(daemon=True)
        self.path, self.first, self.last, self.rate = path, first, last, rate
        self.ids = set(range(first, last))
        self.error = None
        self.start()

    def run(self):
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            step = max(1, int(self.rate // 50))
            t0 = time.monotonic()
            for i in range(self.first, self.last, step):
                hi = min(i + step, self.last)
                os.write(fd, "".join(LINE_FMT % n + "\n" for n in range(i, hi)).encode())
                delay = t0 + (hi - self.first) / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            os.close(fd)
        except Exception as e:    # noqa: BLE001 - handed to the test by wait()
            self.error = e

    def wait(self, timeout=600):
        self.join(timeout)
        assert not self.is_alive() and self.error is None, self.error
        return self.ids


def http_id(ev):
    q = ev.get("url", {}).get("query", "")
    return int(q[2:]) if ev.get("type") == "http" and q.startswith("i=") else None


def line_id(ev):
    parts = ev.get("message", "").split()
    return int(parts[2]) if len(parts) == 3 and parts[0] == "cluster" else None


def split_ids(msgs):
    """(HTTP request ids, tailed line ids) of the messages, duplicates kept; anything else in
    the topic is returned too, and must not be there."""
    http, lines, other = [], [], []
    for ev in msgs:
        h, t = http_id(ev), line_id(ev)
        if h is not None:
            http.append(h)
        elif t is not None:
            lines.append(t)
        else:
            other.append(ev)
    return http, lines, other
