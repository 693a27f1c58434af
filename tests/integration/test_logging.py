"""logging.to: where pktlog's own messages go (issue 15: log.c and common.h promised syslog).

stderr lines are "pktlog: LEVEL: text"; when stderr is the journal (systemd's JOURNAL_STREAM
names its device:inode) each line starts with its sd-daemon priority. logging.to: syslog
sends them to /dev/log as facility daemon: here a real datagram socket stands in for the
syslog daemon at /dev/log (bound there when the machine has none, or bind-mounted over the
machine's in a private mount namespace), and receives exactly what syslog(3) sends."""
import os
import socket
import subprocess
import tempfile

from conftest import ENV, PKTLOG

MISSING = "/nonexistent/pktlog-test.pcap"


def _run(args, env_extra=None, stderr_path=None, prefix=()):
    env = dict(ENV)
    env.update(env_extra or {})
    with open(stderr_path, "wb") if stderr_path else tempfile.TemporaryFile() as err:
        rc = subprocess.run(list(prefix) + [PKTLOG] + args, stdout=subprocess.DEVNULL,
                            stderr=err, env=env, timeout=60).returncode
        if stderr_path:
            err.close()
            with open(stderr_path, "rb") as f:
                return rc, f.read().decode()
        err.seek(0)
        return rc, err.read().decode()


def test_stderr_plain_without_journal(tmp_path):
    rc, err = _run(["--pcap", MISSING])
    assert rc == 1
    assert err.startswith("pktlog: error: " + MISSING), err


def test_stderr_is_journal_gets_priorities(tmp_path):
    """JOURNAL_STREAM naming stderr's own file: each line carries <3>/<4>…; naming another
    file: plain lines (a child of a unit whose stderr was redirected)."""
    path = str(tmp_path / "err")
    open(path, "w").close()
    st = os.stat(path)
    rc, err = _run(["--pcap", MISSING], {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, path)
    assert rc == 1
    assert err.startswith("<3>pktlog: error: " + MISSING), err
    rc, err = _run(["--pcap", MISSING], {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, path)
    assert err.startswith("pktlog: error: "), err


def _syslog_script(tmp):
    """A shell line that makes /dev/log a socket this test reads: bound directly when the
    machine has no /dev/log, else bind-mounted over it (the caller runs it under unshare -m)."""
    return f"""
import os, socket, subprocess, sys
path = "{tmp}/log"
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
made = False
if os.path.lexists("/dev/log"):
    subprocess.run(["mount", "--bind", path, "/dev/log"], check=True)
else:
    os.symlink(path, "/dev/log")
    made = True
try:
    rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,
                        stderr=open("{tmp}/stderr", "wb")).returncode
finally:
    if made:
        os.unlink("/dev/log")
s.settimeout(5)
with open("{tmp}/got", "wb") as out:
    while True:
        try:
            out.write(s.recv(65536) + b"\\n")
        except socket.timeout:
            break
        s.settimeout(0.5)
sys.exit(rc)
"""


def test_syslog_receives_messages_with_priority(tmp_path):
    os.chmod(tmp_path, 0o755)
    cfg = tmp_path / "pktlog.yml"
    cfg.write_text("logging:\n  to: syslog\n")
    script = tmp_path / "syslogd.py"
    script.write_text(_syslog_script(tmp_path))
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "python3", str(script),
                        PKTLOG, "-c", str(cfg), "--pcap", MISSING],
                       env=ENV, timeout=60, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    got = (tmp_path / "got").read_text()
    err = (tmp_path / "stderr").read_text()
    # facility daemon (3 << 3) + LOG_ERR (3) = <27>; ident pktlog with its pid
    assert "<27>" in got and "pktlog[" in got and "error: " + MISSING in got, got
    assert MISSING not in err, err


def test_syslog_unreachable_falls_back_to_stderr(tmp_path):
    """Nothing listening on /dev/log: syslog(3) would drop every message silently; pktlog
    says so once and logs to stderr."""
    cfg = tmp_path / "pktlog.yml"
    cfg.write_text("logging:\n  to: syslog\n")
    sock = tmp_path / "dead"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(sock))
    s.close()        # a socket file nobody reads: connect() is refused
    line = (f"if [ -e /dev/log ] || [ -L /dev/log ]; then mount --bind {sock} /dev/log; "
            f"else ln -s {sock} /dev/log; trap 'rm -f /dev/log' EXIT; fi; "
            f"{PKTLOG} -c {cfg} --pcap {MISSING}")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", line],
                       env=ENV, timeout=60, capture_output=True, text=True)
    assert r.returncode == 1
    assert "pktlog: warning: logging.to: syslog: /dev/log: Connection refused; logging to " \
           "stderr instead" in r.stderr, r.stderr
    assert "pktlog: error: " + MISSING in r.stderr, r.stderr
