/* http_stats.c – HTTP's stats block (pktlog/registry.h): how its counters of struct pl_stats
 * are named and explained in /metrics, heartbeats and -v, and its part of the -v summary.
 * The counters themselves are plain fields of struct pl_stats that http.c increments. */
#include "pktlog/registry.h"

static const struct pl_stat_desc rows[] = {
	PL_STAT_C(http_requests, "HTTP requests parsed."),
	PL_STAT_C(http_responses, "HTTP responses parsed (interim 1xx not counted)."),
	PL_STAT_C(http_transactions_ok, "HTTP events with status OK."),
	PL_STAT_C(http_transactions_error, "HTTP events with status Error."),
	PL_STAT_C(http_unmatched_requests, "HTTP requests reported without a response."),
	PL_STAT_C(http_unmatched_responses, "HTTP responses reported without a request."),
	PL_STAT_C(http_parse_errors, "HTTP messages that did not parse (stream resynchronised)."),
	PL_STAT_C(http_resyncs, "HTTP streams resynchronised after loss, garbage or a mid-stream start."),
	PL_STAT_C(http_fast_heads, "HTTP message heads parsed by the fast path (the rest by http-parser)."),
	PL_STAT_C(http_pending_dropped, "HTTP requests dropped from a full pipelining queue."),
	/* exposed after every protocol's first rows (n_first) */
	PL_STAT_C(http_memory_limited, "Times protocols.http.max_memory_mb refused to keep more bytes."),
	PL_STAT_C(http_truncated, "HTTP messages whose URL or kept headers were truncated."),
};

static void summary(const struct pl_stats *st, FILE *f)
{
	fprintf(f, "; http: %llu requests, %llu responses, %llu OK, %llu Error, "
		"%llu unmatched requests, %llu unmatched responses, %llu parse errors",
		(unsigned long long)st->http_requests, (unsigned long long)st->http_responses,
		(unsigned long long)st->http_transactions_ok,
		(unsigned long long)st->http_transactions_error,
		(unsigned long long)st->http_unmatched_requests,
		(unsigned long long)st->http_unmatched_responses,
		(unsigned long long)st->http_parse_errors);
}

const struct pl_stats_block pl_http_stats = {
	.rows = rows,
	.n_rows = PL_ARRAY_LEN(rows),
	.n_first = 10,
	.summary = summary,
	.summary_leads = true,
};
