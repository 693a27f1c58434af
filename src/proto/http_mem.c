/* http_mem.c – HTTP memory: records and connection states, their per-thread free lists and
 * LRU, and the protocols.http.max_memory_mb budget (the idlest states handed back or
 * dropped to make room). Must not: parse, pair or emit, beyond asking http_txn.c to empty
 * a state it drops. */
#include <stdlib.h>
#include <string.h>
#include "http_int.h"

/* --- per thread: one flow table per capture worker --- */

static _Thread_local struct hmsg *free_head;
static _Thread_local uint32_t free_n;
static _Thread_local struct hconn *cfree_head;   /* chained by lru_next */
static _Thread_local uint32_t cfree_n;
/* Live connection states, most recently active first: the tail is dropped first. */
static _Thread_local struct hconn *lru_head, *lru_tail;
/* Bytes this thread holds for HTTP: connection states, records, their header slots and
 * buffers, live or on the free lists; bounded by protocols.http.max_memory_mb. */
static _Thread_local uint64_t mem_bytes;

static size_t msg_bytes(const struct hmsg *m)
{
	return sizeof(*m) + m->cap + m->hdr_cap * sizeof(struct kept_hdr);
}

static void msg_free(struct hmsg *m)
{
	mem_bytes -= msg_bytes(m);
	free(m->buf);
	free(m->hdr);
	free(m);
}

static bool mem_reserve(const struct pl_proto_env *env, const struct hconn *self, size_t need,
			bool kept);

/* A cleared record: from the free list, or new within the budget (NULL when refused). */
struct hmsg *http_msg_get(struct hconn *c)
{
	struct hmsg *m = free_head;

	if (!m) {
		if (!mem_reserve(c->env, c, sizeof(*m), false)) {
			c->env->stats->http_memory_limited++;
			return NULL;
		}
		m = calloc(1, sizeof(*m));
		if (m)
			mem_bytes += sizeof(*m);
		return m;
	}
	free_head = PL_TXQ_ENTRY(m->link.next, struct hmsg, link);
	free_n--;
	memset(m, 0, offsetof(struct hmsg, buf));
	m->len = 0;
	return m;
}

void http_msg_put(struct hmsg *m)
{
	if (!m)
		return;
	if (free_n >= HTTP_FREELIST_MAX) {
		msg_free(m);
		return;
	}
	m->link.next = free_head ? &free_head->link : NULL;
	free_head = m;
	free_n++;
}

