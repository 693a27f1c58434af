"""The command line is a stable interface: options, help, version, exit statuses,
config errors naming file:line and key. Also here: the libraries it is linked with."""
import os
import re
import signal
import subprocess
import time

from conftest import ENV, PCAPS, PKTLOG, ROOT, run

PCAP = os.path.join(PCAPS, "http_keepalive.pcap")


def test_help():
    r = run(["--help"], parse=False)
    assert r.rc == 0
    for opt in ("--config", "--iface", "--pcap", "--output", "--data-dir", "--version", "-v"):
        assert opt in r.stdout
    assert "Exit status" in r.stdout


def test_version():
    r = run(["--version"], parse=False)
    assert r.rc == 0 and r.stdout.startswith("pktlog ")


def test_unknown_option():
    r = run(["--frobnicate"])
    assert r.rc == 2 and "Usage" in r.stderr


def test_no_source():
    r = run([])
    assert r.rc == 2 and "no source" in r.stderr


def test_iface_and_pcap_conflict():
    r = run(["--iface", "lo", "--pcap", PCAP])
    assert r.rc == 2


def test_bad_output():
    r = run(["--pcap", PCAP, "--output", "kafka"])
    assert r.rc == 2 and "--output" in r.stderr


def test_output_null_and_file(tmp_path):
    r = run(["--pcap", PCAP, "--output", "null"])
    assert r.rc == 0 and r.events == []
    out = tmp_path / "ev.json"
    r = run(["--pcap", PCAP, "--output", f"file:{out}"])
    assert r.rc == 0 and r.events == []
    assert len(out.read_text().splitlines()) == 5


def test_output_file_unwritable(tmp_path):
    r = run(["--pcap", PCAP, "--output", f"file:{tmp_path}/no/such/dir/ev.json"])
    assert r.rc == 1 and "no/such/dir" in r.stderr


def test_default_config_file_loads():
    r = run(["--config", os.path.join(ROOT, "conf", "pktlog.yml"), "--pcap", PCAP])
    assert r.rc == 0 and len(r.events) == 5


