#!/usr/bin/env bash
# make-tls-pcaps.sh – captures real TLS handshakes with nginx on lo into pcaps/tls_<case>.pcap,
# with nginx's own access log of each (tls_<case>.access.jsonl: protocol, cipher, curve, SNI,
# ALPN, session reuse, client certificate as nginx saw them). Run as root.
#
#   pcaps/make-tls-pcaps.sh             all cases
#   pcaps/make-tls-pcaps.sh curl_tls12  only those
#
# Certificates are made with openssl at start: a CA, an RSA server certificate (port 9243),
# an ECDSA P-256 one (port 8883), and a client certificate that the server on port 5223
# requires; the server on port 995 accepts only the group secp384r1 (a HelloRetryRequest for
# clients that sent an X25519 key share). The names are pktlog.test (SAN DNS) and 127.0.0.1 (SAN IP); clients connect to
# 127.0.0.1 with SNI pktlog.test. Expected events (tls_<case>.events.jsonl) are made
# afterwards by replaying each capture, and reviewed against the access log.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# PKTLOG_TLS_OUT: where the captures go (the tests write theirs to a temp dir)
OUT=${PKTLOG_TLS_OUT:-$HERE}
ALL=(curl_tls12 curl_tls13 curl_ecdsa_tls12 sclient_ciphers python_ssl resume_tls12 resume_id_tls12
     resume_tls13 early_data hello_retry alert_cipher alert_unknown_ca_tls12 alert_unknown_ca_tls13 client_cert)
RSA_PORT=9243 EC_PORT=8883 MTLS_PORT=5223 P384_PORT=995

die() { echo "make-tls-pcaps: $*" >&2; exit 1; }
. "$HERE/lib.sh"
pl_need_root
pl_need_tools nginx tcpdump openssl curl python3 ss
for p in $RSA_PORT $EC_PORT $MTLS_PORT $P384_PORT; do
    pl_busy "$p" && die "port $p is busy"
done

WORK=$(mktemp -d /tmp/pktlog-tls.XXXXXX)
chmod 755 "$WORK"       # nginx's workers (www-data) read the document root
NGINX_ERRLOG=$WORK/logs/error.log
cleanup() { pl_stop_all; rm -rf "$WORK"; }
trap cleanup EXIT

ossl() { openssl "$@" >>"$WORK/openssl.log" 2>&1 || die "openssl $1 failed: $WORK/openssl.log"; }

make_certs() {
    cd "$WORK"
    printf 'subjectAltName=DNS:pktlog.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > san.ext
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.ext
    ossl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/O=pktlog test/CN=pktlog test CA" \
        -keyout ca.key -out ca.pem
    ossl req -newkey rsa:2048 -nodes -subj "/O=pktlog/CN=pktlog.test" -keyout rsa.key -out rsa.csr
    ossl x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key -set_serial 0x1a2b3c4d -days 30 \
        -extfile san.ext -out rsa.pem
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/O=pktlog/CN=pktlog.test" \
        -keyout ec.key -out ec.csr
    ossl x509 -req -in ec.csr -CA ca.pem -CAkey ca.key -set_serial 0x5e6f -days 30 \
        -extfile san.ext -out ec.pem
    ossl req -newkey rsa:2048 -nodes -subj "/O=pktlog/CN=pktlog client" -keyout client.key -out client.csr
    ossl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -set_serial 0x77 -days 30 \
        -extfile client.ext -out client.pem
    cd - >/dev/null
}

start_nginx() {
    mkdir -p "$WORK/www" "$WORK/logs"
    echo "hello over tls" > "$WORK/www/index.html"
    cat > "$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    log_format tls escape=json '{"remote_port":\$remote_port,"server_port":\$server_port,'
        '"ssl_protocol":"\$ssl_protocol","ssl_cipher":"\$ssl_cipher","ssl_curve":"\$ssl_curve",'
        '"ssl_server_name":"\$ssl_server_name","ssl_alpn_protocol":"\$ssl_alpn_protocol",'
        '"ssl_session_reused":"\$ssl_session_reused","ssl_client_s_dn":"\$ssl_client_s_dn",'
        '"ssl_early_data":"\$ssl_early_data","status":\$status}';
    client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_session_cache shared:tls:1m;
    ssl_session_tickets on;
    server {
        listen 127.0.0.1:$RSA_PORT ssl http2;
        server_name pktlog.test;
        ssl_certificate $WORK/rsa.pem; ssl_certificate_key $WORK/rsa.key;
        access_log $WORK/logs/access.jsonl tls;
        root $WORK/www;
    }
    server {
        listen 127.0.0.1:$EC_PORT ssl;
        server_name pktlog.test;
        ssl_certificate $WORK/ec.pem; ssl_certificate_key $WORK/ec.key;
        ssl_early_data on;
        access_log $WORK/logs/access.jsonl tls;
        root $WORK/www;
    }
    server {
        listen 127.0.0.1:$P384_PORT ssl;
        server_name pktlog.test;
        ssl_certificate $WORK/rsa.pem; ssl_certificate_key $WORK/rsa.key;
        ssl_ecdh_curve secp384r1;
        access_log $WORK/logs/access.jsonl tls;
        root $WORK/www;
    }
    server {
        listen 127.0.0.1:$MTLS_PORT ssl;
        server_name pktlog.test;
        ssl_certificate $WORK/rsa.pem; ssl_certificate_key $WORK/rsa.key;
        ssl_client_certificate $WORK/ca.pem; ssl_verify_client on;
        access_log $WORK/logs/access.jsonl tls;
        root $WORK/www;
    }
}
EOF
    mkdir -p "$WORK/tmp"
    pl_start_nginx "$EC_PORT" -e "$NGINX_ERRLOG"
}

