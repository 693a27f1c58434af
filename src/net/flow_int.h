/* flow_int.h – what the flow table's two files share (src/net/flow*.c): the segment, stream,
 * key, flow and table records, delivery of in-order bytes and gaps to the protocol (static
 * inline: the per-packet fast path in flow.c calls it per segment), and the reassembly
 * functions flow.c calls. Internal: nothing outside src/net/flow*.c includes it (the face
 * is pktlog/flow.h).
 *
 * Who owns what:
 *   flow.c        the connection table: hashing, lookup, LRU, create / evict / expiry,
 *                 client and server roles, close, the pl_flow_* API and its fast path
 *   flow_reasm.c  per-direction stream reassembly: sequence arithmetic, segments,
 *                 the out-of-order buffer, gaps and the give-up rules */
#ifndef PKTLOG_NET_FLOW_INT_H
#define PKTLOG_NET_FLOW_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "pktlog/flow.h"
#include "pktlog/registry.h"

struct seg {
	struct seg *next;
	uint32_t seq;       /* first byte */
	uint32_t len;       /* bytes present in data[] */
	uint32_t lost;      /* bytes after data[] that the snap length cut: delivered as a gap */
	uint32_t ack;       /* held segments (stream.held): the acknowledgement it carried */
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
	/* Data segments held in capture order because the first one acknowledges bytes of the
	 * other direction not yet delivered (it was sent after them): flow_reasm.c's hold. At
	 * most one direction of a flow holds at a time. */
	struct seg *held, *held_last;
	uint32_t held_bytes;
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
	uint32_t n_held;                 /* segments held in st[].held (one test per packet) */
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
	bool fast_path;                  /* cfg->fast_paths (tuning.fast_paths) */
	uint64_t now_ns;
	uint64_t next_sweep_ns;
	uint64_t held_bytes;             /* all streams' held bytes (within flows.max_buffer_mb) */
};

static inline void deliver_gap(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
			       uint32_t len)
{
	if (!len)
		return;
	f->st[dir].next_seq += len;
	t->stats->tcp_gaps++;
	t->stats->tcp_gap_bytes += len;
	if (f->ops && !f->closed)
		f->ops->gap(f->proto_state, dir, len, t->now_ns);
}

static inline void deliver_data_at(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
				   const uint8_t *p, uint32_t len, uint64_t ts)
{
	if (!len)
		return;
	f->st[dir].next_seq += len;
	if (f->ops && !f->closed)
		f->ops->data(f->proto_state, dir, p, len, ts);
}

static inline void deliver_data(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
				const uint8_t *p, uint32_t len)
{
	deliver_data_at(t, f, dir, p, len, t->now_ns);
}

/* flow_reasm.c */
void reasm_segment(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
		   const struct pl_packet *pkt);
void reasm_give_up_acked(struct pl_flow_table *t, struct flow *f, enum pl_dir dir, uint32_t ack);
void reasm_finish_held(struct pl_flow_table *t, struct flow *f);
void reasm_finish(struct pl_flow_table *t, struct flow *f, enum pl_dir dir);
void reasm_drop_ooo(struct pl_flow_table *t, struct stream *s);
bool reasm_ack_ahead(const struct stream *o, uint32_t ack);
bool reasm_hold(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
		const struct pl_packet *pkt);
void reasm_release_held(struct pl_flow_table *t, struct flow *f, enum pl_dir dir,
			const struct pl_packet *peer);
void reasm_release_all(struct pl_flow_table *t, struct flow *f);
void reasm_drop_held(struct pl_flow_table *t, struct flow *f, struct stream *s);

#endif
