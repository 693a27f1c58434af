/* proto.h – the interface between the flow layer and an application protocol.
 *
 * Contract (flows → proto): per connection and direction the protocol receives in-order
 * bytes (data), holes it will never see (gap), and one close. It never sees sequence
 * numbers, retransmissions or overlaps. It reports finished transactions through
 * env->emit as struct pl_event. The flow layer owns `state` (state_size bytes, zeroed
 * before init); the protocol owns whatever it allocates and must release it in close. */
#ifndef PKTLOG_PROTO_H
#define PKTLOG_PROTO_H

#include "pktlog/common.h"
#include "pktlog/config.h"
#include "pktlog/event.h"
#include "pktlog/stats.h"

enum pl_dir { PL_DIR_TO_SERVER = 0, PL_DIR_TO_CLIENT = 1 };

enum pl_close_reason {
	PL_CLOSE_FIN = 0,       /* both sides finished (or one finished and the flow ended) */
	PL_CLOSE_RST,
	PL_CLOSE_TIMEOUT,       /* idle in packet time beyond flows.idle_timeout */
	PL_CLOSE_EVICTED,       /* flows.max_flows reached */
	PL_CLOSE_END,           /* end of input (end of the last replayed file, or shutdown) */
};

/* What a protocol knows about its connection; owned by the flow, valid until close returns. */
struct pl_conn {
	uint8_t af;
	uint8_t client_ip[16], server_ip[16];
	uint16_t client_port, server_port;
	char community_id[PL_COMMUNITY_ID_LEN];
};

struct pl_proto_env {
	const struct pl_config *cfg;
	struct pl_stats *stats;
	void (*emit)(const struct pl_event *ev, void *arg);
	void *emit_arg;
};

struct pl_proto_ops {
	const char *name;
	/* Bytes of per-connection state the flow layer reserves for this protocol. */
	size_t (*state_size)(const struct pl_config *cfg);
	/* Start a connection. Returns 0, or -1 when no memory (the flow is then ignored). */
	int (*init)(void *state, const struct pl_conn *conn, const struct pl_proto_env *env);
	/* In-order bytes of one direction; p is valid only during the call. */
	void (*data)(void *state, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts_ns);
	/* `len` bytes of direction `dir` are lost at this point of the stream. */
	void (*gap)(void *state, enum pl_dir dir, uint64_t len, uint64_t ts_ns);
	/* Packet time advanced with no data on this connection; expire what has waited
	 * longer than the protocol's transaction timeout. Optional (may be NULL). */
	void (*idle)(void *state, uint64_t now_ns);
	/* Connection over: emit what is pending (e.g. unmatched requests), free everything. */
	void (*close)(void *state, enum pl_close_reason why, uint64_t ts_ns);
	/* Free what the protocol caches per thread (record free lists). Called by
	 * pl_flow_table_free on the thread that owned the table. Optional. */
	void (*thread_cleanup)(void);
};

extern const struct pl_proto_ops pl_http_ops;
extern const struct pl_proto_ops pl_mysql_ops;
extern const struct pl_proto_ops pl_tls_ops;
extern const struct pl_proto_ops pl_http2_ops;

#endif
