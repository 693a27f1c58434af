/* mariadb_client.c – the libmariadb client behind pcaps/make-mysql-pcaps.sh's "libmariadb"
 * and "progress" scenarios: text and binary protocol as libmariadb speaks them (MariaDB's
 * extended capabilities negotiated: cache metadata, extended metadata, bulk operations,
 * progress reports), array binding (COM_STMT_BULK_EXECUTE), COM_RESET_CONNECTION and
 * COM_CHANGE_USER. It writes what it did and what the server answered as JSON lines
 * (the capture's truth file). Not part of pktlog; built by the capture script.
 *
 *   mariadb_client HOST PORT USER PASSWORD TRUTH.jsonl [libmariadb|progress] */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>

static FILE *out;
static MYSQL *db;

static void die(const char *what)
{
	fprintf(stderr, "mariadb_client: %s: %s\n", what, mysql_error(db));
	exit(1);
}

/* One JSON line; the caller's fields are already JSON (keys and values quoted as needed). */
static void log_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputc('{', out);
	vfprintf(out, fmt, ap);
	fputs("}\n", out);
	va_end(ap);
	fflush(out);
}

/* A text-protocol statement: its outcome (rows, affected rows, error code). */
static void query(const char *sql)
{
	MYSQL_RES *res;

	if (mysql_query(db, sql)) {
		log_line("\"step\": \"query\", \"sql\": \"%s\", \"error_code\": %u", sql, mysql_errno(db));
		return;
	}
	res = mysql_store_result(db);
	if (res) {
		log_line("\"step\": \"query\", \"sql\": \"%s\", \"num_fields\": %u, \"num_rows\": %llu", sql,
			 mysql_num_fields(res), (unsigned long long)mysql_num_rows(res));
		mysql_free_result(res);
		return;
	}
	log_line("\"step\": \"query\", \"sql\": \"%s\", \"affected_rows\": %llu, \"insert_id\": %llu", sql,
		 (unsigned long long)mysql_affected_rows(db), (unsigned long long)mysql_insert_id(db));
}

static MYSQL_STMT *prepare(const char *sql)
{
	MYSQL_STMT *st = mysql_stmt_init(db);

	if (!st)
		die("stmt_init");
	if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql))) {
		log_line("\"step\": \"prepare\", \"sql\": \"%s\", \"error_code\": %u", sql, mysql_stmt_errno(st));
		mysql_stmt_close(st);
		return NULL;
	}
	log_line("\"step\": \"prepare\", \"sql\": \"%s\", \"num_params\": %lu, \"num_columns\": %u", sql,
		 mysql_stmt_param_count(st), mysql_stmt_field_count(st));
	return st;
}

/* Execute a statement with one INT parameter; fetch and count the rows. */
static void exec_int(MYSQL_STMT *st, const char *sql, int v)
{
	MYSQL_BIND b;
	unsigned long long rows = 0;

	memset(&b, 0, sizeof(b));
	b.buffer_type = MYSQL_TYPE_LONG;
	b.buffer = &v;
	if (mysql_stmt_bind_param(st, &b))
		die("bind_param");
	if (mysql_stmt_execute(st)) {
		log_line("\"step\": \"execute\", \"sql\": \"%s\", \"params\": [\"%d\"], \"error_code\": %u", sql, v,
			 mysql_stmt_errno(st));
		return;
	}
	if (mysql_stmt_field_count(st) == 0) {
		log_line("\"step\": \"execute\", \"sql\": \"%s\", \"params\": [\"%d\"], \"affected_rows\": %llu", sql,
			 v, (unsigned long long)mysql_stmt_affected_rows(st));
		return;
	}
	if (mysql_stmt_store_result(st))
		die("stmt_store_result");
	while (mysql_stmt_fetch(st) == 0)
		rows++;
	log_line("\"step\": \"execute\", \"sql\": \"%s\", \"params\": [\"%d\"], \"num_fields\": %u, \"num_rows\": %llu",
		 sql, v, mysql_stmt_field_count(st), rows);
	mysql_stmt_free_result(st);
}

