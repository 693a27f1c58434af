/* metrics.c – the Prometheus endpoint: struct pl_stats → text exposition format, served
 * by libmicrohttpd from its own thread.
 *
 * Owns the core counters' names and help texts and the exposition order: the core rows
 * here, each protocol's from its stats block in the registry (pktlog/registry.h); the
 * unit test checks that together they cover every field of struct pl_stats once. Must not
 * touch live counters: it renders the snapshot the pipeline hands it with
 * pl_metrics_update(). */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "pktlog/metrics.h"
#include "pktlog/registry.h"

/* The core counters' rows (capture, flows; then output, tailer). Each protocol's rows are
 * in its stats block (pktlog/registry.h), exposed between these two tables. */
static const struct pl_stat_desc core_head[] = {
	PL_STAT_C(packets, "Frames read from the capture."),
	PL_STAT_C(bytes, "Captured bytes of those frames."),
	PL_STAT_G(kernel_drops, "Frames the kernel dropped before pktlog read them (live capture)."),
	PL_STAT_G(kernel_if_drops, "Frames the interface dropped (live capture, pcap_stats ps_ifdrop)."),
	PL_STAT_G(capture_received, "Frames that passed the kernel filter (live capture, pcap_stats ps_recv)."),
	PL_STAT_G(ebpf_packets, "Frames the eBPF port filter kept (all ports)."),
	PL_STAT_G(ebpf_bytes, "Wire bytes of the frames the eBPF port filter kept."),
	PL_STAT_G(flows_active, "TCP connections tracked now."),
	PL_STAT_C(flows_created, "TCP connections tracked."),
	PL_STAT_C(flows_midstream, "Connections picked up without their handshake."),
	PL_STAT_C(flows_closed, "Connections ended by FIN or RST."),
	PL_STAT_C(flows_expired, "Connections forgotten after flows.idle_timeout of packet time."),
	PL_STAT_C(flows_evicted, "Connections dropped because flows.max_flows was reached."),
	PL_STAT_C(flows_ignored, "Segments of connections on no configured port."),
	PL_STAT_C(tcp_retrans_bytes, "Retransmitted or duplicated bytes trimmed."),
	PL_STAT_C(tcp_ooo_segments, "Segments buffered out of order."),
	PL_STAT_G(tcp_ooo_bytes_buffered, "Out-of-order bytes buffered now."),
	PL_STAT_C(tcp_ooo_overflow, "Holes given up because a reassembly buffer budget was reached."),
	PL_STAT_C(tcp_ack_holds, "Data segments held until the peer bytes they acknowledge were delivered."),
	PL_STAT_C(tcp_ack_hold_forced, "Held segments released before the peer bytes they acknowledge came (lost, budget, close)."),
	PL_STAT_C(tcp_gaps, "Gaps (lost bytes) reported to protocols."),
	PL_STAT_C(tcp_gap_bytes, "Bytes lost in those gaps."),
	PL_STAT_C(tcp_snaplen_cut, "Segments whose payload the snap length cut."),
};

