/* flow.c – the TCP connection table (per-direction stream reassembly is flow_reasm.c).
 *
 * Owns the 5-tuple table (both directions in one entry): hashing, lookup, the LRU,
 * client/server roles, creation, eviction, close signals, idle expiry in packet time, and
 * the bound of flows.max_flows entries; the per-packet entry pl_flow_packet() with its fast
 * path for in-order segments. Hands in-order bytes to the protocol chosen by the server
 * port (the protocol registry's port lookup; no protocol is named here).
 * Must not: look inside payloads, use the wall clock, or grow beyond flows.max_flows
 * entries. Shared records: flow_int.h. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "flow_int.h"

/* How long a closed connection's entry lingers (TCP's TIME_WAIT, 2 MSL on Linux) to
 * swallow late retransmissions and duplicated frames, so they don't start a bogus
 * mid-stream connection. Lingering entries are the first to go when the table is full. */
#define PL_FLOW_LINGER_NS (60 * PL_NS_PER_SEC)
/* How far from the LRU tail to look for a lingering entry before evicting a live one. */
#define PL_FLOW_EVICT_SCAN 16
/* Packet-time granularity of the expiry sweep. */
#define PL_FLOW_SWEEP_NS (PL_NS_PER_SEC)

/* --- hashing ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

#define KEY_WORDS 5
_Static_assert(sizeof(struct flow_key) == sizeof(uint64_t) * KEY_WORDS, "flow_key has no tail");

static inline uint64_t key_word(const struct flow_key *k, int i)
{
	uint64_t w;

	memcpy(&w, (const uint8_t *)k + i * sizeof(w), sizeof(w));
	return w;
}

/* Multiply two words to 128 bits and fold the halves: every input bit reaches the high
 * half, so the result's low (bucket) bits depend on all of both words. */
static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 m = (unsigned __int128)a * b;

	return (uint64_t)m ^ (uint64_t)(m >> 64);
#else
	return mix64(a ^ mix64(b));
#endif
}

/* Keyed with the table's random seed words, so bucket collisions can't be planned
 * from outside: one multiply per pair of key words and one to finish. */
static inline uint64_t key_hash(const struct flow_key *k, const uint64_t *seed)
{
	uint64_t h = fold_mul(key_word(k, 0) ^ seed[0], key_word(k, 1) ^ seed[1]) ^
		     fold_mul(key_word(k, 2) ^ seed[2], key_word(k, 3) ^ seed[3]);
	return fold_mul(h ^ seed[5], key_word(k, 4) ^ seed[4]);
}

static inline bool key_equal(const struct flow_key *x, const struct flow_key *y)
{
	return ((key_word(x, 0) ^ key_word(y, 0)) | (key_word(x, 1) ^ key_word(y, 1)) |
		(key_word(x, 2) ^ key_word(y, 2)) | (key_word(x, 3) ^ key_word(y, 3)) |
		(key_word(x, 4) ^ key_word(y, 4))) == 0;
}

/* memcmp(x, y, 16) < 0, == 0 or > 0 as -1, 0, 1, on two big-endian 64-bit halves. */
static inline int addr_cmp(const uint8_t *x, const uint8_t *y)
{
	uint64_t a[2], b[2];

	memcpy(a, x, sizeof(a));
	memcpy(b, y, sizeof(b));
	for (int i = 0; i < 2; i++) {
		uint64_t u = be64toh(a[i]), v = be64toh(b[i]);

		if (u != v)
			return u < v ? -1 : 1;
	}
	return 0;
}

/* Order the endpoints so both directions give the same key; *src_is_a says which. */
static inline void make_key(const struct pl_packet *p, struct flow_key *k, bool *src_is_a)
{
	int c = addr_cmp(p->src, p->dst);

	memset(k, 0, sizeof(*k));
	k->af = p->af;
	*src_is_a = c < 0 || (c == 0 && p->sport <= p->dport);
	if (*src_is_a) {
		memcpy(k->a_ip, p->src, 16);
		memcpy(k->b_ip, p->dst, 16);
		k->a_port = p->sport;
		k->b_port = p->dport;
	} else {
		memcpy(k->a_ip, p->dst, 16);
		memcpy(k->b_ip, p->src, 16);
		k->a_port = p->dport;
		k->b_port = p->sport;
	}
}

