/* stats.h – pktlog's counters.
 *
 * One struct pl_stats per pipeline (per capture thread once there are several); each
 * stage increments plain fields of its own thread's copy, and readers sum copies.
 * Incrementing is a plain add: nothing on the hot path locks or allocates. */
#ifndef PKTLOG_STATS_H
#define PKTLOG_STATS_H

#include <stddef.h>
#include <stdio.h>
#include "pktlog/common.h"
#include "pktlog/decode.h"

struct pl_stats {
	/* capture */
	uint64_t packets;             /* frames read */
	uint64_t bytes;               /* captured bytes of those frames */
	uint64_t kernel_drops;        /* pcap_stats ps_drop (live) */
	uint64_t kernel_if_drops;     /* pcap_stats ps_ifdrop: dropped by the interface */
	uint64_t capture_received;    /* pcap_stats ps_recv: frames that passed the kernel filter */
	uint64_t ebpf_packets;        /* kept by the eBPF port filter (all ports; see -v for each) */
	uint64_t ebpf_bytes;
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
	uint64_t tcp_ack_holds;       /* data segments held until the peer bytes they ack */
	uint64_t tcp_ack_hold_forced; /* held segments released before those peer bytes came */
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
	uint64_t http_fast_heads;     /* message heads parsed by pktlog's own fast path, not http-parser */
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
	uint64_t proto_state_dropped; /* connections whose protocol state was dropped: memory bound or no memory */
	uint64_t tls_handshakes;      /* tls events */
	uint64_t tls_established;
	uint64_t tls_resumed;
	uint64_t tls_alerts;          /* handshakes ended by an alert (in clear, or TLS 1.3's encrypted one) */
	uint64_t tls_not_handshake;   /* connections on a TLS port whose handshake start was not seen (mid-stream, not TLS) */
	uint64_t tls_parse_errors;    /* record framing lost, malformed certificates */
	uint64_t tls_gaps;            /* handshakes with packet loss */
	uint64_t tls_truncated;       /* messages or fields cut at protocols.tls caps */
	uint64_t tls_memory_limited;  /* protocols.tls.max_memory_mb reached */
	uint64_t http2_streams;       /* HTTP/2 streams tracked (one event each) */
	uint64_t http2_streams_dropped; /* not tracked: 128 open streams per connection, or memory */
	uint64_t http2_frames;        /* HTTP/2 frame headers read */
	uint64_t http2_parse_errors;  /* preface, framing or HPACK errors (that direction is dropped) */
	uint64_t http2_hpack_lost;    /* directions whose HPACK state a gap made untrustworthy */
	uint64_t http2_gaps;          /* gaps seen by the HTTP/2 parser */
	uint64_t http_h2c_switched;   /* HTTP connections handed to HTTP/2 (101 to Upgrade: h2c, or the preface) */
	uint64_t mysql_tls_sessions;  /* MySQL sessions encrypted: SSLRequest, handed to the TLS parser */

	/* process attribution (src/proc/) */
	uint64_t proc_lookups;        /* events looked up (live capture, process.enabled) */
	uint64_t proc_hits;           /* events given the process of at least one side */
	uint64_t proc_misses;         /* events with no local process found */
	uint64_t proc_fallbacks;      /* lookups that went to the /proc resolver */
	uint64_t proc_scans;          /* full /proc/PID/fd scans the resolver made */
	uint64_t proc_rate_limited;   /* lookups not resolved because process.refresh_interval had not passed */
	uint64_t proc_errors;         /* resolver failures (helper gone, unreadable /proc) */
	uint64_t proc_ebpf;           /* gauge: 1 when the eBPF source is in use, 0 for /proc only */
	uint64_t proc_iter_sockets;   /* connections open at start-up found by the BPF iterator */
	uint64_t proc_ebpf_closes;    /* eBPF map entries stamped closed (TCP_CLOSE) */
	uint64_t proc_ebpf_evicted;   /* eBPF map entries deleted after their close grace */
	uint64_t proc_ebpf_queue_full;/* closes not queued for deletion (queue full): left to the LRU */
	uint64_t proc_ebpf_entries;   /* gauge: entries in the eBPF map (recounted after closes, or every 10 s) */

