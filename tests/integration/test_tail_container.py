"""End-to-end tests of the tailer's container formats (issue 18), against build/asan/pktlog
with --output file:. The logs are written the way the runtimes write them:

- Docker's json-file driver: one JSON object a line ({"log","stream","time"}, Go's escaping,
  RFC3339Nano times with trailing zeros trimmed), lines over 16 KiB split into objects whose
  "log" has no trailing "\\n", stdout and stderr interleaved, rotation by rename with
  max-file (x-json.log -> .1 -> .2, the oldest deleted), an object cut by a crash and the
  next one written on its line, a line that is not JSON; config.v2.json beside the log.
- containerd (Kubernetes, CRI format): `<time> <stream> <P|F> <text>`, 16 KiB pieces tagged
  P, kubelet's rotation: 0.log renamed to 0.log.<time>, a new 0.log, the older rotated file
  gzipped (written as .tmp, renamed to .gz, the plain file removed).

Every application line must arrive once and whole, with its stream and the runtime's time;
what is not decodable arrives raw with error.message. Run from the repository root."""
import datetime
import gzip
import json
import os
import random
import time

from test_tail import Tailer, events, wait_for

PIECE = 16 * 1024
T0 = datetime.datetime(2026, 12, 2, 9, 0, 0, tzinfo=datetime.timezone.utc)
CID = "9a3f" * 16


def go_time(ns):
    """RFC3339Nano as Go writes it: trailing zeros of the fraction trimmed."""
    sec, frac = divmod(ns, 10**9)
    base = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    f = ("%09d" % frac).rstrip("0")
    return base + ("." + f if f else "") + "Z"


def ecs_time(ns):
    sec, frac = divmod(ns, 10**9)
    return datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac


def go_json(s):
    """A JSON string as Go's encoding/json writes it (HTML characters escaped)."""
    return (json.dumps(s, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def app_line(rng, tag, n):
    """A unique application line: short, with JSON-hostile characters, or over 16 KiB."""
    head = "%s n%06d " % (tag, n)
    kind = rng.random()
    if kind < 0.03:
        body = "L" * rng.randint(PIECE, 3 * PIECE + 100)       # split into 2..4 pieces
    elif kind < 0.06:
        body = "x" * (PIECE - len(head))                        # exactly 16 KiB: one piece
    elif kind < 0.2:
        body = 'q"uo\\te <tag> & \t tab é ü 😀 \u2028 \x01 end'
    else:
        body = "word " * rng.randint(0, 30)
    return head + body


def chunks(b, size):
    return [b[i:i + size] for i in range(0, len(b), size)] or [b""]


class Docker:
    """Docker's json-file driver for one container, with max-size/max-file rotation."""

    def __init__(self, root, cid, max_size=200_000, max_file=3):
        self.dir = os.path.join(root, "containers", cid)
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, cid + "-json.log")
        self.max_size, self.max_file = max_size, max_file
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self.ns = int(T0.timestamp()) * 10**9
        self.expected = []        # (message, stream, time ns)
        self.raw_errors = []      # lines the runtime wrote that are not its format

    def obj(self, text, stream):
        self.ns += 1234567
        return ('{"log":%s,"stream":"%s","time":"%s"}\n' % (go_json(text), stream,
                                                             go_time(self.ns))).encode()

    def write(self, data):
        os.write(self.fd, data)
        if os.fstat(self.fd).st_size >= self.max_size:
            self.rotate()

    def rotate(self):
        os.close(self.fd)
        for i in range(self.max_file - 1, 0, -1):
            src = self.path + ".%d" % i
            if os.path.exists(src):
                if i + 1 >= self.max_file:
                    os.unlink(src)
                else:
                    os.rename(src, self.path + ".%d" % (i + 1))
        os.rename(self.path, self.path + ".1")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)

    def line(self, text, stream, other=None, rotate_inside=False):
        """One application line; other: a line of the other stream written between its
        pieces (the runtime interleaves them); rotate_inside: max-size is reached after
        its first piece (the driver rotates between the pieces of a message)."""
        data = text.encode()
        pieces = chunks(data, PIECE)
        ns0 = self.ns + 1234567
        out = []
        for i, p in enumerate(pieces):
            last = i == len(pieces) - 1
            out.append(self.obj(p.decode() + ("\n" if last else ""), stream))
            if i == 0 and other is not None and not last:
                out.append(self.obj(other + "\n", "stderr" if stream == "stdout" else "stdout"))
                self.expected.append((other, "stderr" if stream == "stdout" else "stdout", self.ns))
        self.expected.append((text, stream, ns0))
        for k, o in enumerate(out):
            self.write(o)
            if rotate_inside and k == 0:
                self.rotate()

    def crash_cut(self, text):
        """A crash cuts an object; the restarted daemon writes the next on the same line."""
        whole = self.obj(text + "\n", "stdout")
        nxt = self.obj("after the crash\n", "stdout")
        cut = whole[:len(whole) // 2]
        self.raw_errors.append((cut + nxt[:-1]).decode())
        self.write(cut)
        self.write(nxt)

    def garbage(self, text):
        self.raw_errors.append(text)
        self.write((text + "\n").encode())

    def close(self):
        os.close(self.fd)


class Containerd:
    """containerd's CRI log for one container, rotated the way kubelet does it."""

    def __init__(self, root, ns, pod, uid, container):
        self.dir = os.path.join(root, "pods", "%s_%s_%s" % (ns, pod, uid), container)
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, "0.log")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self.ns = int(T0.timestamp()) * 10**9
        self.expected = []
        self.raw_errors = []
        self.rotated = []

    def rec(self, stream, tag, payload):
        self.ns += 7654321
        return b"%s %s %s %s\n" % (go_time(self.ns).encode(), stream.encode(), tag, payload)

    def line(self, text, stream, other=None):
        pieces = chunks(text.encode(), PIECE)
        ns0 = self.ns + 7654321
        out = []
        for i, p in enumerate(pieces):
            last = i == len(pieces) - 1
            out.append(self.rec(stream, b"F" if last else b"P", p))
            if i == 0 and other is not None and not last:
                ostream = "stderr" if stream == "stdout" else "stdout"
                out.append(self.rec(ostream, b"F", other.encode()))
                self.expected.append((other, ostream, self.ns))
        self.expected.append((text, stream, ns0))
        for o in out:
            os.write(self.fd, o)

    def garbage(self, text):
        self.raw_errors.append(text)
        os.write(self.fd, (text + "\n").encode())

    def rotate(self):
        """kubelet: compress the previous rotated file, rename the live one, reopen."""
        if self.rotated:
            old = self.rotated[-1]
            with open(old, "rb") as f:
                data = f.read()
            with open(old + ".tmp", "wb") as f:
                f.write(gzip.compress(data))
            os.rename(old + ".tmp", old + ".gz")
            os.unlink(old)
        stamp = "%s-%d" % (time.strftime("%Y%m%d-%H%M%S"), len(self.rotated))
        dst = self.path + "." + stamp
        os.rename(self.path, dst)
        self.rotated.append(dst)
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)

    def close(self):
        os.close(self.fd)


