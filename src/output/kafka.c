/* kafka.c – the Kafka output's hot path: publish (direct to librdkafka, or to the spool while
 * spooling), poll (delivery reports, the spool's fsync, the re-send window) and the pause a
 * waiting source asks about; topic handles, acks and rate-limited logs shared by the other
 * kafka_*.c files. kafka_int.h describes the modes and the files. */
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include "pktlog/common.h"
#include "kafka_int.h"

uint64_t kafka_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* librdkafka repeats an error for every message and every reconnect: say it once in a while. */
bool kafka_should_log(struct pl_kafka *k, int err)
{
	uint64_t now = kafka_mono_ns();

	if (err == k->last_err && now - k->last_err_ns < LOG_EVERY_NS)
		return false;
	k->last_err = err;
	k->last_err_ns = now;
	return true;
}

void kafka_ack(struct pl_kafka *k, void *token, int ok)
{
	if (k->ack && token)
		k->ack(token, ok, k->ack_arg);
}

void kafka_ack_synced(struct pl_kafka *k)
{
	for (size_t i = 0; i < k->nsync; i++)
		kafka_ack(k, k->sync_tokens[i], 1);
	k->nsync = 0;
}

/* An event that can never be sent (larger than librdkafka's message.max.bytes or the spool's
 * record limit, or beyond MAX_TOPICS topics): dropped, counted and logged. Its ack token is
 * returned as done: holding it would stop the tailer's offsets for good (a restart reads the
 * same record again), and no retry can make it fit. Returns 0 (taken). */
int kafka_reject(struct pl_kafka *k, void *token, const char *topic, size_t len, const char *why)
{
	k->st->output_accepted++;
	k->st->output_rejected++;
	if (kafka_should_log(k, -1001))
		pl_err("kafka: an event of %zu bytes for %s is dropped: %s (counted in output_rejected)",
		       len, topic, why);
	kafka_ack(k, token, 1);
	return 0;
}

/* ---- topics ---- */

rd_kafka_topic_t *kafka_get_topic(struct pl_kafka *k, const char *name)
{
	for (int i = 0; i < k->ntopics; i++)
		if (strcmp(k->topics[i].name, name) == 0)
			return k->topics[i].rkt;
	if (k->ntopics == MAX_TOPICS) {
		if (kafka_should_log(k, -1000))
			pl_err("kafka: more than %d topics in use; events for %s are dropped", MAX_TOPICS, name);
		return NULL;
	}
	k->topics[k->ntopics].name = strdup(name);
	if (!k->topics[k->ntopics].name)
		return NULL;
	k->topics[k->ntopics].rkt = rd_kafka_topic_new(k->rk, name, NULL);
	if (!k->topics[k->ntopics].rkt) {
		free(k->topics[k->ntopics].name);
		return NULL;
	}
	return k->topics[k->ntopics++].rkt;
}

/* ---- produce, poll, pause ---- */

bool kafka_produce(struct pl_kafka *k, rd_kafka_topic_t *rkt, const void *bytes, size_t len,
		    const void *key, size_t klen, void *opaque)
{
	if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)bytes, len,
			     key, klen, opaque) == -1)
		return false;
	k->st->output_inflight++;
	k->out_bytes += len + klen + MSG_OVERHEAD;
	if (++k->since_poll >= POLL_EVERY) {
		k->since_poll = 0;
		rd_kafka_poll(k->rk, 0);
	}
	return true;
}

/* Errors rd_kafka_produce gives for the message itself, which no retry can cure. Everything
 * else (a topic unknown or refused for now, a fatal producer state) may pass: keep the event. */
bool kafka_permanent(rd_kafka_resp_err_t err)
{
	return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR__INVALID_ARG;
}

void pl_kafka_poll(struct pl_kafka *k)
{
	rd_kafka_poll(k->rk, 0);
	kafka_advance_acks(k);
	/* The spool may have been made durable without a tick (a drained segment is fsynced as
	 * it is closed): the acks waiting for that fsync are due now, not at the next outage. */
	if (pl_spool_tick(k->spool, kafka_mono_ns()) || (k->nsync && pl_spool_durable(k->spool)))
		kafka_ack_synced(k);
	kafka_drain(k);
}

/* A source that can wait also waits while librdkafka's queue is nearly full: otherwise a file
 * read faster than Kafka takes it would go through the disk spool for nothing.
 *
 * While events go direct it also waits once PAUSE_BATCHES full batches (batch_bytes each) are
 * undelivered. librdkafka's idempotent producer (2.0.2, and the same code today) counts
 * *messages* in flight against its limit of 5 *requests* per partition, so once one batch is
 * in flight no other request is made for that partition; meanwhile, whenever the next batch
 * is ready, its broker thread busy-polls (poll() with a zero timeout: 2.8 million calls for a
 * 200 MB file, 2/3 of pktlog's CPU, measured) and takes the CPU the broker and the reader
 * need. One batch in flight, one ready and one filling keep the broker just as busy. */
bool pl_kafka_should_pause(const struct pl_kafka *k)
{
	return pl_spool_should_pause(k->spool) ||
	       (!k->spooling && k->out_bytes >= k->bytes_pause) ||
	       (uint64_t)rd_kafka_outq_len(k->rk) >= k->queue_pause;
}

/* ---- publish ---- */

int pl_kafka_publish(struct pl_kafka *k, const char *bytes, size_t len,
		     const char *key, const char *topic, void *ack_token)
{
	const char *name = topic ? topic : k->default_topic;
	size_t klen = key ? strlen(key) : 0;
	rd_kafka_topic_t *rkt;

	if (k->spooling || k->closing)
		return kafka_spool_new(k, bytes, len, key, klen, name, ack_token);
	rkt = kafka_get_topic(k, name);
	if (!rkt)
		return kafka_reject(k, ack_token, name, len, "no topic handle (more topics than pktlog keeps)");
	if (kafka_produce(k, rkt, bytes, len, klen ? key : NULL, klen, ack_token)) {
		k->st->output_accepted++;
		return 0;
	}
	if (rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		/* Delivery reports not served yet still hold queue slots: serving them (never
		 * blocking) often makes room, and the disk round trip is far dearer. */
		rd_kafka_poll(k->rk, 0);
		if (!k->spooling && kafka_produce(k, rkt, bytes, len, klen ? key : NULL, klen, ack_token)) {
			k->st->output_accepted++;
			return 0;
		}
		return kafka_spool_new(k, bytes, len, key, klen, name, ack_token);
	}
	if (!kafka_permanent(rd_kafka_last_error())) {
		/* Refused for now (topic unknown or not allowed yet): the spool keeps it. */
		kafka_refused(k, rd_kafka_last_error());
		kafka_report_failure(k, rd_kafka_last_error(), name);
		return kafka_spool_new(k, bytes, len, key, klen, name, ack_token);
	}
	kafka_refused(k, rd_kafka_last_error());
	return kafka_reject(k, ack_token, name, len, rd_kafka_err2str(rd_kafka_last_error()));
}
