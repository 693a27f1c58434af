/* heartbeat.c – renders pktlog's heartbeat event: host, app id, uptime, the event counts
 * log-collector operators know (received, accepted, attempt-send, success-send) in total
 * and over the last interval, and every counter. Must not publish: main does. */
#include <stdio.h>
#include <string.h>
#include "pktlog/event.h"
#include "pktlog/heartbeat.h"
#include "pktlog/metrics.h"
#include "pktlog/version.h"

/* The four flow counts, from whichever counters the output in use keeps. */
struct flow_counts {
	uint64_t received, accepted, attempt, success;
};

static struct flow_counts flow_counts(const struct pl_stats *s, bool kafka)
{
	struct flow_counts f;

	f.received = s->events + s->tail_records;                 /* made by the sources */
	f.accepted = s->output_accepted;                             /* taken by the output */
	f.attempt = kafka ? s->output_accepted + s->output_retried : s->output_accepted;
	/* Console/file: output_written counts only events whose bytes were all written. */
	f.success = kafka ? s->output_delivered : s->output_written;
	return f;
}

static void put_counts(char **p, char *end, const char *name, struct flow_counts c)
{
	int n = snprintf(*p, (size_t)(end - *p),
			 ",\"%s\":{\"received\":%llu,\"accepted\":%llu,\"attempt_send\":%llu,"
			 "\"success_send\":%llu}", name, (unsigned long long)c.received,
			 (unsigned long long)c.accepted, (unsigned long long)c.attempt,
			 (unsigned long long)c.success);
	*p += n > 0 && n < end - *p ? n : end - *p;
}

size_t pl_heartbeat_render(struct pl_heartbeat *hb, const struct pl_stats *cur, uint64_t now,
			   char *buf, size_t cap)
{
	char ts[32], *p = buf, *end = buf + cap;
	struct flow_counts total = flow_counts(cur, hb->kafka);
	struct flow_counts prev = flow_counts(&hb->last, hb->kafka), win;
	uint64_t window_ns = hb->last_ns ? now - hb->last_ns : now - hb->started_ns;

	win.received = total.received - prev.received;
	win.accepted = total.accepted - prev.accepted;
	win.attempt = total.attempt - prev.attempt;
	win.success = total.success - prev.success;
	char host[600], app[600];
	size_t hn = pl_json_string(hb->host_name, strlen(hb->host_name), host, sizeof(host));
	if (!hn)
		return 0;
	pl_format_time(now, ts);
	int n = snprintf(p, cap, "{\"@timestamp\":\"%s\",\"type\":\"heartbeat\",\"event\":{\"kind\":"
			 "\"metric\",\"dataset\":\"pktlog.heartbeat\"},\"host\":{\"name\":%.*s},"
			 "\"agent\":{\"type\":\"pktlog\",\"version\":\"%s\"}", ts, (int)hn, host, PL_VERSION);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	p += n;
	if (hb->app_id && *hb->app_id) {
		size_t an = pl_json_string(hb->app_id, strlen(hb->app_id), app, sizeof(app));
		if (!an)
			return 0;
		n = snprintf(p, (size_t)(end - p), ",\"fields\":{\"appid\":%.*s}", (int)an, app);
		p += n > 0 && n < end - p ? n : end - p;
	}
	n = snprintf(p, (size_t)(end - p), ",\"heartbeat\":{\"seq\":%llu,\"uptime_s\":%llu,"
		     "\"interval_s\":%llu,\"window_s\":%.3f", (unsigned long long)++hb->seq,
		     (unsigned long long)((now - hb->started_ns) / PL_NS_PER_SEC),
		     (unsigned long long)(hb->interval_ns / PL_NS_PER_SEC),
		     (double)window_ns / 1e9);
	p += n > 0 && n < end - p ? n : end - p;
	put_counts(&p, end, "total", total);
	put_counts(&p, end, "window", win);
	if (end - p < 32)
		return 0;
	memcpy(p, "},\"counters\":{", 14);
	p += 14;
	size_t m = pl_metrics_json(cur, p, (size_t)(end - p) - 3);
	if (!m)
		return 0;
	p += m;
	memcpy(p, "}}", 2);
	p += 2;
	hb->last = *cur;
	hb->last_ns = now;
	return (size_t)(p - buf);
}