def container_cfg(inputs):
    text = "tail:\n  close_removed: 1s\n  commit_interval: 200ms\n  inputs:\n"
    for paths, fmt in inputs:
        text += '    - paths: "%s"\n      format: %s\n' % (paths, fmt)
    return text


def tailed(work):
    return [e for e in events(work) if "message" in e]


SPLIT_NOTE = "partial line not completed in this file"


def check_arrived(evs, writer, path_part):
    """Every application line once and whole, with its stream and time; raw errors too.
    Docker rotates between the pieces of a long line: such a line arrives as the head the
    old file holds (marked: not completed in this file) and the rest from the new file."""
    mine = [e for e in evs if path_part in e["log"]["file"]["path"]]
    got = {}
    heads = [e for e in mine if SPLIT_NOTE in e.get("error", {}).get("message", "")]
    for e in mine:
        if "error" not in e:
            got.setdefault(e["message"], []).append(e)
    straddled = 0
    for text, stream, ns in writer.expected:
        es = got.pop(text, None)
        if es is None:
            head = [h for h in heads if text.startswith(h["message"]) and text[len(h["message"]):] in got]
            assert len(head) == 1, "line missing: %r" % text[:80]
            rest = got.pop(text[len(head[0]["message"]):])
            assert len(rest) == 1
            heads.remove(head[0])
            es = head
            straddled += 1
        assert len(es) == 1, "line arrived %d times: %r" % (len(es), text[:80])
        assert es[0]["stream"] == stream, text[:80]
        assert es[0]["@timestamp"] == ecs_time(ns), (text[:80], es[0]["@timestamp"], ecs_time(ns))
        assert "event" in es[0] and es[0]["event"]["created"].endswith("Z")
    assert not got, "unexpected lines: %r" % [m[:60] for m in got][:5]
    assert not heads, "unexpected partial lines: %r" % [h["message"][:60] for h in heads]
    errs = [e for e in mine if "error" in e and SPLIT_NOTE not in e["error"]["message"]]
    assert sorted(e["message"] for e in errs) == sorted(writer.raw_errors)
    for e in errs:
        assert e["error"]["message"]
        assert "stream" not in e and "event" not in e
    return mine, straddled


