#!/usr/bin/env bash
# make-h2-pcaps.sh – captures HTTP/2 in clear (h2c, prior knowledge) against a real nginx 1.22
# (`listen … http2`) into pcaps/h2c_<scenario>.pcap, and gRPC through nginx's grpc_pass to a
# Python gRPC server (grpc_peer.py) into pcaps/grpc_<scenario>.pcap. Beside each: nginx's JSON
# access log (<name>.access.jsonl, with $request_id, also sent as X-Request-Id) and for gRPC the
# server's own log of each call (<name>.calls.jsonl). Run as root. Its own nginx from a temp
# dir on 127.0.0.1:$PORT (50051, gRPC's customary port and pktlog's default protocols.http2
# port, unless PORT is set); the gRPC server on 127.0.0.1:$GRPC_PORT (50061).
#
#   pcaps/make-h2-pcaps.sh               all scenarios
#   pcaps/make-h2-pcaps.sh h2c_curl      only that
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-50051}
GRPC_PORT=${GRPC_PORT:-50061}
BASE=http://127.0.0.1:$PORT
ALL=(h2c_curl h2c_nghttp h2c_large h2c_h2load grpc_calls)

die() { echo "make-h2-pcaps: $*" >&2; exit 1; }
. "$HERE/lib.sh"
pl_need_root
pl_need_tools nginx tcpdump curl h2load nghttp ss /usr/bin/python3
/usr/bin/python3 -c 'import grpc' || die "python3-grpcio is missing"