/* Append up to len bytes within the message's keep cap; returns bytes kept. */
uint32_t http_msg_append(struct hconn *c, struct hmsg *m, const char *p, size_t len)
{
	uint32_t room = c->keep_cap > m->len ? c->keep_cap - m->len : 0;
	uint32_t n = len < room ? (uint32_t)len : room;

	if (n < len && !m->truncated) {
		m->truncated = true;
		c->env->stats->http_truncated++;
	}
	if (n == 0)
		return 0;
	if (m->len + n > m->cap) {
		uint32_t ncap = m->cap ? m->cap : HTTP_BUF_INIT;
		char *nb;

		while (ncap < m->len + n)
			ncap *= 2;
		if (!mem_reserve(c->env, c, ncap - m->cap, true)) {
			c->env->stats->http_memory_limited++;
			if (!m->truncated) {
				m->truncated = true;
				c->env->stats->http_truncated++;
			}
			return 0;
		}
		nb = realloc(m->buf, ncap);
		if (!nb)
			return 0;
		mem_bytes += ncap - m->cap;
		m->buf = nb;
		m->cap = ncap;
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	return n;
}

/* One more kept header slot: the record's slots double (from HTTP_HDR_INIT) within the
 * budget. False, marked and counted, when refused. */
bool http_hdr_grow(struct hconn *c, struct hmsg *m)
{
	uint32_t ncap = m->hdr_cap ? PL_MIN(m->hdr_cap * 2, (uint32_t)PL_EVENT_MAX_HEADERS)
				   : HTTP_HDR_INIT;
	size_t more = (ncap - m->hdr_cap) * sizeof(struct kept_hdr);
	struct kept_hdr *nh;

	if (!mem_reserve(c->env, c, more, true) ||
	    !(nh = realloc(m->hdr, ncap * sizeof(struct kept_hdr)))) {
		c->env->stats->http_memory_limited++;
		if (!m->truncated) {
			m->truncated = true;
			c->env->stats->http_truncated++;
		}
		return false;
	}
	mem_bytes += more;
	m->hdr = nh;
	m->hdr_cap = ncap;
	return true;
}

/* --- connection states: allocated while needed, within protocols.http.max_memory_mb --- */

static void lru_unlink(struct hconn *c)
{
	if (c->lru_prev)
		c->lru_prev->lru_next = c->lru_next;
	else
		lru_head = c->lru_next;
	if (c->lru_next)
		c->lru_next->lru_prev = c->lru_prev;
	else
		lru_tail = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void lru_push(struct hconn *c)
{
	c->lru_prev = NULL;
	c->lru_next = lru_head;
	if (lru_head)
		lru_head->lru_prev = c;
	lru_head = c;
	if (!lru_tail)
		lru_tail = c;
}

static inline void lru_touch(struct hconn *c)
{
	if (lru_head == c)
		return;
	lru_unlink(c);
	lru_push(c);
}

static uint8_t side_rest(const struct hside *s)
{
	return (uint8_t)(s->mode | (s->first ? 0 : REST_SEEN) | (s->line_start ? 0 : REST_MIDLINE) |
			 (s->after_gap ? REST_AFTER_GAP : 0) | (s->unsure ? REST_UNSURE : 0));
}

/* Nothing but parser positions at message boundaries: the state can go and come back
 * exactly as it was. */
bool http_conn_idle(const struct hconn *c)
{
	if (pend_head(c) || orph_head(c) || c->pend.late || c->interim_bytes || c->h2c ||
	    c->hold_lost)
		return false;
	for (int d = 0; d < 2; d++) {
		const struct hside *s = &c->side[d];

		if (s->cur || s->in_msg || s->fast_left || s->acc)
			return false;
		if (s->mode == MODE_SYNC && !s->fresh)
			return false;
		if (s->mode == MODE_HUNT && s->npfx)
			return false;
	}
	return true;
}

/* Hand a state that holds nothing back: its stub remembers where each side resumes. */
void http_conn_put(struct hconn *c)
{
	struct hstub *b = c->stub;

	for (int d = 0; d < 2; d++)
		b->rest[d] = side_rest(&c->side[d]);
	b->c = NULL;
	lru_unlink(c);
	if (cfree_n >= HTTP_FREELIST_MAX) {
		mem_bytes -= sizeof(*c);
		free(c);
		return;
	}
	c->lru_next = cfree_head;
	cfree_head = c;
	cfree_n++;
}

void http_mem_trim(void)
{
	while (free_head) {
		struct hmsg *m = free_head;

		free_head = PL_TXQ_ENTRY(m->link.next, struct hmsg, link);
		msg_free(m);
	}
	free_n = 0;
	while (cfree_head) {
		struct hconn *c = cfree_head;

		cfree_head = c->lru_next;
		mem_bytes -= sizeof(*c);
		free(c);
	}
	cfree_n = 0;
}

/* Room for `need` more bytes within protocols.http.max_memory_mb, made if needed by
 * handing back the idlest connections' states (never self's). Kept bytes (buffers, header
 * slots) may use 7/8 of the budget, so records and states always find room for what they
 * report. */
static bool mem_reserve(const struct pl_proto_env *env, const struct hconn *self, size_t need,
			bool kept)
{
	uint64_t lim = (uint64_t)env->cfg->http.max_memory_mb << 20;

	if (kept)
		lim -= lim / 8;
	if (mem_bytes + need <= lim)
		return true;
	http_mem_trim();
	for (uint32_t i = 0; i < HTTP_EVICT_SCAN && mem_bytes + need > lim; i++) {
		struct hconn *v = lru_tail;

		if (v && v == self)
			v = v->lru_prev;

		if (!v)
			break;
		if (!http_conn_idle(v))
			http_conn_drop(v);
		http_conn_put(v);
		http_mem_trim();
	}
	return mem_bytes + need <= lim;
}

bool http_mem_hold(struct hconn *c, long delta)
{
	if (delta < 0) {
		mem_bytes -= (uint64_t)-delta;
		return true;
	}
	if (!mem_reserve(c->env, c, (size_t)delta, true))
		return false;
	mem_bytes += (uint64_t)delta;
	return true;
}

/* The stub's state made (or remade where the stub says) when bytes arrive; NULL when the
 * budget or malloc refuses it: the side's bytes are then lost, counted once. */
static struct hconn *stub_conn(struct hstub *b, enum pl_dir dir)
{
	struct hconn *c = cfree_head;

	if (c) {
		cfree_head = c->lru_next;
		cfree_n--;
	} else if (mem_reserve(b->env, NULL, sizeof(*c), false) && (c = malloc(sizeof(*c)))) {
		mem_bytes += sizeof(*c);
	} else {
		if (!b->refused)
			b->env->stats->proto_state_dropped++;
		b->refused = true;
		if ((b->rest[dir] & 3) != MODE_DEAD)
			b->rest[dir] = MODE_HUNT | REST_SEEN | REST_MIDLINE;
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	b->refused = false;
	b->c = c;
	c->stub = b;
	c->conn = b->conn;
	c->env = b->env;
	c->keep_cap = PL_MIN(HTTP_KEEP_MAX, b->env->cfg->http.max_message_size);
	c->req_gap = true;   /* the capture may begin mid-connection: known whole at the first request */
	for (int d = 0; d < 2; d++) {
		struct hside *s = &c->side[d];

		s->c = c;
		s->dir = d;
		s->mode = b->rest[d] & 3;
		s->first = !(b->rest[d] & REST_SEEN);
		s->line_start = !(b->rest[d] & REST_MIDLINE);
		s->after_gap = b->rest[d] & REST_AFTER_GAP;
		s->unsure = b->rest[d] & REST_UNSURE;
		http_side_reset(c, s);
	}
	lru_push(c);
	return c;
}

struct hconn *http_conn_get(struct hstub *b, enum pl_dir dir)
{
	struct hconn *c = b->c ? b->c : stub_conn(b, dir);

	if (c)
		lru_touch(c);
	return c;
}
