/* tls_stats.c – what TLS's registry row (pktlog/registry.h) points at besides its ops: its
 * stats block (how its counters of struct pl_stats are named and explained in /metrics,
 * heartbeats and -v, and its part of the -v summary) and its options table
 * (protocols.tls.*, with their defaults). The counters themselves are plain fields of
 * struct pl_stats that tls*.c increment; the options fill struct pl_config's tls. */
#include "pktlog/options.h"
#include "pktlog/registry.h"

static const struct pl_stat_desc rows[] = {
	PL_STAT_C(tls_handshakes, "TLS handshake events."),
	PL_STAT_C(tls_established, "TLS handshakes seen to complete."),
	PL_STAT_C(tls_resumed, "TLS handshakes that resumed a session."),
	PL_STAT_C(tls_alerts, "TLS handshakes ended by an alert."),
	PL_STAT_C(tls_not_handshake, "Connections on a TLS port whose handshake start was not seen."),
	PL_STAT_C(tls_parse_errors, "TLS records or certificates that did not parse."),
	PL_STAT_C(tls_gaps, "TLS handshakes with packet loss."),
	PL_STAT_C(tls_truncated, "TLS messages or fields cut at their caps."),
	PL_STAT_C(tls_memory_limited, "TLS handshake state refused (protocols.tls.max_memory_mb)."),
};

/* Only when TLS saw something. */
static void summary(const struct pl_stats *st, FILE *f)
{
	if (!st->tls_handshakes && !st->tls_not_handshake && !st->tls_parse_errors)
		return;
	fprintf(f, "; tls: %llu handshakes, %llu established, %llu resumed, %llu alerts, "
		"%llu with packet loss, %llu connections without a handshake start, "
		"%llu parse errors, %llu cut, %llu refused for memory",
		(unsigned long long)st->tls_handshakes, (unsigned long long)st->tls_established,
		(unsigned long long)st->tls_resumed, (unsigned long long)st->tls_alerts,
		(unsigned long long)st->tls_gaps, (unsigned long long)st->tls_not_handshake,
		(unsigned long long)st->tls_parse_errors, (unsigned long long)st->tls_truncated,
		(unsigned long long)st->tls_memory_limited);
}

#define CFG struct pl_config

static const struct pl_option options[] = {
	PL_OPT_BOOL_ROW("enabled", CFG, tls.enabled, true),
	PL_OPT_PORTS_ROW("ports", CFG, tls.ports),
	PL_OPT_U32_ROW("max_handshake_bytes", CFG, tls.max_handshake_bytes, 1024, 16777216, 65536),
	PL_OPT_U32_ROW("max_memory_mb", CFG, tls.max_memory_mb, 1, 65536, 64),
};

const struct pl_opt_table pl_tls_options = { options, PL_ARRAY_LEN(options), NULL, NULL, NULL };

const struct pl_stats_block pl_tls_stats = {
	.rows = rows,
	.n_rows = PL_ARRAY_LEN(rows),
	.n_first = PL_ARRAY_LEN(rows),
	.summary = summary,
};
