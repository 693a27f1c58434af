#!/usr/bin/env bash
# make-mysql-capture.sh – makes bench/data/mysql_small.pcap: a large capture of small MySQL
# queries (4 `mariadb` clients over TCP, QUERIES in all, each a one-row SELECT) against a
# private MariaDB on 127.0.0.1:13306. Run as root. Reuses the file when it exists (FORCE=1
# remakes it); never touches a system database.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/data/mysql_small.pcap
PORT=13306
QUERIES=${QUERIES:-100000}
CLIENTS=4

die() { echo "make-mysql-capture: $*" >&2; exit 1; }
. "$HERE/../pcaps/lib.sh"

pl_bench_reuse "$OUT" make-mysql-capture
pl_need_root
pl_need_tools mariadbd mariadb-install-db mariadb tcpdump ss
pl_busy "$PORT" && die "port $PORT is in use"

WORK=$(mktemp -d /tmp/pktlog-bench-mysql.XXXXXX)
cleanup() { pl_stop_all; rm -rf "$WORK" "$OUT.tmp"; }
trap cleanup EXIT
mkdir -p "$HERE/data"

SOCK=$WORK/mysqld.sock
mariadb-install-db --user=root --datadir="$WORK/data" --auth-root-authentication-method=socket \
    --skip-test-db >"$WORK/install.log" 2>&1 || die "mariadb-install-db failed"
mariadbd --no-defaults --user=root --datadir="$WORK/data" --socket="$SOCK" --port=$PORT \
    --bind-address=127.0.0.1 --pid-file="$WORK/mysqld.pid" --skip-ssl --log-error="$WORK/err.log" &
DB_PID=$!
for _ in $(seq 100); do
    [ -S "$SOCK" ] && mariadb --no-defaults -uroot -S "$SOCK" -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.2
done
mariadb --no-defaults -uroot -S "$SOCK" <<SQL || die "setup failed"
CREATE DATABASE bench;
CREATE TABLE bench.t (id INT PRIMARY KEY, name VARCHAR(32));
INSERT INTO bench.t VALUES (1, 'one'), (2, 'two'), (3, 'three');
CREATE USER 'bench'@'127.0.0.1' IDENTIFIED BY 'bench-pass';
GRANT ALL ON bench.* TO 'bench'@'127.0.0.1';
SQL

per=$((QUERIES / CLIENTS))
python3 - "$WORK/queries.sql" "$per" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(f"SELECT name FROM t WHERE id = {i % 3 + 1};\n")
PY

pl_start_tcpdump "$OUT.tmp" "tcp port $PORT" -B 262144 -U
pids=()
for _ in $(seq $CLIENTS); do
    mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P $PORT --skip-ssl -ubench -pbench-pass \
        bench <"$WORK/queries.sql" >/dev/null &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || die "a client failed"; done
pl_stop_tcpdump_or_die 1
mv "$OUT.tmp" "$OUT"
echo "make-mysql-capture: $OUT ($(stat -c %s "$OUT") bytes, $QUERIES queries)"
