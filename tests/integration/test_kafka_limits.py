"""Kafka refusals that no retry can cure, against a real broker (tests/kafka/broker.sh) whose
message limit is small: output.kafka.batch_bytes is checked at start against the topic's
max.message.bytes (or the broker's message.max.bytes for a topic not created yet), read through
librdkafka's admin API, and clamped with a warning; a refusal at run time (the topic's limit
lowered under a running pktlog, an event too large even alone) is counted by cause
(kafka_err_*), logged, and shown by /metrics' output_healthy, not silently spooled.
Nothing here skips: a missing broker or tool fails."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import ENV, PKTLOG, ROOT
from test_output_failures import clean, delivery, free_port, wait_for

BROKER = os.path.join(ROOT, "tests", "kafka", "broker.sh")
BROKER_LIMIT = 65536          # the dedicated broker's message.max.bytes


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("kafka-limits"))
    out = subprocess.run([BROKER, "start", d, "message.max.bytes=%d" % BROKER_LIMIT],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    yield out.stdout.strip().splitlines()[-1]
    subprocess.run([BROKER, "stop", d], check=True, timeout=60)


def set_topic_limit(addr, topic, limit):
    """Create topic (auto-creation, one marker message) if needed and set its max.message.bytes
    with Kafka's own ConfigCommand (kafka-configs.sh), from the broker's jars."""
    libs = subprocess.run([BROKER, "fetch"], capture_output=True, text=True,
                          timeout=600, check=True).stdout.strip().splitlines()[-1]
    subprocess.run(["kcat", "-P", "-b", addr, "-t", topic], input="marker\n", text=True,
                   check=True, timeout=60)
    out = subprocess.run(["java", "-Xmx256m", "-cp", libs + "/*", "kafka.admin.ConfigCommand",
                          "--bootstrap-server", addr, "--alter", "--entity-type", "topics",
                          "--entity-name", topic, "--add-config", "max.message.bytes=%d" % limit],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "Completed updating config" in out.stdout, out.stdout + out.stderr


def events(addr, topic, want, timeout=60):
    """The JSON events in topic (the marker skipped), waiting until `want` arrived."""
    end = time.monotonic() + timeout
    while True:
        out = subprocess.run(["kcat", "-b", addr, "-C", "-t", topic, "-e", "-q", "-f", "%s\n"],
                             capture_output=True, text=True, timeout=60)
        got = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
        if len(got) >= want or time.monotonic() > end:
            return got
        time.sleep(0.5)


def scrape(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {l.rsplit(" ", 1)[0]: int(l.rsplit(" ", 1)[1])
            for l in text.splitlines() if l and not l.startswith("#")}


def start(tmp_path, addr, topic, log, extra=""):
    port = free_port()
    cfg = tmp_path / "k.yml"
    cfg.write_text('metrics:\n  listen: "127.0.0.1:%d"\n  heartbeat: false\n'
                   "output:\n  kafka:\n    brokers: \"%s\"\n    topic: %s\n    compression: none\n"
                   "    message_timeout: 3s\n    flush_timeout: 3s\n%s" % (port, addr, topic, extra))
    errpath = tmp_path / "stderr"
    p = subprocess.Popen([PKTLOG, "-v", "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                          "--tail", str(log)], stdout=subprocess.DEVNULL,
                         stderr=open(errpath, "w"), env=ENV)
    return p, port, errpath


def stop(p, errpath):
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    err = errpath.read_text()
    clean(err)
    assert rc == 0, err[-3000:]
    return err


def lines(n, width=200, start=0):
    return "".join("line %07d %s\n" % (i, "x" * width) for i in range(start, start + n))


def numbers(evs):
    return sorted(int(e["message"].split()[1]) for e in evs if e["message"].startswith("line "))


def test_batch_above_topic_limit_is_clamped_and_all_delivered(broker, tmp_path):
    """The topic allows 32 KiB, batch_bytes is the default 1000000: before, every batch was
    refused and spooled while the registry advanced; now batch_bytes is clamped at start (the
    warning names the option, the value and the limit) and every line is in the topic."""
    set_topic_limit(broker, "small", 32768)
    log = tmp_path / "app.log"
    log.write_text(lines(3000))
    p, port, errpath = start(tmp_path, broker, "small", log)
    got = events(broker, "small", 3000)
    m = wait_for(lambda: scrape(port).get("pktlog_kafka_msg_limit") and scrape(port))
    err = stop(p, errpath)
    assert "output.kafka.batch_bytes 1000000 is above the topic's limit (max.message.bytes 32768 " \
        "for small)" in err, err[-3000:]
    assert numbers(got) == list(range(3000)), len(got)
    assert m["pktlog_kafka_msg_limit"] == 32768, m
    assert m["pktlog_kafka_batch_bytes"] == 32768 - 512, m
    assert m["pktlog_output_healthy"] == 1, m
    assert "kafka_err_msg_size" not in err.split("pktlog: counters:")[-1], err[-2000:]


def test_topic_pattern_uses_the_broker_limit(broker, tmp_path):
    """A topic per type ("pat-%{type}"): no one topic to ask, so the broker's message.max.bytes
    (what a topic it creates inherits) is the limit."""
    log = tmp_path / "app.log"
    log.write_text(lines(500))
    p, port, errpath = start(tmp_path, broker, "pat-%{type}", log)
    got = events(broker, "pat-log", 500)
    err = stop(p, errpath)
    assert "output.kafka.batch_bytes 1000000 is above the broker's limit (max.message.bytes " \
        "%d for pat-%%{type})" % BROKER_LIMIT in err, err[-3000:]
    assert numbers(got) == list(range(500)), len(got)


def test_batch_within_limit_is_kept(broker, tmp_path):
    """A topic the start-up check creates inherits the broker's limit; 16 KiB fits it."""
    log = tmp_path / "app.log"
    log.write_text(lines(10))
    p, port, errpath = start(tmp_path, broker, "fits", log, "    batch_bytes: 16384\n")
    got = events(broker, "fits", 10)
    err = stop(p, errpath)
    assert "output.kafka.batch_bytes 16384 fits the topic's limit (max.message.bytes %d)" \
        % BROKER_LIMIT in err, err[-3000:]
    assert numbers(got) == list(range(10))