def write_workload(rng, docker, cri, n):
    for i in range(n):
        other = "interleaved %d" % i if rng.random() < 0.3 else None
        docker.line(app_line(rng, "d", i), rng.choice(["stdout", "stderr"]), other)
        cri.line(app_line(rng, "k", i), rng.choice(["stdout", "stderr"]), other)
        if i == n // 2:
            docker.line("d rotated inside " + "R" * (2 * PIECE), "stdout", rotate_inside=True)
        if i == n // 3:
            docker.crash_cut("cut by a crash %d" % i)
            docker.garbage("this is not JSON")
            cri.garbage("not a CRI line")
        if i % 150 == 149:
            cri.rotate()
        if i % 5 == 0:
            time.sleep(0.01)      # a busy container, not a flood that outruns max-file


def test_docker_and_cri_under_rotation(tmp_path):
    work = str(tmp_path)
    root = os.path.join(work, "var")
    rng = random.Random(18)
    docker = Docker(root, CID, max_size=300_000)
    with open(os.path.join(docker.dir, "config.v2.json"), "w") as f:
        json.dump({"ID": CID, "Name": "/shop-web", "State": {"Running": True},
                   "Config": {"Hostname": "h", "Image": "nginx:1.25", "Env": ["A=1"]},
                   "Image": "sha256:0123"}, f)
    cri = Containerd(root, "shop", "web-7d9f8", "0b1c2d3e-aaaa", "nginx")
    cfg = container_cfg([(root + "/containers/*/*-json.log", "docker"),
                         (root + "/pods/*/*/*.log*", "cri")])
    t = Tailer(work, [], config=cfg)
    try:
        write_workload(rng, docker, cri, 600)
        want = len(docker.expected) + len(cri.expected) + len(docker.raw_errors) + len(cri.raw_errors)
        last = docker.expected[-1][0]
        ok = wait_for(lambda: len(tailed(work)) >= want and
                      any(e["message"] == last for e in tailed(work)), timeout=120)
        time.sleep(2.5)           # rotated files closed (close_removed 1s): their heads out
    finally:
        docker.close()
        cri.close()
        err = t.stop()
    evs = tailed(work)
    assert ok, "%d of %d events\n%s" % (len(evs), want, err[-3000:])
    d, straddled = check_arrived(evs, docker, "/containers/")
    for e in d:
        assert e["container"] == {"id": CID, "name": "shop-web", "image": {"name": "nginx:1.25"}}
        assert "kubernetes" not in e
    k, cri_straddled = check_arrived(evs, cri, "/pods/")
    assert cri_straddled == 0
    assert straddled >= 1    # the line rotated inside arrives in two parts, the head marked
    for e in k:
        assert e["kubernetes"] == {"namespace": "shop", "pod": {"name": "web-7d9f8",
                                   "uid": "0b1c2d3e-aaaa"}, "container": {"name": "nginx"}}
        assert "container" not in e
        assert not e["log"]["file"]["path"].endswith((".gz", ".tmp"))
    assert len(evs) == want + straddled
    # the runtimes did rotate (and kubelet compressed) while pktlog read
    assert os.path.exists(docker.path + ".2")
    assert len(cri.rotated) >= 3 and os.path.exists(cri.rotated[0] + ".gz")


def test_long_line_cap_and_joined_counter(tmp_path):
    """A 3-piece Docker line beyond max_line_bytes is cut there and marked; the next arrives."""
    work = str(tmp_path)
    root = os.path.join(work, "var")
    docker = Docker(root, CID, max_size=10**9)
    cfg = container_cfg([(root + "/containers/*/*-json.log", "docker")]) + \
        "      max_line_bytes: 20000\n"
    t = Tailer(work, [], config=cfg)
    try:
        docker.line("A" * (3 * PIECE), "stdout")
        docker.line("after", "stdout")
        ok = wait_for(lambda: len(tailed(work)) >= 2, timeout=30)
    finally:
        docker.close()
        t.stop()
    evs = tailed(work)
    assert ok and len(evs) == 2, evs
    assert evs[0]["message"] == "A" * 20000
    assert "truncated" in evs[0]["log"]["flags"]
    assert evs[1]["message"] == "after"


