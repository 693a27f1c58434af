/* publish.h – the event → output stage: rendering, key and topic selection, publishing.
 *
 * A protocol's finished event goes to one function, pl_publish (the proto env's emit),
 * and never climbs back to main.c. Two parts:
 *
 *  - struct pl_publisher, one per process: the output, the lock every call into it holds
 *    (capture workers, the tailer and the main thread share it), the topic of each event
 *    type (output.kafka.topic with %{type} expanded; SIGHUP replaces them) and the key
 *    choice (output.kafka.key, fixed at start-up);
 *  - struct pl_render, one per thread that emits protocol events: its render buffer and
 *    JSON options, and the counters it adds to (events, events_truncated).
 *
 * Sources that render their own records (the tailer, heartbeats) publish them through
 * pl_publish_record. Nothing here allocates per event. */
#ifndef PKTLOG_PUBLISH_H
#define PKTLOG_PUBLISH_H

#include <pthread.h>
#include "pktlog/config.h"
#include "pktlog/event.h"
#include "pktlog/output.h"
#include "pktlog/stats.h"

#define PL_RENDER_BUF (256 * 1024)   /* one rendered event at most (else events_truncated) */

struct pl_publisher {
	pthread_mutex_t lock;         /* held by every call into out and by the topics' readers */
	struct pl_output *out;
	bool kafka;                   /* output.type is kafka: events get keys */
	enum pl_kafka_key key;        /* output.kafka.key */
	struct {
		char *by_type[PL_EV__COUNT]; /* each registry row's topic, by its event type */
		char *log;                   /* the tailer's records */
	} topics;                     /* output.kafka.topic with %{type} expanded; swapped under lock */
};

struct pl_render {
	struct pl_publisher *pub;
	struct pl_stats *stats;       /* the emitting thread's own counters */
	struct pl_json_opts json;
	char *buf;                    /* PL_RENDER_BUF bytes */
};

/* Expand the topics of cfg and open the output (ack/ack_arg as pl_output_open). Returns
 * 0, or -1 after logging (the output could not be opened) or on ENOMEM; pl_publisher_close
 * releases what was set up either way. */
int pl_publisher_open(struct pl_publisher *pub, const struct pl_config *cfg,
		      struct pl_stats *stats, pl_output_ack_fn ack, void *ack_arg);

/* SIGHUP: expand fmt (output.kafka.topic) for every event type and swap the names in.
 * Returns 0, or -1 on ENOMEM (the old names stay). */
int pl_publisher_set_topics(struct pl_publisher *pub, const char *fmt);

/* pl_output_set_retry, before any thread publishes. */
void pl_publisher_set_retry(struct pl_publisher *pub, bool retry);

/* The proto env's emit: render ev into r's buffer, count it, pick its key and topic and
 * hand it to the output. `r` is a struct pl_render. */
void pl_publish(const struct pl_event *ev, void *r);

/* Publish a record its source rendered itself; topic NULL: the "log" topic. The return
 * value of pl_output_publish. */
int pl_publish_record(struct pl_publisher *pub, const char *json, size_t len, const char *key,
		      const char *topic, void *ack_token);

/* A heartbeat: topic is the Kafka heartbeat topic, or NULL when the output is not Kafka
 * (a file or the console shows it at once: flushed). */
void pl_publish_heartbeat(struct pl_publisher *pub, const char *json, size_t len,
			  const char *topic);

/* The output calls, under the lock. */
int pl_publisher_flush(struct pl_publisher *pub);
void pl_publisher_poll(struct pl_publisher *pub);
bool pl_publisher_should_pause(struct pl_publisher *pub);
bool pl_publisher_broken(struct pl_publisher *pub);

/* Close the output (pl_output_close's value; 0 when there was none) and free the topics.
 * Call once every thread that publishes has stopped. */
int pl_publisher_close(struct pl_publisher *pub);

/* A thread's renderer: allocates the buffer. Returns 0 or -1 (ENOMEM). */
int pl_render_init(struct pl_render *r, struct pl_publisher *pub, struct pl_stats *stats,
		   const char *host_name);
void pl_render_free(struct pl_render *r);

#endif
