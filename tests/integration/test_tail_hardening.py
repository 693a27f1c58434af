"""End-to-end hardening tests of the file tailer (issue 13), against build/asan/pktlog:
symlink loops under "**" (scan once, warn once per loop, honour SIGTERM), a 1,024-descriptor
limit with 5,000 tailed files (every file read as descriptors free up, the wait counted and
reported), an unreadable file written in a loop (one warning, the rest counted), and a data
directory the registry cannot write (the message names the path and the reason).
The permission tests run pktlog as the nobody user (setpriv), since root reads anything.
Run from the repository root."""
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import ENV, PKTLOG
from test_tail import events, wait_for

NOBODY = 65534


def messages(work):
    """Tailed lines in out.json (a run past a minute also holds a heartbeat event)."""
    return [e["message"] for e in events(work) if "message" in e]


class Pktlog:
    """pktlog --tail PATTERN... --output file:WORK/out.json, stderr kept in WORK."""

    def __init__(self, work, patterns, config=None, nofile=None, as_nobody=False, extra=()):
        assert os.path.exists(PKTLOG), f"{PKTLOG} is missing: run make asan"
        self.work = work
        argv = [PKTLOG, "--data-dir", os.path.join(work, "data"),
                "--output", "file:" + os.path.join(work, "out.json"), *extra]
        if config is not None:
            cfg = os.path.join(work, "pktlog.yml")
            with open(cfg, "w") as f:
                f.write(config)
            os.chmod(cfg, 0o644)
            argv += ["--config", cfg]
        for p in patterns:
            argv += ["--tail", p]
        if as_nobody and os.geteuid() == 0:     # not root: permissions bind already
            argv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                    *argv]
        self.errpath = os.path.join(work, "stderr.txt")
        self.err = open(self.errpath, "w")

        def limit():
            if nofile:   # a number (soft = hard) or (soft, hard)
                resource.setrlimit(resource.RLIMIT_NOFILE,
                                   nofile if isinstance(nofile, tuple) else (nofile, nofile))

        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.err, env=ENV,
                                     preexec_fn=limit)

    def stderr(self):
        with open(self.errpath) as f:
            return f.read()

    def stop(self, timeout=15):
        """SIGTERM; the process must be gone within timeout (killed otherwise, and failed)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("pktlog ignored SIGTERM for %ds:\n%s" % (timeout, self.stderr()[-3000:]))
        self.err.close()
        err = self.stderr()
        assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
        assert rc == 0, err[-4000:]
        return err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.err.close()


def give_to_nobody(path):
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)


@pytest.fixture
def open_work():
    """A work directory nobody can enter (pytest's tmp_path is root's alone)."""
    d = tempfile.mkdtemp(prefix="pktlog-tailh-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---- 1. symlink loops under "**" ----

def loop_tree(work):
    logs = os.path.join(work, "logs")
    os.makedirs(os.path.join(logs, "a", "b"))
    with open(os.path.join(logs, "a", "b", "app.log"), "w") as f:
        f.write("".join("line %d\n" % i for i in range(100)))
    os.symlink(".", os.path.join(logs, "x"))       # two links to itself: 2^32 paths before
    os.symlink(".", os.path.join(logs, "y"))
    os.symlink("..", os.path.join(logs, "a", "up"))  # and one back to the parent
    return logs


def test_symlink_loops_are_scanned_once(tmp_path):
    work = str(tmp_path)
    logs = loop_tree(work)
    t = Pktlog(work, [logs + "/**/*.log"], extra=["-v"], config="tail:\n  commit_interval: 200ms\n")
    try:
        assert wait_for(lambda: len(messages(work)) >= 100, timeout=20), \
            "nothing emitted: the scan is stuck in the symlink loops\n" + t.stderr()[-2000:]
        # A rescan (SIGHUP re-reads the inputs) must not warn about the same loops again.
        t.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "reloaded" in t.stderr(), timeout=10), t.stderr()[-2000:]
        with open(os.path.join(logs, "a", "b", "app.log"), "a") as f:
            f.write("after reload\n")
        assert wait_for(lambda: "after reload" in messages(work), timeout=10)
        err = t.stop(timeout=10)
    finally:
        t.kill()
    got = [e for e in events(work) if "message" in e]
    assert len(got) == 101, "each line once, under one path"
    assert {e["log"]["file"]["path"] for e in got} == {os.path.join(logs, "a", "b", "app.log")}
    loops = [l for l in err.splitlines() if "symlink loop" in l]
    assert len(loops) == 3, "one warning per loop:\n" + "\n".join(loops)
    for name in ("x", "y", "a/up"):
        assert any(os.path.join(logs, name) + ":" in l for l in loops), loops


def test_sigterm_during_symlink_loop_scan(tmp_path):
    work = str(tmp_path)
    logs = loop_tree(work)
    for i in range(3):   # more links: the scan before the fix never ends
        os.symlink(".", os.path.join(logs, "z%d" % i))
    t = Pktlog(work, [logs + "/**/*.log"])
    try:
        time.sleep(2)
        start = time.monotonic()
        t.stop(timeout=10)
        assert time.monotonic() - start < 10
    finally:
        t.kill()


# ---- 4. EMFILE: more files than descriptors ----

EMFILE_CONFIG = """tail:
  close_inactive: 1s
  commit_interval: 500ms