capture_start() {
    : > "$WORK/logs/access.jsonl"
    pl_start_tcpdump "$OUT/$1.pcap.tmp" \
        "tcp port $RSA_PORT or tcp port $EC_PORT or tcp port $MTLS_PORT or tcp port $P384_PORT" \
        -B 65536 -U --immediate-mode -Z root
}

capture_stop() {
    pl_stop_tcpdump_or_die 0.5
    mv "$OUT/$1.pcap.tmp" "$OUT/$1.pcap"
    cp "$WORK/logs/access.jsonl" "$OUT/$1.access.jsonl"
    echo "$1: $(wc -l < "$OUT/$1.access.jsonl") requests logged"
}

RESOLVE="--resolve pktlog.test:$RSA_PORT:127.0.0.1 --resolve pktlog.test:$EC_PORT:127.0.0.1"
CURL="curl -sS -o /dev/null $RESOLVE"
SCLIENT() { openssl s_client -connect 127.0.0.1:$1 -servername pktlog.test -CAfile "$WORK/ca.pem" "${@:2}"; }
GET=$'GET / HTTP/1.1\r\nHost: pktlog.test\r\nConnection: close\r\n\r\n'

run_case() {
    case $1 in
    curl_tls12) $CURL --cacert "$WORK/ca.pem" --tlsv1.2 --tls-max 1.2 https://pktlog.test:$RSA_PORT/ ;;
    curl_ecdsa_tls12) $CURL --cacert "$WORK/ca.pem" --tlsv1.2 --tls-max 1.2 https://pktlog.test:$EC_PORT/ ;;
    early_data)     # a TLS 1.3 ticket, then a resumption sending the request as 0-RTT data
        printf '%s' "$GET" | SCLIENT $EC_PORT -tls1_3 -sess_out "$WORK/s13" -quiet >/dev/null 2>>"$WORK/sclient.log"
        printf '%s' "$GET" > "$WORK/early.txt"
        printf '' | SCLIENT $EC_PORT -tls1_3 -sess_in "$WORK/s13" -early_data "$WORK/early.txt" \
            >"$WORK/early.out" 2>>"$WORK/sclient.log" || true ;;
    hello_retry)    # an X25519 key share, the server wants secp384r1: HelloRetryRequest
        printf '%s' "$GET" | SCLIENT $P384_PORT -tls1_3 -groups X25519:secp384r1 -quiet \
            >/dev/null 2>>"$WORK/sclient.log" ;;
    curl_tls13) $CURL --cacert "$WORK/ca.pem" --tlsv1.3 https://pktlog.test:$EC_PORT/ ;;
    sclient_ciphers)
        printf '%s' "$GET" | SCLIENT $RSA_PORT -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384 \
            -alpn http/1.1 -curves secp384r1 -quiet >/dev/null 2>>"$WORK/sclient.log" ;;
    python_ssl)
        python3 - "$WORK/ca.pem" $EC_PORT <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as s:
    with ctx.wrap_socket(s, server_hostname="pktlog.test") as t:
        t.sendall(b"GET / HTTP/1.1\r\nHost: pktlog.test\r\nConnection: close\r\n\r\n")
        while t.recv(4096):
            pass
PY
        ;;
    resume_tls12)
        printf '%s' "$GET" | SCLIENT $RSA_PORT -tls1_2 -sess_out "$WORK/s12" -quiet >/dev/null 2>>"$WORK/sclient.log"
        printf '%s' "$GET" | SCLIENT $RSA_PORT -tls1_2 -sess_in "$WORK/s12" -quiet >/dev/null 2>>"$WORK/sclient.log" ;;
    resume_id_tls12)   # no tickets: the server's session cache, by session id
        printf '%s' "$GET" | SCLIENT $RSA_PORT -tls1_2 -no_ticket -sess_out "$WORK/sid12" -quiet >/dev/null 2>>"$WORK/sclient.log"
        printf '%s' "$GET" | SCLIENT $RSA_PORT -tls1_2 -no_ticket -sess_in "$WORK/sid12" -quiet >/dev/null 2>>"$WORK/sclient.log" ;;
    resume_tls13)
        python3 - "$WORK/ca.pem" $EC_PORT <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
session = None
for i in range(2):
    with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as s:
        with ctx.wrap_socket(s, server_hostname="pktlog.test", session=session) as t:
            t.sendall(b"GET / HTTP/1.1\r\nHost: pktlog.test\r\nConnection: close\r\n\r\n")
            while t.recv(4096):
                pass
            session = t.session
            print("reused" if t.session_reused else "full", file=sys.stderr)
PY
        ;;
    alert_cipher)   # the client offers only a suite the server does not have: handshake_failure
        printf '' | SCLIENT $RSA_PORT -tls1_2 -cipher AES256-SHA256 >/dev/null 2>>"$WORK/sclient.log" || true ;;
    alert_unknown_ca_tls12) $CURL --tlsv1.2 --tls-max 1.2 https://pktlog.test:$RSA_PORT/ 2>/dev/null || true ;;
    alert_unknown_ca_tls13) $CURL --tlsv1.3 https://pktlog.test:$EC_PORT/ 2>/dev/null || true ;;
    client_cert)
        printf '%s' "$GET" | SCLIENT $MTLS_PORT -tls1_2 -cert "$WORK/client.pem" -key "$WORK/client.key" \
            -quiet >/dev/null 2>>"$WORK/sclient.log" ;;
    *) die "unknown case $1" ;;
    esac
}

make_certs
start_nginx
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=("${ALL[@]}")
for c in "${cases[@]}"; do
    capture_start "tls_$c"
    run_case "$c"
    capture_stop "tls_$c"
done
