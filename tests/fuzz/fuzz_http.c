/* fuzz_http.c – libFuzzer harness: a script of data/gap/idle steps drives one HTTP
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
	const struct pl_event_http *h = &ev->http;
	const struct pl_http_msg *m[2] = { &h->request, &h->response };

	touch(h->method);
	touch(h->path);
	touch(h->query);
	touch(h->host);
	touch(h->user_agent);
	touch(h->referrer);
	touch(h->forwarded_ip);
	touch(h->user_name);
	touch(h->status_phrase);
	touch(h->version);
	for (int i = 0; i < ev->n_errors; i++)
		touch(ev->errors[i]);
	for (int k = 0; k < 2; k++) {
		touch(m[k]->mime_type);
		for (int i = 0; i < m[k]->n_headers; i++) {
			touch(m[k]->headers[i].name);
			touch(m[k]->headers[i].value);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static char h_trace[] = "x-trace";
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
	cfg.http.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg.http.max_message_size = d[0] & 1 ? 300 : 10485760;
	cfg.http.max_pending = d[0] & 2 ? 2 : 64;
	cfg.http.max_url_length = d[0] & 4 ? 16 : 8192;
	cfg.http.max_memory_mb = 1;
	cfg.http.send_all_headers = d[0] & 8;
	cfg.http.redact_authorization = d[0] & 16;
	cfg.http.redact_cookies = d[0] & 32;
	cfg.http.send_headers[0] = h_trace;
	cfg.http.n_send_headers = 1;
	conn.af = 4;
	strcpy(conn.community_id, "1:fuzz");
	state = calloc(1, pl_http_ops.state_size(&cfg));
	if (!state || pl_http_ops.init(state, &conn, &env) != 0) {
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
			pl_http_ops.data(state, (enum pl_dir)(c & 1), d + i, len, ts);
			i += len;
		} else if ((c & 3) == 2) {
			uint64_t len = i < n ? (uint64_t)d[i++] << ((c >> 3) & 15) : 1;

			pl_http_ops.gap(state, (enum pl_dir)((c >> 2) & 1), len, ts);
		} else {
			ts += ((uint64_t)(c >> 2) + 1) * PL_NS_PER_SEC;
			pl_http_ops.idle(state, ts);
		}
	}
	pl_http_ops.close(state, PL_CLOSE_END, ts);
	free(state);
	return 0;
}
