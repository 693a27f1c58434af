/* http_h2c.c – HTTP/1 hands a connection to HTTP/2 (pktlog/http2.h): after `101 Switching
 * Protocols` answers an HTTP/1.1 request with `Upgrade: h2c` (RFC 7540 §3.2), or when the
 * connection's first client bytes are the prior-knowledge preface `PRI * HTTP/2.0…` on a
 * port that is only an HTTP port (§3.4).
 *
 * While an h2c request waits for its answer, the client's later bytes are held (bounded:
 * H2C_HOLD_MAX bytes in H2C_CHUNKS chunks with their packet times; what does not fit is a
 * gap): a 101 replays them to HTTP/2, any other final answer to HTTP/1. The 101's request
 * becomes HTTP/2's stream 1 (no HTTP/1 event for it). With prior knowledge the server may
 * speak first (its SETTINGS, e.g. nghttpd): such first server bytes are held until the
 * client's first bytes say which protocol it is. Once switched, the stub (hstub.http2)
 * sends every later byte, gap, idle tick and the close to pl_http2_*.
 * Must not: slow the ordinary path (it only runs on MODE_SWITCH sides, Upgrade headers and
 * a connection's first client segment starting with 'P'), or hold memory outside
 * protocols.http.max_memory_mb. */
#include <stdlib.h>
#include <string.h>
#include "http_int.h"

#define H2C_HOLD_MAX 16384u
#define H2C_CHUNKS 8u
#define PREFACE_LEN 24u

/* Client bytes held while the switch is undecided: chunks as they came, each with its
 * packet time and the bytes lost just before it. */
struct h2c_hold {
	uint32_t n;
	uint32_t n_ch;
	struct { uint32_t off; uint64_t ts, gap; } ch[H2C_CHUNKS];
	uint8_t b[H2C_HOLD_MAX];
};

/* --- the Upgrade header --- */

/* Scanner states over the value's comma-separated tokens; UP_FOUND once "h2c" was one. */
enum { UP_START = 0, UP_H, UP_H2, UP_H2C, UP_H2C_WS, UP_OTHER, UP_FOUND = 0x80 };

void http_h2c_scan(struct hside *s, const char *at, size_t len)
{
	uint8_t st = s->up_st & 0x7f, found = s->up_st & UP_FOUND;

	for (size_t i = 0; i < len; i++) {
		uint8_t b = (uint8_t)at[i];

		if (b == ',') {
			if (st == UP_H2C || st == UP_H2C_WS)
				found = UP_FOUND;
			st = UP_START;
		} else if (b == ' ' || b == '\t') {
			st = st == UP_H2C ? UP_H2C_WS : st == UP_START || st == UP_H2C_WS ? st : UP_OTHER;
		} else if (st == UP_START && (b | 0x20) == 'h') {
			st = UP_H;
		} else if (st == UP_H && b == '2') {
			st = UP_H2;
		} else if (st == UP_H2 && (b | 0x20) == 'c') {
			st = UP_H2C;
		} else {
			st = UP_OTHER;
		}
	}
	s->up_st = st | found;
}

bool http_h2c_found(uint8_t up_st)
{
	uint8_t st = up_st & 0x7f;

	return (up_st & UP_FOUND) || st == UP_H2C || st == UP_H2C_WS;
}

/* --- the hold --- */

static void hold_free(struct hconn *c)
{
	if (!c->hold)
		return;
	free(c->hold);
	c->hold = NULL;
	http_mem_hold(c, -(long)sizeof(struct h2c_hold));
}

static void drop_hold(struct hconn *c)
{
	hold_free(c);
	c->hold_lost = 0;
	c->h2c = H2C_NONE;
}

static void hold_append(struct hconn *c, const uint8_t *p, size_t n, uint64_t ts)
{
	struct h2c_hold *h = c->hold;
	size_t room, k;

	if (!n)
		return;
	if (!h) {
		if (!http_mem_hold(c, sizeof(*h))) {
			c->env->stats->http_memory_limited++;
			c->hold_lost += n;
			return;
		}
		if (!(h = malloc(sizeof(*h)))) {
			http_mem_hold(c, -(long)sizeof(*h));
			c->env->stats->proto_state_dropped++;
			c->hold_lost += n;
			return;
		}
		h->n = h->n_ch = 0;
		c->hold = h;
	}
	room = H2C_HOLD_MAX - h->n;
	/* a new chunk unless they are all taken (then the last one grows: its time is older
	 * than these bytes'); after a hole only a new chunk can place them */
	if (!room || (c->hold_lost && h->n_ch == H2C_CHUNKS)) {
		c->hold_lost += n;
		return;
	}
	if (h->n_ch < H2C_CHUNKS) {
		h->ch[h->n_ch].off = h->n;
		h->ch[h->n_ch].ts = ts;
		h->ch[h->n_ch].gap = c->hold_lost;
		h->n_ch++;
		c->hold_lost = 0;
	}
	k = PL_MIN(n, room);
	memcpy(h->b + h->n, p, k);
	h->n += (uint32_t)k;
	c->hold_lost += n - k;
}

