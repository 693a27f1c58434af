/* registry.h – the table of application protocols pktlog knows (src/proto/registry.c).
 *
 * One row per protocol, in the spirit of Suricata's RegisterXParsers(): the row says
 * everything the rest of the house needs to know about the protocol, so that nothing
 * outside the protocol's own files names it:
 *
 *   name          protocols.NAME in the config, and the word output.kafka.topic's %{type}
 *                 becomes for its events (`topic`, with event_type the events it emits)
 *   ops           the connection interface (proto.h): state size, init/data/gap/idle/close,
 *                 per-thread clean-up
 *   enabled_off,  where protocols.NAME.enabled and .ports live in struct pl_config
 *   ports_off
 *   default_ports the ports it serves when the file names none
 *   ports_yield   its default ports give way, silently, to a port another protocol's list
 *                 names in the file (TLS: "443" under http is HTTP's); otherwise a port in
 *                 two lists is a config error
 *   stats         its counters' descriptors and its part of the -v summary (stats block)
 *   options       its options table (pktlog/options.h): protocols.NAME.*, with defaults;
 *                 its enabled and ports rows store where enabled_off and ports_off say
 *
 * Who iterates it: the flow layer (state size of an entry, per-thread clean-up), port
 * lookup (src/net/ports.c: server port → protocol), the config (its options under
 * protocols.NAME, default ports, the one-protocol-per-port check), metrics and the -v
 * summary (stats blocks).
 *
 * Adding a protocol: write its files (ops; its stats block and options table, as in
 * src/proto/http_stats.c; its struct pl_stats counters and struct pl_config fields) and
 * add one row to the table. Row order matters and is part of the output: it is the precedence of
 * port lookup (only relevant if a port were in two lists, which the config refuses), the
 * order of the port checks and of the protocols' counters in /metrics, heartbeats and -v.
 * New protocols go at the end. */
#ifndef PKTLOG_REGISTRY_H
#define PKTLOG_REGISTRY_H

#include <stdio.h>
#include "pktlog/config.h"
#include "pktlog/event.h"
#include "pktlog/options.h"
#include "pktlog/proto.h"
#include "pktlog/stats.h"

/* A protocol's counters: their descriptors, and its part of the -v summary line. */
struct pl_stats_block {
	const struct pl_stat_desc *rows;
	size_t n_rows;
	/* Rows [0, n_first) are exposed in registry order with the other protocols' first
	 * rows; rows [n_first, n_rows) after every protocol's first rows (counters added
	 * after the next protocol existed; the exposition order is kept stable for scrapers
	 * and diffing). */
	size_t n_first;
	/* Writes the protocol's "; NAME: …" part of the summary (may write nothing when the
	 * protocol saw no traffic). */
	void (*summary)(const struct pl_stats *st, FILE *f);
	/* The part comes before the summary's event count (HTTP's always has); otherwise
	 * after it, in registry order. */
	bool summary_leads;
};

struct pl_proto_desc {
	const char *name;
	const struct pl_proto_ops *ops;
	size_t enabled_off;                  /* offsetof(struct pl_config, NAME.enabled): bool */
	size_t ports_off;                    /* offsetof(struct pl_config, NAME.ports) */
	const uint16_t *default_ports;
	size_t n_default_ports;
	bool ports_yield;
	/* The name of another row whose ports this row's may share: on such a port this row
	 * is asked first and hands the connection over itself when its first bytes are not
	 * its own (HTTP/2's preface, else HTTP/1.x). NULL: a port has one protocol. */
	const char *over;
	const char *topic;                   /* %{type} of output.kafka.topic */
	enum pl_event_type event_type;
	const struct pl_stats_block *stats;
	const struct pl_opt_table *options;  /* protocols.NAME.* (keys relative), over struct pl_config */
};

/* Most rows the table may have (sizes per-protocol arrays elsewhere, e.g. the config's
 * port lines); checked at compile time in registry.c. */
#define PL_PROTO_MAX 8

extern const struct pl_proto_desc pl_protocols[];
extern const size_t pl_n_protocols;

/* Each protocol's stats block and options table (defined in src/proto/NAME_stats.c). */
extern const struct pl_stats_block pl_http_stats;
extern const struct pl_stats_block pl_mysql_stats;
extern const struct pl_stats_block pl_tls_stats;
extern const struct pl_stats_block pl_http2_stats;
extern const struct pl_opt_table pl_http_options;
extern const struct pl_opt_table pl_mysql_options;
extern const struct pl_opt_table pl_tls_options;
extern const struct pl_opt_table pl_http2_options;

static inline bool pl_proto_enabled(const struct pl_config *cfg, const struct pl_proto_desc *p)
{
	return *(const bool *)((const char *)cfg + p->enabled_off);
}

static inline const struct pl_port_list *pl_proto_ports(const struct pl_config *cfg,
							const struct pl_proto_desc *p)
{
	return (const struct pl_port_list *)((const char *)cfg + p->ports_off);
}

static inline struct pl_port_list *pl_proto_ports_mut(struct pl_config *cfg,
						      const struct pl_proto_desc *p)
{
	return (struct pl_port_list *)((char *)cfg + p->ports_off);
}

/* The enabled protocol whose port list holds `port` (the server port of a connection),
 * first in table order; NULL when none does. src/net/ports.c. */
const struct pl_proto_desc *pl_proto_for_port(const struct pl_config *cfg, uint16_t port);

/* The row named `name`, or NULL. */
const struct pl_proto_desc *pl_proto_by_name(const char *name);

#endif
