#!/usr/bin/env python3
# clients.py – raw-socket HTTP clients make-pcaps.sh needs where curl cannot shape the traffic
# (pipelined requests in one send(), 50 simultaneous connections); never talks to anything but
# the private nginx on 127.0.0.1:8080.
import socket
import sys
import threading

HOST, PORT = "127.0.0.1", 8080


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


if __name__ == "__main__":
    {"pipelining": pipelining, "concurrent": concurrent}[sys.argv[1]]()
