"""http_work.py – the truth harness's HTTP half: a private nginx (own prefix, config, free
port, master_process off) whose JSON access log is the truth, and a seeded generator of
traffic from curl, ab, python http.client/requests and a raw-socket client for odd cases
(pipelining, chunked bodies with trailers, early responses, slow bodies, cut requests, long
URLs and headers, many connections at once)."""
import http.client
import json
import os
import random
import socket
import subprocess
import threading
import time

from common import free_port, listening, wait_for

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ text/html html; text/plain txt; application/octet-stream bin; }}
    default_type text/plain;
    client_body_temp_path {w}/tmp/body;
    proxy_temp_path {w}/tmp/proxy;
    fastcgi_temp_path {w}/tmp/fastcgi;
    uwsgi_temp_path {w}/tmp/uwsgi;
    scgi_temp_path {w}/tmp/scgi;
    server_tokens off;
    keepalive_timeout 30;
    keepalive_requests 10000;
    client_header_timeout 5s;
    client_body_timeout 5s;
    large_client_header_buffers 4 32k;
    client_max_body_size 4m;
    log_format truth escape=json '{{"connection":$connection,"connection_requests":$connection_requests,'
        '"remote_port":$remote_port,"request":"$request","request_method":"$request_method",'
        '"request_uri":"$request_uri","args":"$args","status":$status,'
        '"request_length":$request_length,"bytes_sent":$bytes_sent,'
        '"body_bytes_sent":$body_bytes_sent,"request_time":"$request_time","msec":"$msec",'
        '"te":"$http_transfer_encoding","expect":"$http_expect"}}';
    access_log {w}/access.log truth;
    server {{
        listen 127.0.0.1:{port};
        root {w}/html;
        location /gz/ {{ gzip on; gzip_types text/plain; gzip_min_length 0; }}
        location = /early {{ return 200 "early answer\\n"; }}
        location = /r204 {{ return 204; }}
        location = /redir {{ return 307 /a.html; }}
        location = /moved {{ return 301 /a.html; }}
        location = /small {{ client_max_body_size 1k; dav_methods PUT; }}
        location /auth/ {{ auth_basic "truth"; auth_basic_user_file {w}/htpasswd; }}
        location /deny/ {{ deny all; }}
        location = /form {{ mirror /sink; mirror_request_body on; error_page 404 405 =200 /form-ok; }}
        location = /sink {{ internal; return 204; }}
        location = /form-ok {{ internal; return 200 "form received\\n"; }}
        location /upload/ {{ dav_methods PUT DELETE; create_full_put_path on; client_body_buffer_size 64k; }}
    }}
}}
"""

FILES = ["/index.html", "/a.html", "/b.html", "/c.txt", "/big.bin", "/gz/text.txt", "/nope.html",
         "/dir/", "/a.html?x=1&y=two", "/search.html?q=packet+capture&lang=en",
         "/%7Eodd%20name.html", "/c.txt?"]


class Nginx:
    def __init__(self, workdir):
        self.w = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(self.w, "tmp"), exist_ok=True)
        html = os.path.join(self.w, "html")
        os.makedirs(os.path.join(html, "gz"), exist_ok=True)
        os.makedirs(os.path.join(html, "upload"), exist_ok=True)
        os.makedirs(os.path.join(html, "auth"), exist_ok=True)
        os.makedirs(os.path.join(html, "deny"), exist_ok=True)
        os.makedirs(os.path.join(html, "dir"), exist_ok=True)
        for name, n in (("index.html", 7), ("a.html", 3), ("b.html", 40), ("search.html", 2),
                        ("auth/x.html", 1), ("deny/x.html", 1), ("~odd name.html", 1)):
            with open(os.path.join(html, name), "w") as f:
                f.write("<html><body>\n" + "".join(
                    f"<p>{name} paragraph {i}: the quick brown fox.</p>\n" for i in range(n))
                    + "</body></html>\n")
        with open(os.path.join(html, "c.txt"), "w") as f:
            f.write("".join(f"line {i:04d} of c.txt\n" for i in range(40)))
        with open(os.path.join(html, "gz", "text.txt"), "w") as f:
            f.write("".join(f"compressible line {i % 50:02d}\n" for i in range(3000)))
        with open(os.path.join(html, "big.bin"), "wb") as f:
            f.write(random.Random(7).randbytes(600 * 1024))
        with open(os.path.join(self.w, "htpasswd"), "w") as f:
            f.write("user:$apr1$Qp3Z7pKz$4Vv7Tz1Qy9mHqJqk0Q1m8.\n")
        subprocess.run(["touch", "-d", "2024-01-01 00:00:00 UTC"] +
                       [os.path.join(dp, fn) for dp, _, fns in os.walk(html) for fn in fns], check=True)
        self.port = free_port()
        self.log = os.path.join(self.w, "access.log")
        with open(os.path.join(self.w, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(w=self.w, port=self.port))
        open(self.log, "w").close()
        self.proc = subprocess.Popen(["nginx", "-p", self.w, "-c", os.path.join(self.w, "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: listening(self.port), 10, "nginx to listen")
        self.log_pos = 0

    def records(self):
        """The access-log lines written since the last call."""
        time.sleep(0.3)
        with open(self.log) as f:
            f.seek(self.log_pos)
            text = f.read()
            self.log_pos = f.tell()
        return [json.loads(l) for l in text.splitlines() if l.strip()]

    def stop(self):
        self.proc.send_signal(3)   # SIGQUIT: graceful
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- the raw-socket client -------------------------------------------------------------

class Raw:
    def __init__(self, port, timeout=0.4):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.settimeout(timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = port

    def send(self, b):
        try:
            self.s.sendall(b)
            return True
        except OSError:
            return False

    def drain(self, wait=0.4, until_close=False):
        """Read what the server sends for up to wait seconds of silence."""
        got = b""
        self.s.settimeout(wait)
        while True:
            try:
                d = self.s.recv(65536)
            except (socket.timeout, OSError):
                return got
            if not d:
                return got
            got += d
            if not until_close and len(got) > 4 << 20:
                return got

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def head(method, path, host, extra=(), version="HTTP/1.1"):
    lines = [f"{method} {path} {version}", f"Host: {host}", "User-Agent: truth-raw/1.0"]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body, rnd, trailers=False):
    out, i = b"", 0
    while i < len(body):
        n = rnd.randint(1, 4000)
        part = body[i:i + n]
        ext = ";ext=1" if rnd.random() < 0.2 else ""
        out += b"%x%s\r\n%s\r\n" % (len(part), ext.encode(), part)
        i += n
    out += b"0\r\n"
    if trailers:
        out += b"X-Trailer-One: a\r\nX-Checksum: 1234\r\n"
    return out + b"\r\n"


class Gen:
    """One round's traffic. Each session is one client action; run() runs them, some in
    parallel threads, and returns when all are done (each is bounded by timeouts)."""

    def __init__(self, port, seed, n_sessions, workdir):
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.rnd = random.Random(seed)
        self.n = n_sessions
        self.w = workdir
        self.bodyfile = os.path.join(workdir, "body.bin")
        self.kinds = [
            (self.curl_keepalive, 6), (self.curl_post, 4), (self.ab, 1), (self.httpclient, 5),
            (self.requests_session, 2), (self.raw_pipeline, 4), (self.raw_chunked, 3),
            (self.raw_early, 6), (self.raw_continue, 3), (self.raw_slow, 2), (self.raw_cut, 3),
            (self.raw_long, 2), (self.raw_conditional, 3), (self.concurrent, 1),
        ]

    def path(self):
        return self.rnd.choice(FILES)

    def run(self, cover=False):
        """cover: start with one session of every kind (the fixed-seed slice's round 0)."""
        sessions = [k for k, _ in self.kinds] if cover else []
        sessions += [self.rnd.choices([k for k, _ in self.kinds], [w for _, w in self.kinds])[0]
                     for _ in range(self.n)]
        args = [(s, self.rnd.random()) for s in sessions]
        # Sessions with their own seeds, so the threads do not share one generator.
        threads = []
        for fn, sub in args:
            r = random.Random(sub)
            if r.random() < 0.3 and len(threads) < 4:
                t = threading.Thread(target=self.safe, args=(fn, r))
                t.start()
                threads.append(t)
            else:
                self.safe(fn, r)
        for t in threads:
            t.join(60)

    def safe(self, fn, r):
        try:
            fn(r)
        except (OSError, http.client.HTTPException, subprocess.TimeoutExpired):
            pass                    # the server's log is the truth, not the client's view

    # --- curl, ab, http.client, requests ---
    def curl_keepalive(self, r):
        urls = [f"http://{self.host}{r.choice(FILES)}" for _ in range(r.randint(1, 6))]
        opts = r.choice([[], ["-I"], ["--http1.0"], ["-H", "Connection: close"],
                         ["--compressed"], ["-r", "0-99"]])
        argv = ["curl", "-s", "-o", "/dev/null", "--max-time", "10"] + opts
        for u in urls:
            argv += [u, "-o", "/dev/null"]
        subprocess.run(argv, timeout=20, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def curl_post(self, r):
        n = r.choice([0, 10, 900, 5000, 70000, 1500000])
        with open(self.bodyfile + str(id(r)), "wb") as f:
            f.write(b"k" * n)
        target = r.choice(["/form", "/early", "/redir", "/small", "/auth/x.html", "/deny/x.html",
                           "/upload/f%d.txt" % r.randint(0, 9), "/r204"])
        method = r.choice(["POST", "PUT"])
        argv = ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "-X", method,
                "--data-binary", "@" + self.bodyfile + str(id(r)), f"http://{self.host}{target}"]
        if r.random() < 0.5:
            argv += ["-H", "Expect: 100-continue"]
        elif r.random() < 0.5:
            argv += ["-H", "Expect:"]
        if r.random() < 0.3:
            argv += ["-H", "Transfer-Encoding: chunked"]
        if r.random() < 0.3:
            argv += [f"http://{self.host}/a.html"]      # a second request on the connection
        subprocess.run(argv, timeout=20, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.unlink(self.bodyfile + str(id(r)))

    def ab(self, r):
        n, c = r.randint(5, 40), r.randint(1, 10)
        argv = ["ab", "-q", "-n", str(n), "-c", str(c), "-s", "10"]
        if r.random() < 0.6:
            argv.append("-k")
        argv.append(f"http://{self.host}{r.choice(['/index.html', '/a.html', '/c.txt', '/r204'])}")
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)

    def httpclient(self, r):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        for _ in range(r.randint(1, 8)):
            method = r.choice(["GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
            path = r.choice(FILES + ["/form", "/upload/h%d.txt" % r.randint(0, 5), "/early"])
            body = None
            headers = {}
            if method in ("POST", "PUT"):
                body = b"b" * r.choice([0, 5, 300, 9000])
                if r.random() < 0.4:
                    c.request(method, path, body=iter([body[:len(body) // 2], body[len(body) // 2:]]),
                              headers=headers, encode_chunked=True)
                    c.getresponse().read()
                    continue
            c.request(method, path, body=body, headers=headers)
            resp = c.getresponse()
            resp.read()
            if resp.will_close:
                break
        c.close()

    def requests_session(self, r):
        import requests
        with requests.Session() as s:
            for _ in range(r.randint(1, 5)):
                if r.random() < 0.5:
                    s.get(f"http://{self.host}{r.choice(FILES)}", timeout=5)
                else:
                    s.post(f"http://{self.host}{r.choice(['/form', '/early', '/moved'])}",
                           data={"a": "1", "b": "x" * r.randint(0, 500)}, timeout=5,
                           allow_redirects=False)

    # --- raw-socket cases ---
    def raw_pipeline(self, r):
        c = Raw(self.port)
        reqs = b""
        n = r.randint(2, 10)
        for i in range(n):
            m = r.choice(["GET", "GET", "HEAD"])
            extra = ["Connection: close"] if i == n - 1 else []
            reqs += head(m, r.choice(FILES), self.host, extra)
        if r.random() < 0.5:
            c.send(reqs)
        else:
            cut = r.randint(1, len(reqs) - 1)
            c.send(reqs[:cut])
            time.sleep(0.02)
            c.send(reqs[cut:])
        c.drain(1.0, until_close=True)
        c.close()

    def raw_chunked(self, r):
        c = Raw(self.port)
        for i in range(r.randint(1, 3)):
            target = r.choice(["/form", "/upload/c%d.txt" % r.randint(0, 5), "/early", "/r204"])
            body = b"z" * r.randint(0, 30000)
            c.send(head(r.choice(["POST", "PUT"]), target, self.host, ["Transfer-Encoding: chunked"]))
            c.send(chunked(body, r, trailers=r.random() < 0.5))
            c.drain(0.3)
        c.close()

    def raw_early(self, r):
        """A request nginx answers before its body is read, then more requests on the same
        connection: return, 413, 401, 403, redirect, a handler that ignores the body."""
        c = Raw(self.port)
        for i in range(r.randint(1, 4)):
            target = r.choice(["/early", "/small", "/auth/x.html", "/deny/x.html", "/redir",
                               "/moved", "/r204", "/index.html", "/c.txt"])
            n = r.choice([100, 5000, 64000, 1 << 20])
            extra = [f"Content-Length: {n}"]
            if r.random() < 0.3:
                extra.append("Expect: 100-continue")
            c.send(head(r.choice(["POST", "PUT"]), target, self.host, extra))
            first = r.randint(0, min(n, 2000))
            c.send(b"e" * first)
            c.drain(0.15)               # the early response arrives here
            rest = n - first
            while rest > 0:
                k = min(rest, 65536)
                if not c.send(b"e" * k):
                    break
                rest -= k
            c.drain(0.1)
            if r.random() < 0.7:
                c.send(head("GET", r.choice(FILES), self.host))
                c.drain(0.15)
        c.send(head("GET", "/a.html", self.host, ["Connection: close"]))
        c.drain(0.5, until_close=True)
        c.close()

    def raw_continue(self, r):
        c = Raw(self.port)
        target = r.choice(["/upload/e%d.txt" % r.randint(0, 5), "/form", "/small", "/early",
                           "/deny/x.html"])
        n = r.choice([10, 2000, 50000])
        c.send(head("PUT" if "upload" in target else "POST", target, self.host,
                    [f"Content-Length: {n}", "Expect: 100-continue"]))
        c.drain(0.2)
        c.send(b"c" * n)
        c.drain(0.3)
        c.send(head("GET", "/c.txt", self.host, ["Connection: close"]))
        c.drain(0.5, until_close=True)
        c.close()

    def raw_slow(self, r):
        c = Raw(self.port)
        n = r.randint(100, 20000)
        target = r.choice(["/form", "/upload/s%d.txt" % r.randint(0, 5)])
        h = head("POST" if target == "/form" else "PUT", target, self.host, [f"Content-Length: {n}"])
        cut = r.randint(1, len(h) - 1)
        c.send(h[:cut])
        time.sleep(r.uniform(0.01, 0.2))
        c.send(h[cut:])
        sent = 0
        while sent < n:
            k = min(n - sent, r.randint(1, 5000))
            c.send(b"s" * k)
            sent += k
            time.sleep(r.uniform(0.0, 0.1))
        c.drain(0.3)
        c.close()

    def raw_cut(self, r):
        """A request the client abandons: mid-head, mid-body, or after sending it all."""
        c = Raw(self.port)
        if r.random() < 0.5:
            c.send(head("GET", "/index.html", self.host))
            c.drain(0.1)
        h = head("POST", "/form", self.host, ["Content-Length: 5000"])
        where = r.choice(["head", "body", "afterhead"])
        if where == "head":
            c.send(h[:r.randint(1, len(h) - 1)])
        elif where == "body":
            c.send(h + b"x" * r.randint(0, 4000))
        else:
            c.send(head("GET", "/big.bin", self.host))
        time.sleep(0.05)
        if r.random() < 0.5:
            c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()

    def raw_long(self, r):
        c = Raw(self.port)
        kind = r.choice(["url", "header", "many"])
        if kind == "url":
            path = "/a.html?" + "q=" + "u" * r.choice([500, 4000, 20000, 40000])
            c.send(head("GET", path, self.host, ["Connection: close"]))
        elif kind == "header":
            c.send(head("GET", "/c.txt", self.host,
                        ["X-Long: " + "h" * r.choice([1000, 8000, 30000, 40000]), "Connection: close"]))
        else:
            c.send(head("GET", "/c.txt", self.host,
                        [f"X-H{i}: v{i}" for i in range(r.randint(50, 300))] + ["Connection: close"]))
        c.drain(0.5, until_close=True)
        c.close()

    def raw_conditional(self, r):
        c = Raw(self.port)
        # nginx's ETag is "<mtime hex>-<size hex>"; a matching If-None-Match gives a 304.
        for _ in range(r.randint(1, 4)):
            p = r.choice(["/c.txt", "/a.html", "/index.html"])
            extra = r.choice([["If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT"],
                              ["If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"],
                              ["If-None-Match: *"], []])
            c.send(head(r.choice(["GET", "HEAD"]), p, self.host, extra))
            c.drain(0.1)
        c.send(head("GET", "/r204", self.host, ["Connection: close"]))
        c.drain(0.5, until_close=True)
        c.close()

    def concurrent(self, r):
        def one(seed):
            rr = random.Random(seed)
            c = Raw(self.port, timeout=2)
            for i in range(rr.randint(1, 3)):
                c.send(head("GET", rr.choice(FILES), self.host))
                c.drain(0.1)
            c.close()
        ts = [threading.Thread(target=self.safe, args=(lambda rr: one(rr.random()), random.Random(r.random())))
              for _ in range(r.randint(10, 40))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
