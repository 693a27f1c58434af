#!/usr/bin/env python3
# clients.py – raw-socket HTTP clients make-pcaps.sh needs where curl cannot shape the traffic
# (pipelined requests in one send(), 50 simultaneous connections, bodies sent after an early
# response); never talks to anything but the private nginx on 127.0.0.1:$PORT (8080 by default).
import os
import random
import socket
import sys
import threading

HOST, PORT = "127.0.0.1", int(os.environ.get("PORT", "8080"))


def read_response(sock, buf):
    """Read one Content-Length framed response; return (status, rest-of-buffer)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed inside a response head")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        if name.strip().lower() == "transfer-encoding":
            raise RuntimeError("chunked response not expected here")
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed inside a response body")
        buf += chunk
    return status, buf[length:]


def request(path, extra=""):
    return (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n"
            f"User-Agent: pktlog-pcaps/1.0\r\nAccept: */*\r\n{extra}\r\n").encode()


def pipelining():
    paths = ["/index.html", "/a.html", "/c.txt"]
    with socket.create_connection((HOST, PORT)) as s:
        # All three requests must leave in a single segment: that is the point of the capture.
        s.send(b"".join(request(p) for p in paths))
        buf = b""
        for p in paths:
            status, buf = read_response(s, buf)
            print(f"pipelining {p} {status}")
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass


def concurrent(n=50):
    barrier = threading.Barrier(n)
    errors = []
    files = ["/index.html", "/a.html", "/b.html", "/c.txt", "/d.css"]

    def one(i):
        try:
            with socket.create_connection((HOST, PORT)) as s:
                barrier.wait(timeout=10)  # every connection is open before any request leaves
                buf = b""
                for k in range(2):
                    s.sendall(request(f"{files[(i + k) % len(files)]}?conn={i}&req={k}"))
                    status, buf = read_response(s, buf)
                    if status != 200:
                        raise RuntimeError(f"status {status}")
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
        except Exception as e:  # reported below; a thread must not die silently
            errors.append(f"conn {i}: {e}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("concurrent: " + "; ".join(errors))
    print(f"concurrent {n} connections x 2 requests ok")


def read_head(sock, buf):
    """Read one response with a Content-Length (or none: no body); return
    (status, closes, rest-of-buffer)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed inside a response head")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, closes = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        if name == "connection" and value == "close":
            closes = True
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed inside a response body")
        buf += chunk
    return status, closes, buf[length:]


def early(sock, method, path, total, first, extra=""):
    """Send a head announcing `total` body bytes and only `first` of them, read the response
    nginx sends before it has the body, then send the rest: the early-response pattern."""
    body = bytes((ord("a") + i % 26) for i in range(total))
    head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nUser-Agent: pktlog-pcaps/1.0\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n{extra}\r\n")
    sock.sendall(head.encode() + body[:first])
    status, closes, buf = read_head(sock, b"")
    sock.sendall(body[first:])
    return status, closes, buf


def get(sock, path, buf=b""):
    sock.sendall(request(path))
    return read_head(sock, buf)


def finish(sock):
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass
    sock.close()


def early_return():
    """One keep-alive connection, each answer before its body, ordinary GETs between: a 1 MiB
    POST to `return 200`, POST and PUT to `return 301`, a POST the static handler refuses
    (405, it ignores the body), a PUT where `deny all` forbids (403)."""
    s = socket.create_connection((HOST, PORT))
    got = [early(s, "POST", "/ret", 1 << 20, 1000)[0], get(s, "/a.html")[0],
           early(s, "POST", "/moved", 30000, 0)[0], get(s, "/c.txt")[0],
           early(s, "PUT", "/moved", 20000, 500)[0], early(s, "POST", "/a.html", 10000, 100)[0],
           early(s, "PUT", "/forbidden/x", 40000, 0)[0], get(s, "/d.css")[0]]
    finish(s)
    if got != [200, 200, 301, 200, 301, 405, 403, 200]:
        sys.exit(f"early_return: statuses {got}")
    print("early_return", got)


def early_413():
    """A 100 KB POST where client_max_body_size is 1k: 413 and close before the body."""
    s = socket.create_connection((HOST, PORT))
    status, closes, _ = early(s, "POST", "/small/x", 100000, 500)
    finish(s)
    if status != 413 or not closes:
        sys.exit(f"early_413: status {status} close {closes}")
    print("early_413", status)


def early_401():
    """A PUT without credentials to an auth_basic location: 401 before the body, then a GET."""
    s = socket.create_connection((HOST, PORT))
    got = [early(s, "PUT", "/private/f.txt", 50000, 1000)[0], get(s, "/a.html")[0]]
    finish(s)
    if got != [401, 200]:
        sys.exit(f"early_401: statuses {got}")
    print("early_401", got)


def early_mix(n=300, seed=12):
    """n requests on keep-alive connections, seeded: ordinary GETs mixed with POSTs answered
    by `return` (200, 301), PUTs refused 401 or 403, POSTs the static handler refuses (405), and POSTs over client_max_body_size (413, which
    closes the connection: the next request opens a new one). Bodies of 0.5 to 60 KB, of
    which 0 to 2000 bytes leave with the head."""
    rnd = random.Random(seed)
    files = ["/index.html", "/a.html", "/b.html", "/c.txt", "/d.css", "/file.txt"]
    s, buf, statuses = None, b"", []
    for _ in range(n):
        if s is None:
            s, buf = socket.create_connection((HOST, PORT)), b""
        k = rnd.random()
        total, first = rnd.randint(500, 60000), rnd.randint(0, 2000)
        first = min(first, total)
        if k < 0.55:
            status, closes, buf = get(s, rnd.choice(files), buf)
        elif k < 0.70:
            status, closes, buf = early(s, "POST", "/ret", total, first)
        elif k < 0.80:
            status, closes, buf = early(s, "POST", "/moved", total, first)
        elif k < 0.86:
            status, closes, buf = early(s, "PUT", "/private/f.txt", total, first)
        elif k < 0.89:
            status, closes, buf = early(s, "PUT", "/forbidden/x", total, first)
        elif k < 0.92:
            status, closes, buf = early(s, "POST", rnd.choice(files), total, first)
        else:
            total = max(total, 2000)
            status, closes, buf = early(s, "POST", "/small/x", total, min(first, 1000))
        statuses.append(status)
        if closes:
            finish(s)
            s = None
    if s is not None:
        finish(s)
    print("early_mix", n, "requests", {c: statuses.count(c) for c in sorted(set(statuses))})


if __name__ == "__main__":
    {"pipelining": pipelining, "concurrent": concurrent, "early_return": early_return,
     "early_413": early_413, "early_401": early_401, "early_mix": early_mix}[sys.argv[1]]()