/* --- LRU ---------------------------------------------------------------------------- */

static void lru_unlink(struct pl_flow_table *t, struct flow *f)
{
	if (f->lru_prev)
		f->lru_prev->lru_next = f->lru_next;
	else
		t->lru_head = f->lru_next;
	if (f->lru_next)
		f->lru_next->lru_prev = f->lru_prev;
	else
		t->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = NULL;
}

static void lru_push_head(struct pl_flow_table *t, struct flow *f)
{
	f->lru_prev = NULL;
	f->lru_next = t->lru_head;
	if (t->lru_head)
		t->lru_head->lru_prev = f;
	t->lru_head = f;
	if (!t->lru_tail)
		t->lru_tail = f;
}

static void touch(struct pl_flow_table *t, struct flow *f)
{
	f->last_ns = t->now_ns;
	if (t->lru_head == f)
		return;
	lru_unlink(t, f);
	lru_push_head(t, f);
}

/* --- flow lifecycle ------------------------------------------------------------------ */

/* Protocol by server port (the registry's port lookup, src/net/ports.c); NULL when the
 * port is not configured. */
static const struct pl_proto_ops *proto_for_port(const struct pl_flow_table *t, uint16_t port)
{
	const struct pl_proto_desc *p = pl_proto_for_port(t->cfg, port);

	if (!p)
		return NULL;
	return t->override ? t->override : p->ops;
}

static void flow_close(struct pl_flow_table *t, struct flow *f, enum pl_close_reason why)
{
	if (f->closed)
		return;
	reasm_release_all(t, f);
	reasm_finish_held(t, f);
	reasm_finish(t, f, PL_DIR_TO_SERVER);
	reasm_finish(t, f, PL_DIR_TO_CLIENT);
	f->closed = true;
	if (f->ops)
		f->ops->close(f->proto_state, why, t->now_ns);
	switch (why) {
	case PL_CLOSE_FIN:
	case PL_CLOSE_RST:
		t->stats->flows_closed++;
		break;
	case PL_CLOSE_TIMEOUT:
		t->stats->flows_expired++;
		break;
	case PL_CLOSE_EVICTED:
		t->stats->flows_evicted++;
		break;
	case PL_CLOSE_END:
		break;
	}
}

static void flow_remove(struct pl_flow_table *t, struct flow *f)
{
	struct flow **pp = &t->buckets[f->hash & t->mask];

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	lru_unlink(t, f);
	reasm_drop_ooo(t, &f->st[0]);
	reasm_drop_ooo(t, &f->st[1]);
	reasm_drop_held(t, f, &f->st[0]);
	reasm_drop_held(t, f, &f->st[1]);
	t->n_flows--;
	t->stats->flows_active--;
	/* Keep a bounded number of entries for reuse; the rest go back to the allocator. */
	if (t->n_free < 1024 + t->n_flows / 4) {
		f->hnext = t->free_list;
		t->free_list = f;
		t->n_free++;
	} else {
		free(f);
	}
}

static struct flow *flow_alloc(struct pl_flow_table *t)
{
	struct flow *f = t->free_list;

	if (f) {
		t->free_list = f->hnext;
		t->n_free--;
	} else {
		f = malloc(t->flow_size);
		if (!f)
			return NULL;
	}
	memset(f, 0, t->flow_size);
	return f;
}

/* Which side serves: the SYN's receiver, else the SYN-ACK's sender, else the side
 * whose port has a protocol (the lower port when both have). */
