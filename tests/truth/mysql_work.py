"""mysql_work.py – the truth harness's MySQL half: a private MariaDB (own datadir, socket,
free port, max_allowed_packet 64M) whose general log (log_output=TABLE) is the truth, and a
seeded generator driving it from the mariadb CLI, pymysql, stmt_client.c (libmariadb:
text and binary protocol), mysql-connector-python (its C extension and its pure-Python
protocol, both from PyPI) and TruthJdbc.java (MySQL Connector/J and MariaDB Connector/J from
Maven, useServerPrepStmts=true). Clients that can say what they got (rows, affected rows,
error code) write it to a client log keyed by the server's thread id; clients whose driver
sends statements of its own (connector-python, Connector/J) also say which SQL each entry
is for ("sql", its first 4096 characters), so those statements are passed over."""
import json
import os
import random
import subprocess
import sys
import time

from common import ROOT, free_port, wait_for

# Pinned versions: scripts/install-deps.sh test installs them (pip, mvn dependency:get).
CONNECTOR_PYTHON = "9.5.0"          # 9.6+ wheels need OpenSSL 3.2 (Debian 12 has 3.0)
JDBC_DRIVERS = {"mysql": ("com/mysql/mysql-connector-j", "26.10.0"),
                "mariadb": ("org/mariadb/jdbc/mariadb-java-client", "3.5.7")}
SQL_KEEP = 4096                     # the client log keeps this much of each statement

USER, PASSWORD, DB = "truth", "truth-Pass1", "shop"


class MariaDB:
    def __init__(self, workdir):
        self.w = os.path.join(workdir, "mariadb")
        os.makedirs(self.w, exist_ok=True)
        os.chmod(self.w, 0o755)
        self.sock = os.path.join(self.w, "mysqld.sock")
        self.port = free_port()
        subprocess.run(["mariadb-install-db", "--user=root", f"--datadir={self.w}/data",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--user=root", f"--datadir={self.w}/data",
             f"--socket={self.sock}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={self.w}/mysqld.pid", "--skip-ssl", f"--log-error={self.w}/err.log",
             "--max-allowed-packet=64M", "--general-log=1", "--log-output=TABLE",
             "--innodb-buffer-pool-size=32M", "--skip-name-resolve", "--max-connections=300"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.admin("SELECT 1", check=False).returncode == 0, 60, "MariaDB to start")
        self.admin(f"CREATE DATABASE {DB}; CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';"
                   f"GRANT ALL ON {DB}.* TO '{USER}'@'127.0.0.1';"
                   f"CREATE TABLE {DB}.items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64),"
                   f" price INT, note LONGTEXT) ENGINE=InnoDB;"
                   f"TRUNCATE mysql.general_log;")

    def admin(self, sql, check=True):
        """Over the unix socket, unlogged: not in the capture, not in the truth."""
        return subprocess.run(["mariadb", "--no-defaults", "-uroot", "-S", self.sock, "--batch",
                               "--raw", "--skip-column-names", "-e", "SET SESSION sql_log_off=1;" + sql],
                              capture_output=True, text=True, check=check, timeout=300)

    def records(self):
        """The general log since the last call: [{thread, command, argument, time}], in the
        server's order, then emptied."""
        time.sleep(0.3)
        import pymysql
        c = pymysql.connect(unix_socket=self.sock, user="root", max_allowed_packet=256 << 20,
                            read_timeout=600)
        recs = []
        try:
            cur = c.cursor()
            cur.execute("SET SESSION sql_log_off=1")
            cur.execute("SELECT thread_id, command_type, UNIX_TIMESTAMP(event_time), argument"
                        " FROM mysql.general_log")
            for th, cmd, t, arg in cur.fetchall():
                if isinstance(arg, bytes):
                    arg = arg.decode("utf-8", "replace")
                recs.append({"thread": int(th), "command": cmd, "time": float(t), "argument": arg})
            cur.execute("TRUNCATE mysql.general_log")
        finally:
            c.close()
        return recs

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def stmt_client(workdir):
    exe = os.path.join(workdir, "stmt_client")
    if not os.path.exists(exe):
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmariadb"], check=True,
                               capture_output=True, text=True).stdout.split()
        subprocess.run(["cc", "-O1", "-Wall", "-Wextra", "-Werror", "-o", exe,
                        os.path.join(ROOT, "tests", "truth", "stmt_client.c")] + flags, check=True)
    return exe


