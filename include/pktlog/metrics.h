/* metrics.h – pktlog's counters as Prometheus text, served over HTTP (libmicrohttpd).
 *
 * The pipeline never blocks on a scrape: its threads hand a summed snapshot of their
 * struct pl_stats to pl_metrics_update() now and then (a copy under a mutex); the
 * server thread renders only that snapshot. */
#ifndef PKTLOG_METRICS_H
#define PKTLOG_METRICS_H

#include <sys/socket.h>
#include "pktlog/stats.h"

struct pl_metrics;

/* Render every counter of st in the Prometheus text exposition format (0.0.4) into
 * buf[0..cap). Returns the length, or 0 when it does not fit. */
size_t pl_metrics_render(const struct pl_stats *st, char *buf, size_t cap);

/* Render every counter as JSON object members ("packets":12,"bytes":3400,…, no braces)
 * for heartbeat events. Returns the length, or 0 when it does not fit. */
size_t pl_metrics_json(const struct pl_stats *st, char *buf, size_t cap);

/* Serve GET /metrics on `listen` ("HOST:PORT", IPv4 or [IPv6]; port 0 picks a free
 * one). Returns NULL and writes a message naming the address into err on failure. */
struct pl_metrics *pl_metrics_start(const char *listen, char *err, size_t errlen);

/* Parse metrics.listen ("HOST:PORT", IPv4 or [IPv6]) into a socket address; returns the
 * address family, or -1 when it does not parse (config.c checks it at load). */
int pl_metrics_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len);

/* The port actually bound (useful with port 0). */
uint16_t pl_metrics_port(const struct pl_metrics *m);

/* Replace the snapshot scrapes see. Cheap: one copy under a mutex. */
void pl_metrics_update(struct pl_metrics *m, const struct pl_stats *total);

/* Stop serving and free. NULL is fine. */
void pl_metrics_stop(struct pl_metrics *m);

/* Call fn on every counter's row (core and each protocol's stats block) in exposition
 * order: /metrics, heartbeats and the -v list all use this order. */
void pl_metrics_each(void (*fn)(const struct pl_stat_desc *d, void *arg), void *arg);

/* The rows above as a flat table, and the struct pl_stats offset each reads (the unit test
 * checks that together with decode[] they cover every counter exactly once). */
size_t pl_metrics_table_size(void);
size_t pl_metrics_table_offset(size_t i);
/* Row i's counter name (the struct pl_stats field; the -v summary lists them by it). */
const char *pl_metrics_table_name(size_t i);

#endif
