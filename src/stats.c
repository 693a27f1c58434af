/* stats.c – summing and printing pktlog's counters (include/pktlog/stats.h).
 *
 * The summary's list of counters walks metrics.c's rows (the ones /metrics and heartbeats
 * use, checked by test_metrics to cover every field), so a new counter cannot be left out.
 * Each protocol's part of the summary is its stats block's (pktlog/registry.h). */
#include <string.h>
#include "pktlog/metrics.h"
#include "pktlog/registry.h"
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

struct nonzero {
	const char *base, *sep;
	FILE *f;
};

static void nonzero_row(const struct pl_stat_desc *d, void *arg)
{
	struct nonzero *nz = arg;
	uint64_t v;

	memcpy(&v, nz->base + d->off, sizeof(v));
	if (!v)
		return;
	fprintf(nz->f, "%s %s %llu", nz->sep, d->name, (unsigned long long)v);
	nz->sep = ",";
}

/* Every counter that is not zero, by name, on one line. */
static void nonzero_counters(const struct pl_stats *st, FILE *f)
{
	const char *sep = "pktlog: counters:";

	for (int i = 0; i < PL_DEC__COUNT; i++) {
		if (!st->decode[i])
			continue;
		fprintf(f, "%s decode_%s %llu", sep, pl_decode_result_name(i),
			(unsigned long long)st->decode[i]);
		sep = ",";
	}
	struct nonzero nz = { (const char *)st, sep, f };

	pl_metrics_each(nonzero_row, &nz);
	if (*nz.sep == ',')
		fputs("\n", f);
}

/* The protocols' parts of the summary (registry.h: stats blocks), those that lead the
 * event count or those that follow it, in registry order. */
static void protocol_summaries(const struct pl_stats *st, bool leading, FILE *f)
{
	for (size_t i = 0; i < pl_n_protocols; i++) {
		const struct pl_stats_block *b = pl_protocols[i].stats;

		if (b->summary && b->summary_leads == leading)
			b->summary(st, f);
	}
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
	if (st->kernel_if_drops)
		fprintf(f, ", %llu dropped by the interface", (unsigned long long)st->kernel_if_drops);
	if (st->ebpf_packets)
		fprintf(f, ", %llu kept by the eBPF filter (%llu bytes)",
			(unsigned long long)st->ebpf_packets, (unsigned long long)st->ebpf_bytes);
	fprintf(f, "; %llu flows (%llu mid-stream, %llu closed, %llu expired, %llu evicted), "
		"%llu gaps (%llu bytes), %llu out-of-order segments, %llu retransmitted bytes",
		(unsigned long long)st->flows_created, (unsigned long long)st->flows_midstream,
		(unsigned long long)st->flows_closed, (unsigned long long)st->flows_expired,
		(unsigned long long)st->flows_evicted, (unsigned long long)st->tcp_gaps,
		(unsigned long long)st->tcp_gap_bytes, (unsigned long long)st->tcp_ooo_segments,
		(unsigned long long)st->tcp_retrans_bytes);
	protocol_summaries(st, true, f);
	fprintf(f, "; %llu events written", (unsigned long long)st->output_written);
	protocol_summaries(st, false, f);
	if (st->proto_state_dropped)
		fprintf(f, "; %llu connections' protocol state dropped (memory bounds)",
			(unsigned long long)st->proto_state_dropped);
	if (st->output_errors || st->events_truncated)
		fprintf(f, " (%llu output errors, %llu events too large)",
			(unsigned long long)st->output_errors, (unsigned long long)st->events_truncated);
	if (st->output_accepted && (st->output_delivered || st->output_failed || st->spool_records ||
				    st->spool_bytes || st->output_inflight || st->spool_drops ||
				    st->spool_drops_error || st->output_rejected))
		fprintf(f, "; kafka: %llu accepted, %llu delivered, %llu failed, %llu re-sent from the spool, "
			"%llu in flight; spool: %llu records written, %llu bytes held, %llu dropped (full), "
			"%llu corrupt skipped",
			(unsigned long long)st->output_accepted, (unsigned long long)st->output_delivered,
			(unsigned long long)st->output_failed, (unsigned long long)st->output_retried,
			(unsigned long long)st->output_inflight, (unsigned long long)st->spool_records,
			(unsigned long long)st->spool_bytes, (unsigned long long)st->spool_drops,
			(unsigned long long)st->spool_corrupt);
	if (st->tail_files_seen)
		fprintf(f, "; tail: %llu files, %llu bytes, %llu lines, %llu records (%llu delivered), "
			"%llu split, %llu truncated, %llu rotations, %llu truncations, %llu deleted, "
			"%llu inode reuses, %llu idle closes, %llu rescans, %llu pauses, %llu commits, "
			"%llu errors",
			(unsigned long long)st->tail_files_seen, (unsigned long long)st->tail_bytes_read,
			(unsigned long long)st->tail_lines, (unsigned long long)st->tail_records,
			(unsigned long long)st->tail_records_acked,
			(unsigned long long)st->tail_lines_split,
			(unsigned long long)st->tail_lines_truncated,
			(unsigned long long)st->tail_rotations, (unsigned long long)st->tail_truncations,
			(unsigned long long)st->tail_deleted, (unsigned long long)st->tail_inode_reuse,
			(unsigned long long)st->tail_idle_closed, (unsigned long long)st->tail_rescans,
			(unsigned long long)st->tail_paused, (unsigned long long)st->tail_commits,
			(unsigned long long)st->tail_errors);
	if (st->tail_files_waiting || st->tail_dir_loops || st->tail_scan_limited)
		fprintf(f, "; tail: %llu files not opened (waiting), %llu directory loops not "
			"followed, %llu scans stopped at their limit",
			(unsigned long long)st->tail_files_waiting,
			(unsigned long long)st->tail_dir_loops,
			(unsigned long long)st->tail_scan_limited);
	fputs(".\n", f);
	nonzero_counters(st, f);
}

void pl_stats_delivery(const struct pl_stats *st, bool kafka, FILE *f)
{
	uint64_t direct = st->output_delivered - PL_MIN(st->output_delivered, st->spool_delivered);
	uint64_t sum = st->spool_drops + st->spool_drops_error + st->output_dropped +
		       st->output_rejected;

	if (kafka) {
		sum += direct + st->spool_records + st->output_inflight;
		fprintf(f, "pktlog: delivery: %llu events taken = %llu delivered + %llu spooled + "
			"%llu in flight + %llu dropped (spool full) + %llu dropped (spool write error) + "
			"%llu rejected by Kafka; %llu spooled records delivered",
			(unsigned long long)st->output_accepted, (unsigned long long)direct,
			(unsigned long long)st->spool_records, (unsigned long long)st->output_inflight,
			(unsigned long long)st->spool_drops, (unsigned long long)st->spool_drops_error,
			(unsigned long long)st->output_rejected, (unsigned long long)st->spool_delivered);
	} else {
		sum += st->output_written;
		fprintf(f, "pktlog: delivery: %llu events taken = %llu written + %llu dropped "
			"(output failed); %llu write errors",
			(unsigned long long)st->output_accepted, (unsigned long long)st->output_written,
			(unsigned long long)st->output_dropped, (unsigned long long)st->output_errors);
	}
	if (sum != st->output_accepted)
		fprintf(f, " (DOES NOT ADD UP: the parts sum to %llu)", (unsigned long long)sum);
	fputs(".\n", f);
}
