/* flow.c – TCP connection table and per-direction stream reassembly.
 *
 * Owns the 5-tuple table (both directions in one entry), client/server roles, sequence
 * tracking, the out-of-order buffer, gap and close signals, idle expiry in packet time,
 * and the memory bounds. Hands in-order bytes to the protocol chosen by the server port.
 * Must not: look inside payloads, use the wall clock, or grow beyond flows.max_flows
 * entries and flows.stream_buffer_bytes of buffered segments per direction.
 *
 * Sequence arithmetic is RFC 1982 serial-number arithmetic modulo 2^32, on unsigned
 * numbers only (seq_after/seq_before/seq_dist): positions are compared with the next
 * expected sequence number of their direction. */
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "pktlog/flow.h"

/* How long a closed connection's entry lingers (TCP's TIME_WAIT, 2 MSL on Linux) to
 * swallow late retransmissions and duplicated frames, so they don't start a bogus
 * mid-stream connection. Lingering entries are the first to go when the table is full. */
#define PL_FLOW_LINGER_NS (60 * PL_NS_PER_SEC)
/* How far from the LRU tail to look for a lingering entry before evicting a live one. */
#define PL_FLOW_EVICT_SCAN 16
/* Packet-time granularity of the expiry sweep. */
#define PL_FLOW_SWEEP_NS (PL_NS_PER_SEC)
/* A jump larger than this is a new stream on a reused tuple, not loss or reordering. */
#define PL_SEQ_RESYNC_WINDOW (1u << 30)

struct seg {
	struct seg *next;
	uint32_t seq;       /* first byte */
	uint32_t len;       /* bytes present in data[] */
	uint32_t lost;      /* bytes after data[] that the snap length cut: delivered as a gap */
	uint64_t ts;        /* capture time of the packet that brought it */
	uint8_t data[];
};

struct stream {
	bool started;       /* next_seq is valid */
	bool fin;           /* FIN seen; fin_seq is valid */
	bool syn;           /* SYN seen; isn is valid */
	uint32_t isn;       /* initial sequence number, to tell a duplicate SYN from a new connection */
	uint32_t next_seq;  /* next byte to deliver */
	uint32_t fin_seq;   /* sequence number of the FIN */
	uint32_t ooo_bytes; /* bytes held in ooo */
	struct seg *ooo;    /* sorted by seq, non-overlapping, all after next_seq */
};

struct flow_key {
	uint8_t a_ip[16], b_ip[16]; /* a is the smaller (ip, port) endpoint */
	uint16_t a_port, b_port;
	uint8_t af;
	uint8_t pad[3];
};

struct flow {
	struct flow *hnext;              /* hash chain */
	struct flow *lru_prev, *lru_next;/* most recent at head */
	struct flow_key key;
	uint64_t hash;
	uint64_t last_ns;
	bool closed;                     /* protocol closed; entry lingers */
	bool client_is_a;                /* the client is key endpoint a */
	const struct pl_proto_ops *ops;
	struct pl_conn conn;
	struct stream st[2];             /* indexed by enum pl_dir */
	_Alignas(16) uint8_t proto_state[];
};

struct pl_flow_table {
	const struct pl_config *cfg;
	const struct pl_proto_env *env;
	struct pl_stats *stats;
	struct flow **buckets;
	uint64_t mask;
	uint64_t seed[6];                /* per-table random keys of key_hash() */
	struct flow *lru_head, *lru_tail;
	uint32_t n_flows;
	struct flow *free_list;          /* recycled entries: no malloc in the steady state */
	uint32_t n_free;
	size_t flow_size;
	const struct pl_proto_ops *override;
	uint64_t now_ns;
	uint64_t next_sweep_ns;
};

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

/* --- out-of-order buffer ------------------------------------------------------------- */

/* RFC 1982 serial-number arithmetic on 32-bit sequence numbers, unsigned throughout (no
 * signed overflow, no abs(INT_MIN)). a is after b when 0 < a - b < 2^31; two numbers
 * exactly 2^31 apart are neither before nor after each other. */
#define SEQ_HALF 0x80000000u

static bool seq_after(uint32_t a, uint32_t b)
{
	uint32_t d = a - b;

	return d != 0 && d < SEQ_HALF;
}

static bool seq_before(uint32_t a, uint32_t b)
{
	return seq_after(b, a);
}

/* How far apart a and b are, whichever comes first (at most 2^31). */
static uint32_t seq_dist(uint32_t a, uint32_t b)
{
	uint32_t d = a - b;

	return d <= SEQ_HALF ? d : b - a;
}