static bool src_is_server(const struct pl_flow_table *t, const struct pl_packet *p)
{
	uint8_t synack = p->tcp_flags & (PL_TCP_SYN | PL_TCP_ACK);

	if (synack == PL_TCP_SYN)
		return false;
	if (synack == (PL_TCP_SYN | PL_TCP_ACK))
		return true;
	bool s = proto_for_port(t, p->sport) != NULL;
	bool d = proto_for_port(t, p->dport) != NULL;
	if (s && d)
		return p->sport < p->dport;
	return s;
}

/* Make room: a closed, lingering entry near the LRU tail if there is one, else the
 * least recently active connection (counted as evicted). */
static void evict_one(struct pl_flow_table *t)
{
	struct flow *f = t->lru_tail;

	for (int i = 0; f && i < PL_FLOW_EVICT_SCAN; i++, f = f->lru_prev) {
		if (f->closed) {
			flow_remove(t, f);
			return;
		}
	}
	f = t->lru_tail;
	flow_close(t, f, PL_CLOSE_EVICTED);
	flow_remove(t, f);
}

static struct flow *flow_create(struct pl_flow_table *t, const struct flow_key *k, uint64_t h,
				bool src_is_a, const struct pl_packet *p)
{
	bool server_src = src_is_server(t, p);
	uint16_t sport = server_src ? p->sport : p->dport;
	const struct pl_proto_ops *ops = proto_for_port(t, sport);

	if (!ops) {
		t->stats->flows_ignored++;
		return NULL;
	}
	/* Only a SYN or data starts a connection: stray ACKs/FINs/RSTs don't. */
	if (!(p->tcp_flags & PL_TCP_SYN) && p->payload_wire_len == 0)
		return NULL;
	if (t->n_flows >= t->cfg->flows.max_flows && t->lru_tail)
		evict_one(t);
	struct flow *f = flow_alloc(t);
	if (!f)
		return NULL;
	f->key = *k;
	f->hash = h;
	f->client_is_a = server_src ? !src_is_a : src_is_a;
	f->ops = ops;
	struct pl_conn *c = &f->conn;
	c->af = p->af;
	memcpy(c->client_ip, server_src ? p->dst : p->src, 16);
	memcpy(c->server_ip, server_src ? p->src : p->dst, 16);
	c->client_port = server_src ? p->dport : p->sport;
	c->server_port = sport;
	pl_community_id(p->af, p->src, p->sport, p->dst, p->dport, c->community_id);
	if (ops->init(f->proto_state, c, t->env) != 0) {
		f->ops = NULL;
		f->closed = true;
	}
	f->hnext = t->buckets[h & t->mask];
	t->buckets[h & t->mask] = f;
	f->last_ns = t->now_ns;
	lru_push_head(t, f);
	t->n_flows++;
	t->stats->flows_active++;
	t->stats->flows_created++;
	if (!(p->tcp_flags & PL_TCP_SYN))
		t->stats->flows_midstream++;
	return f;
}

static inline struct flow *flow_lookup(struct pl_flow_table *t, const struct flow_key *k, uint64_t h)
{
	for (struct flow *f = t->buckets[h & t->mask]; f; f = f->hnext)
		if (f->hash == h && key_equal(&f->key, k))
			return f;
	return NULL;
}

/* Walk from the least recently active flow: expire idle ones, let protocols time out
 * transactions, free closed entries whose linger is over. */
static void sweep(struct pl_flow_table *t)
{
	uint64_t idle_to = t->cfg->flows.idle_timeout_ns;
	struct flow *f = t->lru_tail;

	while (f) {
		struct flow *prev = f->lru_prev;
		uint64_t idle = t->now_ns - f->last_ns;

		if (idle < PL_NS_PER_SEC)
			break;      /* everything further up is more recent */
		if (f->closed) {
			if (idle >= PL_FLOW_LINGER_NS)
				flow_remove(t, f);
		} else if (idle >= idle_to) {
			flow_close(t, f, PL_CLOSE_TIMEOUT);
			flow_remove(t, f);
		} else if (f->ops && f->ops->idle) {
			f->ops->idle(f->proto_state, t->now_ns);
		}
		f = prev;
	}
}