WORK=$(mktemp -d /tmp/pktlog-h2pcaps.XXXXXX)
GRPC_PID=
cleanup() {
    pl_stop_all
    [ -n "$GRPC_PID" ] && kill "$GRPC_PID" 2>/dev/null && wait "$GRPC_PID" 2>/dev/null
    rm -rf "$WORK" "$HERE"/*.pcap.tmp
}
trap cleanup EXIT

make_root() {
    local r=$WORK/html
    mkdir -p "$r/upload"
    # 1 MiB large.bin: many DATA frames, WINDOW_UPDATEs
    /usr/bin/python3 "$HERE/docroot.py" "$r" 1
    find "$r" -type f -exec touch -d '2024-01-01 00:00:00 UTC' {} +
}

write_conf() {
    cat >"$WORK/nginx.conf" <<EOF
$(pl_nginx_head info 512)
http {
    types { text/html html; text/plain txt; application/octet-stream bin; }
    default_type text/plain;
$(pl_nginx_temp_paths)
    server_tokens off;
    keepalive_timeout 65;
    log_format pljson escape=json '{"request_id":"\$request_id","remote_addr":"\$remote_addr",'
        '"remote_port":\$remote_port,"server_port":\$server_port,'
        '"request_method":"\$request_method","request_uri":"\$request_uri",'
        '"server_protocol":"\$server_protocol","status":\$status,"bytes_sent":\$bytes_sent,'
        '"body_bytes_sent":\$body_bytes_sent,"request_length":\$request_length,'
        '"connection":\$connection,"msec":"\$msec","http_host":"\$http_host",'
        '"http_user_agent":"\$http_user_agent","http_referer":"\$http_referer",'
        '"content_type":"\$sent_http_content_type",'
        '"grpc_status":"\$upstream_trailer_grpc_status\$upstream_http_grpc_status"}';
    access_log $WORK/access.log pljson;
    server {
        listen 127.0.0.1:$PORT http2;
        root $WORK/html;
        add_header X-Request-Id \$request_id always;
        location /upload/ { dav_methods PUT; create_full_put_path on; client_body_buffer_size 64k; }
        location /pktlog.Echo/ { grpc_pass grpc://127.0.0.1:$GRPC_PORT; }
    }
}
EOF
    mkdir -p "$WORK/tmp"
}

start_grpc() {
    : >"$WORK/calls.log"
    /usr/bin/python3 "$HERE/grpc_peer.py" server "$GRPC_PORT" "$WORK/calls.log" &
    GRPC_PID=$!
    for _ in $(seq 200); do pl_busy "$GRPC_PORT" && return 0; sleep 0.05; done
    die "the gRPC server did not start"
}

stop_grpc() { [ -n "$GRPC_PID" ] && { kill "$GRPC_PID"; wait "$GRPC_PID" || true; }; GRPC_PID=; }

# --- scenarios: each runs its clients and sets REQS (requests nginx must log) ---
sc_h2c_curl() {
    # curl 7.88 (Debian 12) fails to reuse a prior-knowledge connection ("Error in the HTTP2
    # framing layer"), so one request per connection: a GET with UA, referer and query, a 404,
    # and a 5000-byte PUT (201 Created)
    curl -sSf --http2-prior-knowledge -o /dev/null -A 'pktlog-test/1.0 (h2c)' \
        -e 'http://example.org/from?h2=1' "$BASE/a.html?q=packet+capture&lang=en"
    local code
    code=$(curl -sS --http2-prior-knowledge -o /dev/null -w '%{http_code}' "$BASE/no/such/page")
    [ "$code" = 404 ] || die "h2c_curl: 404 got $code"
    head -c 5000 /dev/zero | tr '\0' 'k' >"$WORK/put.txt"
    code=$(curl -sS --http2-prior-knowledge -o /dev/null -w '%{http_code}' -T "$WORK/put.txt" \
        "$BASE/upload/put.txt")
    [ "$code" = 201 ] || die "h2c_curl: PUT got $code"
    rm -f "$WORK/html/upload/put.txt"
    REQS=3
}
sc_h2c_nghttp() {
    # one connection, 5 concurrent streams (nghttp also sends PRIORITY frames for its idle
    # dependency streams), one of them a 404
    nghttp -n -H 'user-agent: pktlog-test/1.0 (nghttp)' "$BASE/index.html" "$BASE/a.html?x=1" \
        "$BASE/b.html" "$BASE/c.txt" "$BASE/missing.html" >/dev/null
    REQS=5
}
sc_h2c_large() { curl -sSf --http2-prior-knowledge -o /dev/null "$BASE/large.bin"; REQS=1; }
sc_h2c_h2load() {
    # 2 connections, up to 20 concurrent streams each, 400 requests over 3 files
    h2load -n 400 -c 2 -m 20 "$BASE/a.html" "$BASE/b.html" "$BASE/c.txt" >"$WORK/h2load.out"
    grep -q '400 succeeded' "$WORK/h2load.out" || die "h2load: $(cat "$WORK/h2load.out")"
    REQS=400
}
sc_grpc_calls() { /usr/bin/python3 "$HERE/grpc_peer.py" client "$PORT"; REQS=7; }

run_scenario() {
    local name=$1 pcap=$HERE/$1.pcap
    REQS=
    [[ $name == grpc_* ]] && start_grpc
    pl_capture_scenario "$pcap" "$PORT" "sc_$name"
    cp "$WORK/access.log" "$HERE/$name.access.jsonl"
    if [[ $name == grpc_* ]]; then
        stop_grpc
        cp "$WORK/calls.log" "$HERE/$name.calls.jsonl"
    fi
    local n
    n=$(wc -l <"$HERE/$name.access.jsonl")
    [ "$n" = "$REQS" ] || die "$name: nginx logged $n requests, not $REQS"
}

main() {
    local s list=("$@")
    [ ${#list[@]} -gt 0 ] || list=("${ALL[@]}")
    for s in "${list[@]}"; do declare -F "sc_$s" >/dev/null || die "unknown scenario $s"; done
    pl_busy "$PORT" && die "port $PORT is in use"
    pl_busy "$GRPC_PORT" && die "port $GRPC_PORT is in use"
    make_root
    write_conf
    for s in "${list[@]}"; do run_scenario "$s"; done
}

main "$@"
