/* flow.h – the TCP connection table and per-direction stream reassembly.
 *
 * Owns: connection lookup by 5-tuple (both directions in one entry), client/server
 * roles, sequence tracking, the out-of-order buffer, gap/close signals, idle expiry in
 * packet time, and the memory bounds (flows.max_flows, flows.stream_buffer_bytes).
 * Across directions it keeps TCP's causal order: data whose ACK covers bytes of the other
 * direction not yet delivered is held (within those bounds) until they are.
 * Hands in-order bytes to the protocol chosen by the server port (proto.h). Knows no
 * application protocol. Single-threaded: one table per capture worker. */
#ifndef PKTLOG_FLOW_H
#define PKTLOG_FLOW_H

#include "pktlog/decode.h"
#include "pktlog/proto.h"

struct pl_flow_table;

/* Create a table; cfg and env must outlive it. Returns NULL on ENOMEM.
 * With cfg->fast_paths (tuning.fast_paths, default true) pl_flow_packet() hands the common
 * segment (established stream, no SYN, nothing cut, nothing buffered, empty or exactly
 * next in sequence) straight to the protocol; false sends every segment through the
 * general reassembly (differential tests compare the two). Read once, here. */
struct pl_flow_table *pl_flow_table_new(const struct pl_config *cfg, const struct pl_proto_env *env);

/* Hand every connection on a configured port to `ops` instead of the protocol the port
 * names (unit tests and fuzzers use it). Call before the first packet. */
void pl_flow_table_set_proto(struct pl_flow_table *t, const struct pl_proto_ops *ops);

/* Process one decoded segment (pkt->ts_ns set). Packet time only moves forward: a
 * timestamp older than the newest seen is treated as the newest. */
void pl_flow_packet(struct pl_flow_table *t, const struct pl_packet *pkt);

/* End of input: deliver what is buffered (holes become gaps) and close every flow with
 * PL_CLOSE_END. The table stays usable. */
void pl_flow_flush(struct pl_flow_table *t);

/* Flush, then free the table and the protocols' per-thread caches; call it on the thread
 * that used the table. NULL is fine. */
void pl_flow_table_free(struct pl_flow_table *t);

#endif
