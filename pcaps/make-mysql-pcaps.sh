#!/usr/bin/env bash
# make-mysql-pcaps.sh – captures real MariaDB exchanges on lo into pcaps/mysql_<scenario>.pcap,
# each with a truth file written by the client side (mysql_<scenario>.truth.*). Run as root.
# It runs its own mariadbd from a temp datadir on 127.0.0.1:3306 (socket in the temp dir),
# creates a user with a password so logins are real, and stops the server by its PID.
#
#   pcaps/make-mysql-pcaps.sh              all scenarios
#   pcaps/make-mysql-pcaps.sh basic burst  only those
#
# The server has a self-signed certificate made with openssl at start (for the tls scenario)
# and max_allowed_packet 64M (for big_packets). mariadb_client.c (libmariadb, built here with
# gcc and mariadb_config) drives the libmariadb and progress scenarios.
#
# Expected events (mysql_<scenario>.events.jsonl) are made afterwards with
# tests/integration/make_expected.py-style replay and reviewed against the truth files.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-3306}   # 3306 or 3307: pktlog's default MySQL ports
ALL=(basic prepared failed_login large burst prepared_nocache libmariadb progress local_infile local_infile_multi compress tls tls12 big_packets)
USER_NAME=pktlog
USER_PASS='s3cret-Pass'

