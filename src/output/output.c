/* output.c – the output face (include/pktlog/output.h): picks the row of struct
 * pl_output_ops that output.type names (console, file, null: src/output/writer.c; Kafka:
 * src/output/kafka_out.c) and calls through it. Knows no kind of output itself. */
#include <stdlib.h>
#include "pktlog/output.h"

struct pl_output {
	const struct pl_output_ops *ops;
	void *impl;
};

static const struct pl_output_ops *const by_type[] = {
	[PL_OUTPUT_CONSOLE] = &pl_output_console_ops,
	[PL_OUTPUT_NULL] = &pl_output_null_ops,
	[PL_OUTPUT_FILE] = &pl_output_file_ops,
	[PL_OUTPUT_KAFKA] = &pl_output_kafka_ops,
};

struct pl_output *pl_output_open(const struct pl_config *cfg, struct pl_stats *stats,
				 pl_output_ack_fn ack, void *ack_arg)
{
	struct pl_output *o;

	if ((size_t)cfg->output.type >= PL_ARRAY_LEN(by_type) || !by_type[cfg->output.type])
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->ops = by_type[cfg->output.type];
	stats->output_healthy = 1;   /* Kafka's start-up check may say otherwise */
	o->impl = o->ops->open(cfg, stats, ack, ack_arg);
	if (!o->impl) {
		free(o);
		return NULL;
	}
	return o;
}

void pl_output_set_retry(struct pl_output *o, bool retry)
{
	o->ops->set_retry(o->impl, retry);
}

bool pl_output_broken(const struct pl_output *o)
{
	return o && o->ops->broken(o->impl);
}

int pl_output_publish(struct pl_output *o, const char *bytes, size_t len,
		      const char *key, const char *topic, void *ack_token)
{
	return o->ops->publish(o->impl, bytes, len, key, topic, ack_token);
}

int pl_output_flush(struct pl_output *o)
{
	return o->ops->flush(o->impl);
}

void pl_output_poll(struct pl_output *o)
{
	o->ops->poll(o->impl);
}

bool pl_output_should_pause(const struct pl_output *o)
{
	return o->ops->should_pause(o->impl);
}

int pl_output_close(struct pl_output *o)
{
	int rc;

	if (!o)
		return 0;
	rc = o->ops->close(o->impl);
	free(o);
	return rc;
}