/* a - b as a signed 64-bit offset (b's neighbourhood: -2^31 .. 2^31 - 1). */
static int64_t seq_offset(uint32_t a, uint32_t b)
{
	uint32_t d = a - b;

	return d < SEQ_HALF ? (int64_t)d : -(int64_t)(b - a);
}

static void seg_free(struct pl_flow_table *t, struct stream *s, struct seg *g)
{
	s->ooo_bytes -= g->len;
	t->stats->tcp_ooo_bytes_buffered -= g->len;
	free(g);
}

static void stream_drop_ooo(struct pl_flow_table *t, struct stream *s)
{
	while (s->ooo) {
		struct seg *g = s->ooo;
		s->ooo = g->next;
		seg_free(t, s, g);
	}
}

static void deliver_gap(struct pl_flow_table *t, struct flow *f, enum pl_dir dir, uint32_t len)
{
	if (!len)
		return;
	f->st[dir].next_seq += len;
	t->stats->tcp_gaps++;
	t->stats->tcp_gap_bytes += len;
	if (f->ops && !f->closed)
		f->ops->gap(f->proto_state, dir, len, t->now_ns);
}

static void deliver_data_at(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
			    const uint8_t *p, uint32_t len, uint64_t ts)
{
	if (!len)
		return;
	f->st[dir].next_seq += len;
	if (f->ops && !f->closed)
		f->ops->data(f->proto_state, dir, p, len, ts);
}

static void deliver_data(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
			 const uint8_t *p, uint32_t len)
{
	deliver_data_at(t, f, dir, p, len, t->now_ns);
}

/* Deliver buffered segments that have become contiguous with next_seq: at the time of
 * the packet that filled the hole, or, when the hole was given up (nothing came before
 * them now), at their own capture times, so the protocol sees when they were sent. */
static void drain_ooo(struct pl_flow_table *t, struct flow *f, enum pl_dir dir, bool given_up)
{
	struct stream *s = &f->st[dir];
	uint64_t ts = 0;

	while (s->ooo) {
		struct seg *g = s->ooo;

		if (seq_after(g->seq, s->next_seq))
			return;
		s->ooo = g->next;
		uint32_t skip = s->next_seq - g->seq;
		ts = given_up ? PL_MAX(ts, PL_MIN(g->ts, t->now_ns)) : t->now_ns;
		if (skip < g->len) {
			deliver_data_at(t, f, dir, g->data + skip, g->len - skip, ts);
			deliver_gap(t, f, dir, g->lost);
		} else if (skip < g->len + g->lost) {
			deliver_gap(t, f, dir, g->len + g->lost - skip);
		}
		seg_free(t, s, g);
	}
}

/* Give up waiting for the hole before the first buffered segment. */
static void skip_to_first_ooo(struct pl_flow_table *t, struct flow *f, enum pl_dir dir)
{
	struct stream *s = &f->st[dir];

	if (!s->ooo)
		return;
	if (seq_after(s->ooo->seq, s->next_seq))
		deliver_gap(t, f, dir, s->ooo->seq - s->next_seq);
	drain_ooo(t, f, dir, true);
}

static struct seg *seg_new(uint32_t seq, const uint8_t *p, uint32_t len, uint32_t lost)
{
	struct seg *g = malloc(sizeof(*g) + len);

	if (!g)
		return NULL;
	g->next = NULL;
	g->seq = seq;
	g->len = len;
	g->lost = lost;
	memcpy(g->data, p, len);
	return g;
}

/* Insert [seq, seq+len) into the sorted buffer, keeping only the bytes not already held
 * (the first copy of a byte wins). A snap-length loss rides on the last piece. */
static void ooo_insert(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
		       uint32_t seq, const uint8_t *p, uint32_t len, uint32_t lost)
{
	struct stream *s = &f->st[dir];
	struct seg **link = &s->ooo;
	uint32_t cur = 0;            /* offset into the new segment */
	uint32_t end = len + lost;

	t->stats->tcp_ooo_segments++;
	while (cur < end) {
		struct seg *next = *link;
		uint32_t piece_end = end;

		if (next) {
			int64_t a = seq_offset(next->seq, seq);
			int64_t b = a + (int64_t)next->len + next->lost;
			if (b <= (int64_t)cur) {       /* wholly before what is left */
				link = &next->next;
				continue;
			}
			if (a <= (int64_t)cur) {       /* overlaps our front: skip its bytes */
				cur = (uint32_t)b;
				link = &next->next;
				continue;
			}
			if ((uint32_t)a < piece_end)
				piece_end = (uint32_t)a;
		}
		uint32_t dlen = cur < len ? PL_MIN(len, piece_end) - cur : 0;
		uint32_t dlost = piece_end - cur - dlen;
		struct seg *g = seg_new(seq + cur, p + cur, dlen, dlost);
		if (!g)
			return;     /* becomes a gap when the hole is given up */
		g->ts = t->now_ns;
		g->next = next;
		*link = g;
		link = &g->next;
		s->ooo_bytes += dlen;
		t->stats->tcp_ooo_bytes_buffered += dlen;
		cur = piece_end;
	}
}

