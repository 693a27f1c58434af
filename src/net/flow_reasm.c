/* flow_reasm.c – per-direction TCP stream reassembly of a flow (the table is flow.c):
 * sequence tracking, retransmissions, the out-of-order buffer within
 * flows.stream_buffer_bytes per direction and flows.max_buffer_mb per table, gaps (holes
 * given up, snap-length cuts, the missing tail before a FIN) and the rules that give a hole
 * up (buffer full, acknowledged by the peer, end of the flow), and the hold of a segment
 * whose ACK covers peer bytes not yet delivered (cross-direction order, below). Hands
 * in-order bytes and gaps to the flow's protocol. Must not look inside payloads or use the wall clock.
 *
 * Sequence arithmetic is RFC 1982 serial-number arithmetic modulo 2^32, on unsigned
 * numbers only (seq_after/seq_before/seq_dist): positions are compared with the next
 * expected sequence number of their direction. */
#include <stdlib.h>
#include <string.h>
#include "flow_int.h"

/* A jump larger than this is a new stream on a reused tuple, not loss or reordering. */
#define PL_SEQ_RESYNC_WINDOW (1u << 30)

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

void reasm_drop_ooo(struct pl_flow_table *t, struct stream *s)
{
	while (s->ooo) {
		struct seg *g = s->ooo;
		s->ooo = g->next;
		seg_free(t, s, g);
	}
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

void reasm_segment(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
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
		reasm_drop_ooo(t, s);
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
	reasm_segment(t, f, dir, &again);
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
void reasm_give_up_acked(struct pl_flow_table *t, struct flow *f, enum pl_dir dir, uint32_t ack)
{
	struct stream *s = &f->st[dir];

	while (s->ooo && seq_after(ack, s->ooo->seq))
		skip_to_first_ooo(t, f, dir);
}

/* The flow ends with bytes held behind holes: deliver both directions' held segments in the
 * order they were captured, so the protocol sees requests and responses as they were sent
 * (not all of one direction first, which would pair a response with a later request). */
void reasm_finish_held(struct pl_flow_table *t, struct flow *f)
{
	for (;;) {
		const struct seg *a = f->st[PL_DIR_TO_SERVER].ooo, *b = f->st[PL_DIR_TO_CLIENT].ooo;

		if (!a && !b)
			return;
		give_up_first(t, f, !b || (a && a->ts <= b->ts) ? PL_DIR_TO_SERVER : PL_DIR_TO_CLIENT);
	}
}

/* Deliver everything still buffered, holes as gaps, and the missing tail before a FIN. */
void reasm_finish(struct pl_flow_table *t, struct flow *f, enum pl_dir dir)
{
	struct stream *s = &f->st[dir];

	while (s->ooo)
		skip_to_first_ooo(t, f, dir);
	if (s->fin && seq_after(s->fin_seq, s->next_seq))
		deliver_gap(t, f, dir, s->fin_seq - s->next_seq);
}

/* --- holding a segment until the peer bytes it acknowledges ---------------------------- *
 * TCP tells causal order across the two directions: a segment whose ACK covers bytes of the
 * other direction was sent after those bytes arrived. When the capture shows it before them
 * (a relay or capture point that reordered the two directions), it is held, with every later
 * data segment of its direction, and handed to reassembly once the peer's bytes up to its ACK
 * have been delivered; or earlier, in order, when the peer shows those bytes will never come
 * (a later peer segment starts beyond them), when the budget of the direction's buffers is
 * reached, or when the flow ends. Packet time only. */

/* The first sequence number the peer has not delivered: next_seq, past its FIN when every
 * byte before the FIN is delivered (a FIN occupies one sequence number). */
static uint32_t delivered_edge(const struct stream *o)
{
	return o->next_seq + (o->fin && o->fin_seq == o->next_seq);
}

/* `ack` covers bytes of the peer stream o that it has not delivered (o's position known). */
bool reasm_ack_ahead(const struct stream *o, uint32_t ack)
{
	uint32_t edge = delivered_edge(o);

	return o->started && seq_after(ack, edge) && ack - edge <= PL_SEQ_RESYNC_WINDOW;
}

static void held_unlink(struct pl_flow_table *t, struct flow *f, struct stream *s, struct seg *g)
{
	f->n_held--;
	s->held = g->next;
	if (!s->held)
		s->held_last = NULL;
	s->held_bytes -= g->len;
	t->held_bytes -= g->len;
}

void reasm_drop_held(struct pl_flow_table *t, struct flow *f, struct stream *s)
{
	while (s->held) {
		struct seg *g = s->held;
		held_unlink(t, f, s, g);
		free(g);
	}
}

/* The peer's bytes before `ack` will never come: deliver what it holds below `ack` (behind
 * holes), then the rest up to `ack` (its FIN at most) as a gap. What it holds from `ack` on
 * stays held (the caller drains it after the segment that waited). */
static void give_up_peer_below(struct pl_flow_table *t, struct flow *f, enum pl_dir odir,
			       uint32_t ack)
{
	struct stream *o = &f->st[odir];
	uint32_t end = o->fin && seq_after(ack, o->fin_seq) ? o->fin_seq : ack;

	while (o->ooo && seq_before(o->ooo->seq, end))
		skip_to_first_ooo(t, f, odir);
	if (seq_after(end, o->next_seq))
		deliver_gap(t, f, odir, end - o->next_seq);
}

/* Hand the first held segment of `dir` to reassembly. Forced (the peer's bytes it
 * acknowledges not all delivered): the peer's captured bytes below its ACK go first, and
 * it is delivered at its own capture time. */
static void release_first(struct pl_flow_table *t, struct flow *f, enum pl_dir dir, bool forced)
{
	struct stream *s = &f->st[dir];
	struct seg *g = s->held;
	uint64_t now = t->now_ns;
	struct pl_packet p;

	held_unlink(t, f, s, g);
	if (forced) {
		t->stats->tcp_ack_hold_forced++;
		if (f->st[!dir].ooo)
			reasm_give_up_acked(t, f, !dir, g->ack);
		t->now_ns = PL_MIN(g->ts, now);   /* reassembly stamps deliveries with now_ns */
	}
	memset(&p, 0, sizeof(p));
	p.tcp_flags = PL_TCP_ACK;
	p.seq = g->seq;
	p.ack = g->ack;
	p.payload = g->data;
	p.payload_len = g->len;
	p.payload_wire_len = g->len + g->lost;
	reasm_segment(t, f, dir, &p);
	t->now_ns = now;
	free(g);
}

/* The first held segment of `dir` cannot wait any longer (the budget): the peer bytes it
 * acknowledges are taken as lost, as a hole is when the out-of-order buffer fills. It goes,
 * then those bytes become a gap: what is held behind it need not wait for them either, and
 * the direction stops holding instead of copying every later segment. */
static void release_lost(struct pl_flow_table *t, struct flow *f, enum pl_dir dir)
{
	uint32_t ack = f->st[dir].held->ack;

	t->stats->tcp_ooo_overflow++;
	release_first(t, f, dir, true);
	if (reasm_ack_ahead(&f->st[!dir], ack)) {
		give_up_peer_below(t, f, !dir, ack);
		drain_ooo(t, f, !dir, true);
	}
}

/* Hold a data segment of `dir` (its ACK is ahead of the peer, or its direction already
 * holds). Within the direction's budget: held plus out-of-order bytes at most
 * flows.stream_buffer_bytes, and the table's at most flows.max_buffer_mb; the oldest held
 * segments are released to make room (release_lost). Returns false when it cannot be held; then
 * nothing of `dir` is held any more and the caller processes it now. */
bool reasm_hold(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
		const struct pl_packet *pkt)
{
	struct stream *s = &f->st[dir];
	uint32_t len = pkt->payload_len;
	uint32_t lost = pkt->payload_wire_len > len ? pkt->payload_wire_len - len : 0;
	uint64_t cap = t->cfg->flows.stream_buffer_bytes;
	uint64_t table_cap = (uint64_t)t->cfg->flows.max_buffer_mb << 20;
	struct seg *g = NULL;

	for (;;) {
		bool fits = (uint64_t)s->held_bytes + s->ooo_bytes + len <= cap &&
			    t->stats->tcp_ooo_bytes_buffered + t->held_bytes + len <= table_cap;
		if (fits && (g = seg_new(pkt->seq, pkt->payload, len, lost)))
			break;
		if (!s->held)
			return false;
		release_lost(t, f, dir);
	}
	g->ack = pkt->ack;
	g->ts = t->now_ns;
	if (s->held_last)
		s->held_last->next = g;
	else
		s->held = g;
	s->held_last = g;
	f->n_held++;
	s->held_bytes += len;
	t->held_bytes += len;
	t->stats->tcp_ack_holds++;
	return true;
}

/* Around a segment of the peer (`peer`; NULL after it): release the held segments of `dir`
 * whose ACK the peer's delivered bytes reach. When the peer segment starts at or beyond a
 * held segment's ACK, the peer bytes before that ACK will never come: the held segments
 * acknowledging only bytes before the peer segment go first, then those bytes become a
 * gap, then the peer segment. (The gap after them, as when a pure
 * ACK gives a hole up: a protocol reads a response that came with nothing asked, followed
 * by a hole in the requests, as the answer to a request lost in that hole.) */
void reasm_release_held(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
			const struct pl_packet *peer)
{
	struct stream *s = &f->st[dir];
	struct stream *o = &f->st[!dir];
	bool beyond_ok = peer && (peer->payload_wire_len || (peer->tcp_flags & PL_TCP_FIN));

	while (s->held) {
		uint32_t ack = s->held->ack;

		if (!reasm_ack_ahead(o, ack)) {
			release_first(t, f, dir, false);
			continue;
		}
		if (!beyond_ok || seq_before(peer->seq, ack))
			return;
		/* every held segment acknowledging only bytes before the peer segment goes */
		uint32_t upto = ack;
		while (s->held && !seq_after(s->held->ack, peer->seq)) {
			if (seq_after(s->held->ack, upto))
				upto = s->held->ack;
			release_first(t, f, dir, reasm_ack_ahead(o, s->held->ack));
		}
		give_up_peer_below(t, f, !dir, upto);
		drain_ooo(t, f, !dir, true);
	}
}

/* The flow ends: release everything held, in order. */
void reasm_release_all(struct pl_flow_table *t, struct flow *f)
{
	for (int d = 0; d < 2; d++)
		while (f->st[d].held)
			release_first(t, f, (enum pl_dir)d, reasm_ack_ahead(&f->st[!d], f->st[d].held->ack));
}
