"""Shared helpers for the end-to-end tests: run the sanitizer-built pktlog on capture
files and read its events back.  Tests run from the repository root (make test)."""
import json
import os
import subprocess
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKTLOG = os.environ.get("PKTLOG", os.path.join(ROOT, "build", "asan", "pktlog"))
PCAPS = os.path.join(ROOT, "pcaps")
# Packetbeat's own test captures are not part of this repository: they are read from
# PKTLOG_PEER_PCAPS (.ci/run exports it) or else from ../shared/peer-pcaps beside the clone.
PEER_PCAPS = os.environ.get("PKTLOG_PEER_PCAPS")
PEER = os.path.abspath(os.path.join(PEER_PCAPS or os.path.join(ROOT, "..", "shared", "peer-pcaps"),
                                    "packetbeat"))

ENV = dict(os.environ,
           ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1",
           UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")


class Run:
    def __init__(self, proc, events):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.events = events


def run(args, config=None, timeout=120, stdin=None, parse=True, env=None):
    """Run pktlog with args (a list); config is YAML text written to a temp file and
    passed with --config; env (a dict) is added to the environment. Events are parsed
    from stdout, one JSON object a line."""
    assert os.path.exists(PKTLOG), f"{PKTLOG} is missing: run make asan"
    argv = [PKTLOG]
    cfgfile = None
    if config is not None:
        cfgfile = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
        cfgfile.write(config)
        cfgfile.close()
        argv += ["--config", cfgfile.name]
    argv += args
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout,
                              env=dict(ENV, **(env or {})), text=True, input=stdin)
    finally:
        if cfgfile:
            os.unlink(cfgfile.name)
    # Sanitizer reports must never appear.
    assert "Sanitizer" not in proc.stderr, proc.stderr[-4000:]
    assert "runtime error" not in proc.stderr, proc.stderr[-4000:]
    events = []
    for line in proc.stdout.splitlines() if parse else []:
        if line.strip():
            events.append(json.loads(line))
    return Run(proc, events)


def replay(pcap, ports=None, extra_config="", args=()):
    """Replay one capture; ports (list) sets protocols.http.ports."""
    cfg = ""
    if ports is not None:
        cfg += "protocols:\n  http:\n    ports: [%s]\n" % ", ".join(str(p) for p in ports)
    cfg += extra_config
    r = run(["--pcap", pcap, *args], config=cfg if cfg else None)
    assert r.rc == 0, r.stderr
    return r


def peer_capture(name):
    """The path of one of Packetbeat's captures. Where PKTLOG_PEER_PCAPS is not set and
    ../shared/peer-pcaps is absent (a user's clone), the calling test is skipped: the one
    permitted skip. Where PKTLOG_PEER_PCAPS names the place (CI), a missing file fails."""
    path = os.path.join(PEER, name)
    if not PEER_PCAPS and not os.path.isdir(PEER):
        pytest.skip(f"peer captures (Packetbeat's, not in this repository) absent: {PEER}")
    assert os.path.exists(path), f"{path} is missing (peer captures: {PEER})"
    return path


# Fields that depend on the machine or the build, left out when events are compared with the
# expected events kept in pcaps/.
VOLATILE = {("host", "name"), ("agent", "version")}


def strip_volatile(ev):
    ev = json.loads(json.dumps(ev))
    for a, b in VOLATILE:
        ev.get(a, {}).pop(b, None)
    return ev


def get(ev, dotted, default=None):
    cur = ev
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def check_expected_events(pcap):
    """Replay pcap: every event, field by field, must be the one of pcaps/<name>.events.jsonl
    (host.name and agent.version aside)."""
    expected_file = pcap[:-len(".pcap")] + ".events.jsonl"
    assert os.path.exists(expected_file), \
        f"{expected_file} missing: make it with tests/integration/make_expected.py and review it"
    with open(expected_file) as f:
        expected = [json.loads(l) for l in f if l.strip()]
    got = [strip_volatile(e) for e in replay(pcap).events]
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"event {i} differs"


@pytest.fixture
def tmpdir_path(tmp_path):
    return str(tmp_path)


@pytest.fixture(scope="module")
def net():
    """Two network namespaces joined by a veth pair (tests/integration/livenet.py) with a
    private nginx in the server's: for the live-capture and reload tests."""
    import livenet as ln
    assert os.geteuid() == 0, "live capture tests need root (network namespaces)"
    assert os.path.exists(PKTLOG), f"{PKTLOG} is missing: run make asan"
    ln.netns_up()
    nginx = ln.Nginx()
    yield nginx
    nginx.stop()
    ln.netns_down(ln.SRV, ln.CLI)


@pytest.fixture
def live():
    """live(*args, **kw) starts a livenet.Pktlog (PKTLOG in the namespaces); each is cleaned
    up after the test."""
    import livenet as ln
    started = []

    def start(*args, **kw):
        p = ln.Pktlog(PKTLOG, *args, **kw)
        started.append(p)
        return p
    yield start
    for p in started:
        p.cleanup()