static const struct pl_stat_desc core_tail[] = {
	PL_STAT_C(proto_state_dropped, "Connections whose protocol state was dropped (protocols.http.max_memory_mb, or no memory)."),
	PL_STAT_C(events, "Events rendered."),
	PL_STAT_C(events_truncated, "Events too large to render, dropped."),
	PL_STAT_C(output_written, "Events written (console, file) or handed to Kafka."),
	PL_STAT_C(output_errors, "Failed output writes (console, file, spool)."),
	PL_STAT_C(output_accepted, "Events the output took (written, delivered, spooled or dropped by reason)."),
	PL_STAT_G(output_inflight, "Kafka messages awaiting their delivery report."),
	PL_STAT_C(output_delivered, "Kafka delivery reports with success."),
	PL_STAT_C(output_failed, "Kafka delivery reports with an error (the event is then spooled)."),
	PL_STAT_C(output_retried, "Records re-sent from the spool."),
	PL_STAT_C(spool_records, "Records appended to the spool."),
	PL_STAT_G(spool_bytes, "Bytes held in spool segment files."),
	PL_STAT_C(spool_drops, "Events dropped because the spool was full."),
	PL_STAT_C(spool_corrupt, "Corrupt or torn spool records skipped."),
	PL_STAT_C(output_dropped, "Events lost because the console or file output failed to write them."),
	PL_STAT_C(output_rejected, "Events Kafka refused for good (too large, invalid, too many topics)."),
	PL_STAT_C(spool_drops_error, "Events dropped because the spool could not write them (disk full, I/O)."),
	PL_STAT_C(spool_delivered, "Spooled records delivered (included in output_delivered)."),
	PL_STAT_G(output_healthy, "1 while the output writes or delivers, 0 while it is failing."),
	PL_STAT_C(kafka_err_msg_size, "Kafka refusals: batch or event above the topic's max.message.bytes."),
	PL_STAT_C(kafka_err_authorization, "Kafka refusals: not authorized to write the topic."),
	PL_STAT_C(kafka_err_invalid_record, "Kafka refusals: the topic refuses the records as invalid."),
	PL_STAT_C(kafka_err_unknown_topic, "Kafka refusals: the topic does not exist (auto-creation off)."),
	PL_STAT_G(kafka_msg_limit, "The topic's max.message.bytes read at start (0: not known)."),
	PL_STAT_G(kafka_batch_bytes, "librdkafka batch.size in use (output.kafka.batch_bytes, clamped)."),
	PL_STAT_G(tail_files_open, "Tailed files with an open descriptor."),
	PL_STAT_C(tail_files_seen, "Files the tailer has taken up."),
	PL_STAT_C(tail_bytes_read, "Bytes read from tailed files."),
	PL_STAT_C(tail_lines, "Lines read from tailed files."),
	PL_STAT_C(tail_records, "Tailed records (lines or multi-line records) published."),
	PL_STAT_C(tail_records_acked, "Tailed records delivered; their offsets advanced."),
	PL_STAT_C(tail_lines_split, "Pieces of lines longer than max_line_bytes (long_lines: split)."),
	PL_STAT_C(tail_lines_truncated, "Lines cut at max_line_bytes (long_lines: truncate)."),
	PL_STAT_C(tail_rotations, "Tailed paths that came to name another file (rename rotation, delete)."),
	PL_STAT_C(tail_truncations, "Tailed files truncated or replaced (copytruncate): read again from 0."),
	PL_STAT_C(tail_deleted, "Tailed files deleted while open."),
	PL_STAT_C(tail_inode_reuse, "Registry inodes found holding a different file."),
	PL_STAT_C(tail_idle_closed, "Tailed files closed after tail.close_inactive."),
	PL_STAT_C(tail_rescans, "Full rescans of the tail inputs (start-up, inotify overflow)."),
	PL_STAT_C(tail_paused, "Times the tailer stopped reading for output back-pressure."),
	PL_STAT_C(tail_commits, "Tail registry batches committed."),
	PL_STAT_C(tail_errors, "Tailer errors: unreadable files, registry or publish failures."),
	PL_STAT_G(tail_files_waiting, "Tailed files that could not be opened (no descriptor, no permission), retried."),
	PL_STAT_C(tail_dir_loops, "Directory (symlink) loops found under tail patterns and not followed."),
	PL_STAT_C(tail_scan_limited, "Tail directory scans stopped at their work limit."),
	PL_STAT_C(tail_format_errors, "Container-format lines that could not be decoded: shipped raw with error.message."),
	PL_STAT_C(tail_lines_joined, "Partial container-log pieces (Docker 16 KiB splits, CRI P) joined to a line."),
	PL_STAT_C(tail_files_compressed, "Gzip-compressed files under container-format inputs, skipped."),
	PL_STAT_C(proc_lookups, "Events looked up for the process behind their connection."),
	PL_STAT_C(proc_hits, "Events given the process of at least one side of their connection."),
	PL_STAT_C(proc_misses, "Events for which no local process was found."),
	PL_STAT_C(proc_fallbacks, "Process lookups answered by reading /proc (not the eBPF map)."),
	PL_STAT_C(proc_scans, "Full scans of /proc/PID/fd made by the process resolver."),
	PL_STAT_C(proc_rate_limited, "Process lookups left unresolved because process.refresh_interval had not passed."),
	PL_STAT_C(proc_errors, "Process resolver failures (helper gone, /proc unreadable)."),
	PL_STAT_G(proc_ebpf, "1 when process attribution uses the eBPF source, 0 when /proc only."),
	PL_STAT_C(proc_iter_sockets, "Connections open at start-up found by the BPF iterator (iter/task_file)."),
	PL_STAT_C(proc_ebpf_closes, "eBPF process map entries stamped closed (inet_sock_set_state TCP_CLOSE)."),
	PL_STAT_C(proc_ebpf_evicted, "eBPF process map entries deleted once their close grace had passed."),
	PL_STAT_C(proc_ebpf_queue_full, "Socket closes not queued for deletion (queue full): left to the map's LRU."),
	PL_STAT_G(proc_ebpf_entries, "Entries in the eBPF process map (counted after closes or deletions, else every 10 s)."),
};

