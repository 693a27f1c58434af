/* kafka_window.c – the Kafka output's spool side: events go into the disk spool while Kafka
 * cannot take them (acked when the spool holds them as durably as output.spool.fsync
 * promises), and come back out in order through a ring of RING records in flight; the spool
 * is acked up to the first record not yet delivered, and a window with a failed delivery is
 * re-read from there without sending its delivered records again. */
#include <stdio.h>
#include <string.h>
#include "pktlog/common.h"
#include "kafka_int.h"

/* ---- into the spool ---- */

/* The event could not be spooled: counted by reason. */
void kafka_count_drop(struct pl_kafka *k, int rc)
{
	if (rc == PL_SPOOL_FULL) {
		k->st->spool_drops++;
		if (!k->full_logged)
			pl_warn("kafka: the spool is full (output.spool.max_bytes): dropping the newest events");
		k->full_logged = true;
		return;
	}
	/* A write error (logged by the spool with its errno); a record too large for the spool
	 * (only possible in respool, with a message.max.bytes above 1 MiB). */
	k->st->spool_drops_error++;
	k->lost++;
}

/* Append one event to the spool and see to its ack. Returns the pl_spool_status; on failure
 * nothing is counted or acked here: the caller decides (drop, refuse, keep in memory). */
int kafka_spool_try(struct pl_kafka *k, const void *bytes, size_t len, const void *key,
		     size_t klen, const char *topic, void *token)
{
	int rc = pl_spool_append(k->spool, bytes, len, key, klen, topic, strlen(topic));

	if (rc != PL_SPOOL_OK) {
		k->st->output_healthy = 0;
		return rc;
	}
	k->full_logged = false;
	k->spooling = true;
	if (!token || !k->ack)
		return rc;
	if (pl_spool_durable(k->spool)) {
		kafka_ack(k, token, 1);
		return rc;
	}
	if (k->nsync == SYNC_TOKENS && pl_spool_sync(k->spool) == 0)
		kafka_ack_synced(k);
	if (k->nsync < SYNC_TOKENS)
		k->sync_tokens[k->nsync++] = token;
	return rc;
}

/* A new event (from publish) goes to the spool. One with an ack token that the spool cannot
 * take now is refused, not dropped: its source (the tailer) keeps its offset and reads it
 * again later. Others are dropped and counted. 0, or -1. */
int kafka_spool_new(struct pl_kafka *k, const void *bytes, size_t len, const void *key,
		     size_t klen, const char *topic, void *token)
{
	int rc = kafka_spool_try(k, bytes, len, key, klen, topic, token);

	if (rc == PL_SPOOL_OK) {
		k->st->output_accepted++;
		return 0;
	}
	if (rc == PL_SPOOL_TOO_BIG)
		return kafka_reject(k, token, topic, len, "larger than a spool record may be");
	if (token && k->ack)
		return -1;
	k->st->output_accepted++;
	kafka_count_drop(k, rc);
	kafka_ack(k, token, 0);
	return -1;
}

/* ---- the drain: re-send the spool in order ---- */

void kafka_advance_acks(struct pl_kafka *k)
{
	struct pl_spool_pos upto = k->acked;

	while (k->head != k->tail) {
		struct slot *s = &k->ring[k->head % RING];
		if (!s->done || !s->ok)
			break;
		upto = s->next;
		k->head++;
	}
	if (k->replay < k->head) {
		/* The records still to re-read are all delivered: skip reading them again. */
		k->replay = k->head;
		pl_spool_rewind(k->spool, upto);
	}
	/* Nothing in flight: everything read (skipped corrupt bytes too) is behind us. */
	if (k->head == k->tail && !k->drain_failed)
		upto = pl_spool_read_pos(k->spool);
	k->acked = upto;
	pl_spool_ack(k->spool, upto);
	if (k->drain_failed && k->spool_inflight == 0) {
		/* Re-read from the first record not delivered; the ring still says which of the
		 * later ones were delivered, and those are not sent again (drain_one). */
		pl_spool_rewind(k->spool, k->acked);
		k->replay = k->head;
		k->drain_failed = false;
		k->retry_at = kafka_mono_ns() + RETRY_NS;
	}
}

/* The slot for the record just read: a new one at the tail, or, while re-reading a failed
 * window, the one it had (NULL when that one was delivered and must not be sent twice). */
static struct slot *slot_for(struct pl_kafka *k, const struct pl_spool_rec *r, bool *skip)
{
	struct slot *s;

	*skip = false;
	if (k->replay == k->tail)
		return &k->ring[k->tail % RING];
	s = &k->ring[k->replay % RING];
	/* A record other than the one the ring remembers (cannot happen with an append-only
	 * spool) is sent again rather than trusted: a duplicate at worst, never a loss. */
	*skip = s->done && s->ok && s->next.seg == r->next.seg && s->next.off == r->next.off;
	return s;
}

/* Send one spool record; false when librdkafka's queue is full (try again later). */
static bool drain_one(struct pl_kafka *k, const struct pl_spool_rec *r)
{
	bool skip, fresh;
	struct slot *s = slot_for(k, r, &skip);
	char topic[TOPIC_MAX];
	rd_kafka_topic_t *rkt;

	fresh = k->replay == k->tail;
	if (skip) {
		k->replay++;
		return true;
	}
	snprintf(topic, sizeof(topic), "%.*s", (int)r->tlen, r->topic);
	rkt = kafka_get_topic(k, topic);
	*s = (struct slot){ .next = r->next };
	if (rkt && kafka_produce(k, rkt, r->payload, r->len, r->klen ? r->key : NULL, r->klen, s)) {
		k->tail += fresh;
		k->replay++;
		k->spool_inflight++;
		k->st->output_retried++;
		return true;
	}
	if (!rkt || !kafka_permanent(rd_kafka_last_error())) {
		s->done = true;      /* still not delivered: a replayed slot must stay "failed" */
		if (rkt && rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			kafka_report_failure(k, rd_kafka_last_error(), topic);
			k->retry_at = kafka_mono_ns() + RETRY_NS;
		}
		return false;
	}
	/* Kafka will never take this one (too large): skip it, do not loop on it. */
	pl_warn("kafka: a spooled event for %s cannot be sent (%s); skipped", topic,
		rd_kafka_err2str(rd_kafka_last_error()));
	k->st->output_failed++;
	s->done = s->ok = true;
	k->tail += fresh;
	k->replay++;
	return true;
}

void kafka_drain(struct pl_kafka *k)
{
	struct pl_spool_rec r;

	if (!k->spooling || k->closing || k->drain_failed || kafka_mono_ns() < k->retry_at)
		return;
	/* Re-reading a failed window needs no new slot, even with the ring full. */
	while ((k->replay != k->tail || k->tail - k->head < RING) &&
	       pl_spool_read(k->spool, &r) == 1) {
		if (!drain_one(k, &r)) {
			pl_spool_rewind(k->spool, r.pos);
			break;
		}
	}
	if (!k->down && pl_spool_at_end(k->spool) && k->head == k->tail && !k->drain_failed) {
		if (pl_spool_bytes(k->spool))
			kafka_advance_acks(k);
		k->spooling = false;
	}
}