/* Execute INSERT (?, ?) with one row of bound values. */
static void exec_insert(MYSQL_STMT *st, const char *sql, const char *name, int qty)
{
	MYSQL_BIND b[2];
	unsigned long len = (unsigned long)strlen(name);

	memset(b, 0, sizeof(b));
	b[0].buffer_type = MYSQL_TYPE_STRING;
	b[0].buffer = (void *)name;
	b[0].buffer_length = len;
	b[0].length = &len;
	b[1].buffer_type = MYSQL_TYPE_LONG;
	b[1].buffer = &qty;
	if (mysql_stmt_bind_param(st, b))
		die("bind_param");
	if (mysql_stmt_execute(st)) {
		log_line("\"step\": \"execute\", \"sql\": \"%s\", \"params\": [\"%s\", \"%d\"], \"error_code\": %u", sql,
			 name, qty, mysql_stmt_errno(st));
		return;
	}
	log_line("\"step\": \"execute\", \"sql\": \"%s\", \"params\": [\"%s\", \"%d\"], \"affected_rows\": %llu, "
		 "\"insert_id\": %llu", sql, name, qty, (unsigned long long)mysql_stmt_affected_rows(st),
		 (unsigned long long)mysql_stmt_insert_id(st));
}

/* Array binding: libmariadb sends one COM_STMT_BULK_EXECUTE with every row. */
static void exec_bulk(MYSQL_STMT *st, const char *sql)
{
	static char names[4][8] = { "bulk0", "bulk1", "bulk2", "bulk3" };
	static char *name_ptr[4] = { names[0], names[1], names[2], names[3] };
	static unsigned long lens[4] = { 5, 5, 5, 5 };
	static int qty[4] = { 10, 20, 30, 40 };
	static char ind[4] = { STMT_INDICATOR_NONE, STMT_INDICATOR_NONE, STMT_INDICATOR_NULL,
			       STMT_INDICATOR_NONE };
	unsigned int size = 4;
	MYSQL_BIND b[2];

	memset(b, 0, sizeof(b));
	b[0].buffer_type = MYSQL_TYPE_STRING;
	b[0].buffer = name_ptr;
	b[0].length = lens;
	b[1].buffer_type = MYSQL_TYPE_LONG;
	b[1].buffer = qty;
	b[1].u.indicator = ind;
	if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &size) || mysql_stmt_bind_param(st, b))
		die("bulk bind");
	if (mysql_stmt_execute(st)) {
		log_line("\"step\": \"bulk\", \"sql\": \"%s\", \"rows\": 4, \"error_code\": %u", sql,
			 mysql_stmt_errno(st));
		return;
	}
	log_line("\"step\": \"bulk\", \"sql\": \"%s\", \"rows\": 4, \"affected_rows\": %llu", sql,
		 (unsigned long long)mysql_stmt_affected_rows(st));
	size = 0;
	mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &size);
}

/* mariadb_stmt_execute_direct: PREPARE and EXECUTE (statement id -1) sent together. */
static void exec_direct(const char *sql, int v)
{
	MYSQL_STMT *st = mysql_stmt_init(db);
	unsigned int one = 1;
	unsigned long long rows = 0;
	MYSQL_BIND b;

	memset(&b, 0, sizeof(b));
	b.buffer_type = MYSQL_TYPE_LONG;
	b.buffer = &v;
	if (!st || mysql_stmt_attr_set(st, STMT_ATTR_PREBIND_PARAMS, &one) || mysql_stmt_bind_param(st, &b))
		die("execute_direct bind");
	if (mariadb_stmt_execute_direct(st, sql, (size_t)-1))
		die("execute_direct");
	if (mysql_stmt_store_result(st))
		die("stmt_store_result");
	while (mysql_stmt_fetch(st) == 0)
		rows++;
	log_line("\"step\": \"execute_direct\", \"sql\": \"%s\", \"params\": [\"%d\"], \"num_fields\": %u, "
		 "\"num_rows\": %llu", sql, v, mysql_stmt_field_count(st), rows);
	mysql_stmt_close(st);
	log_line("\"step\": \"close\", \"sql\": \"%s\"", sql);
}

