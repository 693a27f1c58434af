/* kafka_int.h – the Kafka output's state and the functions its files share (internal to
 * src/output/kafka*.c; the interface is include/pktlog/kafka.h):
 *   kafka.c         the hot path: publish, produce, poll, pause; topics, acks, rate-limited logs
 *   kafka_window.c  the spool side: events into the spool, and back out in order, a bounded
 *                   window of records in flight at a time, acked as they are delivered
 *   kafka_report.c  delivery reports and librdkafka's errors (served from rd_kafka_poll)
 *   kafka_setup.c   the producer's configuration, the start-up check of the cluster, close
 *
 * Modes: direct (events go to librdkafka) and spooling (entered when librdkafka's queue is full,
 * a delivery fails, or all brokers are down): new events are appended to the spool, and the spool
 * is re-sent in order, a bounded window at a time, until it is empty; only then do events go
 * direct again, so spooled events are not overtaken. A window with a failed delivery is re-read
 * from its first undelivered record, and the records of it already delivered are not sent again:
 * only a failure the broker may have stored anyway can make a duplicate. Must not render or
 * inspect events, and must never block on the hot path (publish/poll). */
#ifndef PKTLOG_KAFKA_INT_H
#define PKTLOG_KAFKA_INT_H

#include <stdbool.h>
#include <stdint.h>
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

/* ---- kafka.c ---- */

uint64_t kafka_mono_ns(void);
/* librdkafka repeats an error for every message and every reconnect: true once in a while. */
bool kafka_should_log(struct pl_kafka *k, int err);
void kafka_ack(struct pl_kafka *k, void *token, int ok);
/* Ack the tokens that waited for the spool's fsync. */
void kafka_ack_synced(struct pl_kafka *k);
rd_kafka_topic_t *kafka_get_topic(struct pl_kafka *k, const char *name);
/* Hand one message to librdkafka (copied); false when it refuses (rd_kafka_last_error()). */
bool kafka_produce(struct pl_kafka *k, rd_kafka_topic_t *rkt, const void *bytes, size_t len,
		   const void *key, size_t klen, void *opaque);
bool kafka_permanent(rd_kafka_resp_err_t err);
int kafka_reject(struct pl_kafka *k, void *token, const char *topic, size_t len, const char *why);

/* ---- kafka_window.c ---- */

void kafka_count_drop(struct pl_kafka *k, int rc);
int kafka_spool_try(struct pl_kafka *k, const void *bytes, size_t len, const void *key,
		    size_t klen, const char *topic, void *token);
int kafka_spool_new(struct pl_kafka *k, const void *bytes, size_t len, const void *key,
		    size_t klen, const char *topic, void *token);
/* Ack the delivered prefix of the window to the spool; re-read a failed window. */
void kafka_advance_acks(struct pl_kafka *k);
/* Re-send what the window has room for (spooling mode only). */
void kafka_drain(struct pl_kafka *k);

/* ---- kafka_report.c ---- */

bool kafka_refused(struct pl_kafka *k, rd_kafka_resp_err_t err);
void kafka_report_failure(struct pl_kafka *k, rd_kafka_resp_err_t err, const char *topic);
/* Route librdkafka's delivery reports, errors and logs of conf to k. */
void kafka_set_callbacks(rd_kafka_conf_t *conf, struct pl_kafka *k);

#endif
