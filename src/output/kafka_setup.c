/* kafka_setup.c – the Kafka output's set-up and shutdown: librdkafka's configuration from
 * output.kafka.*, the spool's opening, the start-up check of the cluster (topic, and
 * batch_bytes against the topic's max.message.bytes), and close (flush, spool the rest). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include "pktlog/common.h"
#include "kafka_int.h"

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
	kafka_set_callbacks(conf, k);
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
	rd_kafka_topic_t *rkt = strstr(k->default_topic, "%{") ? NULL : kafka_get_topic(k, k->default_topic);
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
		k->last_err_ns = kafka_mono_ns();
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
	uint64_t end = kafka_mono_ns() + ms * 1000000;

	while (rd_kafka_outq_len(k->rk) > 0 && kafka_mono_ns() < end)
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
	kafka_advance_acks(k);
	if (pl_spool_sync(k->spool) == 0)
		kafka_ack_synced(k);
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
