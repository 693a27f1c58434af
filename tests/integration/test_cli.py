"""The command line is a stable interface: options, help, version, exit statuses,
config errors naming file:line and key. Also here: which optional libraries a run maps."""
import os
import signal
import subprocess
import time

from conftest import (ENV, PCAPS, PKTLOG, ROOT, broken_libs, loaded_libs, mapped_libs, run,
                      soname)

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


# --- optional libraries: each opened (dlopen, src/dl/) only by the feature that needs it ---

HEAVY = ("librdkafka.so", "libmicrohttpd.so", "libsqlite3.so", "libbpf.so", "libssl.so",
         "libcrypto.so", "libgnutls.so", "libsasl2.so", "libelf.so")


def ld_run(args, config=None):
    """Run with LD_DEBUG=files: (result, the shared objects ld.so loaded)."""
    r = run(args, config=config, env={"LD_DEBUG": "files"}, parse=False)
    libs = loaded_libs(r.stderr)
    assert any(l.startswith("libpcap.so") for l in libs), r.stderr[-2000:]
    return r, libs


def heavy(libs):
    return sorted(l for l in libs if l.startswith(HEAVY))


def test_replay_loads_no_optional_library():
    # conf/pktlog.yml has "properties: {}": nothing to check, so no librdkafka either.
    r, libs = ld_run(["--config", os.path.join(ROOT, "conf", "pktlog.yml"), "--pcap", PCAP,
                      "--output", "null"])
    assert r.rc == 0
    assert heavy(libs) == []


def test_metrics_loads_only_libmicrohttpd():
    r, libs = ld_run(["--pcap", PCAP, "--output", "null"],
                     config='metrics:\n  listen: "127.0.0.1:0"\n')
    assert r.rc == 0
    assert soname("microhttpd") in libs
    assert [l for l in heavy(libs) if l.startswith(("librdkafka", "libsqlite3", "libbpf"))] == []


def test_kafka_output_loads_librdkafka(tmp_path):
    # No broker at all: the events are spooled, and nothing but librdkafka's own set comes in.
    r, libs = ld_run(["--pcap", PCAP, "--data-dir", str(tmp_path)],
                     config='output:\n  kafka:\n    brokers: "127.0.0.1:1"\n'
                            '    flush_timeout: 100ms\n')
    assert r.rc == 0, r.stderr[-2000:]
    assert soname("rdkafka") in libs
    assert [l for l in heavy(libs) if l.startswith(("libmicrohttpd", "libsqlite3", "libbpf"))] == []


def test_tailer_maps_only_libsqlite3(tmp_path):
    (tmp_path / "app.log").write_text("one line\n")
    p = subprocess.Popen([PKTLOG, "--tail", str(tmp_path / "*.log"), "--data-dir",
                          str(tmp_path / "data"), "--output", "null"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, text=True)
    try:
        end = time.time() + 20
        while not (tmp_path / "data" / "tail.db").exists() and time.time() < end:
            time.sleep(0.05)
        assert mapped_libs(p.pid) == {"sqlite3"}
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    assert p.returncode == 0 and "Sanitizer" not in err, err


def test_missing_library_is_a_clean_error(tmp_path):
    """A library that cannot be loaded stops only the feature that needs it, naming both."""
    env = broken_libs(str(tmp_path), "rdkafka", "microhttpd", "sqlite3")
    r = run(["--pcap", PCAP, "--output", "null"], env=env)
    assert r.rc == 0 and r.stderr == ""
    r = run(["--pcap", PCAP, "--data-dir", str(tmp_path)], env=env,
            config='output:\n  kafka:\n    brokers: "127.0.0.1:1"\n')
    assert r.rc == 1
    assert f"the Kafka output needs {soname('rdkafka')}: " in r.stderr
    r = run(["--pcap", PCAP], env=env,
            config="output:\n  kafka:\n    properties:\n      socket.timeout.ms: 1000\n")
    assert r.rc == 2
    assert f":4: output.kafka.properties: cannot be checked: the Kafka output needs " \
           f"{soname('rdkafka')}: " in r.stderr
    r = run(["--pcap", PCAP, "--output", "null"], env=env,
            config='metrics:\n  listen: "127.0.0.1:0"\n')
    assert r.rc == 1
    assert f"the metrics endpoint (metrics.listen) needs {soname('microhttpd')}: " in r.stderr
    (tmp_path / "app.log").write_text("one line\n")
    r = run(["--tail", str(tmp_path / "*.log"), "--data-dir", str(tmp_path / "data"),
             "--output", "null"], env=env)
    assert r.rc == 1
    assert f"the tailer's registry needs {soname('sqlite3')}: " in r.stderr


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
        # In main() and inside start-up: librdkafka is mapped when the Kafka output opens,
        # and the cluster check that follows lasts seconds with no broker.
        end = time.monotonic() + 20
        while "rdkafka" not in mapped_libs(p.pid) and time.monotonic() < end:
            time.sleep(0.005)
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