/* --- segments ------------------------------------------------------------------------ */

static void stream_segment(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
			   const struct pl_packet *pkt)
{
	struct stream *s = &f->st[dir];
	uint32_t seq = pkt->seq;
	uint32_t len = pkt->payload_len;
	uint32_t lost = pkt->payload_wire_len > len ? pkt->payload_wire_len - len : 0;
	const uint8_t *p = pkt->payload;

	if (pkt->tcp_flags & PL_TCP_SYN) {
		s->syn = true;
		s->isn = seq;
		if (!s->started || seq_after(seq + 1, s->next_seq) ||
		    seq_dist(seq + 1, s->next_seq) > PL_SEQ_RESYNC_WINDOW) {
			s->next_seq = seq + 1;
			s->started = true;
		}
		seq++;       /* the SYN occupies one sequence number */
	} else if (!s->started) {
		s->next_seq = seq;
		s->started = true;
	}
	if (lost)
		t->stats->tcp_snaplen_cut++;
	if (len + lost == 0)
		return;

	if (seq_dist(seq, s->next_seq) > PL_SEQ_RESYNC_WINDOW) {
		/* Not this stream's neighbourhood: a reused tuple or a wild segment. */
		stream_drop_ooo(t, s);
		s->next_seq = seq;
	}
	uint32_t total = len + lost;
	if (seq_before(seq, s->next_seq)) {
		uint32_t old = s->next_seq - seq;
		if (old >= total) {
			t->stats->tcp_retrans_bytes += total;
			return;
		}
		t->stats->tcp_retrans_bytes += old;
		if (old < len) {
			p += old;
			len -= old;
		} else {
			lost -= old - len;
			len = 0;
		}
		seq = s->next_seq;
	}
	if (seq == s->next_seq) {
		deliver_data(t, f, dir, p, len);
		deliver_gap(t, f, dir, lost);
		if (s->ooo)
			drain_ooo(t, f, dir, false);
		return;
	}
	/* Out of order: hold it, within the per-stream and the per-table budgets. */
	uint32_t cap = t->cfg->flows.stream_buffer_bytes;
	uint64_t table_cap = (uint64_t)t->cfg->flows.max_buffer_mb << 20;
	while (s->ooo && (s->ooo_bytes + len > cap ||
			  t->stats->tcp_ooo_bytes_buffered + len > table_cap)) {
		t->stats->tcp_ooo_overflow++;
		skip_to_first_ooo(t, f, dir);
	}
	bool ahead = seq_after(seq, s->next_seq);
	if (ahead && len <= cap && t->stats->tcp_ooo_bytes_buffered + len <= table_cap) {
		ooo_insert(t, f, dir, seq, p, len, lost);
		return;
	}
	if (ahead) {
		/* Larger than the whole budget: the hole before it is given up now. */
		t->stats->tcp_ooo_overflow++;
		deliver_gap(t, f, dir, seq - s->next_seq);
	}
	/* The buffer drain moved next_seq onto or past this segment: retry as in-order. */
	struct pl_packet again = *pkt;
	again.tcp_flags &= (uint8_t)~PL_TCP_SYN;
	again.seq = seq;
	again.payload = p;
	again.payload_len = len;
	again.payload_wire_len = len + lost;
	stream_segment(t, f, dir, &again);
}

/* Give up the hole before a direction's first held segment and deliver that segment alone,
 * at its own capture time. */
static void give_up_first(struct pl_flow_table *t, struct flow *f, enum pl_dir dir)
{
	struct stream *s = &f->st[dir];
	struct seg *g = s->ooo;

	if (seq_after(g->seq, s->next_seq))
		deliver_gap(t, f, dir, g->seq - s->next_seq);
	s->ooo = g->next;
	uint32_t skip = s->next_seq - g->seq;
	if (skip < g->len) {
		deliver_data_at(t, f, dir, g->data + skip, g->len - skip, PL_MIN(g->ts, t->now_ns));
		deliver_gap(t, f, dir, g->lost);
	} else if (skip < g->len + g->lost) {
		deliver_gap(t, f, dir, g->len + g->lost - skip);
	}
	seg_free(t, s, g);
}

