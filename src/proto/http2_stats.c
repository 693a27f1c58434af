/* http2_stats.c – what HTTP/2's registry row (pktlog/registry.h) points at besides its ops:
 * its stats block (how its counters of struct pl_stats are named and explained in
 * /metrics, heartbeats and -v, and its part of the -v summary) and its options table
 * (protocols.http2.*, with their defaults). The counters are plain fields of struct
 * pl_stats that http2*.c increment; the options fill struct pl_config's http2. */
#include "pktlog/options.h"
#include "pktlog/registry.h"

static const struct pl_stat_desc rows[] = {
	PL_STAT_C(http2_streams, "HTTP/2 streams tracked (one event each)."),
	PL_STAT_C(http2_streams_dropped, "HTTP/2 streams not tracked (128 open per connection, or memory)."),
	PL_STAT_C(http2_frames, "HTTP/2 frames read."),
	PL_STAT_C(http2_parse_errors, "HTTP/2 preface, framing or HPACK errors (the direction is dropped)."),
	PL_STAT_C(http2_hpack_lost, "HTTP/2 directions whose HPACK state was lost to a gap (never resynchronised)."),
	PL_STAT_C(http2_gaps, "Gaps seen by the HTTP/2 parser."),
};

/* Only when HTTP/2 saw something. */
static void summary(const struct pl_stats *st, FILE *f)
{
	if (!st->http2_streams && !st->http2_frames && !st->http2_parse_errors)
		return;
	fprintf(f, "; http2: %llu streams, %llu not tracked, %llu frames, %llu parse errors, "
		"%llu directions with HPACK state lost, %llu gaps",
		(unsigned long long)st->http2_streams, (unsigned long long)st->http2_streams_dropped,
		(unsigned long long)st->http2_frames, (unsigned long long)st->http2_parse_errors,
		(unsigned long long)st->http2_hpack_lost, (unsigned long long)st->http2_gaps);
}

#define CFG struct pl_config

static const struct pl_option options[] = {
	PL_OPT_BOOL_ROW("enabled", CFG, http2.enabled, true),
	PL_OPT_PORTS_ROW("ports", CFG, http2.ports),
};

const struct pl_opt_table pl_http2_options = { options, PL_ARRAY_LEN(options), NULL, NULL, NULL };

const struct pl_stats_block pl_http2_stats = {
	.rows = rows,
	.n_rows = PL_ARRAY_LEN(rows),
	.n_first = PL_ARRAY_LEN(rows),
	.summary = summary,
};