static uint32_t chunk_end(const struct h2c_hold *h, uint32_t i)
{
	return i + 1 < h->n_ch ? h->ch[i + 1].off : h->n;
}

/* The held bytes go back to HTTP/1 (`dir`: the side that held them), as they came. */
static void replay_http1(struct hconn *c, enum pl_dir dir, uint64_t ts)
{
	struct h2c_hold *h = c->hold;
	uint64_t lost = c->hold_lost;

	c->hold = NULL;
	c->hold_lost = 0;
	c->h2c = H2C_REPLAY;
	for (uint32_t i = 0; h && i < h->n_ch; i++) {
		if (h->ch[i].gap)
			http_conn_gap(c, dir, h->ch[i].gap, h->ch[i].ts);
		http_conn_data(c, dir, h->b + h->ch[i].off, chunk_end(h, i) - h->ch[i].off,
			       h->ch[i].ts);
	}
	if (lost)
		http_conn_gap(c, dir, lost, ts);
	if (c->h2c == H2C_REPLAY)
		c->h2c = H2C_NONE;    /* unless a replayed request asked for h2c in turn */
	if (h) {
		free(h);
		http_mem_hold(c, -(long)sizeof(*h));
	}
}

/* --- the switch --- */

/* HTTP/2 takes the connection: HTTP/1's state goes (what it still holds goes out, as at a
 * close), the stub points at c->h2, then the held bytes (the server's when it spoke first,
 * else the client's) and p[0..n) of `dir` go to HTTP/2. c is gone afterwards. */
static void hand_over(struct hconn *c, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct pl_http2 *h2 = c->h2;
	struct h2c_hold *h = c->hold;
	uint64_t lost = c->hold_lost;
	struct hstub *b = c->stub;
	enum pl_dir hdir = c->h2c == H2C_SERVER_FIRST ? PL_DIR_TO_CLIENT : PL_DIR_TO_SERVER;

	c->h2 = NULL;
	c->hold = NULL;
	c->hold_lost = 0;
	c->h2c = H2C_NONE;
	if (h)
		http_mem_hold(c, -(long)sizeof(*h));
	http_txn_flush(c, 0);
	c->interim_bytes = 0;
	for (int d = 0; d < 2; d++) {
		http_release_msg(c, c->side[d].cur);
		c->side[d].cur = NULL;
		c->side[d].in_msg = c->side[d].in_body = false;
		c->side[d].fast_left = 0;
		c->side[d].acc = 0;
		c->side[d].mode = MODE_DEAD;
	}
	http_conn_put(c);
	if (!h2) {
		/* no memory for HTTP/2: the connection is parsed no further (counted) */
		b->env->stats->proto_state_dropped++;
		free(h);
		return;
	}
	b->h2 = h2;
	b->http2 = true;
	b->env->stats->http_h2c_switched++;
	for (uint32_t i = 0; h && i < h->n_ch; i++) {
		if (h->ch[i].gap)
			pl_http2_gap(h2, hdir, h->ch[i].gap, h->ch[i].ts);
		pl_http2_data(h2, hdir, h->b + h->ch[i].off, chunk_end(h, i) - h->ch[i].off,
			      h->ch[i].ts);
	}
	if (lost)
		pl_http2_gap(h2, hdir, lost, ts);
	free(h);
	if (n)
		pl_http2_data(h2, dir, p, n, ts);
}

/* --- from the parser --- */

void http_h2c_request_done(struct hconn *c, struct hside *s, const struct hmsg *m)
{
	if (c->h2c != H2C_NONE && c->h2c != H2C_REPLAY)
		return;
	if (m->vmaj != 1 || m->vmin != 1 || !m->headers_done || m->notes || m->resp || m->emitted)
		return;
	c->h2c = H2C_HOLD;
	s->mode = MODE_SWITCH;
}