/* Whether a segment is held (reasm_hold); false: reassembly takes it now (nothing of its
 * direction is held then). */
static bool hold_it(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
		    const struct pl_packet *pkt)
{
	struct stream *s = &f->st[dir];
	const struct stream *os = &f->st[!dir];

	if (os->held || !pkt->payload_wire_len)
		return false;    /* the peer's bytes the held ones wait for; pure ACK or FIN */
	if (pkt->tcp_flags & PL_TCP_SYN) {
		reasm_release_all(t, f);
		return false;
	}
	if (!s->held && !((pkt->tcp_flags & PL_TCP_ACK) && reasm_ack_ahead(os, pkt->ack)))
		return false;
	return reasm_hold(t, f, dir, pkt);
}

/* A segment on a flow that holds, or whose ACK is ahead of the peer: the peer's held
 * segments it lets go first, then it is held or handed to reassembly. Off the fast path. */
static __attribute__((noinline, cold)) void segment_ack_ordered(struct pl_flow_table *t,
								struct flow *f, enum pl_dir dir,
								const struct pl_packet *pkt)
{
	if (f->st[!dir].held)
		reasm_release_held(t, f, !dir, pkt);
	if (!hold_it(t, f, dir, pkt))
		reasm_segment(t, f, dir, pkt);
}

/* After a segment: release what the delivered bytes (or its ACK's give-up) now allow. */
static __attribute__((noinline, cold)) void release_after(struct pl_flow_table *t,
							  struct flow *f, enum pl_dir dir)
{
	if (f->st[!dir].held)
		reasm_release_held(t, f, !dir, NULL);
	else
		reasm_release_held(t, f, dir, NULL); /* its ACK may have given peer holes up */
}

void pl_flow_packet(struct pl_flow_table *t, const struct pl_packet *pkt)
{
	struct flow_key k;
	bool src_is_a;

	if (pkt->ts_ns > t->now_ns)
		t->now_ns = pkt->ts_ns;
	if (t->now_ns >= t->next_sweep_ns) {
		if (t->next_sweep_ns)
			sweep(t);
		t->next_sweep_ns = t->now_ns + PL_FLOW_SWEEP_NS;
	}
	make_key(pkt, &k, &src_is_a);
	uint64_t h = key_hash(&k, t->seed);
	struct flow *f = flow_lookup(t, &k, h);

	if (f && f->closed && (pkt->tcp_flags & (PL_TCP_SYN | PL_TCP_ACK)) == PL_TCP_SYN &&
	    !(f->st[PL_DIR_TO_SERVER].syn && f->st[PL_DIR_TO_SERVER].isn == pkt->seq)) {
		flow_remove(t, f);     /* the tuple is reused by a new connection */
		f = NULL;
	}
	if (!f) {
		f = flow_create(t, &k, h, src_is_a, pkt);
		if (!f)
			return;
	}
	touch(t, f);
	if (f->closed)
		return;

	enum pl_dir dir = (src_is_a == f->client_is_a) ? PL_DIR_TO_SERVER : PL_DIR_TO_CLIENT;
	struct stream *s = &f->st[dir];
	enum pl_dir odir = dir == PL_DIR_TO_SERVER ? PL_DIR_TO_CLIENT : PL_DIR_TO_SERVER;

	struct stream *os = &f->st[odir];

	if (os->ooo && (pkt->tcp_flags & PL_TCP_ACK))
		reasm_give_up_acked(t, f, odir, pkt->ack);

	/* The common segment on an established stream: no SYN, nothing cut by the snap
	 * length, nothing buffered or held, and either no payload or exactly the next bytes
	 * with an ACK not ahead of the peer. reasm_segment() would do just this for it.
	 * Data whose ACK covers peer bytes not yet delivered was sent after them: it is held
	 * (with what follows it) until they are (segment_ack_ordered, flow_reasm.c); the
	 * test is one subtraction and compare, ack - next_seq in 1 .. 2^31 - 1. */
	uint32_t ahead = pkt->ack - os->next_seq - 1;
	if (t->fast_path && !f->n_held && !(pkt->tcp_flags & PL_TCP_SYN) && s->started &&
	    !s->ooo && pkt->payload_wire_len == pkt->payload_len &&
	    (pkt->payload_len == 0 || (pkt->seq == s->next_seq && ahead >= 0x7fffffffu))) {
		deliver_data(t, f, dir, pkt->payload, pkt->payload_len);
	} else if (f->n_held || (pkt->payload_wire_len && (pkt->tcp_flags & PL_TCP_ACK) &&
				 ahead < 0x7fffffffu)) {
		segment_ack_ordered(t, f, dir, pkt);
	} else {
		reasm_segment(t, f, dir, pkt);
	}

	if (pkt->tcp_flags & PL_TCP_RST) {
		flow_close(t, f, PL_CLOSE_RST);
		return;
	}
	if (pkt->tcp_flags & PL_TCP_FIN) {
		s->fin = true;
		s->fin_seq = pkt->seq + pkt->payload_wire_len + ((pkt->tcp_flags & PL_TCP_SYN) ? 1 : 0);
		if (f->st[!dir].fin)
			flow_close(t, f, PL_CLOSE_FIN);
	}
	if (__builtin_expect(f->n_held != 0, 0) && !f->closed)
		release_after(t, f, dir);
}