/* Every row in exposition order: the core's head, each protocol's first rows, each
 * protocol's later rows (registry.h: n_first), the core's tail. */
void pl_metrics_each(void (*fn)(const struct pl_stat_desc *d, void *arg), void *arg)
{
	for (size_t i = 0; i < PL_ARRAY_LEN(core_head); i++)
		fn(&core_head[i], arg);
	for (size_t p = 0; p < pl_n_protocols; p++) {
		const struct pl_stats_block *b = pl_protocols[p].stats;

		for (size_t i = 0; i < b->n_first; i++)
			fn(&b->rows[i], arg);
	}
	for (size_t p = 0; p < pl_n_protocols; p++) {
		const struct pl_stats_block *b = pl_protocols[p].stats;

		for (size_t i = b->n_first; i < b->n_rows; i++)
			fn(&b->rows[i], arg);
	}
	for (size_t i = 0; i < PL_ARRAY_LEN(core_tail); i++)
		fn(&core_tail[i], arg);
}

static const char *const decode_names[PL_DEC__COUNT] = {
	[PL_DEC_OK] = "ok", [PL_DEC_TRUNCATED] = "truncated", [PL_DEC_BAD_LINKTYPE] = "bad_linktype",
	[PL_DEC_NOT_IP] = "not_ip", [PL_DEC_BAD_IP] = "bad_ip", [PL_DEC_FRAGMENT] = "fragment",
	[PL_DEC_NOT_TCP] = "not_tcp", [PL_DEC_BAD_TCP] = "bad_tcp",
};

struct out {
	char *p, *end;
	bool full;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->full)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(o->p, (size_t)(o->end - o->p), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= o->end - o->p) {
		o->full = true;
		return;
	}
	o->p += n;
}

struct render {
	struct out o;
	const char *base;
};

static void render_row(const struct pl_stat_desc *m, void *arg)
{
	struct render *r = arg;
	const char *suffix = m->kind == PL_STAT_COUNTER ? "_total" : "";
	uint64_t v;

	memcpy(&v, r->base + m->off, sizeof(v));
	outf(&r->o, "# HELP pktlog_%s%s %s\n# TYPE pktlog_%s%s %s\npktlog_%s%s %llu\n",
	     m->name, suffix, m->help, m->name, suffix,
	     m->kind == PL_STAT_COUNTER ? "counter" : "gauge", m->name, suffix, (unsigned long long)v);
}

static void json_row(const struct pl_stat_desc *m, void *arg)
{
	struct render *r = arg;
	uint64_t v;

	memcpy(&v, r->base + m->off, sizeof(v));
	outf(&r->o, ",\"%s\":%llu", m->name, (unsigned long long)v);
}