def test_event_too_large_even_alone_is_dropped_and_counted(broker, tmp_path):
    """One line of 100 KB against a 64 KiB limit: its event is refused even alone in its batch.
    It is dropped, counted (kafka_err_msg_size, output_rejected) and logged; the lines around it
    arrive, and the tailer's offsets move past it (no endless re-send)."""
    log = tmp_path / "app.log"
    log.write_text(lines(5) + "big " + "B" * 100000 + "\n" + lines(5, start=5))
    p, port, errpath = start(tmp_path, broker, "onebig", log)
    got = events(broker, "onebig", 10)
    m = wait_for(lambda: scrape(port).get("pktlog_kafka_err_msg_size_total") and scrape(port))
    err = stop(p, errpath)
    assert numbers(got) == list(range(10)), numbers(got)
    assert m.get("pktlog_kafka_err_msg_size_total") == 1, m
    assert "the broker refuses it as too large" in err, err[-3000:]
    line, _ = delivery(err)
    assert "+ 1 rejected by Kafka" in line, line


def test_limit_lowered_under_a_running_pktlog_is_reported(broker, tmp_path):
    """The topic's limit drops to 4 KiB while pktlog runs with batches of ~64 KiB: each batch is
    refused. That is counted by cause, logged as a refusal no retry fixes, and output_healthy
    goes to 0 (before: the events went to the spool without a word)."""
    set_topic_limit(broker, "shrinks", BROKER_LIMIT)
    log = tmp_path / "app.log"
    log.write_text(lines(100))
    p, port, errpath = start(tmp_path, broker, "shrinks", log)
    assert len(events(broker, "shrinks", 100)) == 100
    set_topic_limit(broker, "shrinks", 4096)
    time.sleep(1)
    with open(log, "a") as f:
        f.write(lines(2000, start=100))
    m = wait_for(lambda: (scrape(port).get("pktlog_kafka_err_msg_size_total", 0) > 0 and
                          scrape(port).get("pktlog_output_healthy") == 0) and scrape(port))
    err = stop(p, errpath)
    assert m, err[-3000:]
    assert re.search(r"Kafka refuses events for shrinks: .*no retry can fix this: lower "
                     r"output.kafka.batch_bytes or raise the topic's max.message.bytes", err), \
        err[-3000:]