die() { echo "make-mysql-pcaps: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (tcpdump on lo needs it)"
for t in mariadbd mariadb-install-db mariadb tcpdump python3 ss openssl gcc mariadb_config; do
    command -v $t >/dev/null || die "$t is missing"
done
[ -z "$(ss -Htln "sport = :$PORT")" ] || die "port $PORT is busy"

WORK=$(mktemp -d /tmp/pktlog-mysql.XXXXXX)
DB_PID=
TCPDUMP_PID=
cleanup() {
    [ -n "$TCPDUMP_PID" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null && wait "$TCPDUMP_PID" 2>/dev/null
    [ -n "$DB_PID" ] && kill -TERM "$DB_PID" 2>/dev/null && wait "$DB_PID" 2>/dev/null
    rm -rf "$WORK" "$HERE"/*.pcap.tmp
}
trap cleanup EXIT

SOCK=$WORK/mysqld.sock

start_db() {
    mariadb-install-db --user=root --datadir="$WORK/data" --auth-root-authentication-method=socket \
        --skip-test-db >"$WORK/install.log" 2>&1 || die "mariadb-install-db failed: $WORK/install.log"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1 || die "openssl failed"
    mariadbd --no-defaults --user=root --datadir="$WORK/data" --socket="$SOCK" --port=$PORT \
        --bind-address=127.0.0.1 --pid-file="$WORK/mysqld.pid" --log-error="$WORK/err.log" \
        --ssl-cert="$WORK/cert.pem" --ssl-key="$WORK/key.pem" --max-allowed-packet=64M \
        --character-set-server=utf8mb4 &
    DB_PID=$!
    for _ in $(seq 100); do
        [ -S "$SOCK" ] && mariadb --no-defaults -uroot -S "$SOCK" -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.2
    done
    mariadb --no-defaults -uroot -S "$SOCK" <<EOF || die "setup failed"
CREATE DATABASE shop;
CREATE USER '$USER_NAME'@'127.0.0.1' IDENTIFIED BY '$USER_PASS';
GRANT ALL ON shop.* TO '$USER_NAME'@'127.0.0.1';
EOF
}

capture_start() {
    tcpdump -i lo -s 0 -B 65536 -U --immediate-mode -w "$1" "tcp port $PORT" 2>"$WORK/tcpdump.log" &
    TCPDUMP_PID=$!
    for _ in $(seq 50); do grep -q listening "$WORK/tcpdump.log" && break; sleep 0.1; done
    sleep 0.3
}

capture_stop() {
    sleep 1
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    mv "$1.tmp" "$1"
}

client() {  # the mariadb command-line client over TCP, no TLS, verbose (the truth log)
    mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P $PORT --skip-ssl "$@"
}

# --- scenarios ---

basic() {
    local long
    long=$(python3 -c "print('x' * 20000)")
    cat >"$WORK/basic.sql" <<EOF
SELECT @@version_comment LIMIT 1;
USE shop;
CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40), price INT);
INSERT INTO items (name, price) VALUES ('apple', 3), ('pear', 4), ('plum', 5);
INSERT INTO items (name, price) VALUES ('fig', 9);
UPDATE items SET price = price + 1 WHERE price < 5;
SELECT * FROM items WHERE price > 100;
SELECT name FROM items WHERE id = 1;
SELECT a.seq, b.seq FROM seq_1_to_50 a, seq_1_to_60 b;
SELECT * FROM no_such_table;
SELEC oops;
DELETE FROM items WHERE name = 'fig';
SELECT LENGTH('$long') AS l;
DELIMITER //
CREATE PROCEDURE two_sets() BEGIN SELECT id, name FROM items; SELECT COUNT(*) AS n FROM items; END //
DELIMITER ;
CALL two_sets();
DROP TABLE items;
EOF
    capture_start "$HERE/mysql_basic.pcap.tmp"
    client -u"$USER_NAME" -p"$USER_PASS" -vvv -n --force <"$WORK/basic.sql" >"$HERE/mysql_basic.truth.txt" 2>&1 || true
    capture_stop "$HERE/mysql_basic.pcap"
}

failed_login() {
    capture_start "$HERE/mysql_failed_login.pcap.tmp"
    client -u"$USER_NAME" -p'wrong-password' -e 'SELECT 1' >"$HERE/mysql_failed_login.truth.txt" 2>&1 || true
    capture_stop "$HERE/mysql_failed_login.pcap"
}

large() {
    capture_start "$HERE/mysql_large.pcap.tmp"
    client -u"$USER_NAME" -p"$USER_PASS" -vvv shop \
        -e "SELECT seq, REPEAT(CHAR(65 + seq % 26), 1000) AS pad FROM seq_1_to_3000" \
        | tail -n 3 >"$HERE/mysql_large.truth.txt" 2>&1
    capture_stop "$HERE/mysql_large.pcap"
}

burst() {
    python3 -c "
for i in range(2000):
    print('SELECT %d;' % i)" >"$WORK/burst.sql"
    capture_start "$HERE/mysql_burst.pcap.tmp"
    client -u"$USER_NAME" -p"$USER_PASS" --batch --skip-column-names shop <"$WORK/burst.sql" \
        | wc -l | sed 's/^/rows: /' >"$HERE/mysql_burst.truth.txt"
    capture_stop "$HERE/mysql_burst.pcap"
}

# The mariadb client prepares only through SQL PREPARE (text protocol); this tiny client
# speaks the binary protocol: COM_STMT_PREPARE / EXECUTE (with bound values) / RESET /
# CLOSE. It writes what it sent and what it read as JSON lines (the truth file).
write_stmt_client() {
    cat >"$WORK/stmt_client.py" <<'EOF'
import hashlib, json, socket, struct, sys

host, port, user, password, truth = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
# MariaDB extended capabilities to ask for (0: none, a MySQL-style login)
ext = int(sys.argv[6], 0) if len(sys.argv) > 6 else 0
out = open(truth, "w")
s = socket.create_connection((host, port))
buf = b""

def recv_exact(n):
    global buf
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError
        buf += d
    r, buf = buf[:n], buf[n:]
    return r

def read_pkt():
    h = recv_exact(4)
    n = h[0] | h[1] << 8 | h[2] << 16
    return h[3], recv_exact(n)

def send_pkt(seq, payload):
    s.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload)

def lenenc(p, i):
    b = p[i]
    if b < 0xfb: return b, i + 1
    if b == 0xfc: return struct.unpack_from("<H", p, i + 1)[0], i + 3
    if b == 0xfd: return int.from_bytes(p[i + 1:i + 4], "little"), i + 4
    return struct.unpack_from("<Q", p, i + 1)[0], i + 9

def lenstr(v):
    return bytes([len(v)]) + v if len(v) < 251 else b"\xfc" + struct.pack("<H", len(v)) + v

def log(**kw):
    out.write(json.dumps(kw) + "\n")

seq, greet = read_pkt()
ver_end = greet.index(b"\0", 1)
p = ver_end + 1 + 4
salt = greet[p:p + 8]
p += 9
caps = struct.unpack_from("<H", greet, p)[0]
caps |= struct.unpack_from("<H", greet, p + 5)[0] << 16
salt += greet[p + 18:p + 18 + 12]
CLIENT = 0x00000001 | 0x00000004 | 0x00000008 | 0x00000200 | 0x00008000 | 0x00010000 | 0x00020000 | 0x00080000
h1 = hashlib.sha1(password.encode()).digest()
scr = bytes(a ^ b for a, b in zip(h1, hashlib.sha1(salt + hashlib.sha1(h1).digest()).digest()))
if ext:
    CLIENT &= ~0x00000001  # CLIENT_MYSQL clear: the extended caps are in the filler's last 4 bytes
login = struct.pack("<IIB", CLIENT, 1 << 24, 33) + b"\0" * 19 + struct.pack("<I", ext) + user.encode() + b"\0" + bytes([20]) + scr + b"shop\0" + b"mysql_native_password\0"
send_pkt(1, login)
seq, r = read_pkt()
assert r[0] == 0, r
log(step="login", user=user, db="shop", result="OK")

def query(sql):
    send_pkt(0, b"\x03" + sql.encode())
    _, r = read_pkt()
    if r[0] == 0xff:
        raise RuntimeError(r)
    if r[0] != 0:
        n, _ = lenenc(r, 0)
        for _ in range(n): read_pkt()
        read_pkt()
        while True:
            _, r = read_pkt()
            if r[0] == 0xfe and len(r) < 9: break

def read_defs(n):
    for _ in range(n): read_pkt()
    if n: read_pkt()  # EOF (this client does not ask for DEPRECATE_EOF)

def prepare(sql):
    send_pkt(0, b"\x16" + sql.encode())
    _, r = read_pkt()
    if r[0] == 0xff:
        code = struct.unpack_from("<H", r, 1)[0]
        log(step="prepare", sql=sql, error_code=code, message=r[9:].decode())
        return None
    sid, ncols, nparams = struct.unpack_from("<IHH", r, 1)
    read_defs(nparams)
    read_defs(ncols)
    log(step="prepare", sql=sql, statement_id=sid, num_params=nparams, num_columns=ncols)
    return sid, nparams

def execute(sid, sql, params):
    payload = b"\x17" + struct.pack("<IBI", sid, 0, 1)
    if params:
        nulls = bytearray((len(params) + 7) // 8)
        types, vals = b"", b""
        for i, v in enumerate(params):
            if v is None:
                nulls[i // 8] |= 1 << (i % 8)
                types += b"\x06\x00"
            elif isinstance(v, int):
                types += b"\x08\x00"
                vals += struct.pack("<q", v)
            else:
                types += b"\xfd\x00"
                vals += lenstr(v.encode())
        payload += bytes(nulls) + b"\x01" + types + vals
    send_pkt(0, payload)
    _, r = read_pkt()
    if r[0] == 0xff:
        code = struct.unpack_from("<H", r, 1)[0]
        log(step="execute", sql=sql, params=["NULL" if v is None else str(v) for v in params], error_code=code)
        return
    if r[0] == 0:
        aff, i = lenenc(r, 1)
        ins, i = lenenc(r, i)
        log(step="execute", sql=sql, params=["NULL" if v is None else str(v) for v in params], affected_rows=aff, insert_id=ins)
        return
    ncols, _ = lenenc(r, 0)
    read_defs(ncols)
    rows = 0
    while True:
        _, r = read_pkt()
        if r[0] == 0xfe and len(r) < 9: break
        rows += 1
    log(step="execute", sql=sql, params=["NULL" if v is None else str(v) for v in params], num_fields=ncols, num_rows=rows)

query("CREATE TABLE IF NOT EXISTS people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40), age INT)")
log(step="query", sql="CREATE TABLE IF NOT EXISTS people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40), age INT)")
ins = "INSERT INTO people (name, age) VALUES (?, ?)"
sid, _ = prepare(ins)
for name, age in (("ann", 31), ("bo", 42), ("cy", None)):
    execute(sid, ins, [name, age])
sel = "SELECT id, name, age FROM people WHERE age > ? OR name = ?"
sid2, _ = prepare(sel)
execute(sid2, sel, [35, "ann"])
send_pkt(0, b"\x1a" + struct.pack("<I", sid2))  # COM_STMT_RESET
read_pkt()
log(step="reset", statement_id=sid2)
send_pkt(0, b"\x19" + struct.pack("<I", sid2))  # COM_STMT_CLOSE: no answer
log(step="close", statement_id=sid2)
prepare("SELECT * FROM missing_table WHERE x = ?")
send_pkt(0, b"\x01")
log(step="quit")
s.close()
EOF
}

prepared() {
    write_stmt_client
    capture_start "$HERE/mysql_prepared.pcap.tmp"
    python3 "$WORK/stmt_client.py" 127.0.0.1 $PORT "$USER_NAME" "$USER_PASS" "$HERE/mysql_prepared.truth.jsonl"
    capture_stop "$HERE/mysql_prepared.pcap"
}

# The same binary-protocol client asking for MariaDB's progress reports, bulk operations and
# extended metadata but not cache metadata (libmariadb always asks for it): every execute's
# result set carries its column definitions, each with extended type info.
prepared_nocache() {
    write_stmt_client
    capture_start "$HERE/mysql_prepared_nocache.pcap.tmp"
    python3 "$WORK/stmt_client.py" 127.0.0.1 $PORT "$USER_NAME" "$USER_PASS" \
        "$HERE/mysql_prepared_nocache.truth.jsonl" 0x0d
    capture_stop "$HERE/mysql_prepared_nocache.pcap"
}

# libmariadb (mariadb_client.c): text and binary protocol with MariaDB's extended
# capabilities (cache metadata: executes without column definitions), array binding
# (COM_STMT_BULK_EXECUTE), COM_RESET_CONNECTION, COM_CHANGE_USER.
build_client() {
    [ -x "$WORK/mariadb_client" ] && return
    gcc -std=c11 -O1 -Wall -Werror -o "$WORK/mariadb_client" "$HERE/mariadb_client.c" \
        $(mariadb_config --cflags --libs) || die "building mariadb_client failed"
}

libmariadb() {
    build_client
    capture_start "$HERE/mysql_libmariadb.pcap.tmp"
    "$WORK/mariadb_client" 127.0.0.1 $PORT "$USER_NAME" "$USER_PASS" "$HERE/mysql_libmariadb.truth.jsonl" libmariadb
    capture_stop "$HERE/mysql_libmariadb.pcap"
}

# Progress reports (MARIADB_CLIENT_PROGRESS): a copying ALTER of 1.5M rows with
# progress_report_time 1 makes the server send 0xFF/0xFFFF packets before its OK.
progress() {
    build_client
    capture_start "$HERE/mysql_progress.pcap.tmp"
    "$WORK/mariadb_client" 127.0.0.1 $PORT "$USER_NAME" "$USER_PASS" "$HERE/mysql_progress.truth.jsonl" progress
    capture_stop "$HERE/mysql_progress.pcap"
}

# LOAD DATA LOCAL INFILE: 0xFB request, the file's packets, the empty terminator, OK;
# then a file the client cannot open (it sends only the empty terminator).
local_infile() {
    python3 -c "
for i in range(1, 301):
    print('%d,item-%d' % (i, i))" >"$WORK/items.csv"
    cat >"$WORK/infile.sql" <<EOF
CREATE TABLE li (id INT PRIMARY KEY, name VARCHAR(40));
LOAD DATA LOCAL INFILE '$WORK/items.csv' INTO TABLE li FIELDS TERMINATED BY ',';
SELECT COUNT(*) AS n FROM li;
LOAD DATA LOCAL INFILE '$WORK/no-such-file.csv' INTO TABLE li FIELDS TERMINATED BY ',';
DROP TABLE li;
EOF
    capture_start "$HERE/mysql_local_infile.pcap.tmp"
    client -u"$USER_NAME" -p"$USER_PASS" --local-infile=1 -vvv -n --force shop <"$WORK/infile.sql" \
        >"$HERE/mysql_local_infile.truth.txt" 2>&1 || true
    capture_stop "$HERE/mysql_local_infile.pcap"
}

# LOAD DATA LOCAL INFILE of a file sent in 311 packets of 4 KiB (12000 lines, 1.3 MB: the
# sequence id wraps past 255); a 3000-line file into a table whose trigger stops the load at
# id 1500 (the server reads the file to its empty packet, then answers ERR); that file again
# with IGNORE into the first table (every line a duplicate: OK, 3000 warnings). Each exchange
# is one event: request, 0xFB, file packets, empty packet, the answer.
local_infile_multi() {
    python3 -c "
for i in range(1, 12001):
    print('%d,%s' % (i, ('row-%d-' % i).ljust(100, 'x')))" >"$WORK/many.csv"
    head -n 3000 "$WORK/many.csv" >"$WORK/some.csv"
    cat >"$WORK/infile_multi.sql" <<EOF
CREATE TABLE lim (id INT PRIMARY KEY, name VARCHAR(120));
LOAD DATA LOCAL INFILE '$WORK/many.csv' INTO TABLE lim FIELDS TERMINATED BY ',';
CREATE TABLE lim2 (id INT PRIMARY KEY, name VARCHAR(120));
DELIMITER //
CREATE TRIGGER lim2_stop BEFORE INSERT ON lim2 FOR EACH ROW BEGIN IF NEW.id = 1500 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'stopped at 1500'; END IF; END //
DELIMITER ;
LOAD DATA LOCAL INFILE '$WORK/some.csv' INTO TABLE lim2 FIELDS TERMINATED BY ',';
LOAD DATA LOCAL INFILE '$WORK/some.csv' IGNORE INTO TABLE lim FIELDS TERMINATED BY ',';
SELECT COUNT(*) AS n FROM lim2;
DROP TABLE lim;
DROP TABLE lim2;
EOF
    capture_start "$HERE/mysql_local_infile_multi.pcap.tmp"
    client -u"$USER_NAME" -p"$USER_PASS" --local-infile=1 -vvv -n --force shop \
        <"$WORK/infile_multi.sql" >"$HERE/mysql_local_infile_multi.truth.txt" 2>&1 || true
    capture_stop "$HERE/mysql_local_infile_multi.pcap"
}

# CLIENT_COMPRESS: the session after the login is zlib-compressed; pktlog skips it.
compress() {
    capture_start "$HERE/mysql_compress.pcap.tmp"
    client -u"$USER_NAME" -p"$USER_PASS" --compress -vvv shop -e "SELECT 1; SELECT 2" \
        >"$HERE/mysql_compress.truth.txt" 2>&1
    capture_stop "$HERE/mysql_compress.pcap"
}

# SSLRequest, then TLS (1.3 here): pktlog hands the connection to its TLS parser.
tls() {
    capture_start "$HERE/mysql_tls.pcap.tmp"
    mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P $PORT --ssl -u"$USER_NAME" -p"$USER_PASS" \
        -vvv shop -e "SHOW SESSION STATUS LIKE 'Ssl_version'" >"$HERE/mysql_tls.truth.txt" 2>&1
    capture_stop "$HERE/mysql_tls.pcap"
}

# SSLRequest, then TLS 1.2: the server's certificate goes in clear. The truth adds the
# certificate as openssl sees it (the one made at start).
tls12() {
    capture_start "$HERE/mysql_tls12.pcap.tmp"
    mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P $PORT --ssl --tls-version=TLSv1.2 \
        -u"$USER_NAME" -p"$USER_PASS" -vvv shop \
        -e "SHOW SESSION STATUS LIKE 'Ssl_version'; SHOW SESSION STATUS LIKE 'Ssl_cipher'" \
        >"$HERE/mysql_tls12.truth.txt" 2>&1
    capture_stop "$HERE/mysql_tls12.pcap"
    openssl x509 -in "$WORK/cert.pem" -noout -nameopt RFC2253 -subject -issuer -serial \
        -fingerprint -sha256 >>"$HERE/mysql_tls12.truth.txt"
}

# Packets of 16 MiB and more: a 17 MiB statement (the client splits it into a 0xFFFFFF
# frame and a continuation) and a 17 MiB row from the server. The truth is the length
# the client printed for each statement's one value.
big_packets() {
    python3 -c "
print(\"SELECT LENGTH('\" + 'x' * (17 << 20) + \"') AS n;\")
print('SELECT REPEAT(CHAR(121), %d) AS r;' % (17 << 20))
print('SELECT 1 AS one;')" >"$WORK/big.sql"
    capture_start "$HERE/mysql_big_packets.pcap.tmp"
    client -u"$USER_NAME" -p"$USER_PASS" --max-allowed-packet=64M --batch --skip-column-names shop \
        <"$WORK/big.sql" | awk '{ print "value " NR ": " (length($0) > 100 ? "length " length($0) : $0) }' \
        >"$HERE/mysql_big_packets.truth.txt"
    capture_stop "$HERE/mysql_big_packets.pcap"
}

start_db
scen=("$@")
[ ${#scen[@]} -gt 0 ] || scen=("${ALL[@]}")
for s in "${scen[@]}"; do
    echo "make-mysql-pcaps: $s"
    "$s"
done
echo "make-mysql-pcaps: done"