def jdbc_client(workdir, driver):
    """The java command line for TruthJdbc with the Maven jar of driver ("mysql",
    "mariadb"), compiled with javac into workdir at first use. A missing jar fails the run."""
    path, version = JDBC_DRIVERS[driver]
    jar = os.path.join(os.path.expanduser("~/.m2/repository"), path, version,
                       f"{os.path.basename(path)}-{version}.jar")
    if not os.path.exists(jar):
        raise RuntimeError(f"{jar} is missing: run scripts/install-deps.sh test")
    if not os.path.exists(os.path.join(workdir, "TruthJdbc.class")):
        subprocess.run(["javac", "-d", workdir, os.path.join(ROOT, "tests", "truth", "TruthJdbc.java")],
                       check=True, timeout=300)
    return ["java", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-cp", f"{workdir}:{jar}", "TruthJdbc"]


def connector_python():
    """mysql.connector, the pinned version with its C extension: anything else fails the run."""
    try:
        import mysql.connector
    except ImportError as e:
        raise RuntimeError(f"mysql-connector-python is missing ({e}): run scripts/install-deps.sh test")
    if mysql.connector.__version__ != CONNECTOR_PYTHON or not mysql.connector.HAVE_CEXT:
        raise RuntimeError(f"mysql-connector-python {mysql.connector.__version__} (C extension: "
                           f"{mysql.connector.HAVE_CEXT}); want {CONNECTOR_PYTHON} with it: "
                           "run scripts/install-deps.sh test")
    return mysql.connector


def random_sql(r, big_ok=True):
    """One statement (or a few, for multi-statements) and whether it makes rows."""
    k = r.choices(["select", "insert", "update", "delete", "error", "parse", "multi", "large",
                   "huge", "show", "set", "long"], [8, 5, 3, 2, 2, 2, 2, 2, 0.2 if big_ok else 0, 1, 1, 1])[0]
    if k == "select":
        return r.choice([f"SELECT {r.randint(0, 999)}", "SELECT id, name FROM items WHERE price > %d" % r.randint(0, 50),
                         "SELECT COUNT(*) FROM items", "  /* c */ select now()", "(SELECT 1)",
                         "SELECT name, price FROM items ORDER BY id DESC LIMIT %d" % r.randint(1, 20),
                         "SELECT 'a;b' AS x, \"q\" AS y"])
    if k == "insert":
        return "INSERT INTO items (name, price, note) VALUES " + ", ".join(
            f"('n{r.randint(0, 9999)}', {r.randint(0, 99)}, '{'x' * r.randint(0, 300)}')" for _ in range(r.randint(1, 5)))
    if k == "update":
        return f"UPDATE items SET price = price + 1 WHERE price < {r.randint(0, 99)}"
    if k == "delete":
        return f"DELETE FROM items WHERE price > {r.randint(90, 120)}"
    if k == "error":
        return r.choice(["SELECT * FROM no_such_table", "INSERT INTO items (nope) VALUES (1)",
                         "SELECT 1 FROM items WHERE id = 'x' AND nope = 1"])
    if k == "parse":
        return r.choice(["SELEC oops", "SELECT FROM", "DROP TABL items"])
    if k == "multi":
        return "; ".join(random_sql(r, False) for _ in range(r.randint(2, 3)) if True)
    if k == "large":
        return f"SELECT seq, REPEAT('r', {r.randint(10, 300)}) FROM seq_1_to_{r.randint(1000, 20000)}"
    if k == "huge":
        return "SELECT LENGTH('" + "h" * ((16 << 20) + r.randint(0, 100000)) + "') AS n"
    if k == "show":
        return r.choice(["SHOW TABLES", "SHOW VARIABLES LIKE 'max_allowed%'", "DESCRIBE items"])
    if k == "set":
        return r.choice(["SET @a = %d" % r.randint(0, 9), "SET NAMES utf8mb4", "BEGIN", "COMMIT"])
    return "SELECT '" + "L" * r.randint(9000, 70000) + "' AS long_literal"


PREPARED = ["SELECT id, name, price FROM items WHERE price > ?",
            "SELECT ? + ?",
            "INSERT INTO items (name, price) VALUES ('p', ?)",
            "UPDATE items SET price = ? WHERE id = ?",
            "SELECT seq FROM seq_1_to_3000 WHERE seq > ?",
            "SELECT * FROM items WHERE id = ?",
            "DELETE FROM items WHERE price = ? AND id < 0"]


class Gen:
    def __init__(self, db, seed, n_sessions, workdir):
        self.db, self.rnd, self.n, self.w = db, random.Random(seed), n_sessions, workdir
        self.client_log = {}       # thread id -> [client records]
        self.exe = stmt_client(workdir)
        self.java = {d: jdbc_client(workdir, d) for d in JDBC_DRIVERS}
        self.myconn = connector_python()

    def run(self, cover=False):
        """cover: start with sessions that hold every case once (multi-statements, errors, a
        large result set, a statement over 16 MiB, prepared statements through libmariadb)."""
        kinds = [(self.cli, 3), (self.pymysql, 4), (self.c_client, 4), (self.binary_pymysql, 2),
                 (self.cpy_c, 2), (self.cpy_pure, 2), (self.jdbc_mysql, 2), (self.jdbc_mariadb, 2)]
        todo = [(self.cover_pymysql, 0), (self.cover_c, 0), (self.cli, 1), (self.binary_pymysql, 2)] if cover else []
        if cover:
            todo += [(self.cover_cpy_c, 0), (self.cover_cpy_pure, 0), (self.cover_jdbc_mysql, 0),
                     (self.cover_jdbc_mariadb, 0)]
        for _ in range(self.n):
            todo.append((self.rnd.choices([k for k, _ in kinds], [w for _, w in kinds])[0],
                         self.rnd.random()))
        for fn, seed in todo:
            try:
                fn(random.Random(seed))
            except (OSError, subprocess.TimeoutExpired, self.myconn.Error) as e:
                print(f"mysql client {fn.__name__} stopped: {e!r}"[:300], file=sys.stderr)
        return self.client_log

    def cover_pymysql(self, r):
        stmts = ["SELECT 1; SELECT 2, 3", "SELECT * FROM no_such_table", "SELEC oops",
                 "SELECT seq, REPEAT('r', 100) FROM seq_1_to_20000",
                 "SELECT LENGTH('" + "h" * ((16 << 20) + 1000) + "') AS n",
                 "INSERT INTO items (name, price) VALUES ('c', 1), ('d', 2)",
                 "UPDATE items SET price = price WHERE id < 0", "SELECT '" + "L" * 20000 + "'"]
        self.pymysql(r, stmts)

    def cover_c(self, r):
        self.c_client(r, ["P SELECT ? + ?", "X 0 1 2", "P SELECT seq FROM seq_1_to_3000 WHERE seq > ?",
                          "X 1 100", "P UPDATE items SET price = ? WHERE id = ?", "X 2 5 1", "R 1",
                          "X 1 2990", "Q SELECT 1; SELECT 2", "Q SELECT * FROM nope", "P SELEC bad",
                          "G", "C 0", "Q SELECT seq FROM seq_1_to_5000"])

    def cli(self, r):
        stmts = [random_sql(r, big_ok=False) for _ in range(r.randint(1, 8))]
        if r.random() < 0.3:
            stmts.append("USE shop")
        script = ";\n".join(stmts) + ";\n"
        subprocess.run(["mariadb", "--no-defaults", "--protocol=tcp", "-h", "127.0.0.1", "-P",
                        str(self.db.port), "--skip-ssl", f"-u{USER}", f"-p{PASSWORD}", "--force",
                        "--max-allowed-packet=64M", DB],
                       input=script.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)

    def pymysql(self, r, stmts=None):
        import pymysql
        c = pymysql.connect(host="127.0.0.1", port=self.db.port, user=USER, password=PASSWORD,
                            database=DB, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
                            max_allowed_packet=64 << 20, autocommit=True)
        log = self.client_log.setdefault(c.thread_id(), [])
        cur = c.cursor()
        for sql in stmts or [random_sql(r) for _ in range(r.randint(1, 10))]:
            rec = {"cmd": "Query", "rows": -1, "affected": -1, "errno": 0, "client": "pymysql"}
            try:
                n = cur.execute(sql)
                if cur.description is not None:
                    rec["rows"] = len(cur.fetchall())
                else:
                    rec["affected"] = n
                while cur.nextset():
                    pass
                if ";" in sql:
                    rec["rows"] = rec["affected"] = -1      # several results: not compared
            except pymysql.MySQLError as e:
                rec["errno"] = e.args[0] if e.args and isinstance(e.args[0], int) else -1
            log.append(rec)
            if r.random() < 0.1:
                c.ping(reconnect=False)
                log.append({"cmd": "Ping", "rows": -1, "affected": -1, "errno": 0})
            if r.random() < 0.1:
                c.select_db(DB)
                log.append({"cmd": "Init DB", "rows": -1, "affected": -1, "errno": 0})
        c.close()

    def binary_pymysql(self, r):
        """The binary protocol from a client without MariaDB's extended capabilities (pymysql
        sets CLIENT_LONG_PASSWORD, so MariaDB treats it as a MySQL client: column metadata is
        sent with every execute — cache metadata off), through pymysql's packet layer."""
        import struct
        import pymysql
        from pymysql.constants import COMMAND
        c = pymysql.connect(host="127.0.0.1", port=self.db.port, user=USER, password=PASSWORD,
                            database=DB, autocommit=True)
        log = self.client_log.setdefault(c.thread_id(), [])

        def read_until_eof():
            n = 0
            while True:
                p = c._read_packet()
                if p.is_eof_packet():
                    return n
                n += 1

        stmts = []
        for _ in range(r.randint(1, 8)):
            k = r.random()
            try:
                if k < 0.35 or not stmts:
                    sql = r.choice(PREPARED + ["SELEC nope ?"])
                    c._execute_command(COMMAND.COM_STMT_PREPARE, sql)
                    rec = {"cmd": "Prepare", "rows": -1, "affected": -1, "errno": 0, "client": "pymysql-binary"}
                    log.append(rec)
                    try:
                        ok = c._read_packet().get_all_data()
                    except pymysql.MySQLError as e:
                        rec["errno"] = e.args[0]
                        continue
                    sid, ncols, nparams = struct.unpack_from("<IHH", ok, 1)
                    if nparams:
                        read_until_eof()
                    if ncols:
                        read_until_eof()
                    stmts.append((sid, nparams))
                elif k < 0.9:
                    sid, nparams = r.choice(stmts)
                    payload = struct.pack("<IBI", sid, 0, 1)
                    if nparams:
                        payload += bytes((nparams + 7) // 8) + b"\x01" + b"\x08\x00" * nparams
                        payload += b"".join(struct.pack("<q", r.randint(-5, 80)) for _ in range(nparams))
                    c._execute_command(COMMAND.COM_STMT_EXECUTE, payload)
                    rec = {"cmd": "Execute", "rows": -1, "affected": -1, "errno": 0, "client": "pymysql-binary"}
                    log.append(rec)
                    try:
                        first = c._read_packet()
                    except pymysql.MySQLError as e:
                        rec["errno"] = e.args[0]
                        continue
                    if first.is_ok_packet():
                        rec["affected"] = pymysql.connections.OKPacketWrapper(first).affected_rows
                    else:
                        read_until_eof()                   # column definitions
                        rec["rows"] = read_until_eof()     # binary rows
                else:
                    sid, _ = stmts.pop(r.randrange(len(stmts)))
                    c._execute_command(COMMAND.COM_STMT_CLOSE, struct.pack("<I", sid))
                    log.append({"cmd": "Close stmt", "rows": -1, "affected": -1, "errno": 0})
            except pymysql.MySQLError:
                break
        c.close()

    def c_client(self, r, fixed=None):
        lines, nst = list(fixed or []), 0
        for _ in range(0 if fixed else r.randint(1, 12)):
            k = r.random()
            if k < 0.3 or nst == 0:
                lines.append("P " + r.choice(PREPARED))
                nst += 1
            elif k < 0.7:
                lines.append(f"X {r.randrange(nst)} " + " ".join(str(r.randint(-5, 80)) for _ in range(2)))
            elif k < 0.85:
                lines.append("Q " + random_sql(r, big_ok=r.random() < 0.2))
            elif k < 0.9:
                lines.append(f"R {r.randrange(nst)}")
            elif k < 0.95:
                lines.append("G")
            else:
                lines.append(f"C {r.randrange(nst)}")
        p = subprocess.run([self.exe, "127.0.0.1", str(self.db.port), USER, PASSWORD, DB],
                           input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=120)
        out = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
        if out and "thread" in out[0]:
            self.client_log[out[0]["thread"]] = [dict(o, client="libmariadb") for o in out[1:]]

    # --- mysql-connector-python: C extension (libmysqlclient inside the wheel) and pure Python

    COVER_CPY = [("Q", "SELECT 1; SELECT 2, 3"), ("Q", "SELECT * FROM no_such_table"), ("Q", "SELEC oops"),
                 ("Q", "SELECT seq, REPEAT('r', 100) FROM seq_1_to_20000"),
                 ("Q", "SELECT LENGTH('" + "h" * ((16 << 20) + 3000) + "') AS n"),
                 ("X", "SELECT ? + ?"), ("X", "SELECT seq FROM seq_1_to_3000 WHERE seq > ?"),
                 ("X", "SELEC nope ?"), ("X", "UPDATE items SET price = ? WHERE id = ?"),
                 ("X", "SELECT * FROM no_such_table WHERE id = ?"),
                 ("Q", "UPDATE items SET price = price WHERE id < 0"), ("reset", None),
                 ("X", "SELECT ? + ?"), ("change", None), ("ping", None), ("initdb", None),
                 ("Q", "SELECT '" + "L" * 20000 + "'")]

    def cpy_c(self, r):
        self.connector(r, False)

    def cpy_pure(self, r):
        self.connector(r, True)

    def cover_cpy_c(self, r):
        self.connector(r, False, self.COVER_CPY)

    def cover_cpy_pure(self, r):
        self.connector(r, True, self.COVER_CPY)

    def connector(self, r, pure, steps=None):
        """One mysql-connector-python session: text queries (multi-statements, errors, large
        results, rarely one over 16 MiB), a prepared cursor (binary protocol: the connector
        prepares each new text, resets the statement before each execute and closes the old
        one), ping, COM_INIT_DB, COM_RESET_CONNECTION and COM_CHANGE_USER (after both the
        connector sends its set-up statements again)."""
        mc = self.myconn
        from mysql.connector.constants import ClientFlag
        c = mc.connect(host="127.0.0.1", port=self.db.port, user=USER, password=PASSWORD, database=DB,
                       use_pure=pure, ssl_disabled=True, autocommit=True, connection_timeout=60,
                       client_flags=[ClientFlag.MULTI_STATEMENTS])
        client = "connector-python-" + ("pure" if pure else "cext")
        log = self.client_log.setdefault(c.connection_id, [])
        if steps is None:
            steps = []
            for _ in range(r.randint(1, 10)):
                k = r.random()
                if k < 0.45:
                    steps.append(("Q", random_sql(r, big_ok=r.random() < 0.3)))
                elif k < 0.85:
                    steps.append(("X", r.choice(PREPARED + ["SELEC nope ?"])))
                else:
                    steps.append((r.choice(["reset", "change", "ping", "initdb"]), None))
        cur, pc, prepared = c.cursor(buffered=True), c.cursor(prepared=True), None

        def entry(cmd, sql, **kw):
            rec = {"cmd": cmd, "rows": -1, "affected": -1, "errno": 0, "client": client}
            if sql is not None:
                rec["sql"], rec["sqllen"] = sql[:SQL_KEEP], len(sql)
            rec.update(kw)
            log.append(rec)
            return rec

        for kind, sql in steps:
            if kind == "Q":
                rec = entry("Query", sql)
                try:
                    cur.execute(sql)
                    if cur.description is not None:
                        rec["rows"] = len(cur.fetchall())
                    else:
                        rec["affected"] = cur.rowcount
                    while cur.nextset():
                        if cur.description is not None:
                            cur.fetchall()
                    if ";" in sql:
                        rec["rows"] = rec["affected"] = -1      # several results: not compared
                except mc.Error as e:
                    rec["errno"] = e.errno or -1
                except Exception as e:      # the C extension's own (an error in a later result)
                    rec["errno"] = getattr(e, "errno", None) or None    # None: not compared
                    rec["rows"] = rec["affected"] = -1
                    break
            elif kind == "X":
                params = tuple(r.randint(-5, 80) for _ in range(sql.count("?")))
                new, rec = sql != prepared, None
                try:
                    pc.execute(sql, params)
                    prepared = sql
                    rec = entry("Execute", sql)
                    if pc.description is not None:
                        rec["rows"] = len(pc.fetchall())
                    else:
                        rec["affected"] = pc.rowcount
                except mc.Error as e:
                    # a new text is prepared first: an error there is the PREPARE's (not
                    # logged; the cursor then forgets the text: _executed None, both modes).
                    # Any other is the EXECUTE's, also one in its result after the column
                    # definitions (ERR 1690 on 'SELECT ? + ?' with -4, 3), which the pure
                    # mode raises only from fetchall(), once the entry is made
                    refused = new and pc._executed is None
                    if rec is None:
                        rec = entry("Prepare" if refused else "Execute", sql)
                    rec["errno"] = e.errno or -1
                    rec["rows"] = rec["affected"] = -1
                    prepared = None if refused else sql
            elif kind == "reset":
                c.cmd_reset_connection()
                entry("Reset connection", None)
                cur, pc, prepared = c.cursor(buffered=True), c.cursor(prepared=True), None
            elif kind == "change":
                c.cmd_change_user(username=USER, password=PASSWORD, database=DB)
                entry("Change user", None)
                cur, pc, prepared = c.cursor(buffered=True), c.cursor(prepared=True), None
            elif kind == "ping":
                c.ping()
            else:
                c.database = DB
                entry("Init DB", None)
        try:
            c.close()
        except Exception:           # after the C extension's error: the socket goes anyway
            pass

    # --- Connector/J (MySQL's and MariaDB's, from Maven) with server-side prepared statements

    COVER_JDBC = ["Q SELECT 1; SELECT 2, 3", "Q SELECT * FROM no_such_table", "Q SELEC oops",
                  "Q SELECT seq, REPEAT('r', 100) FROM seq_1_to_20000", f"H {(16 << 20) + 5000}",
                  "P SELECT ? + ?", "X 0 1 2", "X 0 3 4", "P SELEC nope ?", "X 1 1",
                  "P INSERT INTO items (name, price) VALUES ('j', ?)", "B 2 5", "X 2 7",
                  "P SELECT seq FROM seq_1_to_3000 WHERE seq > ?", "X 3 10", "C 0", "G",
                  "P UPDATE items SET price = ? WHERE id = ?", "X 4 5 1", "B 4 3",
                  "Q INSERT INTO items (name, price) VALUES ('k', 1), ('l', 2)"]

    def jdbc_mysql(self, r):
        self.jdbc(r, "mysql")

    def jdbc_mariadb(self, r):
        self.jdbc(r, "mariadb")

    def cover_jdbc_mysql(self, r):
        self.jdbc(r, "mysql", self.COVER_JDBC)

    def cover_jdbc_mariadb(self, r):
        self.jdbc(r, "mariadb", self.COVER_JDBC)

    def jdbc(self, r, driver, fixed=None):
        """One TruthJdbc session: prepared statements (server-side), executes, batches
        (MariaDB Connector/J: COM_STMT_BULK_EXECUTE), text queries, multi-statements,
        errors, rarely a statement over 16 MiB, isValid pings, closes."""
        lines, texts = list(fixed or []), []
        for _ in range(0 if fixed else r.randint(1, 12)):
            k, nst = r.random(), len(texts)
            # batches of INSERT / UPDATE / DELETE only: a SELECT in a batch is the driver's
            # error, sent or not depending on the driver
            dml = [i for i, t in enumerate(texts) if t.split()[0] in ("INSERT", "UPDATE", "DELETE")]
            if k < 0.3 or nst == 0:
                texts.append(r.choice(PREPARED + ["SELEC nope ?"]))
                lines.append("P " + texts[-1])
            elif k < 0.6 or (k < 0.68 and not dml):
                lines.append(f"X {r.randrange(nst)} " + " ".join(str(r.randint(-5, 80)) for _ in range(2)))
            elif k < 0.68:
                lines.append(f"B {r.choice(dml)} {r.randint(2, 6)}")
            elif k < 0.9:
                lines.append("Q " + random_sql(r, big_ok=False))
            elif k < 0.92:
                lines.append(f"H {(16 << 20) + r.randint(0, 100000)}")
            elif k < 0.96:
                lines.append("G")
            else:
                lines.append(f"C {r.randrange(nst)}")
        # emulateUnsupportedPstmts=false: MySQL Connector/J reports a refused PREPARE instead
        # of falling back to a client-side statement without a word (the client log must know)
        url = (f"jdbc:{driver}://127.0.0.1:{self.db.port}/{DB}?useServerPrepStmts=true"
               "&allowMultiQueries=true&sslMode=DISABLED&useSSL=false&connectTimeout=30000"
               + ("&emulateUnsupportedPstmts=false" if driver == "mysql" else ""))
        p = subprocess.run(self.java[driver] + [url, USER, PASSWORD], input=("\n".join(lines) + "\n").encode(),
                           capture_output=True, timeout=180)
        out = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
        if not out or "thread" not in out[0]:
            raise RuntimeError(f"TruthJdbc ({driver}) did not connect: {p.stderr.decode()[-2000:]}")
        client, log = "connectorj-" + driver, []
        for o in out[1:]:
            o["client"] = client
            if o["cmd"] == "Batch":
                # MariaDB Connector/J sends an INSERT's batch as one COM_STMT_BULK_EXECUTE (one
                # Execute in the general log), other statements' one COM_STMT_EXECUTE per
                # parameter set, as MySQL Connector/J does. A failed batch is dropped.
                o["cmd"] = "Execute"
                n = o.pop("count")
                if o.pop("failed", False):
                    continue
                bulk = driver == "mariadb" and o["sql"].split()[0] == "INSERT"
                log += [o] if bulk else [dict(o) for _ in range(n)]
                continue
            log.append(o)
        self.client_log[out[0]["thread"]] = log