"""


def test_more_files_than_descriptors(tmp_path):
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    n = 5000
    for i in range(n):
        with open(os.path.join(logs, "f%05d.log" % i), "w") as f:
            f.write("first %d\n" % i)
    t = Pktlog(work, [logs + "/*.log"], config=EMFILE_CONFIG, nofile=1024, extra=["-v"])
    try:
        ok = wait_for(lambda: len(messages(work)) >= n, timeout=120, step=0.5)
        assert ok, "%d of %d files read\n%s" % (len(set(messages(work))), n, t.stderr()[-3000:])
        # Written again while most are closed for idleness: reopening must wait for a
        # descriptor too, not give up.
        for i in range(n):
            with open(os.path.join(logs, "f%05d.log" % i), "a") as f:
                f.write("second %d\n" % i)
        ok = wait_for(lambda: len(messages(work)) >= 2 * n, timeout=120, step=0.5)
        assert ok, "%d of %d lines\n%s" % (len(messages(work)), 2 * n, t.stderr()[-3000:])
        err = t.stop(timeout=30)
    finally:
        t.kill()
    got = messages(work)
    assert sorted(got) == sorted(["first %d" % i for i in range(n)] +
                                 ["second %d" % i for i in range(n)])
    waits = [l for l in err.splitlines() if "wait for a file descriptor" in l]
    assert waits, "the wait for descriptors is reported\n" + err[-3000:]
    assert len(waits) <= 10, "rate-limited:\n" + "\n".join(waits)
    assert re.search(r"\d+ files? wait for a file descriptor", waits[0]), waits[0]
    print("\n".join(waits))


def test_more_files_than_descriptors_default_close_inactive(tmp_path):
    """close_inactive at its default (5 minutes): while files wait for a descriptor, files
    read to their end make room after a few quiet seconds, not after 5 minutes."""
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    n = 2500
    for i in range(n):
        with open(os.path.join(logs, "f%05d.log" % i), "w") as f:
            f.write("first %d\n" % i)
    t = Pktlog(work, [logs + "/*.log"], nofile=1024)
    try:
        # The counters say how many wait (SIGUSR1 prints them).
        assert wait_for(lambda: len(messages(work)) >= 900, timeout=30), t.stderr()[-2000:]
        t.proc.send_signal(signal.SIGUSR1)
        assert wait_for(lambda: "files not opened (waiting)" in t.stderr(), timeout=10)
        m = re.search(r"(\d+) files not opened \(waiting\)", t.stderr())
        assert m and int(m.group(1)) > 1000, t.stderr()[-2000:]
        ok = wait_for(lambda: len(messages(work)) >= n, timeout=90, step=0.5)
        assert ok, "%d of %d files read\n%s" % (len(messages(work)), n, t.stderr()[-3000:])
        err = t.stop(timeout=30)
    finally:
        t.kill()
    assert sorted(messages(work)) == sorted("first %d" % i for i in range(n))
    assert "has one now" in err, err[-2000:]


def test_soft_descriptor_limit_is_raised_to_the_hard_one(tmp_path):
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    n = 600
    for i in range(n):
        with open(os.path.join(logs, "f%04d.log" % i), "w") as f:
            f.write("line %d\n" % i)
    t = Pktlog(work, [logs + "/*.log"], nofile=(256, 2048), extra=["-v"])
    try:
        assert wait_for(lambda: len(messages(work)) >= n, timeout=30), t.stderr()[-2000:]
        err = t.stop()
    finally:
        t.kill()
    assert "RLIMIT_NOFILE 2048" in err, err[-2000:]
    assert "wait for a file descriptor" not in err


# ---- 5. an unreadable file written in a loop ----

def test_unreadable_file_warns_once(open_work):
    work = open_work
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    os.chmod(logs, 0o755)
    data = os.path.join(work, "data")
    os.mkdir(data)
    give_to_nobody(data)
    open(os.path.join(work, "out.json"), "w").close()
    give_to_nobody(os.path.join(work, "out.json"))
    secret = os.path.join(logs, "secret.log")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.chmod(secret, 0o000)
    with open(os.path.join(logs, "ok.log"), "w") as f:
        f.write("readable\n")
    os.chmod(os.path.join(logs, "ok.log"), 0o644)
    t = Pktlog(work, [logs + "/*.log"], as_nobody=True)
    try:
        assert wait_for(lambda: "readable" in messages(work), timeout=20), t.stderr()[-2000:]
        end = time.monotonic() + 3
        writes = 0
        while time.monotonic() < end:
            os.write(fd, b"secret line\n")
            writes += 1
            time.sleep(0.002)
        time.sleep(1)
        err = t.stop(timeout=15)
    finally:
        t.kill()
        os.close(fd)
    denied = [l for l in err.splitlines() if "secret.log" in l and "Permission denied" in l]
    assert 1 <= len(denied) <= 2, "%d warnings for %d writes:\n%s" % (
        len(denied), writes, "\n".join(denied[:20]))
    m = re.search(r"secret\.log.*\((\d+) more suppressed\)", err)
    assert m and int(m.group(1)) > 0, "the suppressed warnings are counted\n" + err[-2000:]
    print("%d writes, %d warnings, %s suppressed" % (writes, len(denied), m.group(1)))
    assert "secret line" not in messages(work)


# ---- the registry's open failure names the path and the reason ----

def test_registry_error_names_path_and_reason(open_work):
    work = open_work
    data = os.path.join(work, "data")
    os.mkdir(data)
    os.chmod(data, 0o555)            # nobody (nor its owner) can create tail.db in it
    logs = os.path.join(work, "logs")
    os.mkdir(logs, 0o755)
    open(os.path.join(work, "out.json"), "w").close()
    give_to_nobody(os.path.join(work, "out.json"))
    t = Pktlog(work, [logs + "/*.log"], as_nobody=True)
    try:
        rc = t.proc.wait(timeout=20)
    finally:
        t.kill()
    err = t.stderr()
    assert rc != 0, err
    line = next((l for l in err.splitlines() if "tail.db" in l), "")
    assert os.path.join(data, "tail.db") in line and "Permission denied" in line, err


def test_registry_error_when_the_db_is_a_directory(tmp_path):
    work = str(tmp_path)
    os.makedirs(os.path.join(work, "data", "tail.db"))
    os.mkdir(os.path.join(work, "logs"))
    t = Pktlog(work, [os.path.join(work, "logs") + "/*.log"])
    try:
        rc = t.proc.wait(timeout=20)
    finally:
        t.kill()
    err = t.stderr()
    assert rc != 0, err
    assert "tail.db: Is a directory" in err, err