static void scenario_libmariadb(const char *user, const char *pass)
{
	const char *sel = "SELECT id, name, qty FROM stock WHERE qty > ?";
	const char *ins = "INSERT INTO stock (name, qty) VALUES (?, ?)";
	const char *docs = "SELECT d, g FROM docs WHERE LENGTH(d) > ?";
	MYSQL_STMT *s1, *s2, *s3;

	query("CREATE TABLE stock (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40), qty INT)");
	query("INSERT INTO stock (name, qty) VALUES ('nut', 5), ('bolt', 50), ('gear', 500)");
	query("SELECT id, name, qty FROM stock");
	query("SELECT * FROM no_such_table");
	s1 = prepare(sel);
	if (!s1)
		exit(1);
	exec_int(s1, sel, 1);           /* metadata cached by the client from here on */
	exec_int(s1, sel, 10);
	exec_int(s1, sel, 100);
	exec_int(s1, sel, 1000);
	s2 = prepare(ins);
	if (!s2)
		exit(1);
	exec_insert(s2, ins, "washer", 7);
	exec_bulk(s2, ins);
	exec_int(s1, sel, 8);
	/* a changed table: the server sends the statement's metadata again */
	query("ALTER TABLE stock MODIFY name VARCHAR(60)");
	exec_int(s1, sel, 8);
	exec_int(s1, sel, 30);
	prepare("SELECT nothing FROM no_such_table WHERE x = ?");
	/* extended type info (MARIADB_CLIENT_EXTENDED_METADATA): json and point columns */
	query("CREATE TABLE docs (d JSON, g POINT)");
	query("INSERT INTO docs VALUES (JSON_OBJECT('a', 1), POINT(1, 2))");
	query("SELECT d, g FROM docs");
	s3 = prepare(docs);
	if (!s3)
		exit(1);
	exec_int(s3, docs, 0);
	exec_int(s3, docs, 0);
	mysql_stmt_close(s3);
	log_line("\"step\": \"close\", \"sql\": \"%s\"", docs);
	exec_direct("SELECT seq FROM seq_1_to_10 WHERE seq > ?", 7);
	mysql_stmt_close(s2);
	log_line("\"step\": \"close\", \"sql\": \"%s\"", ins);
	mysql_stmt_close(s1);
	log_line("\"step\": \"close\", \"sql\": \"%s\"", sel);
	if (mysql_reset_connection(db))
		die("reset_connection");
	log_line("\"step\": \"reset_connection\"");
	if (mysql_change_user(db, user, pass, "shop"))
		die("change_user");
	log_line("\"step\": \"change_user\", \"user\": \"%s\", \"db\": \"shop\"", user);
	query("SELECT COUNT(*) FROM stock");
	query("DROP TABLE stock, docs");
}

/* Progress reports: a copying ALTER that outlasts progress_report_time. */
static void progress_cb(const MYSQL *m, unsigned int stage, unsigned int max_stage, double progress,
			const char *proc_info, unsigned int proc_info_length)
{
	static int n;

	(void)m; (void)stage; (void)max_stage; (void)progress; (void)proc_info; (void)proc_info_length;
	if (n++ == 0)
		log_line("\"step\": \"progress_seen\"");
}

static void scenario_progress(void)
{
	query("CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(40))");
	query("INSERT INTO big SELECT seq, CONCAT('value-', seq) FROM seq_1_to_1500000");
	query("SET SESSION progress_report_time = 1");
	query("ALTER TABLE big MODIFY v VARCHAR(50), ALGORITHM=COPY");
	query("SELECT COUNT(*) FROM big");
	query("DROP TABLE big");
}

int main(int argc, char **argv)
{
	const char *what;

	if (argc != 7) {
		fprintf(stderr, "usage: mariadb_client HOST PORT USER PASSWORD TRUTH libmariadb|progress\n");
		return 2;
	}
	what = argv[6];
	out = fopen(argv[5], "w");
	if (!out) {
		perror(argv[5]);
		return 1;
	}
	db = mysql_init(NULL);
	if (!db)
		return 1;
	if (!strcmp(what, "progress"))
		mysql_optionsv(db, MYSQL_PROGRESS_CALLBACK, progress_cb);
	if (!mysql_real_connect(db, argv[1], argv[3], argv[4], "shop", (unsigned)atoi(argv[2]), NULL, 0))
		die("connect");
	log_line("\"step\": \"login\", \"user\": \"%s\", \"db\": \"shop\", \"server_version\": \"%s\"", argv[3],
		 mysql_get_server_info(db));
	if (!strcmp(what, "progress"))
		scenario_progress();
	else
		scenario_libmariadb(argv[3], argv[4]);
	mysql_close(db);
	log_line("\"step\": \"quit\"");
	fclose(out);
	return 0;
}
