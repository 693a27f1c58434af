# lib.sh – the set-up shared by the capture-making scripts (pcaps/make-*.sh, bench/make-*.sh):
# checks, a private nginx from a temp dir, tcpdump on lo started and stopped without losing
# packets, and clean-up of both. Sourced, not run. The script defines die() before sourcing and
# sets WORK (its temp dir) before calling these; NGINX_PID, TCPDUMP_PID and DB_PID name what runs.

NGINX_PID=
TCPDUMP_PID=
DB_PID=

# pl_busy PORT: true when something listens on 127.0.0.1's PORT (the socket table, not a probe
# connection: a probe would land in the capture)
pl_busy() { [ -n "$(ss -Htln "sport = :$1")" ]; }

# pl_need_root; pl_need_tools TOOL...: die unless run as root / every tool is on PATH
pl_need_root() { [ "$(id -u)" = 0 ] || die "run as root (tcpdump on lo needs it)"; }
pl_need_tools() {
    local t
    for t in "$@"; do command -v "$t" >/dev/null || die "$t is missing"; done
}

# pl_stop_all: stops what still runs (tcpdump, nginx, the database); for the EXIT trap
pl_stop_all() {
    [ -n "$TCPDUMP_PID" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null && wait "$TCPDUMP_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    [ -n "$DB_PID" ] && kill -TERM "$DB_PID" 2>/dev/null && wait "$DB_PID" 2>/dev/null
    return 0
}

# pl_nginx_head ERROR_LEVEL CONNECTIONS: the main context of a private nginx.conf in $WORK
pl_nginx_head() {
    cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log $1;
events { worker_connections $2; }
EOF
}

# pl_nginx_temp_paths: the http context's temp paths, all under $WORK/tmp
pl_nginx_temp_paths() {
    cat <<EOF
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
EOF
}

# pl_start_nginx PORT [NGINX ARGS...]: nginx on $WORK/nginx.conf, waits until PORT listens (its
# error log, for the message when it does not: NGINX_ERRLOG, else $WORK/error.log)
pl_start_nginx() {
    local port=$1
    shift
    nginx -p "$WORK" -c "$WORK/nginx.conf" "$@" &
    NGINX_PID=$!
    for _ in $(seq 100); do pl_busy "$port" && return 0; sleep 0.05; done
    local log=${NGINX_ERRLOG:-$WORK/error.log}
    die "nginx did not start listening on $port; $log: $(cat "$log" 2>/dev/null)"
}

pl_stop_nginx() { kill -QUIT "$NGINX_PID"; wait "$NGINX_PID" || true; NGINX_PID=; }

# pl_start_tcpdump FILE FILTER [TCPDUMP OPTIONS...]: tcpdump on lo into FILE (its messages in
# $WORK/tcpdump.err), waits until it listens and a little more
pl_start_tcpdump() {
    local file=$1 filter=$2
    shift 2
    tcpdump -i lo -s 0 "$@" -w "$file" "$filter" 2>"$WORK/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$WORK/tcpdump.err" && { sleep 0.2; return 0; }
        sleep 0.05
    done
    die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"
}

# pl_stop_tcpdump [SETTLE]: after SETTLE seconds (1: the last FIN/ACKs) stops tcpdump; fails
# when the kernel dropped packets
pl_stop_tcpdump() {
    sleep "${1:-1}"
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    grep -q '^0 packets dropped by kernel' "$WORK/tcpdump.err"
}

# pl_stop_tcpdump_or_die [SETTLE]: the same, and dropped packets end the script
pl_stop_tcpdump_or_die() {
    pl_stop_tcpdump "$@" || die "tcpdump dropped packets: $(cat "$WORK/tcpdump.err")"
}

# pl_capture_scenario PCAP PORT CMD...: a fresh $WORK/access.log, nginx on PORT, CMD run under
# tcpdump (every packet of PORT, written as it comes) into PCAP.tmp, both stopped, then PCAP
pl_capture_scenario() {
    local pcap=$1 port=$2
    shift 2
    : >"$WORK/access.log"
    pl_start_nginx "$port"
    pl_start_tcpdump "$pcap.tmp" "tcp port $port" -B 65536 -U --immediate-mode -Z root
    "$@"
    pl_stop_tcpdump_or_die
    pl_stop_nginx
    mv "$pcap.tmp" "$pcap"
}

# --- the bench captures (bench/make-*.sh): one large capture, made once ---

# pl_bench_reuse OUT NAME: exits the script when OUT exists and FORCE is not set
pl_bench_reuse() {
    if [ -s "$1" ] && [ -z "${FORCE:-}" ]; then
        echo "$2: reusing $1"
        exit 0
    fi
}

# pl_bench_install TOOL PACKAGE: installs the Debian package when TOOL is missing
pl_bench_install() {
    command -v "$1" >/dev/null && return 0
    apt-get install -y "$2" >/dev/null ||
        { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; } ||
        die "cannot install $2 ($1)"
}

# pl_bench_site PORT [LISTEN OPTIONS]: $WORK/html/index.html (574 bytes) and an nginx.conf
# serving it on 127.0.0.1:PORT with keep-alive without bound
pl_bench_site() {
    mkdir -p "$WORK/html" "$WORK/tmp"
    python3 - "$WORK/html/index.html" <<'EOF'
import sys
body = "".join(f"<p>bench paragraph {i}: the quick brown fox jumps over the lazy dog.</p>\n"
               for i in range(7))
open(sys.argv[1], "w").write(
    f"<!DOCTYPE html>\n<html><head><title>bench</title></head><body>\n{body}</body></html>\n")
EOF
    cat >"$WORK/nginx.conf" <<EOF
$(pl_nginx_head warn 256)
http {
    types { text/html html; }
$(pl_nginx_temp_paths)
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$1${2:+ $2}; root $WORK/html; }
}
EOF
}

# pl_bench_capture OUT PORT SUMMARY_REGEX CLIENT...: one capture of CLIENT's traffic to PORT
# into OUT.tmp (client output in $WORK/client.out, the lines matching SUMMARY_REGEX shown);
# fails when the kernel dropped packets
pl_bench_capture() {
    local out=$1 port=$2 summary=$3
    shift 3
    pl_start_tcpdump "$out.tmp" "tcp port $port" -B 262144
    "$@" >"$WORK/client.out" || die "$1 failed: $(tail -5 "$WORK/client.out")"
    local dropped=0
    pl_stop_tcpdump 1 || dropped=1
    grep -E "$summary" "$WORK/client.out"
    grep packets "$WORK/tcpdump.err"
    [ "$dropped" = 0 ]
}

# pl_bench_capture_twice NAME OUT PORT SUMMARY_REGEX CLIENT...: pl_bench_capture, once more when
# the kernel dropped packets, then OUT.tmp becomes OUT
pl_bench_capture_twice() {
    local name=$1
    shift
    pl_bench_capture "$@" || { echo "$name: kernel dropped packets, retrying once" >&2; pl_bench_capture "$@"; } ||
        die "tcpdump dropped packets twice"
    mv "$1.tmp" "$1"
    echo "$name: wrote $1 ($(du -h "$1" | cut -f1))"
}
