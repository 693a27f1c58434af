/* tail_source.c – the file tailer as a source of the pipeline: its thread, the env through
 * which it publishes to the shared publisher, and the acknowledgements the output returns
 * to it (through the ack callback's argument, this struct pl_tail_source). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pktlog/pipeline.h"
#include "pktlog/tail.h"

void pl_tail_source_ack(void *token, int ok, void *arg)
{
	struct pl_tail_source *ts = arg;

	if (ts->t && token)
		pl_tail_ack(ts->t, token, ok);
}

static int ts_publish(void *arg, const char *json, size_t len, const char *key,
		      const char *topic, void *token)
{
	struct pl_tail_source *ts = arg;

	return pl_publish_record(ts->pub, json, len, key, topic, token);
}

static void ts_flush(void *arg)
{
	struct pl_tail_source *ts = arg;

	pl_publisher_flush(ts->pub);
}

static bool ts_should_pause(void *arg)
{
	struct pl_tail_source *ts = arg;

	return pl_publisher_should_pause(ts->pub);
}

static void *tail_main(void *arg)
{
	struct pl_tail_source *ts = arg;

	pl_signals_block();
	ts->status = pl_tail_run(ts->t) != 0;
	if (ts->status)
		pl_stop_requested = 1;
	return NULL;
}

int pl_tail_source_start(struct pl_tail_source *ts, const struct pl_config *cfg)
{
	struct pl_tail_env env = { ts_publish, ts_flush, ts_should_pause, ts, ts->host_name,
				   &ts->stats, &pl_stop_requested };

	ts->t = pl_tail_open(cfg, &env);
	if (!ts->t)
		return -1;
	if (pthread_create(&ts->thread, NULL, tail_main, ts) != 0) {
		pl_err("cannot start the tailer thread: %s", strerror(errno));
		pl_tail_close(ts->t);
		ts->t = NULL;
		return -1;
	}
	return 0;
}

bool pl_tail_source_reload(struct pl_tail_source *ts, struct pl_config *nc)
{
	if (!ts->t) {
		if (!nc->tail.n_inputs)
			return false;
		if (pl_tail_source_start(ts, nc) != 0) {
			pl_err("SIGHUP: the tailer cannot start; tail inputs not applied");
			return false;
		}
	} else if (pl_tail_reload(ts->t, nc) != 0) {
		return false;
	}
	if (ts->cfg) {
		pl_config_free(ts->cfg);
		free(ts->cfg);
	}
	ts->cfg = nc;
	return true;
}

int pl_tail_source_wait(struct pl_pipeline *pl)
{
	struct pl_tail_source *ts = &pl->tail;

	while (!pl_stop_requested) {
		if (pl_service_step(pl, true))   /* Kafka delivery reports arrive through poll */
			pl_stop_requested = 1;
	}
	pl_tail_stop(ts->t);
	pthread_join(ts->thread, NULL);
	pl_stats_add(&pl->stats, &ts->stats);
	memset(&ts->stats, 0, sizeof(ts->stats));   /* counted once, in pl->stats now */
	return ts->status || pl_publisher_broken(&pl->pub);
}

void pl_tail_source_close(struct pl_tail_source *ts)
{
	pl_tail_close(ts->t);
	ts->t = NULL;
	if (ts->cfg) {
		pl_config_free(ts->cfg);
		free(ts->cfg);
		ts->cfg = NULL;
	}
}
