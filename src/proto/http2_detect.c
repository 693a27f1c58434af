/* http2_detect.c – pl_http2_ops, the protocol of protocols.http2.ports: HTTP/2 with prior
 * knowledge. On a port that is also under protocols.http.ports it looks at the client's first
 * bytes: the HTTP/2 preface makes the connection HTTP/2, anything else (or server bytes,
 * a gap, the end first) hands every byte unchanged to pl_http_ops, which then owns the
 * connection as if chosen by port (its state then lives on the heap: the flow reserves only
 * the largest protocol's 32 bytes). Must not: change what HTTP/1 sees (the bytes, their split
 * and times are passed on as they came, except a preface-like start of under 24 bytes). */
#include <stdlib.h>
#include <string.h>
#include "http2_int.h"

enum { UNDECIDED = 0, IS_HTTP2, IS_HTTP1, IS_NONE };

/* Client bytes held while they may still be the preface (a first read under 24 bytes). */
struct held { uint8_t n; uint8_t b[24]; uint64_t ts; };

/* At most 32 bytes: the flow reserves the largest protocol's state for every connection. */
struct h2_state {
	void *p;                       /* IS_HTTP2: struct pl_http2; IS_HTTP1: pl_http_ops'
	                                * state (heap); UNDECIDED: struct held, or NULL */
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	uint8_t mode;
	bool fallback;                 /* the port is an HTTP port too */
};
_Static_assert(sizeof(struct h2_state) <= 32, "no larger than HTTP's, MySQL's, TLS's");

static size_t ops_state_size(const struct pl_config *cfg)
{
	(void)cfg;
	return sizeof(struct h2_state);
}

static void none(struct h2_state *st)
{
	st->mode = IS_NONE;
	st->env->stats->proto_state_dropped++;
}

static void start_http2(struct h2_state *st, uint64_t ts)
{
	st->mode = IS_HTTP2;
	if (!(st->p = pl_http2_takeover(st->conn, st->env, NULL, ts)))
		none(st);
}

static int ops_init(void *state, const struct pl_conn *conn, const struct pl_proto_env *env)
{
	struct h2_state *st = state;
	const struct pl_config *cfg = env->cfg;

	st->conn = conn;
	st->env = env;
	st->fallback = cfg->http.enabled && pl_port_list_has(&cfg->http.ports, conn->server_port);
	if (st->fallback)
		return 0;
	start_http2(st, 0);
	return st->p ? 0 : -1;
}

/* HTTP/1 takes the connection, with the client bytes held so far. */
static void to_http1(struct h2_state *st)
{
	struct held *held = st->p;
	void *http = calloc(1, pl_http_ops.state_size(st->env->cfg));

	st->p = http;
	st->mode = IS_HTTP1;
	if (!http || pl_http_ops.init(http, st->conn, st->env) != 0) {
		free(http);
		st->p = NULL;
		none(st);
	} else if (held) {
		pl_http_ops.data(http, PL_DIR_TO_SERVER, held->b, held->n, held->ts);
	}
	free(held);
}

/* Client bytes before the choice: returns how many of p were taken (the rest goes to the
 * chosen protocol). */
static size_t decide(struct h2_state *st, const uint8_t *p, size_t n, uint64_t ts)
{
	struct held *held = st->p;
	size_t have = held ? held->n : 0, k = PL_MIN(n, 24 - have);

	if (!h2_preface_match(have, p, k)) {
		to_http1(st);
		return 0;
	}
	if (!held && k == 24) {
		start_http2(st, ts);
		return 0;
	}
	if (!held && !(st->p = held = calloc(1, sizeof(*held)))) {
		none(st);
		return n;
	}
	if (!have)
		held->ts = ts;
	memcpy(held->b + have, p, k);
	held->n = (uint8_t)(have + k);
	if (held->n < 24)
		return k;
	start_http2(st, held->ts);
	if (st->mode == IS_HTTP2)
		pl_http2_data(st->p, PL_DIR_TO_SERVER, held->b, held->n, held->ts);
	free(held);
	return k;
}

static void ops_data(void *state, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct h2_state *st = state;

	if (!n)
		return;
	if (st->mode == UNDECIDED) {
		size_t k = dir == PL_DIR_TO_SERVER ? decide(st, p, n, ts) : 0;

		if (dir == PL_DIR_TO_CLIENT)
			to_http1(st);
		p += k;
		n -= k;
		if (!n)
			return;
	}
	if (st->mode == IS_HTTP2)
		pl_http2_data(st->p, dir, p, n, ts);
	else if (st->mode == IS_HTTP1)
		pl_http_ops.data(st->p, dir, p, n, ts);
}

static void ops_gap(void *state, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	struct h2_state *st = state;

	if (st->mode == UNDECIDED)
		to_http1(st);
	if (st->mode == IS_HTTP2)
		pl_http2_gap(st->p, dir, len, ts);
	else if (st->mode == IS_HTTP1)
		pl_http_ops.gap(st->p, dir, len, ts);
}

static void ops_idle(void *state, uint64_t now)
{
	struct h2_state *st = state;

	if (st->mode == IS_HTTP2)
		pl_http2_idle(st->p, now);
	else if (st->mode == IS_HTTP1 && pl_http_ops.idle)
		pl_http_ops.idle(st->p, now);
}

static void ops_close(void *state, enum pl_close_reason why, uint64_t ts)
{
	struct h2_state *st = state;

	if (st->mode == UNDECIDED && st->p)
		to_http1(st);
	if (st->mode == IS_HTTP2) {
		pl_http2_close(st->p, why, ts);
	} else if (st->mode == IS_HTTP1) {
		pl_http_ops.close(st->p, why, ts);
		free(st->p);
	}
	st->p = NULL;
	st->mode = IS_NONE;
}

static void ops_thread_cleanup(void)
{
	h2_thread_cleanup();
}

const struct pl_proto_ops pl_http2_ops = {
	.name = "http2",
	.state_size = ops_state_size,
	.init = ops_init,
	.data = ops_data,
	.gap = ops_gap,
	.idle = ops_idle,
	.close = ops_close,
	.thread_cleanup = ops_thread_cleanup,
};
