/* mysql_stats.c – MySQL's stats block (pktlog/registry.h): how its counters of struct
 * pl_stats are named and explained in /metrics, heartbeats and -v, and its part of the -v
 * summary. The counters themselves are plain fields of struct pl_stats that mysql.c
 * increments. */
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
};

/* Only when MySQL saw something. */
static void summary(const struct pl_stats *st, FILE *f)
{
	if (!st->mysql_requests && !st->mysql_responses && !st->mysql_tls_skipped &&
	    !st->mysql_compressed_skipped)
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
}

const struct pl_stats_block pl_mysql_stats = {
	.rows = rows,
	.n_rows = PL_ARRAY_LEN(rows),
	.n_first = PL_ARRAY_LEN(rows),
	.summary = summary,
};
