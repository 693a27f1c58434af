/* kafka.c – the Kafka output: a librdkafka producer whose delivery reports drive the acks, with
 * the disk spool (src/output/spool.c) taking what Kafka cannot take now.
 *
 * Modes: direct (events go to librdkafka) and spooling (entered when librdkafka's queue is full,
 * a delivery fails, or all brokers are down): new events are appended to the spool, and the spool
 * is re-sent in order, a bounded window at a time, until it is empty; only then do events go
 * direct again, so spooled events are not overtaken. A window with a failed delivery is re-read
 * from its first undelivered record, and the records of it already delivered are not sent again:
 * only a failure the broker may have stored anyway can make a duplicate. Must not render or
 * inspect events, and must never block on the hot path (publish/poll). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <librdkafka/rdkafka.h>
#include "pktlog/kafka.h"
#include "pktlog/spool.h"

#define RING 8192                /* spool records in flight at once */
#define MAX_TOPICS 64
#define SYNC_TOKENS 4096         /* acks waiting for the spool's next fsync */
#define POLL_EVERY 256           /* publishes between two serves of the delivery reports */
#define RETRY_NS (1 * PL_NS_PER_SEC)
#define LOG_EVERY_NS (10 * PL_NS_PER_SEC)
#define TOPIC_MAX 256
#define CHECK_MS 3000
#define MSG_OVERHEAD 24          /* record framing, roughly, for the undelivered-bytes count */
#define PAUSE_BATCHES 3          /* undelivered full batches before a waiting source waits */
#define MIN_BYTES_PAUSE (1u << 20)
#define BATCH_FRAMING 512        /* request and record-batch headers kept under the topic's limit */

struct slot {
	struct pl_spool_pos next;    /* the spool position after this record */
	bool done, ok;
};

struct topic {
	char *name;
	rd_kafka_topic_t *rkt;
};

struct pl_kafka {
	rd_kafka_t *rk;
	struct topic topics[MAX_TOPICS];
	int ntopics;
	char *default_topic;
	char *brokers;
	struct pl_spool *spool;
	struct pl_stats *st;
	pl_output_ack_fn ack;
	void *ack_arg;
	uint64_t flush_timeout_ms;
	uint64_t queue_pause;        /* messages in librdkafka's queue that make a waiting source wait */
	uint64_t bytes_pause;        /* undelivered bytes that make a waiting source wait */
	uint64_t out_bytes;          /* bytes handed to librdkafka, delivery report not served yet */
	bool spooling, closing, drain_failed;
	bool down;                   /* brokers unreachable: stay on the spool until a delivery succeeds */
	uint64_t retry_at;
	struct slot ring[RING];
	uint64_t head, tail;         /* ring indexes, modulo RING */
	uint64_t replay;             /* < tail: re-reading ring[replay..tail) after a failed window */
	uint64_t maybe_stored;       /* failed reports for messages the broker may have stored */
	uint64_t spool_inflight;
	struct pl_spool_pos acked;   /* what we last told the spool is delivered */
	void *sync_tokens[SYNC_TOKENS];
	size_t nsync;
	unsigned since_poll;
	int last_err;
	uint64_t last_err_ns;
	bool full_logged;
	int lost;                    /* events neither delivered nor spooled */
	uint32_t batch_bytes;        /* librdkafka batch.size: output.kafka.batch_bytes, or clamped */
	uint64_t refused_ns;         /* last refusal no retry cures: output_healthy stays 0 a while */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* librdkafka repeats an error for every message and every reconnect: say it once in a while. */
static bool should_log(struct pl_kafka *k, int err)
{
	uint64_t now = mono_ns();

	if (err == k->last_err && now - k->last_err_ns < LOG_EVERY_NS)
		return false;
	k->last_err = err;
	k->last_err_ns = now;
	return true;
}

static void ack(struct pl_kafka *k, void *token, int ok)
{
	if (k->ack && token)
		k->ack(token, ok, k->ack_arg);
}

static void ack_synced(struct pl_kafka *k)
{
	for (size_t i = 0; i < k->nsync; i++)
		ack(k, k->sync_tokens[i], 1);
	k->nsync = 0;
}

/* ---- the spool side ---- */

/* The event could not be spooled: counted by reason. */
static void count_drop(struct pl_kafka *k, int rc)
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
static int spool_try(struct pl_kafka *k, const void *bytes, size_t len, const void *key,
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
		ack(k, token, 1);
		return rc;
	}
	if (k->nsync == SYNC_TOKENS && pl_spool_sync(k->spool) == 0)
		ack_synced(k);
	if (k->nsync < SYNC_TOKENS)
		k->sync_tokens[k->nsync++] = token;
	return rc;
}

