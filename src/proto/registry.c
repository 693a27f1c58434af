/* registry.c – the protocol table (include/pktlog/registry.h): one row per protocol.
 *
 * Owns the rows and their order, nothing else: each row points at what the protocol's own
 * files define (its ops in NAME.c, its stats block and options table in NAME_stats.c). */
#include <string.h>
#include "pktlog/registry.h"

#define DEFAULT_PORTS(...) \
	.default_ports = (const uint16_t[]){ __VA_ARGS__ }, \
	.n_default_ports = sizeof((const uint16_t[]){ __VA_ARGS__ }) / sizeof(uint16_t)

#define CFG(name) \
	.enabled_off = offsetof(struct pl_config, name.enabled), \
	.ports_off = offsetof(struct pl_config, name.ports)

const struct pl_proto_desc pl_protocols[] = {
	{ .name = "http", .ops = &pl_http_ops, CFG(http), DEFAULT_PORTS(80, 8080, 8000, 5000, 8002),
	  .topic = "http", .event_type = PL_EV_HTTP,
	  .stats = &pl_http_stats, .options = &pl_http_options },
	{ .name = "mysql", .ops = &pl_mysql_ops, CFG(mysql), DEFAULT_PORTS(3306, 3307),
	  .topic = "mysql", .event_type = PL_EV_MYSQL,
	  .stats = &pl_mysql_stats, .options = &pl_mysql_options },
	{ .name = "tls", .ops = &pl_tls_ops, CFG(tls),
	  DEFAULT_PORTS(443, 8443, 993, 995, 5223, 8883, 9243), .ports_yield = true,
	  .topic = "tls", .event_type = PL_EV_TLS,
	  .stats = &pl_tls_stats, .options = &pl_tls_options },
	{ .name = "http2", .ops = &pl_http2_ops, CFG(http2), DEFAULT_PORTS(50051), .over = "http",
	  .topic = "http", .event_type = PL_EV_HTTP,
	  .stats = &pl_http2_stats, .options = &pl_http2_options },
};

const size_t pl_n_protocols = PL_ARRAY_LEN(pl_protocols);

_Static_assert(PL_ARRAY_LEN(pl_protocols) <= PL_PROTO_MAX, "raise PL_PROTO_MAX");

const struct pl_proto_desc *pl_proto_by_name(const char *name)
{
	for (size_t i = 0; i < pl_n_protocols; i++)
		if (strcmp(pl_protocols[i].name, name) == 0)
			return &pl_protocols[i];
	return NULL;
}