/* Whether a final response answers the h2c request: the oldest one still waiting, or,
 * when that timed out, the last late answer due. */
static bool answers_h2c(const struct hconn *c)
{
	const struct hmsg *r = pend_head(c);

	if (c->pend.late)
		return !r && c->pend.late == 1;
	return r && r->h2c;
}

static void str_of(struct pl_str *dst, const struct hmsg *m, struct span sp, bool has)
{
	*dst = has ? (struct pl_str){ m->buf + sp.off, sp.len } : PL_STR_NULL;
}

bool http_h2c_response_done(struct hconn *c, struct hside *s, struct hmsg *m)
{
	struct pl_http2_upgrade up;
	struct hmsg *req;

	if (m->status >= 100 && m->status < 200 && m->status != 101)
		return false;         /* interim: the final answer decides */
	if (!answers_h2c(c)) {
		if (m->status == 101)
			drop_hold(c);     /* another protocol: both sides stop (finish_response) */
		return false;
	}
	if (m->notes || !m->headers_done) {
		/* the answer is cut: what the client sent meanwhile is unknown ground */
		drop_hold(c);
		c->side[PL_DIR_TO_SERVER].mode = MODE_HUNT;
		c->side[PL_DIR_TO_SERVER].first = false;
		c->side[PL_DIR_TO_SERVER].line_start = false;
		return false;
	}
	s->mode = MODE_SWITCH;
	if (m->status != 101) {
		c->h2c = H2C_NO;      /* refused: the held bytes are HTTP/1's */
		return false;
	}
	c->h2c = H2C_GO;
	c->env->stats->http_responses++;
	req = PL_TXQ_ENTRY(pl_txq_pop(&c->pend), struct hmsg, link);
	if (!req) {
		/* the request timed out and went out unmatched: HTTP/2 starts without it */
		c->pend.late--;
		c->h2 = pl_http2_takeover(c->conn, c->env, NULL, m->end_ns);
		c->interim_bytes = 0;
		http_msg_put(m);
		return true;
	}
	up.method = req->has_method ? (struct pl_str){ http_method_str(req->method),
						       strlen(http_method_str(req->method)) }
				    : PL_STR_NULL;
	str_of(&up.target, req, req->url, true);
	str_of(&up.host, req, req->host, req->has_host);
	str_of(&up.user_agent, req, req->ua, req->has_ua);
	up.request_bytes = req->bytes;
	up.request_body_bytes = req->body_bytes;
	up.response_bytes = m->bytes + c->interim_bytes;
	up.start_ns = req->start_ns;
	c->interim_bytes = 0;
	c->h2 = pl_http2_takeover(c->conn, c->env, &up, m->end_ns);
	http_msg_put(req);
	http_msg_put(m);
	return true;
}

/* Whether p[0..n) can be the server's first HTTP/2 frame: SETTINGS (not an ACK) on stream
 * 0, which a server speaking HTTP/2 with prior knowledge may send before the client's
 * preface is seen. No HTTP/1 response starts so. */
static bool is_server_settings(const uint8_t *p, size_t n)
{
	static const uint8_t z[4];

	return n >= 9 && p[0] == 0 && p[3] == 4 && p[4] == 0 && !memcmp(p + 5, z, 4);
}

/* The server's first bytes, held, were not HTTP/2's: HTTP/1's response side takes them. */
static void server_first_over(struct hconn *c, uint64_t ts)
{
	c->side[PL_DIR_TO_CLIENT].mode = MODE_HUNT;
	replay_http1(c, PL_DIR_TO_CLIENT, ts);
}

static bool client_first(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	bool may = p[0] == 'P' && pl_http2_is_preface(p, PL_MIN(n, PREFACE_LEN));

	if (c->h2c == H2C_SERVER_FIRST) {
		if (may && n >= PREFACE_LEN) {
			c->h2 = pl_http2_takeover(c->conn, c->env, NULL,
						  c->hold ? c->hold->ch[0].ts : ts);
			hand_over(c, PL_DIR_TO_SERVER, p, n, ts);
			return true;
		}
		server_first_over(c, ts);
	}
	if (!may || c->h2c != H2C_NONE)
		return false;
	if (n >= PREFACE_LEN) {
		c->h2 = pl_http2_takeover(c->conn, c->env, NULL, ts);
		hand_over(c, PL_DIR_TO_SERVER, p, n, ts);
		return true;
	}
	/* a first read shorter than the preface: hold it until 24 bytes tell */
	c->h2c = H2C_PREFACE;
	s->mode = MODE_SWITCH;
	hold_append(c, p, n, ts);
	return true;
}