/* An event that can never be sent (larger than librdkafka's message.max.bytes or the spool's
 * record limit, or beyond MAX_TOPICS topics): dropped, counted and logged. Its ack token is
 * returned as done: holding it would stop the tailer's offsets for good (a restart reads the
 * same record again), and no retry can make it fit. Returns 0 (taken). */
static int reject(struct pl_kafka *k, void *token, const char *topic, size_t len, const char *why)
{
	k->st->output_accepted++;
	k->st->output_rejected++;
	if (should_log(k, -1001))
		pl_err("kafka: an event of %zu bytes for %s is dropped: %s (counted in output_rejected)",
		       len, topic, why);
	ack(k, token, 1);
	return 0;
}

/* A new event (from publish) goes to the spool. One with an ack token that the spool cannot
 * take now is refused, not dropped: its source (the tailer) keeps its offset and reads it
 * again later. Others are dropped and counted. 0, or -1. */
static int spool_new(struct pl_kafka *k, const void *bytes, size_t len, const void *key,
		     size_t klen, const char *topic, void *token)
{
	int rc = spool_try(k, bytes, len, key, klen, topic, token);

	if (rc == PL_SPOOL_OK) {
		k->st->output_accepted++;
		return 0;
	}
	if (rc == PL_SPOOL_TOO_BIG)
		return reject(k, token, topic, len, "larger than a spool record may be");
	if (token && k->ack)
		return -1;
	k->st->output_accepted++;
	count_drop(k, rc);
	ack(k, token, 0);
	return -1;
}

/* ---- topics ---- */

static rd_kafka_topic_t *get_topic(struct pl_kafka *k, const char *name)
{
	for (int i = 0; i < k->ntopics; i++)
		if (strcmp(k->topics[i].name, name) == 0)
			return k->topics[i].rkt;
	if (k->ntopics == MAX_TOPICS) {
		if (should_log(k, -1000))
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

/* ---- delivery reports and errors (served from rd_kafka_poll, on our thread) ---- */

static bool is_slot(const struct pl_kafka *k, const void *p)
{
	return (const char *)p >= (const char *)k->ring && (const char *)p < (const char *)(k->ring + RING);
}

/* Refusals that librdkafka's retries and the spool's re-sends cannot cure: only the operator
 * (a topic setting, an ACL, a created topic) can. The counter of the cause, or NULL. */
static uint64_t *refusal_counter(struct pl_kafka *k, rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
		return &k->st->kafka_err_msg_size;
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
		return &k->st->kafka_err_authorization;
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
		return &k->st->kafka_err_invalid_record;
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
		return &k->st->kafka_err_unknown_topic;
	default:
		return NULL;
	}
}

/* What the operator must do about a refusal (one refusal_counter knows). */
static const char *refusal_remedy(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
		return "lower output.kafka.batch_bytes or raise the topic's max.message.bytes";
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
		return "allow pktlog's principal to write the topic";
	default:
		return "the topic refuses these records (a compacted topic needs a key: output.kafka.key)";
	}
}

/* Count a refusal by cause, keep output_healthy at 0 for a while even if other deliveries
 * succeed, and say it (rate-limited). Returns true when err is such a refusal. */
static bool refused(struct pl_kafka *k, rd_kafka_resp_err_t err)
{
	uint64_t *n = refusal_counter(k, err);

	if (!n)
		return false;
	(*n)++;
	k->refused_ns = mono_ns();
	k->st->output_healthy = 0;
	return true;
}

