/* proto_script.h – the step script the protocol harnesses (fuzz_http.c, fuzz_http2.c,
 * fuzz_mysql.c, fuzz_tls.c) use to drive one connection through a struct pl_proto_ops, then
 * close it; the one-run entry they share, and the reading of what an event borrows.
 *
 * Script after the config byte: each step is one control byte c:
 *   c & 3 == 0/1: data to server/client, length (c >> 2) + 1, or when (c >> 2) == 63 the
 *                 next two bytes (big-endian) + 1; the bytes follow (cut at the input's end)
 *   c & 3 == 2:   gap in direction (c >> 2) & 1 of length next byte << ((c >> 3) & 15)
 *   c & 3 == 3:   idle, packet time advanced by ((c >> 2) + 1) seconds
 * Packet time advances 1 ms per step. */
#ifndef PKTLOG_FUZZ_PROTO_SCRIPT_H
#define PKTLOG_FUZZ_PROTO_SCRIPT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pktlog/proto.h"
#include "pktlog/event.h"

static volatile size_t sink;

/* Read every byte of a string the event borrows, so ASan sees a stale one. */
static void touch(struct pl_str s)
{
	for (size_t i = 0; i < s.len; i++)
		sink += (unsigned char)s.p[i];
}

/* Read the headers of one HTTP message (HTTP/1 or HTTP/2 event). */
static inline void touch_headers(const struct pl_http_msg *m)
{
	for (int i = 0; i < m->n_headers; i++) {
		touch(m->headers[i].name);
		touch(m->headers[i].value);
	}
}

/* Read the error notes of an event. */
static inline void touch_errors(const struct pl_event *ev)
{
	for (int i = 0; i < ev->n_errors; i++)
		touch(ev->errors[i]);
}

/* Render ev into a heap buffer of exactly pl_event_json_bound() bytes, which it writes
 * without room tests (ASan sees any write past it), and into one byte less, which it writes
 * with them: both must succeed with the same bytes. Returns the length. */
static inline size_t check_bound(const struct pl_event *ev)
{
	size_t bound = pl_event_json_bound(ev, NULL), n, m;
	char *a = malloc(bound), *b = malloc(bound);

	if (!a || !b)
		abort();
	n = pl_event_to_json(ev, NULL, a, bound);
	m = pl_event_to_json(ev, NULL, b, bound - 1);
	if (n == 0 || n > bound || m != n || memcmp(a, b, n)) {
		fprintf(stderr, "fuzz: the rendering bound (%zu) does not hold: %zu, %zu\n",
			bound, n, m);
		abort();
	}
	free(a);
	free(b);
	return n;
}

static void run_script(const struct pl_proto_ops *ops, const struct pl_proto_env *env,
		       const uint8_t *d, size_t n)
{
	struct pl_conn conn;
	uint64_t ts = 1000;
	size_t i = 1;
	void *state;

	memset(&conn, 0, sizeof(conn));
	conn.af = 4;
	strcpy(conn.community_id, "1:fuzz");
	state = calloc(1, ops->state_size(env->cfg));
	if (!state || ops->init(state, &conn, env) != 0) {
		free(state);
		return;
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
			ops->data(state, (enum pl_dir)(c & 1), d + i, len, ts);
			i += len;
		} else if ((c & 3) == 2) {
			uint64_t len = i < n ? (uint64_t)d[i++] << ((c >> 3) & 15) : 1;

			ops->gap(state, (enum pl_dir)((c >> 2) & 1), len, ts);
		} else {
			ts += ((uint64_t)(c >> 2) + 1) * PL_NS_PER_SEC;
			if (ops->idle)
				ops->idle(state, ts);
		}
	}
	ops->close(state, PL_CLOSE_END, ts);
	free(state);
	if (ops->thread_cleanup)
		ops->thread_cleanup();
}

/* One fuzz input: byte 0 are config switches, which configure() turns into a zeroed config;
 * the rest is the script, run through ops with emit receiving the events. The counters of
 * the run are copied to *counted when it is not NULL. */
static inline int fuzz_proto_input(const struct pl_proto_ops *ops,
				   void (*emit)(const struct pl_event *ev, void *arg),
				   void (*configure)(struct pl_config *cfg, uint8_t switches),
				   const uint8_t *d, size_t n, struct pl_stats *counted)
{
	struct pl_config cfg;
	struct pl_stats st;
	struct pl_proto_env env = { &cfg, &st, emit, NULL };

	if (n < 1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	memset(&st, 0, sizeof(st));
	configure(&cfg, d[0]);
	run_script(ops, &env, d, n);
	if (counted)
		*counted = st;
	return 0;
}

#endif