	/* tailer (src/tail/) */
	uint64_t tail_files_open;     /* gauge: files with an open descriptor */
	uint64_t tail_files_seen;     /* files taken up */
	uint64_t tail_bytes_read;
	uint64_t tail_lines;          /* lines read (before multiline joining) */
	uint64_t tail_records;        /* events published */
	uint64_t tail_records_acked;  /* delivered, offsets advanced */
	uint64_t tail_lines_split;    /* pieces of lines longer than max_line_bytes */
	uint64_t tail_lines_truncated;/* lines cut at max_line_bytes */
	uint64_t tail_rotations;      /* a watched path now names another file (rename rotation) */
	uint64_t tail_truncations;    /* size fell below the read offset (copytruncate): reread from 0 */
	uint64_t tail_deleted;        /* files deleted while open (read to the end, then closed) */
	uint64_t tail_inode_reuse;    /* a stored inode turned out to hold another file */
	uint64_t tail_idle_closed;    /* files closed after tail.close_inactive */
	uint64_t tail_rescans;        /* full rescans (start-up, IN_Q_OVERFLOW) */
	uint64_t tail_paused;         /* times reading stopped for back-pressure */
	uint64_t tail_commits;        /* registry batches committed */
	uint64_t tail_errors;         /* unreadable files, registry or publish failures */
	uint64_t tail_files_waiting;  /* gauge: files that could not be opened (EMFILE, EACCES…), retried */
	uint64_t tail_dir_loops;      /* directory (symlink) loops found under "**", not followed */
	uint64_t tail_scan_limited;   /* directory scans stopped at their work limit */
	uint64_t tail_format_errors;  /* container-format lines not decodable: shipped raw, error.message */
	uint64_t tail_lines_joined;   /* partial pieces (Docker 16 KiB splits, CRI P) joined to a line */
	uint64_t tail_files_compressed; /* gzip files under container inputs: skipped */

	/* events and output */
	uint64_t events;              /* rendered */
	uint64_t events_truncated;    /* an event larger than the render buffer was cut */
	uint64_t output_written;
	uint64_t output_errors;

	/* kafka output and spool */
	uint64_t output_accepted;     /* events handed to the output */
	uint64_t output_inflight;     /* gauge: produced, delivery report not yet served */
	uint64_t output_delivered;    /* delivery reports with success (live and re-sent) */
	uint64_t output_failed;       /* delivery reports with an error (the event then goes to the spool) */
	uint64_t output_retried;      /* records re-sent from the spool */
	uint64_t spool_records;       /* records appended to the spool */
	uint64_t spool_bytes;         /* gauge: bytes in the spool's segment files */
	uint64_t spool_drops;         /* events dropped because the spool was full */
	uint64_t spool_corrupt;       /* corrupt records or torn tails skipped while draining */

	/* delivery accounting: output_accepted = written (console/file) or delivered directly
	 * (output_delivered - spool_delivered) + spool_records + every dropped_* + pending */
	uint64_t output_dropped;      /* console/file: events lost because the output failed */
	uint64_t output_rejected;     /* kafka: events refused for good (too large, invalid) */
	uint64_t spool_drops_error;   /* events dropped because the spool could not write them */
	uint64_t spool_delivered;     /* spooled records delivered (part of output_delivered) */
	uint64_t output_healthy;      /* gauge: 1 writing or delivering, 0 failing */
	/* kafka: refusals no retry can cure (the operator must act), per delivery report */
	uint64_t kafka_err_msg_size;       /* a batch or event above the topic's max.message.bytes */
	uint64_t kafka_err_authorization;  /* pktlog's principal may not write the topic */
	uint64_t kafka_err_invalid_record; /* the topic refuses the records (e.g. compacted, no key) */
	uint64_t kafka_err_unknown_topic;  /* the topic does not exist and auto-creation is off */
	uint64_t kafka_msg_limit;     /* gauge: the topic's max.message.bytes read at start, 0 unknown */
	uint64_t kafka_batch_bytes;   /* gauge: batch.size in use (output.kafka.batch_bytes, clamped) */
};

/* How one counter is exposed: /metrics (pktlog_NAME_total or pktlog_NAME), heartbeats and
 * the -v list all read these rows. Core counters have theirs in metrics.c; each protocol's
 * are in its own file, reached through its registry row (pktlog/registry.h). */
enum pl_stat_kind { PL_STAT_COUNTER = 0, PL_STAT_GAUGE };

struct pl_stat_desc {
	const char *name;        /* the struct pl_stats field, without pktlog_ and _total */
	size_t off;              /* offsetof(struct pl_stats, field) */
	enum pl_stat_kind kind;
	const char *help;        /* Prometheus HELP text */
};

#define PL_STAT_C(field, help) { #field, offsetof(struct pl_stats, field), PL_STAT_COUNTER, help }
#define PL_STAT_G(field, help) { #field, offsetof(struct pl_stats, field), PL_STAT_GAUGE, help }

/* Add every counter of src into dst (gauges too). */
void pl_stats_add(struct pl_stats *dst, const struct pl_stats *src);

/* Write a one-paragraph human summary (used at exit with -v). */
void pl_stats_summary(const struct pl_stats *st, FILE *f);

/* One line saying where every event the output took went (taken = written/delivered +
 * spooled + dropped by reason), and whether the parts add up. After the output is closed. */
void pl_stats_delivery(const struct pl_stats *st, bool kafka, FILE *f);

#endif