void pl_flow_flush(struct pl_flow_table *t)
{
	while (t->lru_tail) {
		struct flow *f = t->lru_tail;
		flow_close(t, f, PL_CLOSE_END);
		flow_remove(t, f);
	}
}

struct pl_flow_table *pl_flow_table_new(const struct pl_config *cfg, const struct pl_proto_env *env)
{
	struct pl_flow_table *t = calloc(1, sizeof(*t));
	uint64_t nb = 1024;

	if (!t)
		return NULL;
	while (nb < cfg->flows.max_flows && nb < (1ULL << 24))
		nb <<= 1;
	t->buckets = calloc(nb, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return NULL;
	}
	t->mask = nb - 1;
	t->cfg = cfg;
	t->fast_path = cfg->fast_paths;
	t->env = env;
	t->stats = env->stats;
	uint64_t seed;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)t;
	for (size_t i = 0; i < PL_ARRAY_LEN(t->seed); i++)
		t->seed[i] = mix64(seed + (i + 1) * 0x9e3779b97f4a7c15ULL);

	size_t state = 0;
	for (size_t i = 0; i < pl_n_protocols; i++)
		state = PL_MAX(state, pl_protocols[i].ops->state_size(cfg));
	t->flow_size = sizeof(struct flow) + ((state + 15) & ~(size_t)15);
	return t;
}

void pl_flow_table_set_proto(struct pl_flow_table *t, const struct pl_proto_ops *ops)
{
	size_t state = ops->state_size(t->cfg);

	t->override = ops;
	if (sizeof(struct flow) + ((state + 15) & ~(size_t)15) > t->flow_size) {
		while (t->free_list) {      /* entries sized for the old protocol */
			struct flow *f = t->free_list;
			t->free_list = f->hnext;
			free(f);
		}
		t->n_free = 0;
		t->flow_size = sizeof(struct flow) + ((state + 15) & ~(size_t)15);
	}
}

void pl_flow_table_free(struct pl_flow_table *t)
{
	if (!t)
		return;
	pl_flow_flush(t);
	while (t->free_list) {
		struct flow *f = t->free_list;
		t->free_list = f->hnext;
		free(f);
	}
	free(t->buckets);
	free(t);
	/* The table was this thread's: so are the protocols' record caches. */
	for (size_t i = 0; i < pl_n_protocols; i++)
		if (pl_protocols[i].ops->thread_cleanup)
			pl_protocols[i].ops->thread_cleanup();
}
