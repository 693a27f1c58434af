/* http_stats.c – what HTTP's registry row (pktlog/registry.h) points at besides its ops:
 * its stats block (how its counters of struct pl_stats are named and explained in
 * /metrics, heartbeats and -v, and its part of the -v summary) and its options table
 * (protocols.http.*, with their defaults). The counters themselves are plain fields of
 * struct pl_stats that http.c increments; the options fill struct pl_config's http. */
#include "pktlog/options.h"
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
	PL_STAT_C(http_h2c_switched, "HTTP connections handed to HTTP/2: a 101 to Upgrade: h2c, or the preface on an HTTP port."),
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

#define CFG struct pl_config

static const struct pl_option options[] = {
	PL_OPT_BOOL_ROW("enabled", CFG, http.enabled, true),
	PL_OPT_PORTS_ROW("ports", CFG, http.ports),
	PL_OPT_DURATION_ROW("transaction_timeout", CFG, http.transaction_timeout_ns, 10 * PL_NS_PER_SEC),
	PL_OPT_U32_ROW("max_message_size", CFG, http.max_message_size, 1024, 1073741824, 10485760),
	PL_OPT_U32_ROW("max_pending_requests", CFG, http.max_pending, 1, 4096, 64),
	PL_OPT_U32_ROW("max_url_length", CFG, http.max_url_length, 64, 1048576, 8192),
	PL_OPT_U32_ROW("max_memory_mb", CFG, http.max_memory_mb, 1, 65536, 64),
	PL_OPT_LIST_ROW("send_headers", PL_OPT_HEADERS, CFG, http.send_headers, http.n_send_headers,
			PL_MAX_HEADERS),
	PL_OPT_BOOL_ROW("send_all_headers", CFG, http.send_all_headers, false),
	PL_OPT_BOOL_ROW("redact_authorization", CFG, http.redact_authorization, true),
	PL_OPT_BOOL_ROW("redact_cookies", CFG, http.redact_cookies, true),
};

const struct pl_opt_table pl_http_options = { options, PL_ARRAY_LEN(options), NULL, NULL, NULL };

const struct pl_stats_block pl_http_stats = {
	.rows = rows,
	.n_rows = PL_ARRAY_LEN(rows),
	.n_first = 10,
	.summary = summary,
	.summary_leads = true,
};
