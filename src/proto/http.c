/* http.c – HTTP/1.x from reassembled streams: pl_http_ops (the flow layer's entry points),
 * feeding each direction to the fast head parser or http-parser, and resynchronisation after
 * gaps, parse errors and mid-stream starts. The parts live beside it: http_parse.c
 * (http-parser and the record), http_fast.c (the fast head parser), http_txn.c (pairing),
 * http_event.c (events), http_mem.c (memory), shared through http_int.h.
 * Must not: format JSON, store bodies, see TCP sequence numbers, or grow memory without bound. */
#include <limits.h>
#include <string.h>
#include "http_int.h"

/* Methods accepted as a request start when resynchronising. */
static const char *const sync_methods[] = {
	"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ",
	"TRACE ", "PROPFIND ", "PROPPATCH ", "MKCOL ", "COPY ", "MOVE ", "LOCK ", "UNLOCK ",
	"SEARCH ", "REPORT ", "PURGE ",
};

void http_start_hunt(struct hconn *c, struct hside *s, bool line_start)
{
	c->env->stats->http_resyncs++;
	s->mode = MODE_HUNT;
	s->first = false;
	s->fresh = false;
	s->fast_left = 0;
	http_probe_clear(s);
	s->line_start = line_start;
	s->npfx = 0;
	s->acc = 0;
	if (s->dir == PL_DIR_TO_CLIENT)
		c->pend.late = 0;    /* responses were lost: order can no longer be trusted */
	else
		c->req_gap = true;
}

/* --- feeding and resynchronisation --- */

/* 0 = no pattern starts with pfx, 1 = prefix of one, 2 = a whole pattern. */
static int sync_match(const struct hside *s)
{
	const char *pat = "HTTP/1.";
	int best = 0;

	if (s->dir == PL_DIR_TO_CLIENT) {
		size_t pl = strlen(pat);
		size_t k = PL_MIN(pl, (size_t)s->npfx);
		if (memcmp(s->pfx, pat, k))
			return 0;
		return s->npfx >= pl ? 2 : 1;
	}
	for (size_t i = 0; i < PL_ARRAY_LEN(sync_methods); i++) {
		size_t ml = strlen(sync_methods[i]);
		if (s->npfx > ml || memcmp(s->pfx, sync_methods[i], s->npfx))
			continue;
		if (s->npfx == ml)
			return 2;
		best = 1;
	}
	return best;
}

/* Skip bytes until a plausible message start; returns bytes consumed. */
static size_t hunt(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];
		int m;

		if (!s->line_start && s->npfx == 0) {
			s->line_start = b == '\n';
			if (s->dir == PL_DIR_TO_SERVER)
				c->req_gap = true;
			continue;
		}
		if (s->npfx == 0) {
			s->pfx_ts = ts;
			s->pfx_after_head = i >= 4 && !memcmp(p + i - 4, "\r\n\r\n", 4);
		}
		s->pfx[s->npfx++] = b;
		m = sync_match(s);
		if (m == 1)
			continue;
		if (m == 2) {
			uint8_t pfx[sizeof(s->pfx)];
			uint8_t np = s->npfx;

			if (s->frame_known)
				http_frame_bytes(c, s, (int64_t)(i + 1) - np);
			s->frame_known = false;

			memcpy(pfx, s->pfx, np);
			s->mode = MODE_SYNC;
			s->first = false;
			s->npfx = 0;
			s->acc = 0;
			http_side_reset(c, s);
			/* The start began in these bytes: hand them back whole, so the
			 * message may take the fast path. */
			if (np <= i + 1)
				return i + 1 - np;
			http_feed(c, s, pfx, np, s->pfx_ts);
			return i + 1;
		}
		s->npfx = 0;
		s->line_start = b == '\n';
		if (s->dir == PL_DIR_TO_SERVER)
			c->req_gap = true;
		if (s->first) {
			s->first = false;
			c->env->stats->http_resyncs++;
		}
	}
	if (s->frame_known)
		http_frame_bytes(c, s, (int64_t)n);
	return n;
}

