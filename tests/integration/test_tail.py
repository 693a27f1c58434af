"""End-to-end tests of the file tailer (pktlog --tail) with --output file: rotation by rename,
copytruncate and delete under a steady writer, SIGKILL and restart, inode reuse, 2,000 files
in nested directories, binary junk and a 10 MB line, a directory removed and recreated.
Run from the repository root against build/asan/pktlog."""
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time

from conftest import ENV, PKTLOG

SEQ_FMT = "g%d seq %08d"


class Tailer:
    """One pktlog --tail process writing events to out.json in a work directory."""

    def __init__(self, work, patterns, config=None, verbose=False, to_file=True):
        assert os.path.exists(PKTLOG), f"{PKTLOG} is missing: run make asan"
        self.work = work
        self.out = os.path.join(work, "out.json")
        self.data = os.path.join(work, "data")
        argv = [PKTLOG, "--data-dir", self.data]
        if to_file:
            argv += ["--output", "file:" + self.out]
        if config is not None:
            cfg = os.path.join(work, "pktlog.yml")
            with open(cfg, "w") as f:
                f.write(config)
            argv += ["--config", cfg]
        for p in patterns:
            argv += ["--tail", p]
        if verbose:
            argv.append("-v")
        self.errpath = os.path.join(work, "stderr.%d" % time.monotonic_ns())
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.err, env=ENV)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.err.close()
        with open(self.errpath) as f:
            err = f.read()
        assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]
        if sig == signal.SIGTERM:
            assert rc == 0, err[-4000:]
        return err


def events(work):
    """Complete events in out.json. A SIGKILL can leave a cut line, which the next run
    appends to: the last '{"@timestamp"' of such a line starts the intact event."""
    path = os.path.join(work, "out.json")
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for raw in data.split(b"\n")[:-1]:
        text = raw.decode("utf-8")          # strict: invalid UTF-8 must never be written
        start = text.rfind('{"@timestamp"')
        if start < 0:
            continue
        try:
            out.append(json.loads(text[start:]))
        except json.JSONDecodeError:
            if start == 0:
                raise
    return out


def messages(work):
    return [e["message"] for e in events(work)]


