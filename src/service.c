/* service.c – the main thread's service loop: every thread's counters summed about once a
 * second for the metrics endpoint, SIGUSR1's summary and heartbeat events; and the turn
 * the main thread takes while other threads capture or tail (which also applies SIGHUP). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "pktlog/metrics.h"
#include "pktlog/pipeline.h"
#include "pktlog/proc.h"

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Every thread's counters, summed on read (each thread only ever adds to its own). */
static void collect(const struct pl_pipeline *pl, struct pl_stats *sum)
{
	*sum = pl->stats;
	pl_workers_add_stats(&pl->workers, sum);
	pl_stats_add(sum, &pl->tail.stats);
	pl_proc_add_stats(sum);
}

static void send_heartbeat(struct pl_pipeline *pl, const struct pl_stats *sum, uint64_t now)
{
	struct pl_service *svc = &pl->svc;
	size_t n = pl_heartbeat_render(&svc->hb, sum, now, svc->buf, PL_RENDER_BUF);
	const char *topic = pl->cfg.output.type == PL_OUTPUT_KAFKA ?
			    pl->cfg.metrics.heartbeat_topic : NULL;

	if (!n)
		return;
	pl_publish_heartbeat(&pl->pub, svc->buf, n, topic);
}

void pl_service_tick(struct pl_pipeline *pl, bool heartbeats)
{
	struct pl_service *svc = &pl->svc;
	uint64_t now = wall_ns();
	struct pl_stats sum;

	if (now < svc->next_ns && !pl_counters_requested)
		return;
	svc->next_ns = now + PL_NS_PER_SEC;
	pl_proc_tick();
	collect(pl, &sum);
	if (svc->metrics)
		pl_metrics_update(svc->metrics, &sum);
	if (pl_counters_requested) {
		pl_counters_requested = 0;
		pl_stats_summary(&sum, stderr);
	}
	if (heartbeats && svc->buf && pl->cfg.metrics.heartbeat) {
		if (!svc->next_hb_ns)
			svc->next_hb_ns = now + pl->cfg.metrics.heartbeat_interval_ns;
		if (now >= svc->next_hb_ns) {
			svc->next_hb_ns = now + pl->cfg.metrics.heartbeat_interval_ns;
			send_heartbeat(pl, &sum, now);
		}
	}
}

bool pl_service_step(struct pl_pipeline *pl, bool poll)
{
	const struct timespec tick = { 0, 100 * 1000000L };

	nanosleep(&tick, NULL);
	if (poll)
		pl_publisher_poll(&pl->pub);
	pl_service_tick(pl, true);
	if (pl_reload_requested) {
		pl_reload_requested = 0;
		pl_reload(pl);
	}
	return pl_publisher_broken(&pl->pub);
}

int pl_service_start(struct pl_pipeline *pl)
{
	struct pl_service *svc = &pl->svc;
	char err[256];

	svc->hb = (struct pl_heartbeat){ .host_name = pl->host_name, .app_id = pl->cfg.app_id,
					 .kafka = pl->cfg.output.type == PL_OUTPUT_KAFKA,
					 .interval_ns = pl->cfg.metrics.heartbeat_interval_ns,
					 .started_ns = wall_ns() };
	svc->buf = malloc(PL_RENDER_BUF);
	if (!svc->buf)
		return -1;
	if (pl->cfg.metrics.listen) {
		svc->metrics = pl_metrics_start(pl->cfg.metrics.listen, err, sizeof(err));
		if (!svc->metrics) {
			pl_err("%s", err);
			return -1;
		}
		pl_info("metrics: serving http://%s/metrics", pl->cfg.metrics.listen);
	}
	return 0;
}

void pl_service_stop(struct pl_pipeline *pl)
{
	struct pl_service *svc = &pl->svc;
	struct pl_stats sum;

	if (svc->metrics) {
		collect(pl, &sum);
		pl_metrics_update(svc->metrics, &sum);
		pl_metrics_stop(svc->metrics);
		svc->metrics = NULL;
	}
	free(svc->buf);
	svc->buf = NULL;
}
