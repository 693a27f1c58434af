/* stmt_client.c – the truth harness's libmariadb client: reads commands on stdin and runs
 * them over TCP through Debian's libmariadb, so the traffic is what that library negotiates
 * (MariaDB extended capabilities, cache metadata on executes, the binary protocol).
 * Each command's outcome is one JSON line on stdout (the client-side truth).
 *
 *   stmt_client HOST PORT USER PASSWORD DB
 *   Q <sql>          COM_QUERY (text protocol), every result set stored
 *   P <sql>          COM_STMT_PREPARE; the statement gets the next number from 0
 *   X <n> <int>...   COM_STMT_EXECUTE of statement n with integer parameters
 *   R <n>            COM_STMT_RESET
 *   C <n>            COM_STMT_CLOSE
 *   G                COM_PING
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mysql.h>

#define MAX_STMTS 64
#define MAX_PARAMS 16

static MYSQL_STMT *stmts[MAX_STMTS];
static int nstmts;

static void out_result(const char *cmd, long long rows, long long affected, unsigned err)
{
	printf("{\"cmd\":\"%s\",\"rows\":%lld,\"affected\":%lld,\"errno\":%u}\n", cmd, rows, affected, err);
	fflush(stdout);
}

static void do_query(MYSQL *m, const char *sql)
{
	long long rows = -1, affected = -1;
	if (mysql_real_query(m, sql, strlen(sql))) {
		out_result("Query", -1, -1, mysql_errno(m));
		return;
	}
	for (;;) {
		MYSQL_RES *res = mysql_store_result(m);
		if (res) {
			rows = (rows < 0 ? 0 : rows) + (long long)mysql_num_rows(res);
			mysql_free_result(res);
		} else if (mysql_field_count(m) == 0) {
			affected = (long long)mysql_affected_rows(m);
		}
		int st = mysql_next_result(m);
		if (st > 0) {
			out_result("Query", rows, affected, mysql_errno(m));
			return;
		}
		if (st < 0)
			break;
	}
	out_result("Query", rows, affected, 0);
}

static void do_prepare(MYSQL *m, const char *sql)
{
	MYSQL_STMT *s = mysql_stmt_init(m);
	if (!s || nstmts >= MAX_STMTS) {
		out_result("Prepare", -1, -1, 9999);
		return;
	}
	if (mysql_stmt_prepare(s, sql, strlen(sql))) {
		out_result("Prepare", -1, -1, mysql_stmt_errno(s));
		mysql_stmt_close(s);
		stmts[nstmts++] = NULL;
		return;
	}
	stmts[nstmts++] = s;
	out_result("Prepare", -1, -1, 0);
}

static void do_execute(char *args)
{
	char *end;
	long n = strtol(args, &end, 10);
	MYSQL_STMT *s = (n >= 0 && n < nstmts) ? stmts[n] : NULL;
	if (!s)
		return;         /* nothing sent: no record (the server logs nothing either) */
	MYSQL_BIND b[MAX_PARAMS];
	long long v[MAX_PARAMS];
	unsigned np = mysql_stmt_param_count(s);
	memset(b, 0, sizeof b);
	for (unsigned i = 0; i < np && i < MAX_PARAMS; i++) {
		v[i] = strtoll(end, &end, 10);
		b[i].buffer_type = MYSQL_TYPE_LONGLONG;
		b[i].buffer = &v[i];
	}
	if ((np && mysql_stmt_bind_param(s, b)) || mysql_stmt_execute(s)) {
		out_result("Execute", -1, -1, mysql_stmt_errno(s));
		return;
	}
	long long rows = -1, affected = -1;
	if (mysql_stmt_field_count(s) > 0) {
		if (mysql_stmt_store_result(s)) {
			out_result("Execute", -1, -1, mysql_stmt_errno(s));
			return;
		}
		rows = (long long)mysql_stmt_num_rows(s);
		mysql_stmt_free_result(s);
	} else {
		affected = (long long)mysql_stmt_affected_rows(s);
	}
	out_result("Execute", rows, affected, 0);
}

static void do_close(char *args, int reset)
{
	long n = strtol(args, NULL, 10);
	MYSQL_STMT *s = (n >= 0 && n < nstmts) ? stmts[n] : NULL;
	if (!s)
		return;
	if (reset) {
		out_result("Reset stmt", -1, -1, mysql_stmt_reset(s) ? mysql_stmt_errno(s) : 0);
		return;
	}
	mysql_stmt_close(s);
	stmts[n] = NULL;
	out_result("Close stmt", -1, -1, 0);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: stmt_client HOST PORT USER PASSWORD DB\n");
		return 2;
	}
	MYSQL *m = mysql_init(NULL);
	unsigned long max_packet = 64ul << 20;
	unsigned ssl = 0;
	mysql_options(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
	mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &ssl);
	if (!mysql_real_connect(m, argv[1], argv[3], argv[4], argv[5], (unsigned)atoi(argv[2]), NULL,
				CLIENT_MULTI_STATEMENTS)) {
		fprintf(stderr, "stmt_client: %s\n", mysql_error(m));
		return 1;
	}
	printf("{\"thread\":%lu}\n", mysql_thread_id(m));
	fflush(stdout);
	static char line[64 << 20];
	while (fgets(line, sizeof line, stdin)) {
		size_t len = strlen(line);
		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		if (len < 1)
			continue;
		char *arg = len > 2 ? line + 2 : line + len;
		switch (line[0]) {
		case 'Q': do_query(m, arg); break;
		case 'P': do_prepare(m, arg); break;
		case 'X': do_execute(arg); break;
		case 'R': do_close(arg, 1); break;
		case 'C': do_close(arg, 0); break;
		case 'G': out_result("Ping", -1, -1, mysql_ping(m) ? mysql_errno(m) : 0); break;
		default: break;
		}
	}
	mysql_close(m);
	return 0;
}
