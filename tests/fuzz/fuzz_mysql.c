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
	touch_errors(ev);
	check_bound(ev);
}

static void configure(struct pl_config *cfg, uint8_t sw)
{
	cfg->mysql.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg->mysql.max_query_length = sw & 1 ? 16 : 8192;
	cfg->mysql.max_statements = sw & 2 ? 2 : 1024;
	cfg->mysql.send_request = sw & 4;
	cfg->mysql.send_response = sw & 8;
	cfg->mysql.max_rows = sw & 16 ? 1 : 10;
	cfg->mysql.max_row_length = sw & 32 ? 3 : 1024;
	/* an SSLRequest hands the connection to the TLS parser */
	cfg->tls.enabled = sw & 64;
	cfg->tls.max_handshake_bytes = 65536;
	cfg->tls.max_memory_mb = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	return fuzz_proto_input(&pl_mysql_ops, emit, configure, d, n, NULL);
}
