"""Output failures on real failing media (issue 13, "lies about delivery"): /dev/full, a closed
stdout, a pipe whose reader left, a file output on a tiny tmpfs (ENOSPC mid-record), a tailer
daemon whose output file system fills and then frees, and the Kafka spool on a 2 MB tmpfs with
the broker away and then back (tests/kafka/broker.sh). Each case checks the exit status, the
message naming the output, that no partial record survives, and that the -v delivery line adds
up (taken = written/delivered + spooled + dropped by reason). Tests run as root (tmpfs
mounts); nothing skips."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import ENV, PCAPS, PKTLOG, ROOT

BURST = os.path.join(PCAPS, "mysql_burst.pcap")        # 2,001 MySQL events, ~1.9 MB of JSON
BURST_EVENTS = 2001
SMALL = os.path.join(PCAPS, "http_concurrent.pcap")    # 100 HTTP events
SMALL_EVENTS = 100
MYSQL = "protocols:\n  mysql:\n    ports: [3306]\n"
BROKER = os.path.join(ROOT, "tests", "kafka", "broker.sh")


def pktlog(args, config=None, tmp=None, **kw):
    assert os.path.exists(PKTLOG), f"{PKTLOG} is missing: run make asan"
    argv = [PKTLOG]
    if config is not None:
        cfg = os.path.join(tmp, "pktlog-%d.yml" % time.monotonic_ns())
        with open(cfg, "w") as f:
            f.write(config)
        argv += ["--config", cfg]
    return argv + args


def clean(err):
    assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]


def delivery(err):
    """The -v delivery line: its numbers by name, and it must add up."""
    m = re.search(r"pktlog: delivery: (.*)", err)
    assert m, err[-3000:]
    line = m.group(1)
    assert "DOES NOT ADD UP" not in line, line
    return line, None


def written(err):
    m = re.search(r"; (\d+) events written", err)
    assert m, err[-3000:]
    return int(m.group(1))


def whole_lines(path):
    """Every line of path parses as one JSON event and the file ends in a newline."""
    with open(path, "rb") as f:
        data = f.read()
    assert not data or data.endswith(b"\n"), data[-200:]
    return [json.loads(l) for l in data.split(b"\n")[:-1]]


@pytest.fixture
def tiny_fs(tmp_path):
    """A tmpfs of a few KB under tmp_path; mount(size) is changed with remount(...)."""
    d = tmp_path / "fs"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], check=True)

    def remount(size):
        subprocess.run(["mount", "-o", "remount,size=" + size, str(d)], check=True)
    yield d, remount
    subprocess.run(["umount", "-l", str(d)], check=True)


# ---- item 6: a replay whose output fails exits 1 with the count actually written ----

def test_dev_full_exits_1():
    p = subprocess.run(pktlog(["-v", "--pcap", BURST, "--output", "file:/dev/full"]),
                       capture_output=True, text=True, env=ENV, timeout=120)
    clean(p.stderr)
    assert p.returncode == 1, p.stderr[-3000:]
    assert "output /dev/full: write failed: No space left on device" in p.stderr
    assert written(p.stderr) == 0
    line, _ = delivery(p.stderr)
    assert "0 written + %d dropped" % BURST_EVENTS in line, line


def test_closed_stdout_exits_1():
    p = subprocess.run(["sh", "-c", '"$0" -v --pcap "$1" >&-', PKTLOG, SMALL],
                       capture_output=True, text=True, env=ENV, timeout=120)
    clean(p.stderr)
    assert p.returncode == 1, p.stderr[-3000:]
    assert "output stdout: standard output is closed" in p.stderr


def test_broken_pipe_exits_1_with_a_message():
    """pktlog | head -c 100: SIGPIPE is ignored, EPIPE ends the replay with exit 1, the output
    named, and the count of whole events the pipe took."""
    p = subprocess.Popen(pktlog(["-v", "--pcap", BURST]), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=ENV)
    head = subprocess.Popen(["head", "-c", "100"], stdin=p.stdout, stdout=subprocess.DEVNULL)
    p.stdout.close()
    err = p.stderr.read().decode()
    rc = p.wait(timeout=120)
    head.wait(timeout=10)
    clean(err)
    assert rc == 1, (rc, err[-3000:])
    assert "output stdout: write failed: Broken pipe" in err
    n = written(err)
    assert n < BURST_EVENTS
    line, _ = delivery(err)
    assert "%d written + %d dropped" % (n, BURST_EVENTS - n) in line, line


# ---- item 7: ENOSPC never leaves a torn record, not even across a restart ----

def test_enospc_leaves_whole_records_across_restart(tiny_fs):
    fs, remount = tiny_fs
    out = fs / "out.json"
    p = subprocess.run(pktlog(["-v", "--pcap", BURST, "--output", "file:%s" % out], MYSQL, str(fs.parent)),
                       capture_output=True, text=True, env=ENV, timeout=120)
    clean(p.stderr)
    first = whole_lines(out)
    assert p.returncode == 1, p.stderr[-3000:]
    assert "No space left on device" in p.stderr
    assert 0 < len(first) == written(p.stderr) < BURST_EVENTS
    # A crash mid-write (simulated: a cut record at the end) is cut off on the next start.
    with open(out, "ab") as f:
        f.write(b'{"@timestamp":"2026-')
    remount("8m")
    p = subprocess.run(pktlog(["-v", "--pcap", SMALL, "--output", "file:%s" % out]),
                       capture_output=True, text=True, env=ENV, timeout=120)
    clean(p.stderr)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "cut 20 bytes of a partial record" in p.stderr
    after = whole_lines(out)
    assert len(after) == len(first) + SMALL_EVENTS
    assert after[:len(first)] == first


# ---- item 6: a tailer daemon retries, holds its offsets, and /metrics shows the failure ----

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {l.rsplit(" ", 1)[0]: int(l.rsplit(" ", 1)[1])
            for l in text.splitlines() if l and not l.startswith("#")}


def wait_for(pred, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return pred()


def test_tailer_output_fills_then_frees(tiny_fs, tmp_path):
    fs, remount = tiny_fs
    out = fs / "out.json"
    log = tmp_path / "app.log"
    n = 600
    with open(log, "w") as f:
        for i in range(n):
            f.write("line %06d %s\n" % (i, "x" * 150))
    port = free_port()
    cfg = tmp_path / "t.yml"
    cfg.write_text('metrics:\n  listen: "127.0.0.1:%d"\n  heartbeat: false\n' % port)
    errpath = tmp_path / "stderr"

    def start():
        return subprocess.Popen([PKTLOG, "-v", "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                                 "--output", "file:%s" % out, "--tail", str(log)],
                                stdout=subprocess.DEVNULL, stderr=open(errpath, "a"), env=ENV)
    p = start()
    m = wait_for(lambda: (lambda s: s if s.get("pktlog_output_errors_total", 0) > 0 else None)(scrape(port)))
    assert m, errpath.read_text()[-3000:]
    assert m["pktlog_output_healthy"] == 0
    assert m["pktlog_tail_records_acked_total"] < n
    time.sleep(2)
    assert p.poll() is None, errpath.read_text()[-3000:]   # a daemon stays up and retries
    held = whole_lines(out)
    assert len(held) < n
    remount("16m")
    assert wait_for(lambda: len(whole_lines(out)) >= n, timeout=60), errpath.read_text()[-3000:]
    m = wait_for(lambda: (lambda s: s if s.get("pktlog_tail_records_acked_total") == n else None)(scrape(port)))
    assert m and m["pktlog_output_healthy"] == 1, m
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 0
    err = errpath.read_text()
    clean(err)
    assert "output %s: write failed: No space left on device" % out in err
    assert "writing again" in err
    assert "offsets stop advancing" not in err
    line, _ = delivery(err)
    got = [e["message"] for e in whole_lines(out)]
    assert got == ["line %06d %s" % (i, "x" * 150) for i in range(n)]
    # The offsets were committed for exactly what was written: a restart adds nothing.
    p = start()
    time.sleep(3)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 0
    assert len(whole_lines(out)) == n


# ---- item 8: the Kafka spool on a full 2 MB file system: every event accounted for ----

@pytest.fixture
def broker(tmp_path):
    d = str(tmp_path / "kafka")
    out = subprocess.run([BROKER, "start", d], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    yield out.stdout.strip().splitlines()[-1]
    subprocess.run([BROKER, "stop", d], check=True, timeout=60)


def closed_port():
    return "127.0.0.1:%d" % free_port()


def kafka_cfg(addr, topic):
    return ("output:\n  kafka:\n    brokers: \"%s\"\n    topic: %s\n"
            "    message_timeout: 3s\n    flush_timeout: 3s\n" % (addr, topic) + MYSQL)


def topic_count(addr, topic, want, timeout=60):
    end = time.monotonic() + timeout
    while True:
        out = subprocess.run(["kcat", "-b", addr, "-C", "-t", topic, "-e", "-q", "-f", "%o\n"],
                             capture_output=True, text=True, timeout=60)
        n = len([l for l in out.stdout.splitlines() if l.strip()])
        if n >= want or time.monotonic() > end:
            return n
        time.sleep(0.5)


def test_spool_on_full_tmpfs_accounts_for_every_event(broker, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(data)], check=True)
    try:
        # Kafka away (a closed port): 2,001 events (~1.9 MB) into a 2 MB file system that
        # something else already half fills.
        with open(data / "filler", "wb") as f:
            f.write(b"\0" * (1 << 20))
        p = subprocess.run(pktlog(["-v", "--data-dir", str(data), "--pcap", BURST],
                                  kafka_cfg(closed_port(), "spooltest"), str(tmp_path)),
                           capture_output=True, text=True, env=ENV, timeout=300)
        clean(p.stderr)
        assert p.returncode == 1, p.stderr[-3000:]
        assert "No space left on device" in p.stderr
        assert "Inappropriate ioctl" not in p.stderr
        line, _ = delivery(p.stderr)
        m = re.search(r"(\d+) events taken = 0 delivered \+ (\d+) spooled \+ 0 in flight \+ "
                      r"(\d+) dropped \(spool full\) \+ (\d+) dropped \(spool write error\)", line)
        assert m, line
        taken, spooled, full, werr = map(int, m.groups())
        assert taken == BURST_EVENTS
        assert spooled > 0 and werr > 0 and taken == spooled + full + werr
        met = re.search(r"spool: (\d+) records written", p.stderr)
        assert met and int(met.group(1)) == spooled
        # Kafka is back: a daemon (tailing an empty file) drains the spool; every spooled
        # event arrives and the spool is left empty. (The filler goes: the tailer's registry
        # needs a little room.)
        os.unlink(data / "filler")
        empty = tmp_path / "empty.log"
        empty.write_text("")
        cfg = tmp_path / "k.yml"
        cfg.write_text(kafka_cfg(broker, "spooltest"))
        errpath = tmp_path / "stderr2"
        d = subprocess.Popen([PKTLOG, "-v", "--config", str(cfg), "--data-dir", str(data),
                              "--tail", str(empty)], stdout=subprocess.DEVNULL,
                             stderr=open(errpath, "w"), env=ENV)
        drained = wait_for(lambda: d.poll() is not None or
                           not [f for f in os.listdir(data / "spool") if f.endswith(".seg")],
                           timeout=120)
        d.send_signal(signal.SIGTERM)
        rc = d.wait(timeout=60)
        err = errpath.read_text()
        clean(err)
        assert rc == 0 and drained, err[-3000:]
        assert topic_count(broker, "spooltest", spooled) == spooled
        assert re.search(r"; (\d+) spooled records delivered", err).group(1) == str(spooled), err[-2000:]
    finally:
        subprocess.run(["umount", "-l", str(data)], check=True)


# ---- item 6, live capture: a capture daemon keeps the events its output could not write ----

def test_live_capture_output_fills_then_frees(tiny_fs, tmp_path):
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    web = srv.server_address[1]
    fs, remount = tiny_fs
    out = fs / "out.json"
    with open(fs / "filler", "wb") as f:      # the file system is full before pktlog starts
        try:
            f.write(b"\0" * (1 << 20))
        except OSError:
            pass
    port = free_port()
    cfg = tmp_path / "live.yml"
    cfg.write_text('metrics:\n  listen: "127.0.0.1:%d"\n  heartbeat: false\n'
                   "protocols:\n  http:\n    ports: [%d]\n  mysql:\n    enabled: false\n" % (port, web))
    errpath = tmp_path / "stderr"
    p = subprocess.Popen([PKTLOG, "-v", "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                          "--iface", "lo", "--output", "file:%s" % out],
                         stdout=subprocess.DEVNULL, stderr=open(errpath, "w"), env=ENV)
    try:
        time.sleep(1.5)   # capture armed
        assert p.poll() is None, errpath.read_text()
        n = 30
        for i in range(n):
            urllib.request.urlopen("http://127.0.0.1:%d/r?i=%d" % (web, i), timeout=5).read()
        failing = wait_for(lambda: (lambda s: s if s.get("pktlog_output_errors_total", 0) > 0
                                    else None)(scrape(port)))
        assert failing, errpath.read_text()[-3000:]
        assert whole_lines(out) == []
        os.unlink(fs / "filler")
        wait_for(lambda: len(whole_lines(out)) >= n, timeout=30)
        ids = sorted(int(e["url"]["query"][2:]) for e in whole_lines(out))
        assert ids == list(range(n)), (ids, errpath.read_text()[-3000:])
        assert failing.get("pktlog_output_healthy") == 0, failing
        m = wait_for(lambda: (lambda s: s if s.get("pktlog_output_healthy") == 1 else None)(scrape(port)))
        assert m, errpath.read_text()[-3000:]
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        srv.shutdown()
    err = errpath.read_text()
    clean(err)
    assert rc == 0, err[-3000:]
    assert len(whole_lines(out)) == n
    assert "write failed: No space left on device" in err and "writing again" in err
    line, _ = delivery(err)
    assert "%d written + 0 dropped" % n in line, line


# ---- the tailer with Kafka away and a full spool: refused, not acked as failed ----

def test_tailer_kafka_away_full_spool_holds_offsets(tmp_path):
    """Kafka away, the spool at its max_bytes: the tailer's records are refused (it waits
    and reads them again), never acknowledged as failed (which stopped its offsets until a
    restart). When the broker comes, every line arrives and nothing is dropped."""
    bdir = tmp_path / "kafka"
    bdir.mkdir()
    port = free_port()
    (bdir / "port").write_text("%d\n" % port)     # broker.sh keeps a port it finds here
    (bdir / "cport").write_text("%d\n" % free_port())
    addr = "127.0.0.1:%d" % port
    log = tmp_path / "app.log"
    n = 1500
    with open(log, "w") as f:        # 2 KB lines: 64 of them (between two pause checks) overfill
        for i in range(n):
            f.write("seq %06d %s\n" % (i, "y" * 2000))
    cfg = tmp_path / "k.yml"
    cfg.write_text("output:\n  kafka:\n    brokers: \"%s\"\n    topic: tailspool\n"
                   "    message_timeout: 3s\n    flush_timeout: 3s\n"
                   "  spool:\n    max_bytes: 262144\n    segment_bytes: 65536\n" % addr)
    errpath = tmp_path / "stderr"
    p = subprocess.Popen([PKTLOG, "-v", "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                          "--tail", str(log)], stdout=subprocess.DEVNULL,
                         stderr=open(errpath, "w"), env=ENV)
    started = False
    try:
        time.sleep(8)                                  # the spool fills; the tailer waits
        assert p.poll() is None, errpath.read_text()[-3000:]
        out = subprocess.run([BROKER, "start", str(bdir)], capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        started = True
        assert topic_count(addr, "tailspool", n, timeout=120) >= n, errpath.read_text()[-3000:]
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        msgs = subprocess.run(["kcat", "-b", addr, "-C", "-t", "tailspool", "-e", "-q", "-f", "%s\n"],
                              capture_output=True, text=True, timeout=60).stdout if started else ""
        if started:
            subprocess.run([BROKER, "stop", str(bdir)], check=True, timeout=60)
    err = errpath.read_text()
    clean(err)
    assert rc == 0, err[-3000:]
    assert "offsets stop advancing" not in err, err[-3000:]
    seqs = {json.loads(l)["message"].split()[1] for l in msgs.splitlines() if l.strip()}
    assert seqs == {"%06d" % i for i in range(n)}
    # Refused and read again, so not dropped: neither said nor counted as dropped.
    assert "the spool is full" not in err
    assert re.search(r"spool: \d+ records written, \d+ bytes held, 0 dropped \(full\)", err), err[-2000:]
    line, _ = delivery(err)
    assert "+ 0 dropped (spool full) + 0 dropped (spool write error)" in line, line


def test_tailer_to_broken_pipe_exits_1(tmp_path):
    """pktlog --tail F | head -c 100: a daemon whose stdout reader left stops with exit 1 and
    a message naming stdout, instead of running on while delivering nothing."""
    log = tmp_path / "app.log"
    with open(log, "w") as f:
        for i in range(5000):
            f.write("line %06d %s\n" % (i, "z" * 100))
    p = subprocess.Popen([PKTLOG, "--data-dir", str(tmp_path / "data"), "--tail", str(log)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    head = subprocess.Popen(["head", "-c", "100"], stdin=p.stdout, stdout=subprocess.DEVNULL)
    p.stdout.close()
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("pktlog kept running with its stdout reader gone")
    err = p.stderr.read().decode()
    head.wait(timeout=10)
    clean(err)
    assert rc == 1, (rc, err[-3000:])
    assert "output stdout: write failed: Broken pipe" in err


def test_replay_into_a_full_spool_exits_1(tmp_path):
    """Kafka away and output.spool.max_bytes reached: a replay that drops events says so,
    counts them as dropped (spool full) in an identity that adds up, and exits 1."""
    cfg = ("output:\n  kafka:\n    brokers: \"%s\"\n    topic: t\n    message_timeout: 3s\n"
           "    flush_timeout: 3s\n  spool:\n    max_bytes: 131072\n    segment_bytes: 65536\n"
           % closed_port()) + MYSQL
    p = subprocess.run(pktlog(["-v", "--data-dir", str(tmp_path / "data"), "--pcap", BURST], cfg,
                              str(tmp_path)), capture_output=True, text=True, env=ENV, timeout=300)
    clean(p.stderr)
    assert p.returncode == 1, p.stderr[-3000:]
    assert "the spool is full" in p.stderr
    line, _ = delivery(p.stderr)
    m = re.search(r"(\d+) events taken = 0 delivered \+ (\d+) spooled \+ 0 in flight \+ "
                  r"(\d+) dropped \(spool full\) \+ 0 dropped \(spool write error\)", line)
    assert m, line
    taken, spooled, full = map(int, m.groups())
    assert taken == BURST_EVENTS and full > 0 and spooled + full == taken


def test_tailer_kafka_record_too_large_does_not_stop_offsets(tmp_path):
    """A 1.5 MB line with the default max_line_bytes (1 MiB pieces): the first piece is
    larger than any Kafka message or spool record can be. It is dropped and counted
    (output_rejected); the tailer goes on, its offsets advancing past it. Before, the
    record was acknowledged as failed and the tailer's offsets stopped for good (a restart
    read the same line again)."""
    log = tmp_path / "app.log"
    with open(log, "w") as f:
        f.write("before\n" + "L" * 1500000 + "\nafter\n")
    cfg = tmp_path / "k.yml"
    cfg.write_text("output:\n  kafka:\n    brokers: \"%s\"\n    topic: big\n"
                   "    message_timeout: 3s\n    flush_timeout: 3s\n" % closed_port())
    errpath = tmp_path / "stderr"
    p = subprocess.Popen([PKTLOG, "-v", "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                          "--tail", str(log)], stdout=subprocess.DEVNULL,
                         stderr=open(errpath, "w"), env=ENV)
    time.sleep(8)      # start-up check (3 s), read, spool, fsync interval, commit
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    err = errpath.read_text()
    clean(err)
    assert rc == 0, err[-3000:]
    assert "offsets stop advancing" not in err, err[-3000:]
    assert "is dropped: larger than a spool record may be" in err, err[-3000:]
    assert "4 records (4 delivered)" in err, err[-3000:]
    line, _ = delivery(err)
    assert "4 events taken = 0 delivered + 3 spooled" in line and "+ 1 rejected by Kafka" in line, line
