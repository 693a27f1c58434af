/* kafka_out.c – the Kafka output's row of struct pl_output_ops (include/pktlog/output.h):
 * adapts src/output/kafka.c (the producer and its spool) to the output face and adds what
 * the face promises on top of it: output_written per event taken, and a replay's exit
 * status when events had to be dropped. */
#include <stdlib.h>
#include "pktlog/kafka.h"

struct kafka_out {
	struct pl_kafka *k;
	struct pl_stats *stats;
	bool retry;                 /* a daemon: drops are in its counters, not its exit status */
};

static void *kout_open(const struct pl_config *cfg, struct pl_stats *stats, pl_output_ack_fn ack,
		       void *ack_arg)
{
	struct kafka_out *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->stats = stats;
	o->k = pl_kafka_open(cfg, stats, ack, ack_arg);
	if (!o->k) {
		free(o);
		return NULL;
	}
	return o;
}

static void kout_set_retry(void *impl, bool retry)
{
	struct kafka_out *o = impl;

	o->retry = retry;
}

/* Kafka never fails for good: what it cannot take goes to the spool, or is counted. */
static bool kout_broken(const void *impl)
{
	(void)impl;
	return false;
}

static int kout_publish(void *impl, const char *bytes, size_t len, const char *key,
			const char *topic, void *ack_token)
{
	struct kafka_out *o = impl;

	if (pl_kafka_publish(o->k, bytes, len, key, topic, ack_token) != 0)
		return -1;
	o->stats->output_written++;
	return 0;
}

/* Kafka makes events durable asynchronously; close waits for them. */
static int kout_flush(void *impl)
{
	struct kafka_out *o = impl;

	pl_kafka_poll(o->k);
	return 0;
}

static void kout_poll(void *impl)
{
	struct kafka_out *o = impl;

	pl_kafka_poll(o->k);
}

static bool kout_should_pause(const void *impl)
{
	const struct kafka_out *o = impl;

	return pl_kafka_should_pause(o->k);
}

static int kout_close(void *impl)
{
	struct kafka_out *o = impl;
	const struct pl_stats *st = o->stats;
	int rc = pl_kafka_close(o->k);

	/* A replay that had to drop events (a full spool, Kafka refusing them) did not
	 * deliver its capture: exit 1. A daemon's drops are in its counters. */
	if (!o->retry && (st->spool_drops || st->output_rejected)) {
		pl_err("output kafka: %llu events dropped (spool full: %llu, refused by Kafka: %llu)",
		       (unsigned long long)(st->spool_drops + st->output_rejected),
		       (unsigned long long)st->spool_drops, (unsigned long long)st->output_rejected);
		rc = -1;
	}
	free(o);
	return rc;
}

const struct pl_output_ops pl_output_kafka_ops = {
	.name = "kafka", .open = kout_open, .set_retry = kout_set_retry, .broken = kout_broken,
	.publish = kout_publish, .flush = kout_flush, .poll = kout_poll,
	.should_pause = kout_should_pause, .close = kout_close,
};
