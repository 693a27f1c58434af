/* workers.c – live capture (--iface): one worker thread per socket of the fanout group,
 * each with its own lane and configuration copy, sharing the publisher; SIGHUP's ports
 * reach them between two reads. The main thread serves counters and signals meanwhile. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pktlog/capture.h"
#include "pktlog/flow.h"
#include "pktlog/pipeline.h"

struct pl_worker {
	struct pl_config cfg;         /* a copy of the pipeline's: its ports change on SIGHUP */
	struct pl_stats stats;        /* this thread's own */
	struct pl_lane lane;
	struct pl_capture *cap;
	struct pl_workers *group;
	pthread_t thread;
	unsigned ports_gen;
	int status;
};

static void store_ports(struct pl_workers *g, const struct pl_config *cfg)
{
	pthread_mutex_lock(&g->ports_lock);
	for (size_t p = 0; p < pl_n_protocols; p++)
		g->ports[p] = *pl_proto_ports(cfg, &pl_protocols[p]);
	pthread_mutex_unlock(&g->ports_lock);
}

void pl_workers_set_ports(struct pl_workers *g, const struct pl_config *cfg)
{
	store_ports(g, cfg);
	atomic_fetch_add(&g->ports_gen, 1);
}

void pl_workers_add_stats(const struct pl_workers *g, struct pl_stats *sum)
{
	for (int i = 0; i < g->n_live; i++)
		pl_stats_add(sum, &g->live[i].stats);
}

static void worker_take_ports(struct pl_worker *w)
{
	struct pl_workers *g = w->group;
	unsigned gen = atomic_load(&g->ports_gen);

	if (gen == w->ports_gen)
		return;
	pthread_mutex_lock(&g->ports_lock);
	for (size_t p = 0; p < pl_n_protocols; p++)
		*pl_proto_ports_mut(&w->cfg, &pl_protocols[p]) = g->ports[p];
	pthread_mutex_unlock(&g->ports_lock);
	w->ports_gen = gen;
	pl_capture_update_ports(w->cap, &w->cfg);
}

static void *worker_main(void *arg)
{
	struct pl_worker *w = arg;
	struct pl_publisher *pub = w->lane.render.pub;

	pl_signals_block();
	while (!pl_stop_requested) {
		worker_take_ports(w);
		int rc = pl_capture_next(w->cap, 256, 200, pl_lane_frame, &w->lane);
		if (rc == PL_CAPTURE_ERROR) {
			w->status = 1;
			pl_stop_requested = 1;
			break;
		}
		if (rc == 0)
			pl_publisher_flush(pub);   /* quiet moment: make events visible */
		else
			pl_publisher_poll(pub);
	}
	/* Freed here, not by main: the protocols' record caches belong to this thread. */
	pl_flow_table_free(w->lane.flows);
	w->lane.flows = NULL;
	atomic_fetch_sub(&w->group->running, 1);
	return NULL;
}

/* The worker's configuration is a copy of the pipeline's; the output, topics and host
 * name are shared. */
static int worker_init(struct pl_worker *w, struct pl_pipeline *pl, struct pl_capture *cap)
{
	w->cfg = pl->cfg;
	w->group = &pl->workers;
	w->cap = cap;
	return pl_lane_init(&w->lane, &w->cfg, &w->stats, &pl->pub, pl->host_name);
}

static void live_counters(struct pl_pipeline *pl, struct pl_capture **caps, int n,
			  const char *iface)
{
	struct pl_capture_counters cc;
	struct pl_stats *st = &pl->stats;

	for (int i = 0; i < n; i++) {
		pl_capture_counters(caps[i], &cc);
		st->capture_received += cc.received;
		st->kernel_drops += cc.kernel_drops;
		st->kernel_if_drops += cc.if_drops;
		st->ebpf_packets += cc.ebpf_packets;
		st->ebpf_bytes += cc.ebpf_bytes;
		if (pl_log_level_max >= PL_LOG_INFO)
			pl_capture_print_ports(caps[i], stderr);
	}
	if (st->kernel_drops || st->kernel_if_drops)
		pl_warn("interface %s: %llu packets dropped by the kernel (ring full: raise "
			"capture.buffer_size_mb or capture.workers), %llu by the interface", iface,
			(unsigned long long)st->kernel_drops, (unsigned long long)st->kernel_if_drops);
	pl_info("interface %s: %llu packets received, %llu dropped by the kernel, %llu by the interface",
		iface, (unsigned long long)st->capture_received,
		(unsigned long long)st->kernel_drops, (unsigned long long)st->kernel_if_drops);
}

static int run_workers(struct pl_pipeline *pl, struct pl_worker *ws, int n)
{
	struct pl_workers *g = &pl->workers;
	int started = 0, status = 0;

	store_ports(g, &pl->cfg);     /* the workers' own copies have them already */
	atomic_store(&g->running, n);
	for (; started < n; started++) {
		if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0) {
			pl_err("cannot start capture thread %d: %s", started, strerror(errno));
			atomic_fetch_sub(&g->running, n - started);
			pl_stop_requested = 1;
			status = 1;
			break;
		}
	}
	g->live = ws;
	g->n_live = started;
	while (!pl_stop_requested && atomic_load(&g->running) > 0) {
		if (pl_service_step(pl, false))
			status = pl_stop_requested = 1;
	}
	pl_stop_requested = 1;
	for (int i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);   /* publishes w->stats and w->status */
	g->live = NULL;
	g->n_live = 0;
	for (int i = 0; i < started; i++) {
		status |= ws[i].status;
		pl_stats_add(&pl->stats, &ws[i].stats);
	}
	return status;
}

int pl_capture_live(struct pl_pipeline *pl, const char *iface)
{
	int n = (int)PL_MAX(pl->cfg.capture.workers, 1u), status = 1;
	struct pl_capture **caps = calloc((size_t)n, sizeof(*caps));
	struct pl_worker *ws = calloc((size_t)n, sizeof(*ws));
	bool opened = false;

	if (!caps || !ws || pl_capture_open_live_group(iface, &pl->cfg, caps, n) != 0)
		goto out;
	opened = true;
	for (int i = 0; i < n; i++)
		if (worker_init(&ws[i], pl, caps[i]) != 0)
			goto out;
	/* Everything privileged is open (sockets, BPF, output): no thread has started yet. */
	if (pl_capture_drop_privileges(pl->cfg.capture.user, pl->cfg.data_dir) != 0)
		goto out;
	pl_info("interface %s: capturing with %d worker thread(s)", iface, n);
	status = run_workers(pl, ws, n);
	live_counters(pl, caps, n, iface);
out:
	for (int i = 0; ws && i < n; i++)
		pl_lane_free(&ws[i].lane);
	for (int i = 0; opened && i < n; i++)
		pl_capture_close(caps[i]);
	free(ws);
	free(caps);
	return status;
}
