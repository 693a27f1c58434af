#!/usr/bin/env python3
"""make_http_seeds.py DIR – writes the fast_* seed scripts of tests/fuzz/seeds/http: ordinary
keep-alive exchanges (the fast path) with pipelining, gaps, HEAD, 304, a cut body, Connection:
close, early responses (before the request's body ended, or shown before the request), heads
cut as by a snap length, in the step format of proto_script.h, each with two config bytes."""
import os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
def data(d, b):
    r = b''
    while b:
        chunk, b = b[:65536], b[65536:]
        n = len(chunk)
        if n <= 63:
            r += bytes([((n-1) << 2) | d]) + chunk
        else:
            r += bytes([(63 << 2) | d, (n-1) >> 8, (n-1) & 255]) + chunk
    return r
def gap(d, n):   # n = byte << shift
    return bytes([2 | (d << 2)]) + bytes([n])
REQ = b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: ab/2.3\r\nAccept: */*\r\nX-Trace:  abc \r\nCookie: a=b\r\n\r\n"
REQ10 = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n"
BODY = b"<html>" + b"x" * 50 + b"</html>\n"
RESP = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(BODY) + BODY
UPREQ = (b"GET /up?x=1 HTTP/1.1\r\nHost: h.example:8080\r\nConnection: Upgrade, HTTP2-Settings\r\n"
         b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
R101 = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
H2RESP1 = bytes([0, 0, 1, 1, 4, 0, 0, 0, 1, 0x88, 0, 0, 2, 0, 1, 0, 0, 0, 1]) + b"ok"
H2REQ3 = bytes([0, 0, 3, 1, 5, 0, 0, 0, 3, 0x82, 0x86, 0x84])
H2RESP3 = bytes([0, 0, 1, 1, 5, 0, 0, 0, 3, 0x8d])
seeds = {
  'fast_get': data(0, REQ) + data(1, RESP) + data(0, REQ) + data(1, RESP),
  'fast_10': data(0, REQ10) + data(1, RESP) + data(0, REQ10) + data(1, RESP.replace(b'HTTP/1.1', b'HTTP/1.0')),
  'fast_pipe': data(0, REQ + REQ10 + REQ) + data(1, RESP + RESP) + data(1, RESP[:40]) + data(1, RESP[40:]),
  'fast_post': data(0, b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\nContent-Type: text/plain\r\n\r\n0123456789") + data(0, b"0123456789") + data(1, b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n") + data(0, REQ) + data(1, RESP),
  'fast_head': data(0, REQ.replace(b'GET', b'HEAD')) + data(1, RESP[:RESP.index(b'\r\n\r\n')+4]) + data(0, REQ) + data(1, RESP),
  'fast_gap': data(0, REQ) + data(1, RESP[:100]) + gap(1, 10) + data(1, RESP[110:]) + data(0, REQ) + data(1, RESP[:90]) + gap(1, 200) + data(1, RESP),
  'fast_304': data(0, REQ) + data(1, b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 10\r\n\r\n") + data(0, REQ) + data(1, b"HTTP/1.1 404 \r\nContent-Length: 0\r\nX-E:\r\n\r\n"),
  'fast_close': data(0, REQ) + data(1, RESP.replace(b'keep-alive', b'close')) + data(0, REQ) + data(1, RESP),
  'fast_cut': data(0, REQ) + data(1, RESP[:-10]),
  # early responses: the answer comes while the request body is still arriving
  'early_mid': data(0, b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\n\r\n0123456789") + data(1, b"HTTP/1.1 413 Too Large\r\nContent-Length: 4\r\n\r\nbig!") + data(0, b"01234567890123456789" + REQ) + data(1, RESP),
  'early_first': data(1, b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n") + data(0, b"PUT /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde" + REQ.replace(b'GET', b'HEAD')) + data(1, RESP[:RESP.index(b'\r\n\r\n')+4]),
  'early_expect': data(0, b"PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 9000\r\n\r\n") + data(1, b"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
  'snap_cut': data(0, REQ[:30]) + gap(0, 40) + data(1, RESP[:30]) + gap(1, 60) + data(0, REQ) + data(1, b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
  'fast_auth': data(0, b"GET /a HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nReferer: http://x/\r\n\r\n") + data(1, RESP),
  # the hand-over to HTTP/2 (src/proto/http_h2c.c): Upgrade: h2c answered 101 with client
  # bytes held before it, refused, split prefaces, the server's SETTINGS first
  'h2c_held': data(0, UPREQ) + data(0, PREFACE + SETTINGS) + data(0, H2REQ3) + data(1, R101 + SETTINGS) + data(1, H2RESP1) + data(1, H2RESP3),
  'h2c_refused': data(0, UPREQ + REQ) + data(1, RESP) + gap(0, 3) + data(1, RESP),
  'h2c_gap': data(0, UPREQ) + data(0, PREFACE) + gap(0, 20) + data(0, H2REQ3) + data(1, R101) + data(1, SETTINGS + H2RESP1),
  'h2_prior_split': data(0, PREFACE[:7]) + data(0, PREFACE[7:] + SETTINGS) + data(0, H2REQ3) + data(1, SETTINGS + H2RESP3),
  'h2_server_first': data(1, SETTINGS) + data(0, PREFACE + SETTINGS + H2REQ3) + data(1, H2RESP3),
}
for name, body in seeds.items():
    for cfgb in (0, 8 | 16 | 32):
        open(os.path.join(out, '%s_%d' % (name, cfgb)), 'wb').write(bytes([cfgb]) + body)
