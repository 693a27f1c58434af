"""Running it for real: the Prometheus endpoint scraped while pktlog runs and checked
against the events it wrote, heartbeats (to a file and read back from Kafka), SIGUSR1,
a broken config on SIGHUP leaving the old one in force, progress on a terminal."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

from conftest import ENV, PCAPS, PKTLOG, get
import pcapgen
import test_kafka


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(tmp_path, config, args):
    cfg = tmp_path / "pktlog.yml"
    cfg.write_text(config)
    err = open(tmp_path / "stderr", "w")
    p = subprocess.Popen([PKTLOG, "--config", str(cfg), "--data-dir", str(tmp_path / "data"), *args],
                         stdout=subprocess.DEVNULL, stderr=err, env=ENV)
    return p


def stop(p, tmp_path, sig=signal.SIGTERM):
    p.send_signal(sig)
    rc = p.wait(timeout=60)
    stderr = (tmp_path / "stderr").read_text()
    assert "Sanitizer" not in stderr and "runtime error" not in stderr, stderr[-3000:]
    return rc, stderr


def wait_for(pred, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return pred()


def scrape(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = int(value)
    return out


def lines(path):
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip()]


def test_metrics_endpoint_matches_events_written(tmp_path):
    port = free_port()
    out = tmp_path / "events.jsonl"
    logf = tmp_path / "app.log"
    logf.write_text("".join(f"line {i}\n" for i in range(25)))
    # A replay, then tailing keeps pktlog running so it can be scraped.
    p = start(tmp_path, f"metrics:\n  listen: \"127.0.0.1:{port}\"\n  heartbeat: false\n",
              ["--pcap", os.path.join(PCAPS, "http_concurrent.pcap"), "--tail", str(logf),
               "--output", f"file:{out}"])
    try:
        # output_written counts events once their bytes are written (not when taken): it can
        # trail events_total by one metrics tick.
        m = wait_for(lambda: (lambda s: s if s and s.get("pktlog_tail_records_acked_total", 0) >= 25
                              and s.get("pktlog_output_written_total", 0) >= 125
                              else None)(scrape(port)))
        assert m, (tmp_path / "stderr").read_text()
        events = lines(out)
        http = [e for e in events if e.get("type") == "http"]
        logs = [e for e in events if "message" in e]
        assert len(http) == 100 and len(logs) == 25
        assert m["pktlog_events_total"] == 100
        assert m["pktlog_http_transactions_ok_total"] == 100
        assert m["pktlog_tail_records_total"] == 25
        assert m["pktlog_output_written_total"] == len(events)
        assert m['pktlog_decode_frames_total{result="ok"}'] == 800
        assert m["pktlog_flows_created_total"] == 50
    finally:
        rc, _ = stop(p, tmp_path)
    assert rc == 0


def test_heartbeat_to_file_and_sigusr1(tmp_path):
    out = tmp_path / "events.jsonl"
    logf = tmp_path / "app.log"
    logf.write_text("hello\n")
    p = start(tmp_path, "metrics:\n  heartbeat_interval: 1s\napp_id: shop-web\nhost_name: web7\n",
              ["--tail", str(logf), "--output", f"file:{out}"])
    try:
        hb = wait_for(lambda: [e for e in lines(out) if e.get("type") == "heartbeat"][:2]
                      if len([e for e in lines(out) if e.get("type") == "heartbeat"]) >= 2 else None)
        assert hb, (tmp_path / "stderr").read_text()
        p.send_signal(signal.SIGUSR1)
        time.sleep(1.5)
    finally:
        rc, stderr = stop(p, tmp_path)
    assert rc == 0
    first, second = hb
    assert first["host"]["name"] == "web7"
    assert first["fields"]["appid"] == "shop-web"
    assert first["heartbeat"]["interval_s"] == 1
    assert second["heartbeat"]["seq"] == first["heartbeat"]["seq"] + 1
    assert first["heartbeat"]["total"]["received"] == 1      # the one log line
    assert second["heartbeat"]["window"]["received"] == 0    # nothing new since
    assert first["counters"]["tail_records"] == 1
    assert "summary:" in stderr                              # SIGUSR1 wrote the counters


def test_heartbeat_read_back_from_kafka(tmp_path):
    d = tmp_path / "kafka"
    d.mkdir()
    addr = test_kafka.broker_start(str(d))
    try:
        logf = tmp_path / "app.log"
        logf.write_text("one\ntwo\n")
        cfg = test_kafka.kafka_config(addr, "pktlog-logs") + \
            "metrics:\n  heartbeat_interval: 1s\n  heartbeat_topic: hb-test\napp_id: app42\n"

        p = start(tmp_path, cfg, ["--tail", str(logf)])
        try:
            msgs = test_kafka.consume(addr, "hb-test", expect=1, timeout=40)
        finally:
            rc, stderr = stop(p, tmp_path)
        assert rc == 0, stderr
        assert msgs, stderr
        assert msgs[0]["type"] == "heartbeat" and msgs[0]["fields"]["appid"] == "app42"
        assert msgs[0]["heartbeat"]["total"]["received"] == 2
    finally:
        test_kafka.broker_stop(str(d))


def test_broken_config_on_reload_keeps_the_old_one(tmp_path):
    out = tmp_path / "events.jsonl"
    logf = tmp_path / "app.log"
    logf.write_text("")
    p = start(tmp_path, "metrics:\n  heartbeat: false\n", ["--tail", str(logf), "--output", f"file:{out}"])
    try:
        time.sleep(1)
        (tmp_path / "pktlog.yml").write_text("flows:\n  max_flows: [oops\n")
        p.send_signal(signal.SIGHUP)
        time.sleep(1)
        with open(logf, "a") as f:
            f.write("still here\n")
        got = wait_for(lambda: [e for e in lines(out) if e.get("message") == "still here"])
        assert got
        assert p.poll() is None
    finally:
        rc, stderr = stop(p, tmp_path)
    assert rc == 0
    assert "keeping the running configuration" in stderr


def test_progress_on_a_terminal_only(tmp_path):
    # Many small keep-alive transactions: on a terminal the replay reports as it goes and
    # always ends with a final progress line.
    c = pcapgen.Conn(sport=8080)
    frames = c.handshake()
    for i in range(20000):
        frames += c.client(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        frames += c.server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    frames += c.close()
    pcap = str(tmp_path / "long.pcap")
    pcapgen.write(pcap, frames, step=0.0001)
    # Not a terminal: no progress line.
    r = subprocess.run([PKTLOG, "--pcap", pcap, "--output", "null"], capture_output=True, text=True,
                       env=ENV, timeout=300)
    assert r.returncode == 0 and "packets/s" not in r.stderr
    # On a terminal (script(1) gives it one): "long.pcap: 100% (… MB), … packets/s, … events".
    r = subprocess.run(["script", "-qec", f"{PKTLOG} --pcap {pcap} --output null", "/dev/null"],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0
    assert "long.pcap: 100%" in r.stdout and "packets/s, 20000 events" in r.stdout, r.stdout[-500:]
