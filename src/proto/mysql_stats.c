/* mysql_stats.c – what MySQL's registry row (pktlog/registry.h) points at besides its ops:
 * its stats block (how its counters of struct pl_stats are named and explained in
 * /metrics, heartbeats and -v, and its part of the -v summary) and its options table
 * (protocols.mysql.*, with their defaults). The counters themselves are plain fields of
 * struct pl_stats that mysql.c increments; the options fill struct pl_config's mysql. */
#include "pktlog/options.h"
#include "pktlog/registry.h"

static const struct pl_stat_desc rows[] = {
	PL_STAT_C(mysql_requests, "MySQL commands parsed."),
	PL_STAT_C(mysql_responses, "MySQL responses parsed."),
	PL_STAT_C(mysql_transactions_ok, "MySQL events with status OK."),
	PL_STAT_C(mysql_transactions_error, "MySQL events with status Error."),
	PL_STAT_C(mysql_unmatched_requests, "MySQL commands reported without a response."),
	PL_STAT_C(mysql_unmatched_responses, "MySQL responses without a command."),
	PL_STAT_C(mysql_parse_errors, "MySQL packets that did not parse."),
	PL_STAT_C(mysql_resyncs, "MySQL streams resynchronised."),
	PL_STAT_C(mysql_tls_skipped, "MySQL connections skipped because they switched to TLS."),
	PL_STAT_C(mysql_compressed_skipped, "MySQL connections skipped because they use compression."),
	PL_STAT_C(mysql_statements_evicted, "Prepared statements forgotten (protocols.mysql.max_statements)."),
	/* exposed after every protocol's first rows (n_first) */
	PL_STAT_C(mysql_tls_sessions, "MySQL sessions encrypted (SSLRequest): their handshake goes to the TLS parser."),
};

/* Only when MySQL saw something. */
static void summary(const struct pl_stats *st, FILE *f)
{
	if (!st->mysql_requests && !st->mysql_responses && !st->mysql_tls_skipped &&
	    !st->mysql_compressed_skipped && !st->mysql_tls_sessions)
		return;
	fprintf(f, "; mysql: %llu commands, %llu responses, %llu OK, %llu Error, %llu unmatched "
		"commands, %llu unmatched responses, %llu parse errors, %llu resyncs, "
		"%llu TLS and %llu compressed connections skipped",
		(unsigned long long)st->mysql_requests, (unsigned long long)st->mysql_responses,
		(unsigned long long)st->mysql_transactions_ok,
		(unsigned long long)st->mysql_transactions_error,
		(unsigned long long)st->mysql_unmatched_requests,
		(unsigned long long)st->mysql_unmatched_responses,
		(unsigned long long)st->mysql_parse_errors, (unsigned long long)st->mysql_resyncs,
		(unsigned long long)st->mysql_tls_skipped,
		(unsigned long long)st->mysql_compressed_skipped);
	if (st->mysql_tls_sessions)
		fprintf(f, ", %llu encrypted (TLS)", (unsigned long long)st->mysql_tls_sessions);
}

#define CFG struct pl_config

static const struct pl_option options[] = {
	PL_OPT_BOOL_ROW("enabled", CFG, mysql.enabled, true),
	PL_OPT_PORTS_ROW("ports", CFG, mysql.ports),
	PL_OPT_DURATION_ROW("transaction_timeout", CFG, mysql.transaction_timeout_ns, 10 * PL_NS_PER_SEC),
	PL_OPT_U32_ROW("max_query_length", CFG, mysql.max_query_length, 64, 16777216, 8192),
	PL_OPT_U32_ROW("max_statements", CFG, mysql.max_statements, 1, 65536, 1024),
	PL_OPT_BOOL_ROW("send_request", CFG, mysql.send_request, false),
	PL_OPT_BOOL_ROW("send_response", CFG, mysql.send_response, false),
	PL_OPT_U32_ROW("max_rows", CFG, mysql.max_rows, 0, 100000, 10),
	PL_OPT_U32_ROW("max_row_length", CFG, mysql.max_row_length, 16, 1048576, 1024),
};

const struct pl_opt_table pl_mysql_options = { options, PL_ARRAY_LEN(options), NULL, NULL, NULL };

const struct pl_stats_block pl_mysql_stats = {
	.rows = rows,
	.n_rows = PL_ARRAY_LEN(rows),
	.n_first = PL_ARRAY_LEN(rows) - 1,
	.summary = summary,
};
