"""tail_delay.py – helpers of bench/tail's delay phase.

  write PATH RATE SECS   append "lat N APPEND_NS xxx…" lines to PATH at RATE lines/s
  stamp                  read "KAFKA_TS_MS EVENT_JSON" lines (kcat -f '%T %s\n') on stdin;
                         print, in ms, "receive - append", "@timestamp - append" (pktlog's
                         read delay) and "Kafka timestamp - append" (with the broker's
                         LogAppendTime: append -> broker append)
  summary FILE [COL]     print "p50 p99 count p99.9" of column COL (0: to consumer, 1: read,
                         2: broker append) of FILE
"""
import datetime
import json
import os
import sys
import time


def write(path, rate, secs):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < secs:
        due = int((time.monotonic() - start) * rate)
        buf = []
        while n < due:
            buf.append("lat %d %d %s\n" % (n, time.time_ns(), "x" * 70))
            n += 1
        if buf:
            os.write(fd, "".join(buf).encode())
        time.sleep(0.001)
    os.close(fd)


def read_ns(ts):
    sec, frac = ts.rstrip("Z").split(".")
    t = datetime.datetime.strptime(sec, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 10**9 + int(frac.ljust(9, "0"))


def stamp():
    for line in sys.stdin:
        now = time.time_ns()
        try:
            ts_ms, body = line.split(" ", 1)
            ev = json.loads(body)
            appended = int(ev["message"].split()[2])
            print("%.3f %.3f %.3f" % ((now - appended) / 1e6,
                                      (read_ns(ev["@timestamp"]) - appended) / 1e6,
                                      (int(ts_ms) * 10**6 - appended) / 1e6), flush=True)
        except (ValueError, KeyError, IndexError):
            pass


def summary(path, col=0):
    vals = sorted(float(x.split()[col]) for x in open(path) if x.strip())
    if not vals:
        print("nan nan 0 nan")
        return
    p50 = vals[len(vals) // 2]
    p99 = vals[min(len(vals) - 1, int(len(vals) * 0.99))]
    p999 = vals[min(len(vals) - 1, int(len(vals) * 0.999))]
    print("%.1f %.1f %d %.1f" % (p50, p99, len(vals), p999))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "write":
        write(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "stamp":
        stamp()
    elif cmd == "summary":
        summary(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    else:
        sys.exit("usage: tail_delay.py write PATH RATE SECS | stamp | summary FILE")