size_t pl_metrics_render(const struct pl_stats *st, char *buf, size_t cap)
{
	struct render r = { { buf, buf + cap, false }, (const char *)st };
	struct out *o = &r.o;

	outf(o, "# HELP pktlog_decode_frames_total Frames by decode result (ok = TCP segment).\n"
		 "# TYPE pktlog_decode_frames_total counter\n");
	for (int i = 0; i < PL_DEC__COUNT; i++)
		outf(o, "pktlog_decode_frames_total{result=\"%s\"} %llu\n", decode_names[i],
		     (unsigned long long)st->decode[i]);
	pl_metrics_each(render_row, &r);
	return o->full ? 0 : (size_t)(o->p - buf);
}

size_t pl_metrics_json(const struct pl_stats *st, char *buf, size_t cap)
{
	struct render r = { { buf, buf + cap, false }, (const char *)st };

	for (int i = 0; i < PL_DEC__COUNT; i++)
		outf(&r.o, "%s\"decode_%s\":%llu", i ? "," : "", decode_names[i],
		     (unsigned long long)st->decode[i]);
	pl_metrics_each(json_row, &r);
	return r.o.full ? 0 : (size_t)(r.o.p - buf);
}

/* --- the server --------------------------------------------------------------------- */

#define RENDER_CAP (64 * 1024)

struct pl_metrics {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;
	struct pl_stats snap;
	uint16_t port;
};

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_len, void **ctx)
{
	struct pl_metrics *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result rc;
	struct pl_stats snap;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		rc = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
		MHD_destroy_response(resp);
		return rc;
	}
	if (strcmp(url, "/metrics") != 0) {
		static const char msg[] = "pktlog: metrics are at /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
		rc = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, resp);
		MHD_destroy_response(resp);
		return rc;
	}
	pthread_mutex_lock(&m->lock);
	snap = m->snap;
	pthread_mutex_unlock(&m->lock);
	char *body = malloc(RENDER_CAP);
	size_t n = body ? pl_metrics_render(&snap, body, RENDER_CAP) : 0;
	if (!n) {
		free(body);
		return MHD_NO;
	}
	resp = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* "127.0.0.1:9464", "[::1]:9464" → a socket address. */
int pl_metrics_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(listen, ':');
	char *end;

	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host))
		return -1;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	long port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return AF_INET6;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -1;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*len = sizeof(*a);
	return AF_INET;
}

struct pl_metrics *pl_metrics_start(const char *listen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	int af = pl_metrics_parse_listen(listen, &ss, &slen);
	struct pl_metrics *m;

	if (af < 0) {
		snprintf(err, errlen, "metrics.listen: \"%s\" is not HOST:PORT (e.g. 127.0.0.1:9464)", listen);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "metrics: out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (af == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, serve, m,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_LIMIT, 16U,
				MHD_OPTION_CONNECTION_TIMEOUT, 10U,
				MHD_OPTION_END);
	if (!m->d) {
		snprintf(err, errlen, "metrics.listen: cannot serve on %s (address in use or not local?)", listen);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : 0;
	return m;
}

uint16_t pl_metrics_port(const struct pl_metrics *m)
{
	return m->port;
}

void pl_metrics_update(struct pl_metrics *m, const struct pl_stats *total)
{
	pthread_mutex_lock(&m->lock);
	m->snap = *total;
	pthread_mutex_unlock(&m->lock);
}

void pl_metrics_stop(struct pl_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Row i of the exposition order (tests only: a walk per call). */
struct nth {
	size_t want, at;
	const struct pl_stat_desc *found;
};

static void nth_row(const struct pl_stat_desc *d, void *arg)
{
	struct nth *n = arg;

	if (n->at++ == n->want)
		n->found = d;
}

static const struct pl_stat_desc *row_at(size_t i)
{
	struct nth n = { i, 0, NULL };

	pl_metrics_each(nth_row, &n);
	return n.found;
}

size_t pl_metrics_table_size(void)
{
	struct nth n = { SIZE_MAX, 0, NULL };

	pl_metrics_each(nth_row, &n);
	return n.at;
}

size_t pl_metrics_table_offset(size_t i)
{
	return row_at(i)->off;
}

const char *pl_metrics_table_name(size_t i)
{
	return row_at(i)->name;
}
