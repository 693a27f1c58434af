#!/usr/bin/env bash
# make-capture.sh – makes bench/data/keepalive.pcap: a large keep-alive capture of small HTTP
# requests (ab -k against a private nginx on 127.0.0.1:8080). Run as root. Reuses the file when it
# exists (FORCE=1 remakes it); never touches the system nginx.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/data/keepalive.pcap
PORT=8080
REQUESTS=${REQUESTS:-200000}

die() { echo "make-capture: $*" >&2; exit 1; }
. "$HERE/../pcaps/lib.sh"

pl_bench_reuse "$OUT" make-capture
pl_need_root
pl_need_tools nginx tcpdump ss
pl_bench_install ab apache2-utils
pl_busy "$PORT" && die "port $PORT is in use"

WORK=$(mktemp -d /tmp/pktlog-bench.XXXXXX)
cleanup() { pl_stop_all; rm -rf "$WORK" "$OUT.tmp"; }
trap cleanup EXIT

mkdir -p "$HERE/data"
pl_bench_site "$PORT"
pl_start_nginx "$PORT"
pl_bench_capture_twice make-capture "$OUT" "$PORT" \
    'Complete requests|Failed requests|Keep-Alive requests|Requests per second' \
    ab -q -k -c 4 -n "$REQUESTS" "http://127.0.0.1:$PORT/index.html"
