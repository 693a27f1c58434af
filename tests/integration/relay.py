#!/usr/bin/env python3
"""relay.py – an impaired Ethernet link in userspace: two TAP devices, frames copied between
them with seeded drops, duplicates and delays (which reorder).

This kernel has no netem, so the live tests put this between two network namespaces: the
relay creates TAP devices A and B in its own namespace and prints "ready"; the caller
then moves each into a namespace (`ip link set A netns X`) and configures it. A TAP
without IFF_VNET_HDR gets fully checksummed, segmented frames, so they can be re-sent as
they are. SIGTERM (or SIGINT) prints the counts as one JSON line and exits.

  relay.py --a pl_ta --b pl_tb --seed 7 --drop 0.03 --dup 0.03 --delay 0.05 --delay-ms 30

--mirror M copies every frame the relay delivers to a third TAP device (a monitor port),
losing --mirror-drop of them there: a capture on M misses frames the endpoints got, as
an overloaded SPAN port would, so the monitor sees real gaps in the TCP streams.
"""
import argparse
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


class Relay:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.args = args
        self.fds = {open_tap(args.a): None, open_tap(args.b): None}
        a, b = list(self.fds)
        self.peer = {a: b, b: a}
        self.held = []          # (release time, seq, out fd, frame)
        self.seq = 0
        self.count = dict(frames=0, dropped=0, duplicated=0, delayed=0, sent=0, send_errors=0,
                          mirrored=0, mirror_dropped=0)
        self.mirror = open_tap(args.mirror) if args.mirror else None
        self.stop = False

    def send(self, fd, frame):
        try:
            os.write(fd, frame)
            self.count["sent"] += 1
        except OSError:
            self.count["send_errors"] += 1   # the peer is not up yet, or its queue is full
            return
        if self.mirror is None:
            return
        if self.rng.random() < self.args.mirror_drop:
            self.count["mirror_dropped"] += 1
            return
        try:
            os.write(self.mirror, frame)
            self.count["mirrored"] += 1
        except OSError:
            pass

    def impair(self, out, frame):
        a = self.args
        self.count["frames"] += 1
        if self.rng.random() < a.drop:
            self.count["dropped"] += 1
            return
        copies = 2 if self.rng.random() < a.dup else 1
        self.count["duplicated"] += copies - 1
        for _ in range(copies):
            if self.rng.random() < a.delay:
                self.count["delayed"] += 1
                due = time.monotonic() + self.rng.uniform(1, a.delay_ms) / 1000.0
                heapq.heappush(self.held, (due, self.seq, out, frame))
                self.seq += 1
            else:
                self.send(out, frame)

    def release_due(self):
        now = time.monotonic()
        while self.held and self.held[0][0] <= now:
            _, _, out, frame = heapq.heappop(self.held)
            self.send(out, frame)

    def run(self):
        print("ready", flush=True)
        while not self.stop:
            wait = 0.2
            if self.held:
                wait = max(0.0, min(wait, self.held[0][0] - time.monotonic()))
            try:
                ready, _, _ = select.select(list(self.fds), [], [], wait)
            except InterruptedError:
                continue
            for fd in ready:
                for _ in range(64):
                    try:
                        frame = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    self.impair(self.peer[fd], frame)
            self.release_due()
        print(json.dumps(self.count), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--drop", type=float, default=0.0)
    p.add_argument("--dup", type=float, default=0.0)
    p.add_argument("--delay", type=float, default=0.0, help="share of frames delayed")
    p.add_argument("--delay-ms", type=float, default=20.0, help="largest delay")
    p.add_argument("--mirror", help="TAP device that gets a copy of every delivered frame")
    p.add_argument("--mirror-drop", type=float, default=0.0, help="share of copies lost")
    r = Relay(p.parse_args())

    def on_stop(sig, frame):
        r.stop = True
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    r.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