static void report_failure(struct pl_kafka *k, rd_kafka_resp_err_t err, const char *topic)
{
	bool perm = refusal_counter(k, err) != NULL;

	if (!should_log(k, err))
		return;
	if (err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		pl_err("kafka: topic %s does not exist and auto-creation is off: create it; "
		       "events are spooled until it exists (kafka_err_unknown_topic)", topic);
	else if (perm)
		pl_err("kafka: Kafka refuses events for %s: %s; no retry can fix this: %s; events are "
		       "spooled meanwhile (counted in kafka_err_*, output_healthy 0)",
		       topic, rd_kafka_err2str(err), refusal_remedy(err));
	else if (err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
		pl_warn("kafka: delivery to %s failed: %s; events are spooled and re-sent",
			topic, rd_kafka_err2str(err));
}

/* A direct message whose delivery failed goes to the spool. When the spool cannot take it
 * (a full disk) it goes back into librdkafka's queue rather than being lost, while the queue
 * has room and pktlog is not closing; only then is it dropped, counted by reason. */
static void respool(struct pl_kafka *k, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	int rc = spool_try(k, m->payload, m->len, m->key, m->key_len, topic, m->_private);

	if (rc == PL_SPOOL_OK)
		return;
	if (!k->closing && rc != PL_SPOOL_TOO_BIG &&
	    rd_kafka_produce(m->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, m->payload, m->len,
			     m->key, m->key_len, m->_private) == 0) {
		k->st->output_inflight++;
		k->out_bytes += m->len + m->key_len + MSG_OVERHEAD;
		return;
	}
	count_drop(k, rc);
	ack(k, m->_private, 0);
}

/* A message the broker refused as too large that was a batch by itself (larger than batch.size,
 * so librdkafka put nothing else with it): no re-send can ever deliver it. */
static bool alone_too_big(const struct pl_kafka *k, const rd_kafka_message_t *m)
{
	return refusal_counter((struct pl_kafka *)k, m->err) == &k->st->kafka_err_msg_size &&
	       m->len + m->key_len + MSG_OVERHEAD > k->batch_bytes;
}

static void drop_too_big(struct pl_kafka *k, const rd_kafka_message_t *m, bool spooled)
{
	if (!spooled)
		k->st->output_rejected++;
	if (should_log(k, -1002))
		pl_err("kafka: an event of %zu bytes for %s is dropped: the broker refuses it as too "
		       "large (%s) even alone; raise the topic's max.message.bytes (counted in "
		       "kafka_err_msg_size%s)", m->len + m->key_len, rd_kafka_topic_name(m->rkt),
		       rd_kafka_err2str(m->err), spooled ? "" : ", output_rejected");
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct pl_kafka *k = opaque;

	if (k->st->output_inflight)
		k->st->output_inflight--;
	k->out_bytes -= PL_MIN(k->out_bytes, m->len + m->key_len + MSG_OVERHEAD);
	if (m->err) {
		k->st->output_failed++;
		k->st->output_healthy = 0;
		/* Re-sending these may store them twice: the only duplicates a running pktlog makes.
		 * A timed-out message counts whatever its status says: during a leader's controlled
		 * shutdown the broker answers NOT_LEADER for a write it has already appended, and
		 * librdkafka then reports the message as not persisted (confluentinc/librdkafka#4953;
		 * seen in tests/integration/test_kafka_cluster.py). The bound is looser, but true. */
		if (rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED ||
		    m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
			k->maybe_stored++;
		refused(k, m->err);
		if (!alone_too_big(k, m))
			report_failure(k, m->err, rd_kafka_topic_name(m->rkt));
	} else {
		k->st->output_delivered++;
		if (!k->refused_ns || mono_ns() - k->refused_ns >= LOG_EVERY_NS)
			k->st->output_healthy = 1;
		k->down = false;
	}
	if (is_slot(k, m->_private)) {
		struct slot *s = m->_private;
		s->done = true;
		s->ok = !m->err;
		k->spool_inflight--;
		if (m->err && alone_too_big(k, m)) {
			drop_too_big(k, m, true);   /* skipped: re-reading it would loop for ever */
			s->ok = true;
		} else if (m->err) {
			k->drain_failed = true;
		} else {
			k->st->spool_delivered++;
		}
		return;
	}
	if (!m->err) {
		ack(k, m->_private, 1);
		return;
	}
	if (alone_too_big(k, m)) {
		drop_too_big(k, m, false);
		ack(k, m->_private, 1);
		return;
	}
	respool(k, m);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct pl_kafka *k = opaque;
	const char *slash = strchr(reason, '/');

	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		k->spooling = k->down = true;   /* new events go to disk, not into memory */
		k->st->output_healthy = 0;
		if (should_log(k, err))
			pl_err("kafka: all brokers (%s) are down; spooling events and retrying", k->brokers);
		return;
	}
	if (!should_log(k, err))
		return;
	if (err == RD_KAFKA_RESP_ERR__TRANSPORT && slash && strcasestr(reason, "connection refused"))
		pl_err("kafka: broker %.*s: connection refused (retrying)", (int)(slash - reason), reason);
	else if (err == RD_KAFKA_RESP_ERR__FATAL)
		pl_err("kafka: fatal producer error: %s", reason);
	else
		pl_warn("kafka: %s", reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* Errors worth the operator's time arrive through on_error, in plain words. */
	pl_debug("kafka: %s: %s", fac, buf);
}

/* ---- the drain: re-send the spool in order ---- */

static void advance_acks(struct pl_kafka *k)
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
		k->retry_at = mono_ns() + RETRY_NS;
	}
}

static bool produce(struct pl_kafka *k, rd_kafka_topic_t *rkt, const void *bytes, size_t len,
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
static bool permanent(rd_kafka_resp_err_t err)
{
	return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR__INVALID_ARG;
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
	rkt = get_topic(k, topic);
	*s = (struct slot){ .next = r->next };
	if (rkt && produce(k, rkt, r->payload, r->len, r->klen ? r->key : NULL, r->klen, s)) {
		k->tail += fresh;
		k->replay++;
		k->spool_inflight++;
		k->st->output_retried++;
		return true;
	}
	if (!rkt || !permanent(rd_kafka_last_error())) {
		s->done = true;      /* still not delivered: a replayed slot must stay "failed" */
		if (rkt && rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			report_failure(k, rd_kafka_last_error(), topic);
			k->retry_at = mono_ns() + RETRY_NS;
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

static void drain(struct pl_kafka *k)
{
	struct pl_spool_rec r;

	if (!k->spooling || k->closing || k->drain_failed || mono_ns() < k->retry_at)
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
			advance_acks(k);
		k->spooling = false;
	}
}

void pl_kafka_poll(struct pl_kafka *k)
{
	rd_kafka_poll(k->rk, 0);
	advance_acks(k);
	/* The spool may have been made durable without a tick (a drained segment is fsynced as
	 * it is closed): the acks waiting for that fsync are due now, not at the next outage. */
	if (pl_spool_tick(k->spool, mono_ns()) || (k->nsync && pl_spool_durable(k->spool)))
		ack_synced(k);
	drain(k);
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
		return spool_new(k, bytes, len, key, klen, name, ack_token);
	rkt = get_topic(k, name);
	if (!rkt)
		return reject(k, ack_token, name, len, "no topic handle (more topics than pktlog keeps)");
	if (produce(k, rkt, bytes, len, klen ? key : NULL, klen, ack_token)) {
		k->st->output_accepted++;
		return 0;
	}
	if (rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		/* Delivery reports not served yet still hold queue slots: serving them (never
		 * blocking) often makes room, and the disk round trip is far dearer. */
		rd_kafka_poll(k->rk, 0);
		if (!k->spooling && produce(k, rkt, bytes, len, klen ? key : NULL, klen, ack_token)) {
			k->st->output_accepted++;
			return 0;
		}
		return spool_new(k, bytes, len, key, klen, name, ack_token);
	}
	if (!permanent(rd_kafka_last_error())) {
		/* Refused for now (topic unknown or not allowed yet): the spool keeps it. */
		refused(k, rd_kafka_last_error());
		report_failure(k, rd_kafka_last_error(), name);
		return spool_new(k, bytes, len, key, klen, name, ack_token);
	}
	refused(k, rd_kafka_last_error());
	return reject(k, ack_token, name, len, rd_kafka_err2str(rd_kafka_last_error()));
}

/* ---- set-up ---- */

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *val, const char *key)
{
	char errstr[256];

	if (rd_kafka_conf_set(conf, name, val, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
		return 0;
	pl_err("kafka: %s: %s", key, errstr);
	return -1;
}

/* A file-supplied name for a message: at most 48 bytes, control bytes masked (as the
 * config loader shows keys). */
static const char *show_name(const char *s, char *buf, size_t buflen)
{
	size_t i;

	for (i = 0; s[i] && i < PL_MIN(buflen - 1, (size_t)48); i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

int pl_kafka_check_properties(const struct pl_config *cfg, char *err, size_t errlen)
{
	const typeof(cfg->output.kafka) *kc = &cfg->output.kafka;
	rd_kafka_conf_t *probe = rd_kafka_conf_new();
	char errstr[256], name[49];
	int rc = 0;

	if (errlen)
		err[0] = '\0';
	if (!probe) {
		snprintf(err, errlen, "output.kafka.properties: out of memory");
		return -1;
	}
	/* librdkafka knows its own settings best: ask it, so a typo fails at start. */
	for (int i = 0; i < kc->n_props && rc == 0; i++) {
		if (rd_kafka_conf_set(probe, kc->prop_key[i], kc->prop_val[i], errstr,
				      sizeof(errstr)) == RD_KAFKA_CONF_OK)
			continue;
		snprintf(err, errlen, "%s:%lu: output.kafka.properties.%s: %s",
			 cfg->path ? cfg->path : "-", kc->prop_line[i],
			 show_name(kc->prop_key[i], name, sizeof(name)), errstr);
		rc = -1;
	}
	rd_kafka_conf_destroy(probe);
	return rc;
}

static rd_kafka_conf_t *make_conf(const struct pl_config *cfg, struct pl_kafka *k)
{
	static const char *const comp[] = { "none", "gzip", "snappy", "lz4", "zstd" };
	static const char *const acks[] = { "all", "1", "0" };
	const typeof(cfg->output.kafka) *kc = &cfg->output.kafka;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char num[32];
	int bad = 0;

	if (!conf)
		return NULL;
	bad |= conf_set(conf, "bootstrap.servers", kc->brokers, "output.kafka.brokers");
	bad |= conf_set(conf, "compression.codec", comp[kc->compression], "output.kafka.compression");
	bad |= conf_set(conf, "acks", acks[kc->acks], "output.kafka.acks");
	bad |= conf_set(conf, "enable.idempotence", kc->idempotence ? "true" : "false",
			"output.kafka.idempotence");
	snprintf(num, sizeof(num), "%.3f", (double)kc->linger_ns / 1e6);
	bad |= conf_set(conf, "linger.ms", num, "output.kafka.linger");
	snprintf(num, sizeof(num), "%" PRIu32, kc->batch_messages);
	bad |= conf_set(conf, "batch.num.messages", num, "output.kafka.batch_messages");
	snprintf(num, sizeof(num), "%" PRIu32, k->batch_bytes);
	bad |= conf_set(conf, "batch.size", num, "output.kafka.batch_bytes");
	snprintf(num, sizeof(num), "%" PRIu32, kc->queue_messages);
	bad |= conf_set(conf, "queue.buffering.max.messages", num, "output.kafka.queue_messages");
	snprintf(num, sizeof(num), "%" PRIu64, PL_MAX(kc->message_timeout_ns / 1000000, 1));
	bad |= conf_set(conf, "message.timeout.ms", num, "output.kafka.message_timeout");
	for (int i = 0; i < kc->n_props; i++)
		bad |= conf_set(conf, kc->prop_key[i], kc->prop_val[i], "output.kafka.properties");
	if (bad) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_opaque(conf, k);
	return conf;
}

/* Ask for the topic's metadata (which also lets a broker that allows it create the topic). */
static rd_kafka_resp_err_t topic_state(struct pl_kafka *k, rd_kafka_topic_t *rkt, int timeout_ms)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(k->rk, rkt ? 0 : 1, rkt, &md, timeout_ms);

	if (err)
		return err;
	if (rkt && md->topic_cnt == 1)
		err = md->topics[0].err;
	rd_kafka_metadata_destroy(md);
	return err;
}

/* One config value of one resource (a topic, or a broker by its id) through the admin API,
 * waiting at most CHECK_MS. 0 and *val set; 1 when the resource does not exist; -1 otherwise. */
static int describe_config(struct pl_kafka *k, rd_kafka_ResourceType_t type, const char *name,
			   const char *key, uint64_t *val)
{
	rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(type, name);
	rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
	rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_DescribeConfigs_result_t *r;
	const rd_kafka_ConfigResource_t **rs;
	const rd_kafka_ConfigEntry_t **ents;
	size_t nrs = 0, nents = 0;
	char errstr[256];
	int rc = -1;

	if (!res || !opt || !q)
		goto out;
	rd_kafka_AdminOptions_set_request_timeout(opt, CHECK_MS, errstr, sizeof(errstr));
	rd_kafka_DescribeConfigs(k->rk, &res, 1, opt, q);
	ev = rd_kafka_queue_poll(q, CHECK_MS + 500);
	r = ev ? rd_kafka_event_DescribeConfigs_result(ev) : NULL;
	if (!r || rd_kafka_event_error(ev))
		goto out;
	rs = rd_kafka_DescribeConfigs_result_resources(r, &nrs);
	if (nrs != 1)
		goto out;
	if (rd_kafka_ConfigResource_error(rs[0])) {
		rc = rd_kafka_ConfigResource_error(rs[0]) == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
		goto out;
	}
	ents = rd_kafka_ConfigResource_configs(rs[0], &nents);
	for (size_t i = 0; i < nents; i++) {
		const char *v = rd_kafka_ConfigEntry_value(ents[i]);
		if (strcmp(rd_kafka_ConfigEntry_name(ents[i]), key) == 0 && v && *v) {
			*val = strtoull(v, NULL, 10);
			rc = 0;
		}
	}
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (q)
		rd_kafka_queue_destroy(q);
	if (opt)
		rd_kafka_AdminOptions_destroy(opt);
	if (res)
		rd_kafka_ConfigResource_destroy(res);
	return rc;
}

/* The largest record batch the default topic takes: its max.message.bytes, or, when it does
 * not exist yet (or is a %{type} pattern), the broker's message.max.bytes, which a topic
 * created later inherits. 0 when neither could be read (logged). */
static uint64_t read_msg_limit(struct pl_kafka *k, const char **whose)
{
	const struct rd_kafka_metadata *md = NULL;
	uint64_t limit = 0;
	char id[16];
	int rc = 1;

	*whose = "topic";
	if (!strstr(k->default_topic, "%{"))
		rc = describe_config(k, RD_KAFKA_RESOURCE_TOPIC, k->default_topic, "max.message.bytes", &limit);
	if (rc == 1 && rd_kafka_metadata(k->rk, 0, NULL, &md, CHECK_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		*whose = "broker";
		snprintf(id, sizeof(id), "%" PRId32, md->orig_broker_id);
		rd_kafka_metadata_destroy(md);
		rc = describe_config(k, RD_KAFKA_RESOURCE_BROKER, id, "message.max.bytes", &limit);
	}
	if (rc != 0 || !limit) {
		pl_warn("kafka: could not read the topic's max.message.bytes (admin API); "
			"output.kafka.batch_bytes %" PRIu32 " is not checked against it", k->batch_bytes);
		return 0;
	}
	return limit;
}

/* Start-up check: say plainly what is wrong. Never fatal: the spool takes the events. */
static void check_cluster(struct pl_kafka *k)
{
	rd_kafka_topic_t *rkt = strstr(k->default_topic, "%{") ? NULL : get_topic(k, k->default_topic);
	rd_kafka_resp_err_t err = topic_state(k, rkt, CHECK_MS);

	if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
		/* A broker that auto-creates may answer "unknown" once while it creates it. */
		rd_kafka_poll(k->rk, 500);
		err = topic_state(k, rkt, CHECK_MS);
	}
	rd_kafka_poll(k->rk, 0);   /* let on_error name the broker that refused */
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
		pl_info("kafka: brokers %s answer; topic %s is ready", k->brokers, k->default_topic);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
		pl_err("kafka: topic %s does not exist and auto-creation is off: create it; "
		       "events are spooled until it exists", k->default_topic);
		k->last_err = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
		k->last_err_ns = mono_ns();
		return;
	}
	pl_err("kafka: brokers %s do not answer (%s); events are spooled and sent when they do",
	       k->brokers, rd_kafka_err2str(err));
	k->spooling = k->down = true;
	k->st->output_healthy = 0;
}

static struct pl_spool *open_spool(const struct pl_config *cfg, struct pl_stats *st)
{
	struct pl_spool_opts so = {
		.max_bytes = cfg->output.spool.max_bytes,
		.segment_bytes = cfg->output.spool.segment_bytes,
		.fsync = cfg->output.spool.fsync,
		.fsync_interval_ns = cfg->output.spool.fsync_interval_ns,
	};
	char *dir = NULL;
	struct pl_spool *s;

	if (mkdir(cfg->data_dir, 0750) < 0 && errno != EEXIST) {
		pl_err("data_dir %s: %s", cfg->data_dir, strerror(errno));
		return NULL;
	}
	if (asprintf(&dir, "%s/spool", cfg->data_dir) < 0)
		return NULL;
	so.dir = dir;
	/* Live capture hands the data dir, spool included, to capture.user before it gives
	 * up root (pl_capture_drop_privileges). */
	s = pl_spool_open(&so, st);
	free(dir);
	return s;
}

static void drop_producer(struct pl_kafka *k)
{
	for (int i = 0; i < k->ntopics; i++) {
		rd_kafka_topic_destroy(k->topics[i].rkt);
		free(k->topics[i].name);
	}
	k->ntopics = 0;
	rd_kafka_destroy(k->rk);
	k->rk = NULL;
}

static int new_producer(const struct pl_config *cfg, struct pl_kafka *k)
{
	rd_kafka_conf_t *conf = make_conf(cfg, k);
	char errstr[512];

	if (!conf)
		return -1;
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!k->rk) {
		rd_kafka_conf_destroy(conf);
		pl_err("kafka: cannot create the producer: %s", errstr);
		return -1;
	}
	k->st->kafka_batch_bytes = k->batch_bytes;
	return 0;
}

/* A batch above the topic's limit is refused whole, every time: no retry helps. batch_bytes
 * (counted before compression, so a batch never grows past it on the wire) is clamped under
 * the limit, with a warning naming both, rather than refused at start: the limit belongs to
 * the topic and may change under a running config (the default 1000000 would stop pktlog
 * against a topic set to 512 KiB), and a smaller batch loses nothing but some throughput.
 * The producer is made again with the clamped batch.size (librdkafka cannot change it). */
static int fit_batch(const struct pl_config *cfg, struct pl_kafka *k)
{
	const char *whose;
	uint64_t limit = read_msg_limit(k, &whose);

	k->st->kafka_msg_limit = limit;
	if (!limit || k->batch_bytes + BATCH_FRAMING <= limit) {
		if (limit)
			pl_info("kafka: output.kafka.batch_bytes %" PRIu32 " fits the %s's limit "
				"(max.message.bytes %" PRIu64 ")", k->batch_bytes, whose, limit);
		return 0;
	}
	pl_warn("kafka: output.kafka.batch_bytes %" PRIu32 " is above the %s's limit "
		"(max.message.bytes %" PRIu64 " for %s): every such batch would be refused; "
		"using batch_bytes %" PRIu64 " instead", k->batch_bytes, whose, limit,
		k->default_topic, limit > 2 * BATCH_FRAMING ? limit - BATCH_FRAMING : limit / 2);
	k->batch_bytes = (uint32_t)(limit > 2 * BATCH_FRAMING ? limit - BATCH_FRAMING : limit / 2);
	drop_producer(k);
	if (new_producer(cfg, k) < 0)
		return -1;
	check_cluster(k);
	return 0;
}

struct pl_kafka *pl_kafka_open(const struct pl_config *cfg, struct pl_stats *st,
			       pl_output_ack_fn ackfn, void *ack_arg)
{
	struct pl_kafka *k;
	char err[512];

	if (pl_kafka_check_properties(cfg, err, sizeof(err)) < 0) {
		pl_err("kafka: %s", err);
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->st = st;
	k->ack = ackfn;
	k->ack_arg = ack_arg;
	k->flush_timeout_ms = cfg->output.kafka.flush_timeout_ns / 1000000;
	k->queue_pause = cfg->output.kafka.queue_messages - cfg->output.kafka.queue_messages / 10;
	k->bytes_pause = PL_MAX((uint64_t)cfg->output.kafka.batch_bytes * PAUSE_BATCHES, MIN_BYTES_PAUSE);
	k->default_topic = strdup(cfg->output.kafka.topic);
	k->brokers = strdup(cfg->output.kafka.brokers ? cfg->output.kafka.brokers : "");
	if (!k->default_topic || !k->brokers)
		goto fail;
	k->spool = open_spool(cfg, st);
	if (!k->spool)
		goto fail;
	k->acked = pl_spool_read_pos(k->spool);
	k->spooling = !pl_spool_at_end(k->spool);
	k->batch_bytes = cfg->output.kafka.batch_bytes;
	if (new_producer(cfg, k) < 0)
		goto fail;
	check_cluster(k);
	if (!k->down && fit_batch(cfg, k) < 0)
		goto fail;
	return k;
fail:
	pl_spool_close(k->spool);
	free(k->default_topic);
	free(k->brokers);
	free(k);
	return NULL;
}

/* ---- shutdown ---- */

static void wait_outq(struct pl_kafka *k, uint64_t ms)
{
	uint64_t end = mono_ns() + ms * 1000000;

	while (rd_kafka_outq_len(k->rk) > 0 && mono_ns() < end)
		rd_kafka_poll(k->rk, 50);
	rd_kafka_poll(k->rk, 0);
}

int pl_kafka_close(struct pl_kafka *k)
{
	int rc;

	if (!k)
		return 0;
	/* The spool stops draining; what is in flight gets flush_timeout to be delivered. */
	k->closing = true;
	wait_outq(k, k->flush_timeout_ms);
	if (rd_kafka_outq_len(k->rk) > 0) {
		pl_info("kafka: %d messages not delivered after output.kafka.flush_timeout; spooling them",
			rd_kafka_outq_len(k->rk));
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		wait_outq(k, 2000);
	}
	advance_acks(k);
	if (pl_spool_sync(k->spool) == 0)
		ack_synced(k);
	if (k->maybe_stored)
		pl_info("kafka: %" PRIu64 " failed deliveries may have been stored by the broker all the "
			"same; they were re-sent, so those events may appear twice", k->maybe_stored);
	rc = k->lost ? -1 : 0;
	for (int i = 0; i < k->ntopics; i++) {
		rd_kafka_topic_destroy(k->topics[i].rkt);
		free(k->topics[i].name);
	}
	rd_kafka_destroy(k->rk);
	pl_spool_close(k->spool);
	free(k->default_topic);
	free(k->brokers);
	free(k);
	return rc;
}