def test_config_error_names_file_line_key(tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("protocols:\n  http:\n    ports: [80, 70000]\n")
    r = run(["--config", str(cfg), "--pcap", PCAP])
    assert r.rc == 2
    assert f"{cfg}:3: protocols.http.ports:" in r.stderr


def test_config_unknown_key(tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("flows:\n  max_flow: 10\n")
    r = run(["--config", str(cfg), "--pcap", PCAP])
    assert r.rc == 2
    assert f"{cfg}:2: flows.max_flow:" in r.stderr


def test_config_values_checked_at_load(tmp_path):
    """issue 13: a bad metrics.listen, capture.bpf_filter or capture.user failed later with
    exit 1 and no file:line (or, for the filter, was silently ignored by a replay)."""
    cases = [
        ("metrics:\n  listen: \"localhost:99999\"\n", 2, "metrics.listen"),
        ("metrics:\n  listen: \"127.0.0.1\"\n", 2, "metrics.listen"),
        ("capture:\n  bpf_filter: \"tcp port banana\"\n", 2, "capture.bpf_filter"),
        ("capture:\n  snaplen: 1500\n  user: \"no-such-user-pktlog\"\n", 3, "capture.user"),
    ]
    for text, line, key in cases:
        cfg = tmp_path / "bad.yml"
        cfg.write_text(text)
        r = run(["--config", str(cfg), "--pcap", PCAP, "--output", "null"])
        assert r.rc == 2 and f"{cfg}:{line}: {key}:" in r.stderr, (text, r.rc, r.stderr)
    good = tmp_path / "good.yml"
    good.write_text("capture:\n  bpf_filter: \"not host 192.0.2.1\"\n  user: \"nobody\"\n"
                    "metrics:\n  listen: \"[::1]:0\"\n")
    r = run(["--config", str(good), "--pcap", PCAP, "--output", "null"])
    assert r.rc == 0, r.stderr


def test_config_missing(tmp_path):
    r = run(["--config", str(tmp_path / "none.yml"), "--pcap", PCAP])
    assert r.rc == 2 and "none.yml" in r.stderr


def test_config_fifo_or_device_is_refused_at_once(tmp_path):
    """issue 13: a FIFO named by --config used to block open() forever (no writer)."""
    fifo = tmp_path / "pktlog.yml"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    r = run(["--config", str(fifo), "--pcap", PCAP], timeout=20)
    assert r.rc == 2 and f"{fifo}: cannot read: a FIFO, not a regular file" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 10
    r = run(["--config", "/dev/zero", "--pcap", PCAP], timeout=20)
    assert r.rc == 2 and "/dev/zero: cannot read: a character device" in r.stderr, r.stderr
    r = run(["--config", str(tmp_path), "--pcap", PCAP], timeout=20)
    assert r.rc == 2 and f"{tmp_path}: cannot read: a directory" in r.stderr, r.stderr


def test_verbose_summary():
    r = run(["--pcap", PCAP, "-v", "--output", "null"])
    assert r.rc == 0
    assert "summary" in r.stderr and "5 events written" in r.stderr


# --- the libraries: linked as usual, so ld.so, dpkg-shlibdeps and debuggers see them ---

def test_libraries_are_linked():
    """librdkafka, libmicrohttpd, libsqlite3 and libbpf are NEEDED entries of the binary, and
    it defines none of their functions itself (no shims standing in for them)."""
    dyn = subprocess.run(["readelf", "-d", PKTLOG], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(lib[^.\]]+)\.so", dyn))
    assert {"librdkafka", "libmicrohttpd", "libsqlite3", "libbpf", "libpcap"} <= needed, needed
    syms = subprocess.run(["nm", "--defined-only", PKTLOG], capture_output=True, text=True,
                          check=True).stdout
    own = re.findall(r" [TW] ((?:rd_kafka|MHD|sqlite3|bpf|libbpf)_\w+)$", syms, re.M)
    assert own == []


def caught(pid, sig):
    """Whether process pid has a handler for sig (SigCgt in /proc/pid/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    except FileNotFoundError:
        pass
    return False


def test_signals_during_startup_do_not_kill(tmp_path):
    """issue 13: SIGHUP/SIGUSR1 during start-up used to kill pktlog (exit 129/138); with an
    unreachable Kafka broker start-up takes over 2 s (the cluster check). Signals are
    handled from main()'s first instruction and a reload asked for during start-up is
    applied once start-up ends (here: it adds a second tail input)."""
    (tmp_path / "a.log").write_text("line a\n")
    (tmp_path / "b.log").write_text("line b\n")
    cfg = tmp_path / "pktlog.yml"

    def write_cfg(names):
        cfg.write_text("output:\n  kafka:\n    brokers: \"127.0.0.1:1\"\n"
                       "    flush_timeout: 100ms\n"
                       "tail:\n  inputs:\n" +
                       "".join(f"    - paths: [\"{tmp_path / n}\"]\n      "
                               "start_position: beginning\n" for n in names))

    write_cfg(["a.log"])
    p = subprocess.Popen([PKTLOG, "-v", "--config", str(cfg), "--data-dir",
                          str(tmp_path / "data")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, text=True)
    try:
        # From main()'s first instructions on (before them the kernel's default action
        # applies to any process: wait until /proc says SIGHUP is caught), through the
        # seconds of the cluster check.
        end = time.monotonic() + 20
        while not caught(p.pid, signal.SIGHUP) and time.monotonic() < end:
            time.sleep(0.001)
        t0 = time.monotonic()
        changed = False
        while time.monotonic() - t0 < 3.5 and p.poll() is None:
            for sig in (signal.SIGHUP, signal.SIGUSR1):
                p.send_signal(sig)
                time.sleep(0.01)
            if not changed and time.monotonic() - t0 > 0.5:
                write_cfg(["a.log", "b.log"])     # read long before; start-up goes on
                changed = True
        time.sleep(1.5)
        assert p.poll() is None, f"pktlog died with {p.returncode}"
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, (p.returncode, err[-3000:])
    assert "Sanitizer" not in err and "runtime error" not in err, err[-3000:]
    assert "do not answer" in err, err[-3000:]      # the broker was unreachable: a long start
    assert f"SIGHUP: {cfg} reloaded" in err, err[-3000:]
    assert "tail: 2 files" in err.splitlines()[-1] or \
        any("summary:" in l and "tail: 2 files" in l for l in err.splitlines()), err[-3000:]
