/* stats.h – pktlog's counters.
 *
 * One struct pl_stats per pipeline (per capture thread once there are several); each
 * stage increments plain fields of its own thread's copy, and readers sum copies.
 * Incrementing is a plain add: nothing on the hot path locks or allocates. */
#ifndef PKTLOG_STATS_H
#define PKTLOG_STATS_H

#include <stdio.h>
#include "pktlog/common.h"
#include "pktlog/decode.h"

struct pl_stats {
	/* capture */
	uint64_t packets;             /* frames read */
	uint64_t bytes;               /* captured bytes of those frames */
	uint64_t kernel_drops;        /* pcap_stats ps_drop (live) */
	uint64_t decode[PL_DEC__COUNT]; /* frames by pl_decode result; [PL_DEC_OK] = TCP segments */

	/* flows */
	uint64_t flows_active;        /* gauge */
	uint64_t flows_created;
	uint64_t flows_midstream;     /* picked up without seeing the SYN */
	uint64_t flows_closed;        /* FIN/RST */
	uint64_t flows_expired;       /* idle timeout, packet time */
	uint64_t flows_evicted;       /* flows.max_flows reached: least recently active went */
	uint64_t flows_ignored;       /* segments of connections on no configured port */
	uint64_t tcp_retrans_bytes;   /* bytes already delivered, trimmed */
	uint64_t tcp_ooo_segments;    /* segments buffered out of order */
	uint64_t tcp_ooo_bytes_buffered; /* gauge */
	uint64_t tcp_ooo_overflow;    /* times the per-stream buffer cap forced a gap */
	uint64_t tcp_gaps;            /* gaps reported to protocols */
	uint64_t tcp_gap_bytes;
	uint64_t tcp_snaplen_cut;     /* segments whose payload the snap length cut (reported as gap) */

	/* protocols */
	uint64_t http_requests;
	uint64_t http_responses;
	uint64_t http_transactions_ok;
	uint64_t http_transactions_error;
	uint64_t http_unmatched_requests;
	uint64_t http_unmatched_responses;
	uint64_t http_parse_errors;   /* header parse failures (stream resynchronised) */
	uint64_t http_resyncs;
	uint64_t http_pending_dropped;/* protocols.http.max_pending_requests reached */
	uint64_t mysql_requests;
	uint64_t mysql_responses;
	uint64_t mysql_transactions_ok;
	uint64_t mysql_transactions_error;
	uint64_t mysql_unmatched_requests;
	uint64_t mysql_unmatched_responses;
	uint64_t mysql_parse_errors;
	uint64_t mysql_resyncs;
	uint64_t mysql_tls_skipped;   /* connections that switched to TLS */
	uint64_t mysql_compressed_skipped; /* connections that negotiated compression */
	uint64_t mysql_statements_evicted; /* prepared statements forgotten (max_statements) */
	uint64_t http_memory_limited; /* protocols.http.max_memory_mb reached: kept bytes refused */
	uint64_t http_truncated;      /* URL, kept header bytes or header count cut to their caps */

	/* events and output */
	uint64_t events;              /* rendered */
	uint64_t events_truncated;    /* an event larger than the render buffer was cut */
	uint64_t output_written;
	uint64_t output_errors;
};

/* Add every counter of src into dst (gauges too). */
void pl_stats_add(struct pl_stats *dst, const struct pl_stats *src);

/* Write a one-paragraph human summary (used at exit with -v). */
void pl_stats_summary(const struct pl_stats *st, FILE *f);

#endif
