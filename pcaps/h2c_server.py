#!/usr/bin/python3
"""h2c_server.py – a small HTTP/1.1 + HTTP/2-in-clear file server (python3-h2) for the h2c
hand-over captures (make-h2c-upgrade-pcaps.sh): nginx 1.22 does not answer `Upgrade: h2c`,
this server does. Per connection it reads the client's first bytes:

  - the prior-knowledge preface `PRI * HTTP/2.0…`: HTTP/2 from the start;
  - an HTTP/1.1 request with `Upgrade: h2c` and `HTTP2-Settings`: `101 Switching Protocols`,
    then HTTP/2 with that request as stream 1 (RFC 7540 §3.2) — unless its path contains
    "/refuse/", which is answered in HTTP/1.1 like any other request (the upgrade ignored);
  - anything else: HTTP/1.1 with keep-alive.

Files come from --root; a missing one is a 404. Request bodies are read and counted. Each
request is logged as one JSON line (--log): conn, proto ("h1"/"h2"), upgrade (the request
that switched), stream, method, path, authority, status, req_body_bytes, resp_body_bytes.

  h2c_server.py --port 8002 --root DIR --log FILE
"""
import argparse
import json
import os
import socket
import threading

import h2.config
import h2.connection
import h2.events

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
LOCK = threading.Lock()


class Server:
    def __init__(self, root, log):
        self.root = root
        self.log = open(log, "a", buffering=1)
        self.nconn = 0

    def record(self, **kw):
        with LOCK:
            self.log.write(json.dumps(kw, sort_keys=True) + "\n")

    def body_of(self, path):
        p = os.path.normpath(os.path.join(self.root, path.split("?", 1)[0].lstrip("/")))
        if not p.startswith(self.root) or not os.path.isfile(p):
            return 404, b"not found\n"
        with open(p, "rb") as f:
            return 200, f.read()

    # --- HTTP/2 ---

    def h2_respond(self, conn, sock, cid, sid, req, upgraded):
        status, body = self.body_of(req["path"])
        conn.send_headers(sid, [(":status", str(status)), ("content-length", str(len(body))),
                                ("content-type", "text/plain"), ("server", "h2c_server")])
        off = 0
        while off < len(body):
            n = min(len(body) - off, conn.local_flow_control_window(sid),
                    conn.max_outbound_frame_size)
            if n <= 0:
                sock.sendall(conn.data_to_send())
                self.h2_wait_window(conn, sock, cid)
                continue
            conn.send_data(sid, body[off:off + n], end_stream=off + n == len(body))
            off += n
        if not body:
            conn.end_stream(sid)
        sock.sendall(conn.data_to_send())
        self.record(conn=cid, proto="h2", upgrade=upgraded, stream=sid, method=req["method"],
                    path=req["path"], authority=req["authority"], status=status,
                    req_body_bytes=req["body"], resp_body_bytes=len(body))

    def h2_wait_window(self, conn, sock, cid):
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed while waiting for the flow-control window")
        self.h2_events(conn, sock, cid, conn.receive_data(data), wait_only=True)

    def h2_events(self, conn, sock, cid, events, wait_only=False):
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                h = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
                     for k, v in ev.headers}
                self.reqs[ev.stream_id] = {"method": h.get(":method"), "path": h.get(":path"),
                                           "authority": h.get(":authority"), "body": 0}
                if ev.stream_ended and not wait_only:
                    self.h2_respond(conn, sock, cid, ev.stream_id, self.reqs[ev.stream_id], False)
            elif isinstance(ev, h2.events.DataReceived):
                self.reqs[ev.stream_id]["body"] += len(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.stream_ended and not wait_only:
                    self.h2_respond(conn, sock, cid, ev.stream_id, self.reqs[ev.stream_id], False)
            elif isinstance(ev, h2.events.StreamEnded) and not wait_only:
                pass
        sock.sendall(conn.data_to_send())

    def serve_h2(self, sock, cid, first, upgrade=None):
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        self.reqs = {}
        if upgrade:
            req, settings = upgrade
            conn.initiate_upgrade_connection(settings_header=settings)
            sock.sendall(conn.data_to_send())
            self.reqs[1] = req
            self.h2_respond(conn, sock, cid, 1, req, True)
        else:
            conn.initiate_connection()
            sock.sendall(conn.data_to_send())
        data = first
        while True:
            if data:
                self.h2_events(conn, sock, cid, conn.receive_data(data))
            data = sock.recv(65536)
            if not data:
                return

    # --- HTTP/1.1 ---

    def serve(self, sock, cid):
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf or buf.startswith(b"PRI * ") and len(buf) < 24:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            if buf.startswith(PREFACE):
                return self.serve_h2(sock, cid, buf)
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            hdrs = {}
            for ln in lines[1:]:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            clen = int(hdrs.get("content-length", "0"))
            while len(buf) < clen:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            body_len, buf = clen, buf[clen:]
            up = [t.strip().lower() for t in hdrs.get("upgrade", "").split(",")]
            req = {"method": method, "path": path, "authority": hdrs.get("host"), "body": body_len}
            if "h2c" in up and "http2-settings" in hdrs and "/refuse/" not in path:
                sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             b"Upgrade: h2c\r\n\r\n")
                return self.serve_h2(sock, cid, buf, (req, hdrs["http2-settings"].encode()))
            status, body = self.body_of(path)
            sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         b"Server: h2c_server\r\n\r\n" % (status, b"OK" if status == 200 else b"Not Found",
                                                          len(body)) + body)
            self.record(conn=cid, proto="h1", upgrade=False, stream=None, method=method, path=path,
                        authority=hdrs.get("host"), status=status, req_body_bytes=body_len,
                        resp_body_bytes=len(body))

    def handle(self, sock, cid):
        try:
            self.serve(sock, cid)
        except (ConnectionError, OSError):
            pass
        finally:
            sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    srv = Server(os.path.realpath(a.root), a.log)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(64)
    print(f"h2c_server: listening on 127.0.0.1:{a.port}", flush=True)
    while True:
        s, _ = ls.accept()
        srv.nconn += 1
        # one connection at a time: the captures are sequential, and self.reqs is per server
        srv.handle(s, srv.nconn)


if __name__ == "__main__":
    main()
