#!/usr/bin/env bash
# make-h2c-capture.sh – makes bench/data/h2c.pcap: a large capture of small HTTP/2 (h2c) requests,
# many streams on a few connections (h2load -c 4 -m 16 against a private nginx `listen … http2` on
# 127.0.0.1:50052, also listed in the bench config as an http2 port). Run as root. Reuses the file when it
# exists (FORCE=1 remakes it); never touches the system nginx.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/data/h2c.pcap
PORT=50052
REQUESTS=${REQUESTS:-200000}

die() { echo "make-h2c-capture: $*" >&2; exit 1; }

if [ -s "$OUT" ] && [ -z "${FORCE:-}" ]; then
    echo "make-h2c-capture: reusing $OUT"
    exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root (tcpdump on lo needs it)"
for t in nginx tcpdump ss; do command -v $t >/dev/null || die "$t is missing"; done
if ! command -v h2load >/dev/null; then
    apt-get install -y nghttp2-client >/dev/null ||
        { apt-get update >/dev/null && apt-get install -y nghttp2-client >/dev/null; } ||
        die "cannot install nghttp2-client (h2load)"
fi
[ -z "$(ss -Htln "sport = :$PORT")" ] || die "port $PORT is in use"

WORK=$(mktemp -d /tmp/pktlog-bench-h2c.XXXXXX)
NGINX_PID=
TCPDUMP_PID=
cleanup() {
    [ -n "$TCPDUMP_PID" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null && wait "$TCPDUMP_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    rm -rf "$WORK" "$OUT.tmp"
}
trap cleanup EXIT

mkdir -p "$WORK/html" "$WORK/tmp" "$HERE/data"
python3 - "$WORK/html/index.html" <<'EOF'
import sys
body = "".join(f"<p>bench paragraph {i}: the quick brown fox jumps over the lazy dog.</p>\n"
               for i in range(7))
open(sys.argv[1], "w").write(
    f"<!DOCTYPE html>\n<html><head><title>bench</title></head><body>\n{body}</body></html>\n")
EOF
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 256; }
http {
    types { text/html html; }
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$PORT http2; root $WORK/html; }
}
EOF

nginx -p "$WORK" -c "$WORK/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 100); do [ -n "$(ss -Htln "sport = :$PORT")" ] && break; sleep 0.05; done
[ -n "$(ss -Htln "sport = :$PORT")" ] || die "nginx did not start: $(cat "$WORK/error.log")"

# One capture attempt; succeeds only when the kernel dropped nothing.
capture() {
    tcpdump -i lo -s 0 -B 262144 -w "$OUT.tmp" "tcp port $PORT" 2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$WORK/tcpdump.err" && break; sleep 0.05; done
    grep -q 'listening on' "$WORK/tcpdump.err" || die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"
    sleep 0.2
    h2load -n "$REQUESTS" -c 4 -m 16 "http://127.0.0.1:$PORT/index.html" >"$WORK/ab.out" ||
        die "h2load failed: $(tail -5 "$WORK/ab.out")"
    sleep 1
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    grep -E '^requests:|^finished in' "$WORK/ab.out"
    cat "$WORK/tcpdump.err" | grep packets
    grep -q '^0 packets dropped by kernel' "$WORK/tcpdump.err"
}

capture || { echo "make-h2c-capture: kernel dropped packets, retrying once" >&2; capture; } ||
    die "tcpdump dropped packets twice"
mv "$OUT.tmp" "$OUT"
echo "make-h2c-capture: wrote $OUT ($(du -h "$OUT" | cut -f1))"