def test_auto_detection(tmp_path):
    """format: auto decides per file from its first line: Docker, CRI or raw."""
    work = str(tmp_path)
    root = os.path.join(work, "var")
    docker = Docker(root, CID, max_size=10**9)
    cri = Containerd(root, "ns", "pod", "uid", "c")
    plain_dir = os.path.join(root, "plain")
    os.makedirs(plain_dir)
    cfg = container_cfg([(root + "/**/*.log*", "auto")])
    t = Tailer(work, [], config=cfg)
    try:
        docker.line("from docker", "stdout")
        docker.line("P" * (PIECE + 5), "stderr")
        cri.line("from cri", "stderr")
        cri.line("Q" * (PIECE + 7), "stdout")
        with open(os.path.join(plain_dir, "app.log"), "w") as f:
            f.write("2026-12-02 plain line one\n{\"log\":\"not docker: raw file\"}\n")
        # compressed files are skipped: by name, and by gzip's magic bytes
        with open(os.path.join(plain_dir, "old.log.gz"), "wb") as f:
            f.write(gzip.compress(b"compressed by name\n"))
        with open(os.path.join(plain_dir, "tmp.log"), "wb") as f:
            # incompressible: the gzip stream holds many '\n' bytes, lines if it were read
            f.write(gzip.compress(random.Random(1).randbytes(4000)))
        ok = wait_for(lambda: len(tailed(work)) >= 6, timeout=30)
        time.sleep(1)             # whatever else would come (the compressed files) has come
    finally:
        docker.close()
        cri.close()
        t.stop()
    evs = tailed(work)
    assert ok and len(evs) == 6, [e["message"][:40] for e in evs]
    by = {e["message"]: e for e in evs}
    assert by["from docker"]["stream"] == "stdout"
    assert by["P" * (PIECE + 5)]["stream"] == "stderr"
    assert by["from cri"]["stream"] == "stderr"
    assert by["Q" * (PIECE + 7)]["stream"] == "stdout"
    for m in ("2026-12-02 plain line one", '{"log":"not docker: raw file"}'):
        assert "stream" not in by[m] and "error" not in by[m] and "event" not in by[m]


def test_format_option_is_validated(tmp_path):
    """A wrong format is refused at load, naming file, line and key."""
    import subprocess
    from conftest import ENV, PKTLOG
    cfg = tmp_path / "bad.yml"
    cfg.write_text("tail:\n  inputs:\n    - paths: /tmp/none/*.log\n      format: json-file\n")
    p = subprocess.run([PKTLOG, "--config", str(cfg), "--output", "null", "--data-dir",
                        str(tmp_path / "data")], capture_output=True, text=True, env=ENV, timeout=30)
    assert p.returncode == 2, p.stderr
    assert "%s:4: tail.inputs.format: expected raw, docker, cri or auto" % cfg in p.stderr, p.stderr


def test_sigkill_while_a_line_is_being_joined(tmp_path):
    """SIGKILL while a split line waits for its last piece (and lines of the other stream
    arrived meanwhile): the registry does not pass the line's first piece, so after a restart
    the line arrives whole (the other stream's lines may come twice: at-least-once)."""
    import signal
    work = str(tmp_path)
    root = os.path.join(work, "var")
    docker = Docker(root, CID, max_size=10**9)
    cfg = container_cfg([(root + "/containers/*/*-json.log", "docker")])
    long_line = "begun before the kill " + "K" * (2 * PIECE)
    pieces = chunks(long_line.encode(), PIECE)
    docker.write(docker.obj("first\n", "stdout"))
    docker.write(docker.obj(pieces[0].decode(), "stderr"))
    for i in range(5):
        docker.write(docker.obj("meanwhile %d\n" % i, "stdout"))
    t = Tailer(work, [], config=cfg)
    assert wait_for(lambda: sum(e["message"].startswith("meanwhile") for e in tailed(work)) == 5)
    time.sleep(0.6)               # commit_interval 200ms: whatever is delivered is committed
    t.stop(sig=signal.SIGKILL)
    docker.write(docker.obj(pieces[1].decode(), "stderr"))
    docker.write(docker.obj(pieces[2].decode() + "\n", "stderr"))
    docker.write(docker.obj("after\n", "stdout"))
    t = Tailer(work, [], config=cfg)
    try:
        assert wait_for(lambda: any(e["message"] == "after" for e in tailed(work)))
    finally:
        docker.close()
        t.stop()
    msgs = [e["message"] for e in tailed(work)]
    assert msgs.count(long_line) == 1
    assert not [m for m in msgs if m.startswith("K") or (m.startswith("begun") and m != long_line)]
    assert msgs.count("first") == 1                     # before the line: committed
    for i in range(5):
        assert 1 <= msgs.count("meanwhile %d" % i) <= 2
    assert msgs.count("after") == 1