def wait_for(pred, timeout=30, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def seqs(work):
    out = []
    for m in messages(work):
        parts = m.split()
        if len(parts) == 3 and parts[1] == "seq":
            out.append((int(parts[0][1:]), int(parts[2])))
    return out


class Writer(threading.Thread):
    """Appends numbered lines to path at a steady rate; rotations run under its lock."""

    def __init__(self, path, rate=2000):
        super().__init__(daemon=True)
        self.path = path
        self.rate = rate
        self.lock = threading.Lock()
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.gen = 0
        self.n = 0
        self.running = True

    def write_one(self):
        os.write(self.fd, (SEQ_FMT % (self.gen, self.n) + "\n").encode())
        self.n += 1

    def run(self):
        batch = max(1, self.rate // 100)
        while self.running:
            with self.lock:
                for _ in range(batch):
                    self.write_one()
            time.sleep(0.01)

    def finish(self):
        self.running = False
        self.join()
        os.close(self.fd)
        return self.n

    # -- rotations, as logrotate and applications do them --
    def rename_rotate(self):
        with self.lock:
            os.rename(self.path, self.path + ".1")
            for _ in range(20):              # the application writes on until it reopens
                self.write_one()
            os.close(self.fd)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self.gen += 1

    def copytruncate(self, caught_up):
        with self.lock:
            # Lines written between copy and truncate are lost by copytruncate itself, for
            # any reader; wait until pktlog has read everything so the test checks pktlog.
            assert wait_for(caught_up, timeout=30)
            shutil.copy(self.path, self.path + ".2")
            os.truncate(self.path, 0)
            self.gen += 1

    def delete(self):
        with self.lock:
            os.unlink(self.path)
            for _ in range(20):              # still written through the open descriptor
                self.write_one()
            os.close(self.fd)
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self.gen += 1


def check_in_order(got, total):
    nums = [n for _, n in got]
    assert sorted(set(nums)) == list(range(total)), "missing: %s" % sorted(set(range(total)) - set(nums))[:20]
    by_gen = {}
    for g, n in got:
        by_gen.setdefault(g, []).append(n)
    for g, ns in by_gen.items():
        assert ns == sorted(ns), "generation %d out of order" % g


FAST = """tail:
  close_removed: 1s
  commit_interval: 200ms
"""


def test_rotation_rename_copytruncate_delete(tmp_path):
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    w = Writer(os.path.join(logs, "app.log"))
    t = Tailer(work, [logs + "/*.log"], config=FAST)
    w.start()
    time.sleep(1)
    w.rename_rotate()
    time.sleep(1)
    w.copytruncate(lambda: len(seqs(work)) >= w.n)
    time.sleep(1)
    w.delete()
    time.sleep(1)
    total = w.finish()
    assert wait_for(lambda: len(set(n for _, n in seqs(work))) >= total, timeout=30)
    t.stop()
    got = seqs(work)
    check_in_order(got, total)
    assert len(got) == total, "duplicates without a restart"
    # Every event names its file and offset.
    for e in events(work):
        assert e["log"]["file"]["path"] == os.path.join(logs, "app.log")
        assert isinstance(e["log"]["offset"], int)
        assert e["host"]["name"]


def test_sigkill_and_restart_under_load(tmp_path):
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    w = Writer(os.path.join(logs, "app.log"), rate=3000)
    w.start()
    t = Tailer(work, [logs + "/*.log"], config=FAST)
    time.sleep(2)
    with w.lock:
        killed_at = w.n
        t.stop(signal.SIGKILL)
    time.sleep(0.5)
    t = Tailer(work, [logs + "/*.log"], config=FAST)
    time.sleep(1.5)
    total = w.finish()
    assert wait_for(lambda: len(set(n for _, n in seqs(work))) >= total, timeout=30)
    t.stop()
    got = seqs(work)
    nums = [n for _, n in got]
    assert sorted(set(nums)) == list(range(total))
    dups = sorted(n for n in set(nums) if nums.count(n) > 1)
    # Duplicates are the last uncommitted batch only: one contiguous run ending at the kill.
    if dups:
        assert dups == list(range(dups[0], dups[-1] + 1)), "duplicates are not one batch"
        assert dups[-1] < killed_at
        assert len(dups) <= 3000 * 1.5, "more than the last commit interval was resent"


def test_inode_reuse(tmp_path):
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    path = os.path.join(logs, "a.log")
    with open(path, "w") as f:
        f.write("".join("old %d\n" % i for i in range(100)))
    t = Tailer(work, [logs + "/*.log"], config=FAST)
    assert wait_for(lambda: len(messages(work)) == 100)
    t.stop()
    old_ino = os.stat(path).st_ino
    os.unlink(path)
    with open(path, "w") as f:
        f.write("".join("new file line %d\n" % i for i in range(200)))
    new_ino = os.stat(path).st_ino
    if new_ino != old_ino:
        # The file system handed out another inode: make the registry believe the new
        # file has the old one's inode, which is exactly what reuse looks like.
        db = sqlite3.connect(os.path.join(work, "data", "tail.db"))
        db.execute("UPDATE files SET ino = ? WHERE ino = ?", (new_ino, old_ino))
        db.commit()
        db.close()
    t = Tailer(work, [logs + "/*.log"], config=FAST)
    assert wait_for(lambda: len(messages(work)) >= 300)
    time.sleep(0.5)
    t.stop()
    new = [m for m in messages(work) if m.startswith("new")]
    assert new == ["new file line %d" % i for i in range(200)], "the reused inode's file was skipped"


def test_many_files_nested(tmp_path):
    work = str(tmp_path)
    root = os.path.join(work, "root")
    paths = []
    for a in range(20):
        for b in range(10):
            d = os.path.join(root, "a%02d" % a, "b%02d" % b)
            os.makedirs(d)
            for c in range(10):
                p = os.path.join(d, "f%02d.log" % c)
                with open(p, "w") as f:
                    f.write("%s 1\n%s 2\n" % (p, p))
                paths.append(p)
    with open(os.path.join(root, "skip.txt"), "w") as f:
        f.write("not matched\n")
    t = Tailer(work, [root + "/**/*.log"], config=FAST)
    assert wait_for(lambda: len(messages(work)) >= 4000, timeout=60)
    # A new subdirectory, and more lines in some of the old files.
    newdir = os.path.join(root, "new", "deeper")
    os.makedirs(newdir)
    for c in range(50):
        with open(os.path.join(newdir, "n%02d.log" % c), "w") as f:
            f.write("new %d\n" % c)
    for p in random.Random(1).sample(paths, 100):
        with open(p, "a") as f:
            f.write("%s 3\n" % p)
    assert wait_for(lambda: len(messages(work)) >= 4150, timeout=60), len(messages(work))
    time.sleep(0.5)
    t.stop()
    got = messages(work)
    assert len(got) == 4150 and len(set(got)) == 4150
    assert "not matched" not in got


def test_binary_junk_and_10mb_line(tmp_path):
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    junk = random.Random(7).randbytes(1 << 20)
    big = 10 << 20
    with open(os.path.join(logs, "bin.log"), "wb") as f:
        f.write(junk + b"\nafter junk\n")
        f.write(b"x" * big + b"\nafter big\n")
    t = Tailer(work, [logs + "/*.log"], config=FAST)
    assert wait_for(lambda: "after big" in messages(work), timeout=60)
    t.stop()
    evs = events(work)                      # decoding checks the output is valid UTF-8
    msgs = [e["message"] for e in evs]
    assert "after junk" in msgs
    pieces = [e for e in evs if set(e["message"]) == {"x"}]
    assert sum(len(e["message"]) for e in pieces) == big
    assert all(len(e["message"]) <= 1048576 for e in pieces)
    assert all("split" in e["log"].get("flags", []) for e in pieces)
    assert "\ufffd" in "".join(msgs), "invalid UTF-8 must become U+FFFD"


def test_directory_removed_and_recreated(tmp_path):
    work = str(tmp_path)
    app = os.path.join(work, "app")
    os.mkdir(app)
    with open(os.path.join(app, "a.log"), "w") as f:
        f.write("before 1\n")
    t = Tailer(work, [app + "/*.log"], config=FAST)
    assert wait_for(lambda: "before 1" in messages(work))
    shutil.rmtree(app)
    time.sleep(0.5)
    os.mkdir(app)
    with open(os.path.join(app, "a.log"), "w") as f:
        f.write("after 1\n")
    assert wait_for(lambda: "after 1" in messages(work), timeout=10), messages(work)
    with open(os.path.join(app, "a.log"), "a") as f:
        f.write("after 2\n")
    assert wait_for(lambda: "after 2" in messages(work), timeout=10)
    t.stop()
    assert messages(work) == ["before 1", "after 1", "after 2"]


def test_fields_topic_and_multiline_from_config(tmp_path):
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    with open(os.path.join(logs, "java.log"), "w") as f:
        f.write("Exception in main\n\tat a.B(B.java:1)\n\tat c.D(D.java:2)\nnext\n")
    cfg = """tail:
  commit_interval: 200ms
  inputs:
    - paths: ["%s/*.log"]
      fields: {appid: shop, service: web}
      multiline: {indent_continues: true, timeout: 300ms}
""" % logs
    t = Tailer(work, [], config=cfg)
    assert wait_for(lambda: len(events(work)) == 2, timeout=10)
    t.stop()
    evs = events(work)
    assert evs[0]["message"] == "Exception in main\n\tat a.B(B.java:1)\n\tat c.D(D.java:2)"
    assert evs[0]["log"]["flags"] == ["multiline"]
    assert evs[1]["message"] == "next"       # flushed by the timeout
    assert evs[0]["fields"] == {"appid": "shop", "service": "web"}


def test_idle_close_reopen_and_truncate_mode(tmp_path):
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    path = os.path.join(logs, "idle.log")
    with open(path, "w") as f:
        f.write("first\n" + "y" * 200 + "\n")
    cfg = """tail:
  close_inactive: 1s
  commit_interval: 200ms
  inputs:
    - paths: %s/*.log
      max_line_bytes: 100
      long_lines: truncate
""" % logs
    t = Tailer(work, [], config=cfg, verbose=True)
    assert wait_for(lambda: len(messages(work)) == 2)
    time.sleep(2.5)                           # closed as idle by now
    with open(path, "a") as f:
        f.write("after idle\n")
    assert wait_for(lambda: "after idle" in messages(work), timeout=10)
    err = t.stop()
    evs = events(work)
    assert [e["message"] for e in evs] == ["first", "y" * 100, "after idle"]
    assert evs[1]["log"]["flags"] == ["truncated"]
    assert "1 truncated" in err and "1 idle closes" in err, err


# ---- against the real Kafka broker (tests/kafka/broker.sh); nothing here skips ----

import pytest  # noqa: E402

from conftest import ROOT  # noqa: E402

BROKER_SH = os.path.join(ROOT, "tests", "kafka", "broker.sh")


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tailkafka"))
    out = subprocess.run([BROKER_SH, "start", d], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    yield d, out.stdout.strip().splitlines()[-1]
    subprocess.run([BROKER_SH, "stop", d], check=True, timeout=60)


def kafka_cfg(addr, topic):
    return ("output:\n  kafka:\n    brokers: \"%s\"\n    topic: %s\n    message_timeout: 3s\n"
            "    flush_timeout: 3s\n%s" % (addr, topic, FAST))


def kafka_seqs(addr, topic):
    out = subprocess.run(["kcat", "-b", addr, "-C", "-t", topic, "-e", "-q", "-f", "%k\t%s\n"],
                         capture_output=True, text=True, timeout=60)
    got = []
    for line in out.stdout.splitlines():
        key, _, value = line.partition("\t")
        ev = json.loads(value)
        assert key == ev["log"]["file"]["path"], "events are keyed by file, so a file stays in order"
        parts = ev["message"].split()
        got.append((int(parts[0][1:]), int(parts[2])))
    return got


def test_kafka_rotation_in_order(kafka, tmp_path):
    _, addr = kafka
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    w = Writer(os.path.join(logs, "app.log"))
    cfg = kafka_cfg(addr, "tail-rot")
    cfg += "  inputs:\n    - paths: \"%s/*.log\"\n" % logs
    t = Tailer(work, [], config=cfg, to_file=False)
    w.start()
    time.sleep(1)
    w.rename_rotate()
    time.sleep(1)
    w.delete()
    time.sleep(1)
    total = w.finish()
    assert wait_for(lambda: len(set(n for _, n in kafka_seqs(addr, "tail-rot"))) >= total, timeout=60)
    t.stop()
    got = kafka_seqs(addr, "tail-rot")
    check_in_order(got, total)
    assert len(got) == total


def test_kafka_sigkill_and_restart(kafka, tmp_path):
    _, addr = kafka
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    cfg = kafka_cfg(addr, "tail-kill") + "  inputs:\n    - paths: \"%s/*.log\"\n" % logs
    w = Writer(os.path.join(logs, "app.log"), rate=2000)
    w.start()
    t = Tailer(work, [], config=cfg, to_file=False)
    time.sleep(2)
    with w.lock:
        killed_at = w.n
        t.stop(signal.SIGKILL)
    t = Tailer(work, [], config=cfg, to_file=False)
    time.sleep(1.5)
    total = w.finish()
    assert wait_for(lambda: len(set(n for _, n in kafka_seqs(addr, "tail-kill"))) >= total, timeout=60)
    t.stop()
    nums = [n for _, n in kafka_seqs(addr, "tail-kill")]
    assert sorted(set(nums)) == list(range(total)), "a line was lost"
    dups = sorted(n for n in set(nums) if nums.count(n) > 1)
    if dups:
        assert dups == list(range(dups[0], dups[-1] + 1)), "duplicates are not one batch"
        assert dups[-1] < killed_at


def test_kafka_outage_loses_nothing(kafka, tmp_path):
    """The broker goes away while lines keep coming: they wait (spool, or in the file once the
    output asks the tailer to pause) and all arrive when it is back."""
    d, addr = kafka
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    cfg = kafka_cfg(addr, "tail-outage") + "  inputs:\n    - paths: \"%s/*.log\"\n" % logs
    w = Writer(os.path.join(logs, "app.log"), rate=1000)
    w.start()
    t = Tailer(work, [], config=cfg, to_file=False)
    time.sleep(1.5)
    subprocess.run([BROKER_SH, "stop", d], check=True, timeout=60)
    time.sleep(5)                            # longer than message_timeout: events spool
    out = subprocess.run([BROKER_SH, "start", d], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == addr
    time.sleep(1)
    total = w.finish()
    assert wait_for(lambda: len(set(n for _, n in kafka_seqs(addr, "tail-outage"))) >= total,
                    timeout=90)
    t.stop()
    got = kafka_seqs(addr, "tail-outage")
    nums = [n for _, n in got]
    assert sorted(set(nums)) == list(range(total))
    # Order across the outage is the Kafka output's business (events that timed out are
    # re-sent from its spool); the tailer's part is that nothing is missing. Observed on
    # 2026-11-23: one block of ~100 lines re-sent after later ones (reported to the lead).


def test_kafka_default_lz4_arrives_intact(kafka, tmp_path):
    """With the default output.kafka.compression (lz4) every event arrives intact and decodes
    (kcat decompresses by itself): the messages equal, in order, those the file output writes
    for the same file, quotes, tabs, UTF-8 and invalid bytes included, and the broker stored
    the batches compressed (well under the events' own size)."""
    d, addr = kafka
    work = str(tmp_path)
    logs = os.path.join(work, "logs")
    os.mkdir(logs)
    rnd = random.Random(5)
    n = 20000
    with open(os.path.join(logs, "access.log"), "wb") as f:
        for i in range(n):
            f.write(('10.%d.%d.%d - - "GET /api/v1/items/%d?q=caf\u00e9 HTTP/1.1" %d %d "-" '
                     '"curl/8.%d"\t\\ seq %08d' % (rnd.randrange(256), rnd.randrange(256),
                     rnd.randrange(256), rnd.randrange(10 ** 6), rnd.choice((200, 304, 404)),
                     rnd.randrange(60000), rnd.randrange(9), i)).encode())
            if i % 1000 == 7:
                f.write(b" \xff\xfe junk \x01")
            f.write(b"\n")
    pattern = os.path.join(logs, "*.log")
    ref_work = os.path.join(work, "ref")
    os.mkdir(ref_work)
    ref = Tailer(ref_work, [pattern], config=FAST)
    assert wait_for(lambda: len(events(ref_work)) >= n, timeout=60)
    ref.stop()
    want = messages(ref_work)
    assert len(want) == n
    t = Tailer(work, [], config=kafka_cfg(addr, "tail-lz4") + "  inputs:\n    - paths: \"%s\"\n"
               % pattern, to_file=False)

    def consumed():
        out = subprocess.run(["kcat", "-b", addr, "-C", "-t", "tail-lz4", "-e", "-q", "-f", "%s\n"],
                             capture_output=True, timeout=60)
        return out.stdout.decode("utf-8").splitlines()   # strict: never invalid UTF-8

    assert wait_for(lambda: len(consumed()) >= n, timeout=60)
    t.stop()
    got = [json.loads(l) for l in consumed()]
    assert [e["message"] for e in got] == want
    assert [e["log"]["offset"] for e in got] == sorted(e["log"]["offset"] for e in got)
    event_bytes = sum(len(l.encode()) for l in consumed())
    seg = os.path.join(d, "logs", "tail-lz4-0")
    stored = sum(os.path.getsize(os.path.join(seg, x)) for x in os.listdir(seg) if x.endswith(".log"))
    assert stored < event_bytes / 2, (stored, event_bytes)
