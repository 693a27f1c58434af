/* tls_event.c – the memory of TLS handshakes and the event each one becomes: a connection's
 * handshake state is taken on its first byte from a per-thread pool (allocated only when the
 * pool is empty) and given back when its event is emitted; it and the kept message bodies
 * are counted against protocols.tls.max_memory_mb per capture thread. */
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include "tls_int.h"

static _Thread_local size_t mem_used; /* bytes of struct hs and kept messages, this thread */

static size_t mem_cap(const struct tconn *c)
{
	return (size_t)c->env->cfg->tls.max_memory_mb << 20;
}

/* Handshake states of finished handshakes, kept for the next ones with their message
 * buffers up to POOL_BUF_MAX bytes: in steady state a handshake allocates nothing here.
 * Pooled states stay counted in mem_used. */
#define POOL_MAX 32
#define POOL_BUF_MAX 16384
static _Thread_local struct hs *pool[POOL_MAX];
static _Thread_local int pool_n;

static void hs_free(struct hs *h)
{
	for (int d = 0; d < 2; d++) {
		mem_used -= h->side[d].cap;
		free(h->side[d].buf);
	}
	mem_used -= sizeof(*h);
	free(h);
}

void tls_release(struct tconn *c)
{
	struct hs *h = c->hs;

	if (!h)
		return;
	c->hs = NULL;
	if (pool_n == POOL_MAX) {
		hs_free(h);
		return;
	}
	for (int d = 0; d < 2; d++)
		if (h->side[d].cap > POOL_BUF_MAX) {
			mem_used -= h->side[d].cap;
			free(h->side[d].buf);
			h->side[d].buf = NULL;
			h->side[d].cap = 0;
		}
	pool[pool_n++] = h;
}

/* A zeroed state whose side buffers (if any) are kept. */
static struct hs *hs_take(void)
{
	struct hs *h = pool[--pool_n];
	uint8_t *buf[2] = { h->side[0].buf, h->side[1].buf };
	uint32_t cap[2] = { h->side[0].cap, h->side[1].cap };

	memset(h, 0, offsetof(struct hs, arena));   /* the arena is written before it is read */
	for (int d = 0; d < 2; d++) {
		h->side[d].buf = buf[d];
		h->side[d].cap = cap[d];
	}
	return h;
}

void tls_emit(struct tconn *c, uint64_t ts)
{
	struct hs *h = c->hs;
	struct pl_event ev;
	struct pl_stats *st = c->env->stats;

	c->over = true;
	if (!h->ch_seen) {
		tls_release(c);
		return;
	}
	pl_event_begin(&ev, PL_EV_TLS, c->conn);
	ev.client.bytes = h->side[PL_DIR_TO_SERVER].bytes;
	ev.server.bytes = h->side[PL_DIR_TO_CLIENT].bytes;
	ev.start_ns = h->start_ns;
	ev.end_ns = h->end_ns;
	if (!h->ev.established && !h->alerted)
		note(h, "Handshake not completed");
	if (h->truncated) {
		note(h, "Handshake fields cut at their caps");
		st->tls_truncated++;
	}
	for (int i = 0; i < h->n_notes; i++)
		pl_event_add_error(&ev, h->notes[i]);
	ev.ok = h->ev.established && !h->alerted && !h->gap;
	ev.tls = h->ev;
	st->tls_handshakes++;
	if (h->ev.established)
		st->tls_established++;
	if (h->ev.resumed)
		st->tls_resumed++;
	c->env->emit(&ev, c->env->emit_arg);
	tls_release(c);
}

/* The handshake state of a connection that has none yet (conn_hs in tls.c checks that);
 * NULL when the connection is ignored. */
struct hs *tls_hs_new(struct tconn *c)
{
	if (pool_n) {
		c->hs = hs_take();
		return c->hs;
	}
	if (mem_used + sizeof(struct hs) > mem_cap(c)) {
		c->env->stats->tls_memory_limited++;
		c->env->stats->proto_state_dropped++;
		c->over = true;
		return NULL;
	}
	c->hs = calloc(1, sizeof(struct hs));
	if (!c->hs) {
		c->env->stats->proto_state_dropped++;
		c->over = true;
		return NULL;
	}
	mem_used += sizeof(struct hs);
	return c->hs;
}

/* Make room for a message body of len bytes (at most max_handshake_bytes kept). */
bool tls_msg_room(struct tconn *c, struct side *s, uint32_t len)
{
	uint32_t want = PL_MIN(len, c->env->cfg->tls.max_handshake_bytes);
	uint8_t *b;

	if (want <= s->cap)
		return true;
	if (mem_used + (want - s->cap) > mem_cap(c)) {
		c->env->stats->tls_memory_limited++;
		return false;
	}
	b = realloc(s->buf, want);
	if (!b)
		return false;
	mem_used += want - s->cap;
	s->buf = b;
	s->cap = want;
	return true;
}

void tls_thread_cleanup(void)
{
	while (pool_n)
		hs_free(pool[--pool_n]);
}
