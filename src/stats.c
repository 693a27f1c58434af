/* stats.c – summing and printing pktlog's counters (include/pktlog/stats.h). */
#include "pktlog/stats.h"

void pl_stats_add(struct pl_stats *dst, const struct pl_stats *src)
{
	/* The struct is all uint64_t counters by construction. */
	_Static_assert(sizeof(struct pl_stats) % sizeof(uint64_t) == 0, "counters only");
	uint64_t *d = (uint64_t *)dst;
	const uint64_t *s = (const uint64_t *)src;

	for (size_t i = 0; i < sizeof(*dst) / sizeof(uint64_t); i++)
		d[i] += s[i];
}

void pl_stats_summary(const struct pl_stats *st, FILE *f)
{
	uint64_t skipped = 0;

	for (int i = 1; i < PL_DEC__COUNT; i++)
		skipped += st->decode[i];
	fprintf(f, "pktlog: summary: %llu packets (%llu bytes), %llu TCP segments, %llu skipped",
		(unsigned long long)st->packets, (unsigned long long)st->bytes,
		(unsigned long long)st->decode[PL_DEC_OK], (unsigned long long)skipped);
	for (int i = 1; i < PL_DEC__COUNT; i++)
		if (st->decode[i])
			fprintf(f, " [%s %llu]", pl_decode_result_name(i), (unsigned long long)st->decode[i]);
	if (st->kernel_drops)
		fprintf(f, ", %llu dropped by the kernel", (unsigned long long)st->kernel_drops);
	fprintf(f, "; %llu flows (%llu mid-stream, %llu closed, %llu expired, %llu evicted), "
		"%llu gaps (%llu bytes), %llu out-of-order segments, %llu retransmitted bytes; "
		"http: %llu requests, %llu responses, %llu OK, %llu Error, %llu unmatched requests, "
		"%llu unmatched responses, %llu parse errors; %llu events written",
		(unsigned long long)st->flows_created, (unsigned long long)st->flows_midstream,
		(unsigned long long)st->flows_closed, (unsigned long long)st->flows_expired,
		(unsigned long long)st->flows_evicted, (unsigned long long)st->tcp_gaps,
		(unsigned long long)st->tcp_gap_bytes, (unsigned long long)st->tcp_ooo_segments,
		(unsigned long long)st->tcp_retrans_bytes, (unsigned long long)st->http_requests,
		(unsigned long long)st->http_responses, (unsigned long long)st->http_transactions_ok,
		(unsigned long long)st->http_transactions_error,
		(unsigned long long)st->http_unmatched_requests,
		(unsigned long long)st->http_unmatched_responses,
		(unsigned long long)st->http_parse_errors, (unsigned long long)st->output_written);
	if (st->output_errors || st->events_truncated)
		fprintf(f, " (%llu output errors, %llu events too large)",
			(unsigned long long)st->output_errors, (unsigned long long)st->events_truncated);
	fputs(".\n", f);
}