bool http_h2c_first(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	if (!n)
		return false;      /* no bytes say nothing (found by fuzz_http) */
	if (s->dir == PL_DIR_TO_SERVER)
		return client_first(c, s, p, n, ts);
	/* the server first, before any client byte: hold what may be HTTP/2's SETTINGS */
	if (c->h2c != H2C_NONE || !c->side[PL_DIR_TO_SERVER].first ||
	    c->side[PL_DIR_TO_SERVER].npfx || c->side[PL_DIR_TO_SERVER].mode != MODE_HUNT ||
	    !is_server_settings(p, n))
		return false;
	c->h2c = H2C_SERVER_FIRST;
	s->mode = MODE_SWITCH;
	hold_append(c, p, n, ts);
	return true;
}

/* The preface hold ends: HTTP/2 when its 24 bytes are the preface, else HTTP/1 as if
 * nothing had been held. */
static void preface_decide(struct hconn *c, struct hside *s, uint64_t ts)
{
	struct h2c_hold *h = c->hold;

	if (h && !c->hold_lost && h->n < PREFACE_LEN)
		return;
	if (h && h->n >= PREFACE_LEN && h->ch[0].gap == 0 && pl_http2_is_preface(h->b, PREFACE_LEN)) {
		c->h2 = pl_http2_takeover(c->conn, c->env, NULL, h->ch[0].ts);
		hand_over(c, PL_DIR_TO_SERVER, NULL, 0, ts);
		return;
	}
	s->mode = MODE_HUNT;
	replay_http1(c, PL_DIR_TO_SERVER, ts);
}

void http_h2c_resume(struct hconn *c, struct hside *s, const uint8_t *p, size_t n, uint64_t ts)
{
	struct hside *rq = &c->side[PL_DIR_TO_SERVER];

	switch (c->h2c) {
	case H2C_HOLD:
		if (s == rq)
			hold_append(c, p, n, ts);
		return;
	case H2C_PREFACE:
		if (s != rq)
			return;
		hold_append(c, p, n, ts);
		preface_decide(c, s, ts);
		return;
	case H2C_SERVER_FIRST:
		if (s != rq)
			hold_append(c, p, n, ts);
		return;
	case H2C_GO:
		hand_over(c, PL_DIR_TO_CLIENT, p, n, ts);
		return;
	case H2C_NO:
		s->mode = MODE_SYNC;
		rq->mode = MODE_SYNC;
		replay_http1(c, PL_DIR_TO_SERVER, ts);
		http_conn_data(c, PL_DIR_TO_CLIENT, p, n, ts);
		return;
	default:
		return;
	}
}

void http_h2c_gap(struct hconn *c, uint64_t len, uint64_t ts)
{
	if (c->h2c == H2C_PREFACE) {
		c->hold_lost += len;
		preface_decide(c, &c->side[PL_DIR_TO_SERVER], ts);
		return;
	}
	if (c->h2c == H2C_HOLD || c->h2c == H2C_SERVER_FIRST)
		c->hold_lost += len;
}

void http_h2c_close(struct hconn *c, uint64_t ts)
{
	struct hside *rq = &c->side[PL_DIR_TO_SERVER];
	const struct h2c_hold *h = c->hold;
	bool preface = h && h->n && h->ch[0].gap == 0 &&
		       pl_http2_is_preface(h->b, PL_MIN(h->n, PREFACE_LEN));

	if (c->h2c == H2C_SERVER_FIRST) {
		server_first_over(c, ts);
		return;
	}
	if (c->h2c != H2C_HOLD && c->h2c != H2C_PREFACE)
		return;
	rq->mode = c->h2c == H2C_HOLD ? MODE_SYNC : MODE_HUNT;
	/* HTTP/2 after a 101 the capture lacks: not HTTP/1's to parse */
	if (preface) {
		drop_hold(c);
		return;
	}
	replay_http1(c, PL_DIR_TO_SERVER, ts);
}

void http_h2c_drop(struct hconn *c)
{
	drop_hold(c);
	if (c->h2) {
		pl_http2_close(c->h2, PL_CLOSE_END, 0);   /* not reached: the switch ends its call */
		c->h2 = NULL;
	}
	for (int d = 0; d < 2; d++) {
		struct hside *s = &c->side[d];

		if (s->mode == MODE_SWITCH) {
			s->mode = MODE_HUNT;
			s->first = false;
			s->line_start = false;
		}
	}
}
