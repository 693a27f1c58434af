/* fuzz_mysql.c – libFuzzer harness: a script of data/gap/idle steps drives one MySQL
 * connection, then close. */
#include <stdlib.h>
#include <string.h>
#include "pktlog/proto.h"

/* Script: byte 0 picks config switches; then steps. Each step is one control byte c:
 *   c & 3 == 0/1: data to server/client, length (c >> 2) + 1, or when (c >> 2) == 63 the
 *                 next two bytes (big-endian) + 1; the bytes follow (cut at the input's end)
 *   c & 3 == 2:   gap in direction (c >> 2) & 1 of length next byte << ((c >> 3) & 15)
 *   c & 3 == 3:   idle, packet time advanced by ((c >> 2) + 1) seconds
 * Packet time advances 1 ms per step. */

static volatile size_t sink;

static void touch(struct pl_str s)
{
	for (size_t i = 0; i < s.len; i++)
		sink += (unsigned char)s.p[i];
}

static void emit(const struct pl_event *ev, void *arg)
{
	const struct pl_event_mysql *m = &ev->mysql;

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
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct pl_config cfg;
	struct pl_stats st;
	struct pl_conn conn;
	struct pl_proto_env env = { &cfg, &st, emit, NULL };
	uint64_t ts = 1000;
	size_t i = 1;
	void *state;

	if (n < 1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	memset(&st, 0, sizeof(st));
	memset(&conn, 0, sizeof(conn));
	cfg.mysql.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg.mysql.max_query_length = d[0] & 1 ? 16 : 8192;
	cfg.mysql.max_statements = d[0] & 2 ? 2 : 1024;
	cfg.mysql.send_request = d[0] & 4;
	cfg.mysql.send_response = d[0] & 8;
	cfg.mysql.max_rows = d[0] & 16 ? 1 : 10;
	cfg.mysql.max_row_length = d[0] & 32 ? 3 : 1024;
	conn.af = 4;
	strcpy(conn.community_id, "1:fuzz");
	state = calloc(1, pl_mysql_ops.state_size(&cfg));
	if (!state || pl_mysql_ops.init(state, &conn, &env) != 0) {
		free(state);
		return 0;
	}
	while (i < n) {
		uint8_t c = d[i++];

		ts += 1000000;
		if ((c & 3) <= 1) {
			size_t len = (size_t)(c >> 2) + 1;

			if ((c >> 2) == 63 && i + 2 <= n) {
				len = ((size_t)d[i] << 8 | d[i + 1]) + 1;
				i += 2;
			}
			len = PL_MIN(len, n - i);
			pl_mysql_ops.data(state, (enum pl_dir)(c & 1), d + i, len, ts);
			i += len;
		} else if ((c & 3) == 2) {
			uint64_t len = i < n ? (uint64_t)d[i++] << ((c >> 3) & 15) : 1;

			pl_mysql_ops.gap(state, (enum pl_dir)((c >> 2) & 1), len, ts);
		} else {
			ts += ((uint64_t)(c >> 2) + 1) * PL_NS_PER_SEC;
			pl_mysql_ops.idle(state, ts);
		}
	}
	pl_mysql_ops.close(state, PL_CLOSE_END, ts);
	free(state);
	return 0;
}
