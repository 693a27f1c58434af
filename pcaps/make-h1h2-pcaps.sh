#!/usr/bin/env bash
# make-h1h2-pcaps.sh – captures of HTTP/1 handing a connection to HTTP/2 on a port that is
# only an HTTP port (pktlog's default 8002, not under protocols.http2.ports) into
# pcaps/h1h2_<scenario>.pcap, each with the server's own log of every request beside it
# (<name>.server.jsonl). nginx 1.22 does not answer `Upgrade: h2c`, so the server is
# pcaps/h2c_server.py (python3-h2), which does; h1h2_prior_nghttpd uses nghttpd
# (nghttp2-server), which sends its SETTINGS before it reads the client's preface, and its
# -v frame log is turned into the same JSON lines. Run as root.
#
#   pcaps/make-h1h2-pcaps.sh                 all scenarios
#   pcaps/make-h1h2-pcaps.sh h1h2_upgrade_curl
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-8002}
BASE=http://127.0.0.1:$PORT
ALL=(h1h2_upgrade_curl h1h2_upgrade_nghttp h1h2_upgrade_refused h1h2_prior_curl h1h2_prior_nghttpd)

die() { echo "make-h1h2-pcaps: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (tcpdump on lo needs it)"
for t in tcpdump curl nghttp nghttpd ss /usr/bin/python3; do command -v $t >/dev/null || die "$t is missing"; done
/usr/bin/python3 -c 'import h2' || die "python3-h2 is missing"

WORK=$(mktemp -d /tmp/pktlog-h1h2pcaps.XXXXXX)
SRV_PID= TCPDUMP_PID=
stop_server() {
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && { wait "$SRV_PID" 2>/dev/null || true; }
    SRV_PID=
}
cleanup() {
    [ -n "$TCPDUMP_PID" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null && wait "$TCPDUMP_PID" 2>/dev/null
    stop_server
    rm -rf "$WORK" "$HERE"/*.pcap.tmp
}
trap cleanup EXIT

busy() { [ -n "$(ss -Htln "sport = :$1")" ]; }
busy "$PORT" && die "port $PORT is in use (set PORT to another of pktlog's HTTP ports: 80 8080 8000 5000 8002)"

mkdir -p "$WORK/www/refuse"
/usr/bin/python3 - "$WORK/www" <<'EOF'
import sys
r = sys.argv[1]
open(f"{r}/a.txt", "w").write("".join(f"a line {i:03d}\n" for i in range(20)))
open(f"{r}/b.txt", "w").write("".join(f"b line {i:04d} of b.txt\n" for i in range(400)))
open(f"{r}/refuse/a.txt", "w").write("refused upgrade, HTTP/1.1 answer\n")
EOF
head -c 6000 /dev/zero | tr '\0' 'p' >"$WORK/post.bin"

start_h2c_server() {
    /usr/bin/python3 "$HERE/h2c_server.py" --port "$PORT" --root "$WORK/www" --log "$WORK/server.jsonl" \
        >"$WORK/server.out" 2>&1 &
    SRV_PID=$!
    for _ in $(seq 50); do busy "$PORT" && return; sleep 0.1; done
    die "h2c_server.py did not start: $(cat "$WORK/server.out")"
}

start_nghttpd() {
    nghttpd --no-tls -v -d "$WORK/www" "$PORT" >"$WORK/nghttpd.log" 2>&1 &
    SRV_PID=$!
    for _ in $(seq 50); do busy "$PORT" && return; sleep 0.1; done
    die "nghttpd did not start: $(cat "$WORK/nghttpd.log")"
}

# nghttpd -v: "[id=N] [ t] recv (stream_id=S) :method: GET" … "send HEADERS … :status: 200"
nghttpd_log() {
    /usr/bin/python3 - "$WORK/nghttpd.log" <<'EOF'
import json, re, sys
reqs, cur = {}, None
for line in open(sys.argv[1]):
    m = re.match(r"\[id=(\d+)\] \[[ \d.]+\] recv \(stream_id=(\d+)\) (:?[\w-]+): (.*)", line)
    if m:
        k = (int(m[1]), int(m[2]))
        reqs.setdefault(k, {"conn": k[0], "stream": k[1], "proto": "h2", "upgrade": False})[m[3]] = m[4]
        continue
    m = re.match(r"\[id=(\d+)\] \[[ \d.]+\] send HEADERS frame <length=\d+, flags=0x[0-9a-f]+, stream_id=(\d+)>", line)
    if m:
        cur = (int(m[1]), int(m[2]))
        continue
    m = re.match(r"\s+:status: (\d+)", line)
    if m and cur in reqs:
        reqs[cur]["status"] = int(m[1])
        cur = None
for k in sorted(reqs):
    r = reqs[k]
    print(json.dumps({"conn": r["conn"], "proto": "h2", "upgrade": False, "stream": r["stream"],
                      "method": r.get(":method"), "path": r.get(":path"),
                      "authority": r.get(":authority"), "status": r.get("status")}, sort_keys=True))
EOF
}

scenario() {
    case $1 in
    h1h2_upgrade_curl)
        # one stream; two on one connection (stream 1 by Upgrade, then stream 3); a POST
        # whose body comes with the Upgrade request
        curl -sS --http2 -o /dev/null -A "pktlog-test/1.0 (upgrade)" -e "http://example.org/up" "$BASE/a.txt?x=1"
        curl -sS --http2 -o /dev/null -o /dev/null "$BASE/a.txt" "$BASE/b.txt"
        curl -sS --http2 -o /dev/null --data-binary @"$WORK/post.bin" "$BASE/a.txt" ;;
    h1h2_upgrade_nghttp)
        # nghttp -u: the first URL by Upgrade, the others as streams 13, 15 after PRIORITY frames
        nghttp -u -n "$BASE/a.txt" "$BASE/b.txt" "$BASE/no/such" ;;
    h1h2_upgrade_refused)
        # the first Upgrade is answered in HTTP/1.1 (stays HTTP/1); curl asks again with the
        # next request on the same connection, which switches
        curl -sS --http2 -o /dev/null -o /dev/null "$BASE/refuse/a.txt" "$BASE/b.txt" ;;
    h1h2_prior_curl)
        curl -sS --http2-prior-knowledge -o /dev/null "$BASE/a.txt?y=2"
        nghttp -n "$BASE/a.txt" "$BASE/b.txt" ;;
    h1h2_prior_nghttpd)
        curl -sS --http2-prior-knowledge -o /dev/null "$BASE/b.txt"
        curl -sS --http2-prior-knowledge -o /dev/null "$BASE/no/such" ;;
    *) die "unknown scenario $1" ;;
    esac
}

capture() {
    local name=$1 out="$HERE/$1.pcap"
    rm -f "$WORK/server.jsonl"
    if [ "$name" = h1h2_prior_nghttpd ]; then start_nghttpd; else start_h2c_server; fi
    tcpdump -i lo -s 0 -B 65536 -U --immediate-mode -Z root -w "$out.tmp" "tcp port $PORT" 2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$WORK/tcpdump.err" && break; sleep 0.05; done
    grep -q 'listening on' "$WORK/tcpdump.err" || die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"
    sleep 0.2
    scenario "$name"
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true; TCPDUMP_PID=
    grep -q '^0 packets dropped by kernel' "$WORK/tcpdump.err" || die "tcpdump dropped packets: $(cat "$WORK/tcpdump.err")"
    stop_server
    mv "$out.tmp" "$out"
    if [ "$name" = h1h2_prior_nghttpd ]; then nghttpd_log >"$HERE/$name.server.jsonl"
    else cp "$WORK/server.jsonl" "$HERE/$name.server.jsonl"; fi
    echo "$out: $(wc -l <"$HERE/$name.server.jsonl") requests logged"
}

for s in "${@:-${ALL[@]}}"; do capture "$s"; done
