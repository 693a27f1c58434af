"""The command line is a stable interface: options, help, version, exit statuses,
config errors naming file:line and key. Also here: the libraries it is linked with."""
import os
import re
import subprocess

from conftest import PCAPS, PKTLOG, ROOT, run

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


def test_config_missing(tmp_path):
    r = run(["--config", str(tmp_path / "none.yml"), "--pcap", PCAP])
    assert r.rc == 2 and "none.yml" in r.stderr


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
