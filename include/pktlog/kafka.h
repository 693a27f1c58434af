/* kafka.h – the Kafka output (librdkafka producer + disk spool), used by src/output/kafka_out.c.
 *
 * An event is acknowledged (ack(token, 1)) when its delivery report says the broker stored it,
 * or when the spool holds it as durably as output.spool.fsync promises. Nothing here blocks
 * except pl_kafka_open (the start-up check, a few seconds at most) and pl_kafka_close. */
#ifndef PKTLOG_KAFKA_H
#define PKTLOG_KAFKA_H

#include "pktlog/output.h"

struct pl_kafka;

/* Whether librdkafka knows every output.kafka.properties name and accepts its value. 0, or
 * -1 with "FILE:LINE: output.kafka.properties.NAME: why" in err (always NUL-terminated):
 * a configuration error, which pl_kafka_open also refuses. Call it at start to exit as for
 * any other configuration error. */
int pl_kafka_check_properties(const struct pl_config *cfg, char *err, size_t errlen);

/* NULL after logging when librdkafka refuses the configuration (output.kafka.properties
 * included: pl_kafka_check_properties) or the spool cannot be opened.
 * An unreachable broker or a missing topic is logged, not fatal. */
struct pl_kafka *pl_kafka_open(const struct pl_config *cfg, struct pl_stats *st,
			       pl_output_ack_fn ack, void *ack_arg);

/* topic NULL: output.kafka.topic. 0, or -1 when dropped (counted). */
int pl_kafka_publish(struct pl_kafka *k, const char *bytes, size_t len,
		     const char *key, const char *topic, void *ack_token);

/* Serve delivery reports, drain the spool, fsync by policy. Never blocks. */
void pl_kafka_poll(struct pl_kafka *k);

/* True when a source that can wait should stop reading for now. */
bool pl_kafka_should_pause(const struct pl_kafka *k);

/* Wait up to output.kafka.flush_timeout for in-flight messages, spool the rest, close.
 * Returns 0, or -1 when some event could be neither delivered nor spooled. */
int pl_kafka_close(struct pl_kafka *k);

#endif
