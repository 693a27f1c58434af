#!/usr/bin/env bash
# make-pcaps.sh – captures real nginx HTTP exchanges on lo into pcaps/http_<scenario>.pcap, each
# with nginx's own JSON access log (http_<scenario>.access.jsonl) as ground truth. Run as root.
# It runs its own nginx from a temp dir on 127.0.0.1:$PORT (8080 unless PORT is set) and never
# touches the system nginx.
#
#   pcaps/make-pcaps.sh              all scenarios
#   pcaps/make-pcaps.sh head large   only those
#   PORT=8093 pcaps/make-pcaps.sh early_mix
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-8080}
export PORT
BASE=http://127.0.0.1:$PORT
ALL=(keepalive pipelining chunked head not_modified not_found post large http10 concurrent query continue
     early_return early_413 early_401 early_continue early_mix)

die() { echo "make-pcaps: $*" >&2; exit 1; }
. "$HERE/lib.sh"
pl_need_root
pl_need_tools nginx tcpdump curl python3 ss

WORK=$(mktemp -d /tmp/pktlog-pcaps.XXXXXX)
cleanup() { pl_stop_all; rm -rf "$WORK" "$HERE"/*.pcap.tmp; }
trap cleanup EXIT

# --- content: fixed bytes and a fixed mtime, so sizes and ETags are the same every run ---
make_root() {
    local r=$WORK/html
    mkdir -p "$r/gz" "$r/upload"
    python3 - "$r" "$HERE" <<'EOF'
import sys
sys.path.insert(0, sys.argv[2])
from docroot import page, write_common
r = sys.argv[1]
write_common(r, 5)                                              # large.bin: 5 MiB
open(f"{r}/search.html", "w").write(page("search", 2))
open(f"{r}/d.css", "w").write("body { font-family: sans-serif; margin: 0 auto; max-width: 40em; }\n")
open(f"{r}/file.txt", "w").write("".join(f"file.txt line {i:04d}\n" for i in range(100)))
open(f"{r}/gz/text.txt", "w").write("".join(f"compressible line {i % 50:02d} of text.txt\n"
                                            for i in range(2000)))
EOF
    find "$r" -type f -exec touch -d '2024-01-01 00:00:00 UTC' {} +
}

write_conf() {
    cat >"$WORK/nginx.conf" <<EOF
$(pl_nginx_head info 512)
http {
    types { text/html html; text/plain txt; text/css css; application/octet-stream bin; }
    default_type text/plain;
$(pl_nginx_temp_paths)
    server_tokens off;
    sendfile on;
    keepalive_timeout 65;
    keepalive_requests 1000;
    log_format pljson escape=json '{"remote_addr":"\$remote_addr","remote_port":\$remote_port,'
        '"server_addr":"\$server_addr","server_port":\$server_port,'
        '"request_method":"\$request_method","request_uri":"\$request_uri","uri":"\$uri",'
        '"args":"\$args","server_protocol":"\$server_protocol","request":"\$request",'
        '"status":\$status,"bytes_sent":\$bytes_sent,"body_bytes_sent":\$body_bytes_sent,'
        '"request_length":\$request_length,"connection":\$connection,'
        '"connection_requests":\$connection_requests,"msec":"\$msec",'
        '"request_time":"\$request_time","http_host":"\$http_host",'
        '"http_user_agent":"\$http_user_agent","http_referer":"\$http_referer",'
        '"content_type":"\$sent_http_content_type",'
        '"content_length":"\$sent_http_content_length",'
        '"transfer_encoding":"\$sent_http_transfer_encoding"}';
    access_log $WORK/access.log pljson;
    server {
        listen 127.0.0.1:$PORT;
        root $WORK/html;
        location /gz/ { gzip on; gzip_types text/plain; gzip_min_length 0; }
        # A bare `return 200` discards the body and then leaves it out of \$request_length; the
        # mirror makes nginx read the body first, so the log counts every byte the client sent.
        location = /form { mirror /sink; mirror_request_body on; error_page 404 405 =200 /form-ok; }
        location = /sink { internal; return 204; }
        location = /form-ok { internal; return 200 "form received\n"; }
        location /upload/ { dav_methods PUT; create_full_put_path on; client_body_buffer_size 64k; }
        # Early responses: answered before the body is read (the body is then discarded).
        location = /ret { return 200 "returned\n"; }
        location = /moved { return 301 /a.html; }
        location /small/ { client_max_body_size 1k; dav_methods PUT; }
        location /private/ { auth_basic "pktlog"; auth_basic_user_file $WORK/htpasswd; }
        location /forbidden/ { deny all; }
    }
}
EOF
    mkdir -p "$WORK/tmp"
    echo 'user:{PLAIN}secret' >"$WORK/htpasswd"
}

# --- scenarios: each runs the client(s) and sets CONNS/REQS (and EXTRA) for the check ---
sc_keepalive() {
    curl -sSf -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
        "$BASE/index.html" "$BASE/a.html" "$BASE/b.html" "$BASE/c.txt" "$BASE/d.css"
    CONNS=1 REQS=5
}
sc_pipelining() { python3 "$HERE/clients.py" pipelining; CONNS=1 REQS=3; }
sc_chunked() {
    curl -sSf -o "$WORK/body.gz" -D "$WORK/headers" -H 'Accept-Encoding: gzip' "$BASE/gz/text.txt"
    grep -qi '^transfer-encoding: chunked' "$WORK/headers" || die "chunked: response is not chunked"
    grep -qi '^content-encoding: gzip' "$WORK/headers" || die "chunked: response is not gzip"
    CONNS=1 REQS=1
}
sc_head() { curl -sSf -I -o /dev/null "$BASE/file.txt"; CONNS=1 REQS=1; }
sc_not_modified() {
    # nginx's ETag is "<mtime hex>-<size hex>"; computed here so no extra request is captured.
    local f=$WORK/html/file.txt etag
    etag=$(printf '"%x-%x"' "$(stat -c %Y "$f")" "$(stat -c %s "$f")")
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$BASE/file.txt")
    [ "$code" = 304 ] || die "not_modified: got $code, not 304"
    CONNS=1 REQS=1
}
sc_not_found() {
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/no/such/page.html")
    [ "$code" = 404 ] || die "not_found: got $code"
    CONNS=1 REQS=1
}
sc_post() {
    # ~200 bytes urlencoded; nginx reads all of it (see /form in the config) before answering.
    local body="name=pktlog&email=test%40example.org&comment=capturing+a+real+POST+from+curl+to+nginx"
    body="$body&filler=$(printf 'x%.0s' $(seq 110))"
    curl -sSf -o /dev/null --data "$body" "$BASE/form"
    CONNS=1 REQS=1
}
sc_large() { curl -sSf -o /dev/null "$BASE/large.bin"; CONNS=1 REQS=1; }
sc_http10() { curl -sSf -o /dev/null --http1.0 "$BASE/index.html"; CONNS=1 REQS=1; }
sc_concurrent() { python3 "$HERE/clients.py" concurrent; CONNS=50 REQS=100; }
sc_query() {
    curl -sSf -o /dev/null -A 'Mozilla/5.0 (X11; Linux x86_64) pktlog-test/1.0' \
        -e 'http://example.org/start?from=pcaps' "$BASE/search.html?q=packet+capture&lang=en&page=2"
    CONNS=1 REQS=1
}
sc_continue() {
    # nginx answers "100 Continue" itself once a handler reads the body; `return 200` would
    # answer before the body arrives, so a DAV PUT is used (201 Created on a fresh root).
    head -c 2048 /dev/zero | tr '\0' 'k' >"$WORK/put.txt"
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' \
        -T "$WORK/put.txt" "$BASE/upload/put.txt")
    [ "$code" = 201 ] || die "continue: got $code"
    rm -f "$WORK/html/upload/put.txt"
    # nginx counts the 25 bytes of "HTTP/1.1 100 Continue\r\n\r\n" in bytes_sent (checked).
    CONNS=1 REQS=1
}

# Early responses (see clients.py): nginx answers before it has the body, the client then sends
# the rest. nginx leaves a discarded body out of request_length, hence --early for the check.
sc_early_return() { python3 "$HERE/clients.py" early_return; CONNS=1 REQS=8 EARLY=1; }
sc_early_413() { python3 "$HERE/clients.py" early_413; CONNS=1 REQS=1 EARLY=1; }
sc_early_401() { python3 "$HERE/clients.py" early_401; CONNS=1 REQS=2 EARLY=1; }
sc_early_continue() {
    # refused before the body: curl sends none of it and closes
    head -c 5000 /dev/zero | tr '\0' 'k' >"$WORK/put5k.txt"
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' \
        -T "$WORK/put5k.txt" "$BASE/small/put.txt")
    [ "$code" = 413 ] || die "early_continue: got $code"
    CONNS=1 REQS=1 EARLY=1
}
sc_early_mix() {
    python3 "$HERE/clients.py" early_mix
    CONNS=$(python3 -c 'import json,sys; print(len({json.loads(l)["remote_port"] for l in open(sys.argv[1])}))' "$WORK/access.log")
    REQS=300 EARLY=1
}

run_scenario() {
    local name=$1 pcap=$HERE/http_$1.pcap log=$HERE/http_$1.access.jsonl
    CONNS= REQS= EXTRA=0 EARLY=0
    pl_capture_scenario "$pcap" "$PORT" "sc_$name"
    cp "$WORK/access.log" "$log"
    python3 "$HERE/check_pcap.py" "$pcap" "$log" --conns "$CONNS" --requests "$REQS" \
        --server-extra "$EXTRA" $([ "$EARLY" = 1 ] && echo --early) || die "$name: capture check failed"
}

main() {
    local s list=("$@")
    [ ${#list[@]} -gt 0 ] || list=("${ALL[@]}")
    for s in "${list[@]}"; do declare -F "sc_$s" >/dev/null || die "unknown scenario $s"; done
    pl_busy "$PORT" && die "port $PORT is in use; stop whatever listens there first"
    make_root
    write_conf
    for s in "${list[@]}"; do run_scenario "$s"; done
    # the mix as captures at snap length 96 and 200 hold it (same packets, records cut)
    for s in "${list[@]}"; do
        [ "$s" = early_mix ] || continue
        for n in 96 200; do
            python3 "$HERE/snaplen.py" "$HERE/http_early_mix.pcap" "$HERE/http_snap$n.pcap" $n
            cp "$HERE/http_early_mix.access.jsonl" "$HERE/http_snap$n.access.jsonl"
        done
    done
}

main "$@"