/* The peer acknowledges bytes of this direction past a hole the capture never filled: it
 * received them, so nothing will fill it. Give up the holes before held segments that
 * start below `ack`, so the bytes held behind them reach the protocol in their place in
 * time (not when the buffer fills or the connection ends). */
static void give_up_acked(struct pl_flow_table *t, struct flow *f, enum pl_dir dir, uint32_t ack)
{
	struct stream *s = &f->st[dir];

	while (s->ooo && seq_after(ack, s->ooo->seq))
		skip_to_first_ooo(t, f, dir);
}

/* The flow ends with bytes held behind holes: deliver both directions' held segments in the
 * order they were captured, so the protocol sees requests and responses as they were sent
 * (not all of one direction first, which would pair a response with a later request). */
static void finish_held(struct pl_flow_table *t, struct flow *f)
{
	for (;;) {
		const struct seg *a = f->st[PL_DIR_TO_SERVER].ooo, *b = f->st[PL_DIR_TO_CLIENT].ooo;

		if (!a && !b)
			return;
		give_up_first(t, f, !b || (a && a->ts <= b->ts) ? PL_DIR_TO_SERVER : PL_DIR_TO_CLIENT);
	}
}

/* Deliver everything still buffered, holes as gaps, and the missing tail before a FIN. */
static void stream_finish(struct pl_flow_table *t, struct flow *f, enum pl_dir dir)
{
	struct stream *s = &f->st[dir];

	while (s->ooo)
		skip_to_first_ooo(t, f, dir);
	if (s->fin && seq_after(s->fin_seq, s->next_seq))
		deliver_gap(t, f, dir, s->fin_seq - s->next_seq);
}

/* --- flow lifecycle ------------------------------------------------------------------ */

/* Protocol by server port; NULL when the port is not configured. */
static const struct pl_proto_ops *proto_for_port(const struct pl_flow_table *t, uint16_t port)
{
	const struct pl_config *cfg = t->cfg;

	if (cfg->http2.enabled && pl_port_list_has(&cfg->http2.ports, port))
		return t->override ? t->override : &pl_http2_ops;
	if (cfg->http.enabled && pl_port_list_has(&cfg->http.ports, port))
		return t->override ? t->override : &pl_http_ops;
	if (cfg->mysql.enabled && pl_port_list_has(&cfg->mysql.ports, port))
		return t->override ? t->override : &pl_mysql_ops;
	if (cfg->tls.enabled && pl_port_list_has(&cfg->tls.ports, port))
		return t->override ? t->override : &pl_tls_ops;
	return NULL;
}

static void flow_close(struct pl_flow_table *t, struct flow *f, enum pl_close_reason why)
{
	if (f->closed)
		return;
	finish_held(t, f);
	stream_finish(t, f, PL_DIR_TO_SERVER);
	stream_finish(t, f, PL_DIR_TO_CLIENT);
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
	stream_drop_ooo(t, &f->st[0]);
	stream_drop_ooo(t, &f->st[1]);
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

bool pl_flow_fast_path = true;

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

	if (f->st[odir].ooo && (pkt->tcp_flags & PL_TCP_ACK))
		give_up_acked(t, f, odir, pkt->ack);

	/* The common segment on an established stream: no SYN, nothing cut by the snap
	 * length, nothing buffered, and either no payload or exactly the next bytes.
	 * stream_segment() would do just this for it; anything else goes there. */
	if (pl_flow_fast_path && !(pkt->tcp_flags & PL_TCP_SYN) && s->started && !s->ooo &&
	    pkt->payload_wire_len == pkt->payload_len &&
	    (pkt->payload_len == 0 || pkt->seq == s->next_seq)) {
		deliver_data(t, f, dir, pkt->payload, pkt->payload_len);
	} else {
		stream_segment(t, f, dir, pkt);
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
	t->env = env;
	t->stats = env->stats;
	uint64_t seed;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)t;
	for (size_t i = 0; i < PL_ARRAY_LEN(t->seed); i++)
		t->seed[i] = mix64(seed + (i + 1) * 0x9e3779b97f4a7c15ULL);

	size_t state = PL_MAX(pl_http_ops.state_size(cfg), pl_mysql_ops.state_size(cfg));
	state = PL_MAX(state, pl_tls_ops.state_size(cfg));
	state = PL_MAX(state, pl_http2_ops.state_size(cfg));
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
	if (pl_http_ops.thread_cleanup)
		pl_http_ops.thread_cleanup();
	if (pl_mysql_ops.thread_cleanup)
		pl_mysql_ops.thread_cleanup();
	if (pl_tls_ops.thread_cleanup)
		pl_tls_ops.thread_cleanup();
	pl_http2_ops.thread_cleanup();
}