static inline __attribute__((always_inline)) void conn_data(struct hconn *c, enum pl_dir dir,
							   const uint8_t *p, size_t n, uint64_t ts)
{
	struct hside *s = &c->side[dir == PL_DIR_TO_CLIENT];

	http_expire(c, ts);
	s->last_ts = ts;
	/* a connection's first bytes may be HTTP/2 with prior knowledge (http_h2c.c) */
	if (__builtin_expect(s->first, 0) && s->mode == MODE_HUNT && s->npfx == 0 &&
	    http_h2c_first(c, s, p, n, ts))
		return;
	/* a segment after lost or skipped bytes often begins a message */
	if (s->mode == MODE_HUNT && s->npfx == 0)
		s->line_start = true;
	if ((s->after_gap || s->first) && s->mode == MODE_HUNT && s->npfx == 0 &&
	    dir == PL_DIR_TO_SERVER)
		http_cut_request_tail(c, p, n, ts);
	s->after_gap = false;
	while (n > 0 && s->mode < MODE_DEAD) {
		size_t k;

		if (s->mode == MODE_HUNT)
			k = hunt(c, s, p, n, ts);
		else if (s->probe_left)
			k = http_probe_bytes(c, s, p, n, ts);
		else if (s->fast_left)
			k = http_fast_body(c, s, n, ts);
		else if (!(s->fresh && c->env->cfg->fast_paths && (k = http_fast_head(c, s, p, n, ts)) > 0))
			k = http_feed(c, s, p, n, ts);
		p += k;
		n -= k;
	}
	if (__builtin_expect(s->mode == MODE_SWITCH, 0))
		http_h2c_resume(c, s, p, n, ts);   /* may hand c over to HTTP/2 */
}

/* conn_data for http_h2c.c's replays (conn_data itself stays inlined in http_data). */
void http_conn_data(struct hconn *c, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	conn_data(c, dir, p, n, ts);
}

/* A body of known or close-delimited length lost bytes: the body is never stored, so
 * zeros stand in for them and the message completes normally. Returns bytes left. */
static uint64_t skip_body(struct hconn *c, struct hside *s, uint64_t len, uint64_t ts)
{
	static const uint8_t zeros[65536];

	s->cur->notes |= NOTE_LOSS;
	while (len > 0 && s->mode == MODE_SYNC && s->in_msg && s->in_body) {
		size_t k = (size_t)PL_MIN(len, (uint64_t)sizeof(zeros));
		size_t r = http_feed(c, s, zeros, k, ts);

		if (r == 0)
			break;
		len -= r;
	}
	return len;
}

/* What a hole cuts on the request side while in sync (GAP_*). */
static uint8_t http_gap_cut(const struct hside *s)
{
	const struct hmsg *m = s->cur;

	if (!s->in_msg)
		return GAP_BOUNDARY;
	if (s->in_body)
		return GAP_BODY;
	if (m && m->has_method && (m->method == HTTP_GET || m->method == HTTP_HEAD))
		return GAP_HEAD_NOBODY;
	return GAP_HEAD;
}

/* A hole of `len` bytes lies wholly within the body being read, of known length: it held
 * no message start. */
static bool gap_in_body(const struct hside *s, uint64_t len)
{
	if (s->mode != MODE_SYNC || !s->in_msg || !s->in_body || s->probe_left)
		return false;
	if (s->fast_left)
		return len <= s->fast_left;
	return !(s->p.flags & F_CHUNKED) && s->p.content_length != ULLONG_MAX &&
	       len <= s->p.content_length;
}

static void conn_gap(struct hconn *c, struct hside *s, enum pl_dir dir, uint64_t len,
		     uint64_t ts);

/* A hole may have held message starts: until the pairing is known whole again, events that
 * pair across holes on both sides say so (http_pair_unsure). */
void http_conn_gap(struct hconn *c, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	struct hside *s = &c->side[dir == PL_DIR_TO_CLIENT];
	bool counted = len == 0 || s->mode == MODE_DEAD || gap_in_body(s, len);

	conn_gap(c, s, dir, len, ts);
	if (!counted)
		s->unsure = true;
}

static void conn_gap(struct hconn *c, struct hside *s, enum pl_dir dir, uint64_t len,
		     uint64_t ts)
{

	if (s->mode == MODE_DEAD || len == 0)
		return;
	if (s->mode == MODE_SWITCH) {
		http_h2c_gap(c, len, ts);   /* the held side: its hold records the hole */
		return;
	}
	if (dir == PL_DIR_TO_SERVER) {
		c->req_gap = true;
		c->req_lost = true;
		s->after_gap = true;
		s->gap_line = s->mode == MODE_SYNC && s->in_msg && !s->in_body && s->line_open &&
			      s->cur && !s->cur->has_version;
		if (s->mode == MODE_SYNC)
			s->gap_cut = http_gap_cut(s);
		else if (s->mode == MODE_HUNT && s->npfx)
			http_cut_request_start(c, s);
	} else {
		c->resp_lost = true;
		http_lost_response(c, s, len);
		if (s->mode == MODE_HUNT && s->frame_known)
			http_frame_bytes(c, s, (int64_t)PL_MIN(len, (uint64_t)INT64_MAX / 4));
		else if (s->mode == MODE_SYNC && s->in_msg && !s->in_body)
			http_cut_response_frame(s, len);
	}
	if (s->mode == MODE_HUNT) {
		/* segments after a hole often begin a message */
		s->npfx = 0;
		s->line_start = true;
		return;
	}
	if (s->probe_left)
		http_probe_as_body(c, s, ts);   /* what the gap held cannot be told */
	if (s->fast_left) {
		/* as skip_body below: the message completes, and what is left resynchronises */
		uint64_t k = PL_MIN(len, s->fast_left);

		s->cur->notes |= NOTE_LOSS;
		http_fast_body(c, s, (size_t)k, ts);
		if (len > k && s->mode == MODE_SYNC)
			http_start_hunt(c, s, true);
		return;
	}
	if (s->in_msg && s->in_body && !(s->p.flags & F_CHUNKED) && s->cur) {
		if (skip_body(c, s, len, ts) == 0 || s->mode != MODE_SYNC)
			return;
		http_start_hunt(c, s, true);
		return;
	}
	http_fail_current(c, s, NOTE_LOSS);
	http_start_hunt(c, s, true);
}

