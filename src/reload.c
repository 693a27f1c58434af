/* reload.c – SIGHUP: re-read the configuration file (with the command line's overrides)
 * and apply what can change while running: protocol ports (to the capture workers), the
 * Kafka topics (to the publisher), heartbeats (to the service loop) and the tail inputs
 * (to the tailer). Names what needs a restart; a file that does not load changes nothing. */
#include <stdlib.h>
#include <string.h>
#include "pktlog/pipeline.h"

/* Load the file again with the command line's overrides, as at start-up. */
static int reload_load(const struct pl_cli *cli, const char *path, struct pl_config *nc)
{
	char err[1024];

	if (pl_config_load(path, nc, err, sizeof(err)) != 0) {
		pl_err("SIGHUP: %s; keeping the running configuration", err);
		return -1;
	}
	if ((cli->output && pl_cli_parse_output(cli->output, nc) != 0) ||
	    (cli->data_dir && pl_replace_str(&nc->data_dir, cli->data_dir) != 0)) {
		pl_err("SIGHUP: cannot apply the command line to %s; keeping the running "
		       "configuration", path);
		return -1;
	}
	for (int i = 0; i < cli->n_tails; i++) {
		if (pl_config_tail_add(nc, cli->tails[i]) != 0) {
			pl_err("SIGHUP: %s: with --tail, more than %d inputs; keeping the running "
			       "configuration", path, PL_TAIL_MAX_INPUTS);
			return -1;
		}
	}
	return 0;
}

static bool str_changed(const char *a, const char *b)
{
	return a != b && (!a || !b || strcmp(a, b) != 0);
}

/* Settings read once at start-up: say which of them the new file changes. */
static void warn_restart_only(const struct pl_config *old, const struct pl_config *nc)
{
	static const char fmt[] = "SIGHUP: %s changed; it takes effect only after a restart";

	if (str_changed(old->capture.iface, nc->capture.iface))
		pl_warn(fmt, "capture.interface");
	if (str_changed(old->capture.bpf_filter, nc->capture.bpf_filter) ||
	    old->capture.snaplen != nc->capture.snaplen || old->capture.workers != nc->capture.workers ||
	    old->capture.ebpf != nc->capture.ebpf || old->capture.buffer_mb != nc->capture.buffer_mb ||
	    old->capture.promisc != nc->capture.promisc || old->capture.immediate != nc->capture.immediate ||
	    str_changed(old->capture.user, nc->capture.user))
		pl_warn(fmt, "capture.*");
	if (old->output.type != nc->output.type || str_changed(old->output.file_path, nc->output.file_path) ||
	    str_changed(old->output.kafka.brokers, nc->output.kafka.brokers) ||
	    old->output.kafka.key != nc->output.kafka.key)
		pl_warn(fmt, "output (type, file, kafka brokers or key)");
	if (str_changed(old->data_dir, nc->data_dir))
		pl_warn(fmt, "data_dir");
	if (old->log_to != nc->log_to)
		pl_warn(fmt, "logging.to");
	if (str_changed(old->metrics.listen, nc->metrics.listen))
		pl_warn(fmt, "metrics.listen");
	if (str_changed(old->host_name, nc->host_name) || str_changed(old->app_id, nc->app_id))
		pl_warn(fmt, "host_name or app_id");
	if (old->tail.max_inflight != nc->tail.max_inflight)
		pl_warn(fmt, "tail.max_inflight");
	if (memcmp(&old->process, &nc->process, sizeof(old->process)) != 0)
		pl_warn(fmt, "process.*");
}

/* Heartbeats are the main thread's own: switch them over at once. */
static void reload_heartbeat(struct pl_pipeline *pl, struct pl_config *nc)
{
	char *t;

	if (pl->cfg.metrics.heartbeat_interval_ns != nc->metrics.heartbeat_interval_ns ||
	    pl->cfg.metrics.heartbeat != nc->metrics.heartbeat)
		pl->svc.next_hb_ns = 0;   /* the next tick counts a full new interval */
	pl->cfg.metrics.heartbeat = nc->metrics.heartbeat;
	pl->cfg.metrics.heartbeat_interval_ns = nc->metrics.heartbeat_interval_ns;
	pl->svc.hb.interval_ns = nc->metrics.heartbeat_interval_ns;
	t = pl->cfg.metrics.heartbeat_topic;
	pl->cfg.metrics.heartbeat_topic = nc->metrics.heartbeat_topic;
	nc->metrics.heartbeat_topic = t;
}

void pl_reload(struct pl_pipeline *pl)
{
	const char *path = pl->cfg.path;
	struct pl_config *nc;

	if (!path) {
		pl_warn("SIGHUP: no configuration file to reload (started without --config)");
		return;
	}
	nc = calloc(1, sizeof(*nc));
	if (!nc || reload_load(&pl->cli, path, nc) != 0) {
		if (nc)
			pl_config_free(nc);
		free(nc);
		return;
	}
	pl_workers_set_ports(&pl->workers, nc);
	if (pl_publisher_set_topics(&pl->pub, nc->output.kafka.topic) != 0)
		pl_err("SIGHUP: out of memory: output.kafka.topic not changed");
	reload_heartbeat(pl, nc);
	warn_restart_only(&pl->cfg, nc);
	pl_info("SIGHUP: %s reloaded: protocol ports updated; tail inputs (with fields and topics), "
		"tail.close_*/commit_interval/read_buffer_bytes, output.kafka.topic and "
		"metrics.heartbeat* applied; other settings keep their values until a restart", path);
	if (!pl_tail_source_reload(&pl->tail, nc)) {
		pl_config_free(nc);
		free(nc);
	}
}
