/* heartbeat.h – the periodic status event log-collector operators expect (Flume and
 * Fluent Bit agents push one a minute): who is talking, what it counted, and how those
 * counts moved since the previous heartbeat. */
#ifndef PKTLOG_HEARTBEAT_H
#define PKTLOG_HEARTBEAT_H

#include "pktlog/stats.h"

struct pl_heartbeat {
	const char *host_name;
	const char *app_id;         /* NULL: no fields.appid */
	bool kafka;                 /* the output is Kafka: its delivery counters are the sends */
	uint64_t interval_ns;
	uint64_t started_ns;        /* wall clock when pktlog started */
	struct pl_stats last;       /* the counters at the previous heartbeat */
	uint64_t last_ns;
	uint64_t seq;
};

/* Render one heartbeat for `now` (wall clock, ns) and `cur` (the summed counters) into
 * buf as one JSON line, then remember cur as the start of the next window.
 * Returns the length, or 0 when it does not fit (nothing is remembered then). */
size_t pl_heartbeat_render(struct pl_heartbeat *hb, const struct pl_stats *cur, uint64_t now,
			   char *buf, size_t cap);

#endif
