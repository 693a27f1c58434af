/* fuzz_mysql.c – libFuzzer harness: a script of data/gap/idle steps drives one MySQL
 * connection (and, after an SSLRequest, the TLS parser it hands over to), then close. */
#include "proto_script.h"

/* Byte 0 picks config switches; the rest is the step script of proto_script.h. */

static void emit(const struct pl_event *ev, void *arg)
{
	const struct pl_event_mysql *m = &ev->mysql;

	if (ev->type == PL_EV_TLS) {
		/* the TLS parser after an SSLRequest (fuzz_tls checks its fields) */
		touch(ev->tls.server_name);
		touch(ev->tls.cipher);
		check_bound(ev);
		return;
	}
	touch(m->method);
	touch(m->query);
	touch(m->path);
	touch(m->user);
	touch(m->schema);
	touch(m->sql_state);
	touch(m->error_message);
	touch(m->request);
	touch(m->response);
	for (int i = 0; i < m->n_params; i++)
		touch(m->params[i]);
	for (int i = 0; i < ev->n_errors; i++)
		touch(ev->errors[i]);
	check_bound(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct pl_config cfg;
	struct pl_stats st;
	struct pl_proto_env env = { &cfg, &st, emit, NULL };

	if (n < 1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	memset(&st, 0, sizeof(st));
	cfg.mysql.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg.mysql.max_query_length = d[0] & 1 ? 16 : 8192;
	cfg.mysql.max_statements = d[0] & 2 ? 2 : 1024;
	cfg.mysql.send_request = d[0] & 4;
	cfg.mysql.send_response = d[0] & 8;
	cfg.mysql.max_rows = d[0] & 16 ? 1 : 10;
	cfg.mysql.max_row_length = d[0] & 32 ? 3 : 1024;
	/* an SSLRequest hands the connection to the TLS parser */
	cfg.tls.enabled = d[0] & 64;
	cfg.tls.max_handshake_bytes = 65536;
	cfg.tls.max_memory_mb = 1;
	run_script(&pl_mysql_ops, &env, d, n);
	return 0;
}
