#!/bin/sh
# install-deps.sh run|test – install the Debian 12 packages pktlog needs that are missing.
# `run`: what building and running needs. `test`: that plus what the tests use.
# Idempotent; does nothing (and needs no network) when everything is installed.
set -eu
run_pkgs="build-essential pkg-config libpcap-dev libhttp-parser-dev libyaml-dev librdkafka-dev libmicrohttpd-dev libsqlite3-dev clang libbpf-dev bpftool"
# libcrypto (TLS fingerprints and certificates)
run_pkgs="$run_pkgs libssl-dev"
# HTTP/2: libnghttp2's HPACK decoder
run_pkgs="$run_pkgs libnghttp2-dev"
test_pkgs="$run_pkgs systemd clang libclang-rt-14-dev llvm libcmocka-dev python3 python3-pytest nginx-light tcpdump curl iproute2 procps mariadb-server mariadb-client libmariadb-dev openssl default-jre-headless maven kcat apache2-utils util-linux"
# make deb (debhelper), the package tests (lintian) and the man page check (groff, man).
test_pkgs="$test_pkgs debhelper lintian groff-base man-db"
# the truth harness (tests/truth/): its MySQL and HTTP clients.
test_pkgs="$test_pkgs python3-pymysql python3-requests"
# the TLS tests: tshark's JA3 and hello fields as the independent reference.
test_pkgs="$test_pkgs tshark"
# the HTTP/2 captures: h2load (nghttp2-client) and a gRPC server and client (python3-grpcio).
test_pkgs="$test_pkgs nghttp2-client python3-grpcio"
# HTTP/1 -> HTTP/2 hand-over captures: an h2c server that answers Upgrade (python3-h2), nghttpd.
test_pkgs="$test_pkgs python3-h2 nghttp2-server"
# the truth harness's other MySQL clients: javac for TruthJdbc.java, pip for
# mysql-connector-python (not in Debian 12), both installed by test_extras below.
test_pkgs="$test_pkgs default-jdk-headless python3-pip"

# test_extras: what Debian lacks, pinned, from PyPI and Maven (tests/truth/mysql_work.py
# names the same versions). 9.5.0: later wheels need OpenSSL 3.2.
test_extras() {
	[ "$1" = test ] || return 0
	/usr/bin/python3 -c 'import mysql.connector as m; assert m.__version__ == "9.5.0" and m.HAVE_CEXT' 2>/dev/null ||
		/usr/bin/python3 -m pip install -q --break-system-packages --no-deps mysql-connector-python==9.5.0
	for a in com.mysql:mysql-connector-j:26.10.0 org.mariadb.jdbc:mariadb-java-client:3.5.7; do
		g=${a%%:*}; rest=${a#*:}; n=${rest%%:*}; v=${rest#*:}
		[ -f "$HOME/.m2/repository/$(echo "$g" | tr . /)/$n/$v/$n-$v.jar" ] ||
			mvn -q -B dependency:get -Dartifact="$a" -Dtransitive=false
	done
}

case "${1:-run}" in
run) want=$run_pkgs ;;
test) want=$test_pkgs ;;
*) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# pytest may also come from pip rather than Debian.
case "$missing" in *python3-pytest*) python3 -c 'import pytest' 2>/dev/null && missing=$(echo "$missing" | sed 's/ python3-pytest//') ;; esac
[ -z "$missing" ] && { test_extras "${1:-run}"; exit 0; }

if [ "$(id -u)" != 0 ]; then
	echo "pktlog: missing packages:$missing; run as root or install them with apt-get" >&2
	exit 1
fi
echo "pktlog: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture: no, without a question.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
test_extras "${1:-run}"
