/* output.h – where rendered events go: console (stdout), a file, nowhere, later Kafka.
 *
 * Contract (event → output): publish(bytes, len, key, topic, ack_token). The output
 * copies what it needs before returning. When the event is durable (written and
 * flushed for console/file, delivered for Kafka) it calls ack(ack_token) once; sources
 * that need durability advance their offsets only on that callback. */
#ifndef PKTLOG_OUTPUT_H
#define PKTLOG_OUTPUT_H

#include "pktlog/common.h"
#include "pktlog/config.h"
#include "pktlog/stats.h"

struct pl_output;

typedef void (*pl_output_ack_fn)(void *ack_token, int ok, void *arg);

/* Open the output the config selects. `ack` may be NULL. Returns NULL after logging
 * one message naming the target (e.g. the file path) on failure. */
struct pl_output *pl_output_open(const struct pl_config *cfg, struct pl_stats *stats,
				 pl_output_ack_fn ack, void *ack_arg);

/* Before anything is opened: a closed stdin, stdout or stderr is held with /dev/null so no
 * file or socket takes its number (a console output then fails to open: stdout is closed). */
void pl_output_guard_stdio(void);

/* Retry mode (a daemon: live capture, the tailer): a console or file write that fails keeps
 * its records and is retried with backoff (the file reopened) from pl_output_poll; sources
 * are asked to pause meanwhile. Off (a replay): the first failure is final. */
void pl_output_set_retry(struct pl_output *o, bool retry);

/* True once the output failed for good (a replay's write error, a closed pipe on stdout):
 * the caller stops and exits 1. */
bool pl_output_broken(const struct pl_output *o);

/* Queue one event. key/topic may be NULL. Returns 0, or -1 when it could not be taken:
 * an event with an ack token is then still the source's to send again (the ack is never
 * called for it); one without is dropped and counted (output_dropped, spool_drops...). */
int pl_output_publish(struct pl_output *o, const char *bytes, size_t len,
		      const char *key, const char *topic, void *ack_token);

/* Make everything published so far durable and acknowledge it. Returns 0 or -1. */
int pl_output_flush(struct pl_output *o);

/* Periodic work, called from the capture loops after every batch: Kafka serves delivery
 * reports, re-sends the spool and fsyncs it by policy; console/file do nothing (they are
 * flushed by pl_output_flush). Never blocks. */
void pl_output_poll(struct pl_output *o);

/* True when a source that can wait (the tailer) should stop reading for now: librdkafka's
 * queue is at least 90% full (waiting is cheaper than spooling), three batches' worth of
 * bytes (output.kafka.batch_bytes, at least 1 MiB) are undelivered while events go direct
 * (more would only make librdkafka's idempotent producer spin; see kafka.c), or the spool
 * is nearly full. Live capture does not wait: its events go to the spool, and when the
 * spool is full the newest are dropped and counted. */
bool pl_output_should_pause(const struct pl_output *o);

/* Flush and close. NULL is fine. Returns 0, or -1 when the final flush failed. */
int pl_output_close(struct pl_output *o);

#endif
