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
. "$HERE/../pcaps/lib.sh"

pl_bench_reuse "$OUT" make-h2c-capture
pl_need_root
pl_need_tools nginx tcpdump ss
pl_bench_install h2load nghttp2-client
pl_busy "$PORT" && die "port $PORT is in use"

WORK=$(mktemp -d /tmp/pktlog-bench-h2c.XXXXXX)
cleanup() { pl_stop_all; rm -rf "$WORK" "$OUT.tmp"; }
trap cleanup EXIT

mkdir -p "$HERE/data"
pl_bench_site "$PORT" http2
pl_start_nginx "$PORT"
pl_bench_capture_twice make-h2c-capture "$OUT" "$PORT" '^requests:|^finished in' \
    h2load -n "$REQUESTS" -c 4 -m 16 "http://127.0.0.1:$PORT/index.html"
