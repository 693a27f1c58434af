/* publish.c – the event → output stage (include/pktlog/publish.h): renders protocol events,
 * picks their key and topic, and hands every record to the shared output under its lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "pktlog/proc.h"
#include "pktlog/publish.h"
#include "pktlog/registry.h"

static void swap_str(char **a, char **b)
{
	char *t = *a;

	*a = *b;
	*b = t;
}

/* output.kafka.topic with %{type} replaced; NULL on ENOMEM. */
static char *expand_topic(const char *fmt, const char *type)
{
	const char *at = strstr(fmt, "%{type}");
	char *out = NULL;

	if (!at)
		return strdup(fmt);
	if (asprintf(&out, "%.*s%s%s", (int)(at - fmt), fmt, type, at + 7) < 0)
		return NULL;
	return out;
}

/* The topic names of every event type the registry's rows emit (rows sharing a type share
 * its topic), and the tailer's "log". */
int pl_publisher_set_topics(struct pl_publisher *pub, const char *fmt)
{
	char *t[PL_EV__COUNT] = { NULL }, *l = expand_topic(fmt, "log");
	bool ok = l != NULL;

	for (size_t i = 0; i < pl_n_protocols; i++) {
		const struct pl_proto_desc *p = &pl_protocols[i];

		if (!t[p->event_type] && !(t[p->event_type] = expand_topic(fmt, p->topic)))
			ok = false;
	}
	for (int e = 0; e < PL_EV__COUNT; e++)
		ok = ok && t[e];
	if (ok) {
		pthread_mutex_lock(&pub->lock);
		for (int e = 0; e < PL_EV__COUNT; e++)
			swap_str(&pub->topics.by_type[e], &t[e]);
		swap_str(&pub->topics.log, &l);
		pthread_mutex_unlock(&pub->lock);
	}
	for (int e = 0; e < PL_EV__COUNT; e++)
		free(t[e]);
	free(l);
	for (int e = 0; e < PL_EV__COUNT; e++)
		if (!pub->topics.by_type[e])
			return -1;
	return pub->topics.log ? 0 : -1;
}

int pl_publisher_open(struct pl_publisher *pub, const struct pl_config *cfg,
		      struct pl_stats *stats, pl_output_ack_fn ack, void *ack_arg)
{
	memset(pub, 0, sizeof(*pub));
	pthread_mutex_init(&pub->lock, NULL);
	pub->kafka = cfg->output.type == PL_OUTPUT_KAFKA;
	pub->key = cfg->output.kafka.key;
	if (pl_publisher_set_topics(pub, cfg->output.kafka.topic) != 0)
		return -1;
	pub->out = pl_output_open(cfg, stats, ack, ack_arg);
	return pub->out ? 0 : -1;
}

void pl_publisher_set_retry(struct pl_publisher *pub, bool retry)
{
	pl_output_set_retry(pub->out, retry);
}

/* output.kafka.key for one event; NULL = no key. */
static const char *event_key(const struct pl_event *ev, enum pl_kafka_key key, char *buf,
			     size_t len)
{
	switch (key) {
	case PL_KAFKA_KEY_COMMUNITY_ID:
		return ev->community_id;
	case PL_KAFKA_KEY_CLIENT_IP:
		return inet_ntop(ev->af == 6 ? AF_INET6 : AF_INET, ev->client.ip, buf, (socklen_t)len);
	default:
		return NULL;
	}
}

void pl_publish(const struct pl_event *ev, void *arg)
{
	struct pl_render *r = arg;
	struct pl_publisher *pub = r->pub;
	size_t n;
	char keybuf[INET6_ADDRSTRLEN];
	const char *key = NULL, *topic;

	ev = pl_proc_annotate(ev, r->stats);   /* src/proc/: the local processes, live only */
	n = pl_event_to_json(ev, &r->json, r->buf, PL_RENDER_BUF);
	if (!n) {
		r->stats->events_truncated++;
		return;
	}
	r->stats->events++;
	if (pub->kafka)
		key = event_key(ev, pub->key, keybuf, sizeof(keybuf));
	pthread_mutex_lock(&pub->lock);
	topic = pub->topics.by_type[ev->type];
	pl_output_publish(pub->out, r->buf, n, key, topic, NULL);
	pthread_mutex_unlock(&pub->lock);
}

int pl_publish_record(struct pl_publisher *pub, const char *json, size_t len, const char *key,
		      const char *topic, void *ack_token)
{
	int rc;

	pthread_mutex_lock(&pub->lock);
	if (!topic)
		topic = pub->topics.log;
	rc = pl_output_publish(pub->out, json, len, key, topic, ack_token);
	pthread_mutex_unlock(&pub->lock);
	return rc;
}

void pl_publish_heartbeat(struct pl_publisher *pub, const char *json, size_t len,
			  const char *topic)
{
	pthread_mutex_lock(&pub->lock);
	pl_output_publish(pub->out, json, len, NULL, topic, NULL);
	if (!topic)
		pl_output_flush(pub->out);   /* a file or console shows it now; Kafka sends on its own */
	pthread_mutex_unlock(&pub->lock);
}

int pl_publisher_flush(struct pl_publisher *pub)
{
	int rc;

	pthread_mutex_lock(&pub->lock);
	rc = pl_output_flush(pub->out);
	pthread_mutex_unlock(&pub->lock);
	return rc;
}

void pl_publisher_poll(struct pl_publisher *pub)
{
	pthread_mutex_lock(&pub->lock);
	pl_output_poll(pub->out);
	pthread_mutex_unlock(&pub->lock);
}

bool pl_publisher_should_pause(struct pl_publisher *pub)
{
	bool p;

	pthread_mutex_lock(&pub->lock);
	p = pl_output_should_pause(pub->out);
	pthread_mutex_unlock(&pub->lock);
	return p;
}

bool pl_publisher_broken(struct pl_publisher *pub)
{
	bool b;

	pthread_mutex_lock(&pub->lock);
	b = pl_output_broken(pub->out);
	pthread_mutex_unlock(&pub->lock);
	return b;
}

int pl_publisher_close(struct pl_publisher *pub)
{
	int rc = pl_output_close(pub->out);

	pub->out = NULL;
	for (int e = 0; e < PL_EV__COUNT; e++)
		free(pub->topics.by_type[e]);
	free(pub->topics.log);
	memset(&pub->topics, 0, sizeof(pub->topics));
	return rc;
}

int pl_render_init(struct pl_render *r, struct pl_publisher *pub, struct pl_stats *stats,
		   const char *host_name)
{
	r->pub = pub;
	r->stats = stats;
	r->json = (struct pl_json_opts){ .host_name = host_name };
	r->buf = malloc(PL_RENDER_BUF);
	return r->buf ? 0 : -1;
}

void pl_render_free(struct pl_render *r)
{
	free(r->buf);
	r->buf = NULL;
}
