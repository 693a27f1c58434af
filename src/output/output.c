/* output.c – the console, file and null outputs behind include/pktlog/output.h.
 *
 * Events are written as JSON lines through one large stdio buffer; an event counts as
 * durable once that buffer is flushed, and only then are ack tokens returned. Must not
 * render or inspect events. Kafka (src/output/kafka.c) plugs in behind the same calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pktlog/output.h"
#include "pktlog/kafka.h"

#define PL_OUT_BUF (1u << 20)
#define PL_OUT_MAX_TOKENS 4096

struct pl_output {
	enum pl_output_type type;
	FILE *f;
	bool own_file;
	char *name;                 /* for messages: "stdout" or the path */
	char *buf;
	struct pl_stats *stats;
	pl_output_ack_fn ack;
	void *ack_arg;
	void *tokens[PL_OUT_MAX_TOKENS]; /* published, not yet flushed */
	size_t n_tokens;
	bool failed;                /* one message per failure, not one per event */
	struct pl_kafka *kafka;     /* type kafka: everything is delegated to src/output/kafka.c */
};

struct pl_output *pl_output_open(const struct pl_config *cfg, struct pl_stats *stats,
				 pl_output_ack_fn ack, void *ack_arg)
{
	struct pl_output *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->type = cfg->output.type;
	o->stats = stats;
	o->ack = ack;
	o->ack_arg = ack_arg;
	switch (o->type) {
	case PL_OUTPUT_NULL:
		o->name = strdup("null");
		break;
	case PL_OUTPUT_CONSOLE:
		o->f = stdout;
		o->name = strdup("stdout");
		break;
	case PL_OUTPUT_FILE:
		o->name = strdup(cfg->output.file_path);
		o->f = fopen(cfg->output.file_path, "a");
		if (!o->f) {
			pl_err("output file %s: %s", cfg->output.file_path, strerror(errno));
			goto fail;
		}
		o->own_file = true;
		break;
	case PL_OUTPUT_KAFKA:
		o->name = strdup("kafka");
		o->kafka = pl_kafka_open(cfg, stats, ack, ack_arg);
		if (!o->kafka)
			goto fail;
		break;
	}
	if (!o->name)
		goto fail;
	if (o->own_file) {
		o->buf = malloc(PL_OUT_BUF);
		if (!o->buf || setvbuf(o->f, o->buf, _IOFBF, PL_OUT_BUF) != 0)
			goto fail;
	} else if (o->f) {
		/* stdout lives past this output, so its buffer must too. */
		static char stdout_buf[PL_OUT_BUF];
		setvbuf(o->f, stdout_buf, _IOFBF, sizeof(stdout_buf));
	}
	return o;
fail:
	if (o->own_file && o->f)
		fclose(o->f);
	free(o->buf);
	free(o->name);
	free(o);
	return NULL;
}

static void ack_all(struct pl_output *o, int ok)
{
	for (size_t i = 0; i < o->n_tokens; i++)
		o->ack(o->tokens[i], ok, o->ack_arg);
	o->n_tokens = 0;
}

int pl_output_flush(struct pl_output *o)
{
	int ok = 1;

	if (o->kafka) {
		/* Kafka makes events durable asynchronously; pl_output_close waits for them. */
		pl_kafka_poll(o->kafka);
		return 0;
	}
	if (o->f && fflush(o->f) != 0) {
		if (!o->failed)
			pl_err("output %s: write failed: %s", o->name, strerror(errno));
		o->failed = true;
		o->stats->output_errors++;
		ok = 0;
	}
	ack_all(o, ok);
	return ok ? 0 : -1;
}

int pl_output_publish(struct pl_output *o, const char *bytes, size_t len,
		      const char *key, const char *topic, void *ack_token)
{
	if (o->kafka) {
		if (pl_kafka_publish(o->kafka, bytes, len, key, topic, ack_token) != 0)
			return -1;
		o->stats->output_written++;
		return 0;
	}
	if (o->f) {
		if (fwrite(bytes, 1, len, o->f) != len || putc('\n', o->f) == EOF) {
			if (!o->failed)
				pl_err("output %s: write failed: %s", o->name, strerror(errno));
			o->failed = true;
			o->stats->output_errors++;
			return -1;
		}
	}
	o->stats->output_written++;
	if (o->ack && ack_token) {
		if (o->n_tokens == PL_OUT_MAX_TOKENS)
			pl_output_flush(o);
		o->tokens[o->n_tokens++] = ack_token;
	}
	return 0;
}

void pl_output_poll(struct pl_output *o)
{
	if (o->kafka)
		pl_kafka_poll(o->kafka);
}

bool pl_output_should_pause(const struct pl_output *o)
{
	return o->kafka && pl_kafka_should_pause(o->kafka);
}

int pl_output_close(struct pl_output *o)
{
	int rc;

	if (!o)
		return 0;
	if (o->kafka) {
		rc = pl_kafka_close(o->kafka);
		free(o->name);
		free(o);
		return rc;
	}
	rc = pl_output_flush(o);
	if (o->own_file && fclose(o->f) != 0 && rc == 0) {
		pl_err("output %s: close failed: %s", o->name, strerror(errno));
		rc = -1;
	}
	free(o->buf);
	free(o->name);
	free(o);
	return rc;
}