static void end_side(struct hconn *c, struct hside *s, uint64_t ts)
{
	if (s->mode != MODE_SYNC || !s->in_msg)
		return;
	s->ts = s->last_ts ? s->last_ts : ts;
	if (s->probe_left)
		http_probe_as_body(c, s, ts);
	if (s->fast_left) {
		http_fail_current(c, s, NOTE_EOF);   /* a Content-Length body cut short */
		return;
	}
	/* EOF ends a close-delimited body; anything else is cut short */
	if (http_feed_eof(s)) {
		http_finish_current(c, s);
		return;
	}
	http_fail_current(c, s, NOTE_EOF);
}

static void conn_close(struct hconn *c, uint64_t ts)
{
	if (c->h2c)
		http_h2c_close(c, ts);   /* held bytes: HTTP/1's are parsed first */
	end_side(c, &c->side[PL_DIR_TO_CLIENT], ts);
	end_side(c, &c->side[PL_DIR_TO_SERVER], ts);
	http_txn_flush(c, 0);
	if (c->h2c || c->hold_lost)
		http_h2c_drop(c);
	for (int d = 0; d < 2; d++) {
		http_release_msg(c, c->side[d].cur);
		c->side[d].cur = NULL;
		c->side[d].mode = MODE_DEAD;
	}
}

/* --- the protocol's entry points --- */

/* A connection handed to HTTP/2 (http_h2c.c) goes there whole: see pktlog/http2.h. */
static void http_data(void *state, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct hstub *b = state;
	struct hconn *c;

	if (__builtin_expect(b->http2, 0)) {
		pl_http2_data(b->h2, dir, p, n, ts);
		return;
	}
	if (!(c = http_conn_get(b, dir)))
		return;
	conn_data(c, dir, p, n, ts);
}

static void http_gap(void *state, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	struct hstub *b = state;
	struct hconn *c;

	if (b->http2) {
		pl_http2_gap(b->h2, dir, len, ts);
		return;
	}
	if (!(c = http_conn_get(b, dir)))
		return;
	http_conn_gap(c, dir, len, ts);
}

/* Quiet for a while (the flow layer calls this after a second of packet time without
 * data): time out what waits, and hand the state back if nothing is left in it. */
static void http_idle(void *state, uint64_t now)
{
	struct hstub *b = state;

	if (b->http2) {
		pl_http2_idle(b->h2, now);
		return;
	}
	if (!b->c)
		return;
	http_expire(b->c, now);
	if (http_conn_idle(b->c))
		http_conn_put(b->c);
}

static void http_close(void *state, enum pl_close_reason why, uint64_t ts)
{
	struct hstub *b = state;

	if (b->http2) {
		pl_http2_close(b->h2, why, ts);
		b->h2 = NULL;
		b->http2 = false;
		return;
	}
	if (!b->c)
		return;
	conn_close(b->c, ts);
	http_conn_put(b->c);
}

/* The flow entry holds only the stub: a connection without bytes costs nothing more. */
static size_t http_state_size(const struct pl_config *cfg)
{
	return sizeof(struct hstub);
}

static int http_init(void *state, const struct pl_conn *conn, const struct pl_proto_env *env)
{
	struct hstub *b = state;

	b->conn = conn;
	b->env = env;
	return 0;
}

static void http_thread_cleanup(void)
{
	http_mem_trim();
}

const struct pl_proto_ops pl_http_ops = {
	.thread_cleanup = http_thread_cleanup,
	.name = "http",
	.state_size = http_state_size,
	.init = http_init,
	.data = http_data,
	.gap = http_gap,
	.idle = http_idle,
	.close = http_close,
};
