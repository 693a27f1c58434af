/* output.h – where rendered events go: console (stdout), a file, nowhere, or Kafka.
 *
 * Contract (event → output): publish(bytes, len, key, topic, ack_token). The output
 * copies what it needs before returning. When the event is durable (all its bytes written
 * for console/file, delivered or spooled for Kafka) it calls ack(ack_token, 1) once; sources
 * that need durability advance their offsets only on that callback. A failed write never
 * acks with 1: the record is retried (daemon) or acked with 0 when it is given up. */
#ifndef PKTLOG_OUTPUT_H
#define PKTLOG_OUTPUT_H

#include "pktlog/common.h"
#include "pktlog/config.h"
#include "pktlog/stats.h"

struct pl_output;

typedef void (*pl_output_ack_fn)(void *ack_token, int ok, void *arg);

/* One kind of output, as struct pl_proto_ops is one protocol: src/output/output.c picks the
 * row output.type names and calls through it; nothing outside the row knows which kind is
 * behind a struct pl_output. `impl` is what open returned. Each row keeps its counters in
 * the struct pl_stats given to open (output_accepted/written/dropped/errors for console and
 * file; output_written, spool_* and the delivery counters for Kafka: see stats.h) and calls
 * ack as the contract above says. The calls below keep the meaning of the pl_output_*
 * function of the same name. */
struct pl_output_ops {
	const char *name;
	/* NULL after logging one message naming the target. */
	void *(*open)(const struct pl_config *cfg, struct pl_stats *stats, pl_output_ack_fn ack,
		      void *ack_arg);
	void (*set_retry)(void *impl, bool retry);
	bool (*broken)(const void *impl);
	int (*publish)(void *impl, const char *bytes, size_t len, const char *key,
		       const char *topic, void *ack_token);
	int (*flush)(void *impl);
	void (*poll)(void *impl);
	bool (*should_pause)(const void *impl);
	/* Flush, free impl; the return value of pl_output_close. */
	int (*close)(void *impl);
};

extern const struct pl_output_ops pl_output_console_ops;   /* src/output/writer.c */
extern const struct pl_output_ops pl_output_file_ops;      /* src/output/writer.c */
extern const struct pl_output_ops pl_output_null_ops;      /* src/output/writer.c */
extern const struct pl_output_ops pl_output_kafka_ops;     /* src/output/kafka_out.c */

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

/* Write everything published so far and acknowledge it. Returns 0, or -1 when something is
 * left unwritten (a daemon's failing output waits for its backoff) or the output is broken. */
int pl_output_flush(struct pl_output *o);

/* Periodic work, called from the capture loops after every batch: Kafka serves delivery
 * reports, re-sends the spool and fsyncs it by policy; a failing console/file output
 * retries its unwritten records when its backoff is due (otherwise they are written by
 * pl_output_flush). Never blocks, except for the write itself. */
void pl_output_poll(struct pl_output *o);

/* True when a source that can wait (the tailer) should stop reading for now: librdkafka's
 * queue is at least 90% full (waiting is cheaper than spooling), three batches' worth of
 * bytes (output.kafka.batch_bytes, at least 1 MiB) are undelivered while events go direct
 * (more would only make librdkafka's idempotent producer spin; see kafka.c), or the spool
 * is nearly full. Live capture does not wait: its events go to the spool, and when the
 * spool is full the newest are dropped and counted. */
bool pl_output_should_pause(const struct pl_output *o);

/* Flush and close. NULL is fine. Returns 0, or -1 when the final flush failed or any event
 * was dropped (console/file) or lost by the spool (Kafka). */
int pl_output_close(struct pl_output *o);

#endif
