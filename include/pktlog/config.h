/* config.h – conf/pktlog.yml → struct pl_config.
 *
 * Every option has a default (pl_config_defaults) and is validated at load; any error
 * names file:line and the key. The struct owns its strings; pl_config_free releases them. */
#ifndef PKTLOG_CONFIG_H
#define PKTLOG_CONFIG_H

#include "pktlog/common.h"

#define PL_MAX_PORTS 64
#define PL_MAX_HEADERS 32

struct pl_port_list {
	uint16_t port[PL_MAX_PORTS];
	int n;
};

enum pl_output_type { PL_OUTPUT_CONSOLE = 0, PL_OUTPUT_NULL, PL_OUTPUT_FILE };

struct pl_config {
	char *path;                      /* file it was loaded from, NULL for built-in defaults */

	struct {
		char *iface;                 /* capture.interface; NULL = none (use --iface / --pcap) */
		uint32_t snaplen;            /* capture.snaplen, 65535 */
		uint32_t buffer_mb;          /* capture.buffer_size_mb, 32 */
		bool promisc;                /* capture.promiscuous, false */
		char *bpf_filter;            /* capture.bpf_filter, NULL: ANDed with the generated filter */
	} capture;

	struct {
		uint32_t max_flows;          /* flows.max_flows, 65536 */
		uint32_t stream_buffer_bytes;/* flows.stream_buffer_bytes, 262144: out-of-order bytes per direction */
		uint32_t max_buffer_mb;      /* flows.max_buffer_mb, 64: out-of-order bytes of all streams, per capture thread */
		uint64_t idle_timeout_ns;    /* flows.idle_timeout, 60s */
	} flows;

	struct {
		bool enabled;                /* protocols.http.enabled, true */
		struct pl_port_list ports;   /* protocols.http.ports, [80, 8080, 8000, 5000, 8002] */
		uint64_t transaction_timeout_ns; /* protocols.http.transaction_timeout, 10s */
		uint32_t max_message_size;   /* protocols.http.max_message_size, 10485760: header bytes kept per message */
		uint32_t max_pending;        /* protocols.http.max_pending_requests, 64: per connection */
		uint32_t max_url_length;     /* protocols.http.max_url_length, 8192 */
		uint32_t max_memory_mb;      /* protocols.http.max_memory_mb, 64: kept request/response bytes, per capture thread */
		char *send_headers[PL_MAX_HEADERS]; /* protocols.http.send_headers, lower-cased names, [] */
		int n_send_headers;
		bool send_all_headers;       /* protocols.http.send_all_headers, false */
		bool redact_authorization;   /* protocols.http.redact_authorization, true (Authorization, Proxy-Authorization) */
		bool redact_cookies;         /* protocols.http.redact_cookies, true (Cookie, Set-Cookie) */
	} http;

	struct {
		bool enabled;                /* protocols.mysql.enabled, true */
		struct pl_port_list ports;   /* protocols.mysql.ports, [3306, 3307] */
		uint64_t transaction_timeout_ns; /* protocols.mysql.transaction_timeout, 10s */
		uint32_t max_query_length;   /* protocols.mysql.max_query_length, 8192: statement bytes kept */
		uint32_t max_statements;     /* protocols.mysql.max_statements, 1024: prepared statements per connection */
		bool send_request;           /* protocols.mysql.send_request, false */
		bool send_response;          /* protocols.mysql.send_response, false */
		uint32_t max_rows;           /* protocols.mysql.max_rows, 10: rows kept for send_response */
		uint32_t max_row_length;     /* protocols.mysql.max_row_length, 1024 */
	} mysql;

	struct {
		enum pl_output_type type;    /* output.type: console | null | file, console */
		char *file_path;             /* output.file.path, required when type is file */
	} output;

	char *data_dir;                  /* data_dir, /var/lib/pktlog */
	char *host_name;                 /* host_name, NULL = gethostname() */
};

/* Fill *cfg with the built-in defaults (the ones documented in conf/pktlog.yml).
 * The result owns heap copies; call pl_config_free. Returns 0, or -1 on ENOMEM. */
int pl_config_defaults(struct pl_config *cfg);

/* Load `path` over the defaults. On error returns -1 and writes one message of the form
 * "FILE:LINE: KEY: what is wrong" into err (always NUL-terminated); *cfg is then left
 * freed-and-defaulted so the caller may free it again safely. Returns 0 on success. */
int pl_config_load(const char *path, struct pl_config *cfg, char *err, size_t errlen);

/* Same, from a memory buffer; `name` stands in for the file name in messages. */
int pl_config_load_buffer(const char *name, const char *buf, size_t len,
			  struct pl_config *cfg, char *err, size_t errlen);

/* Release what *cfg owns; leaves it zeroed. Safe on a zeroed or half-built config. */
void pl_config_free(struct pl_config *cfg);

/* True when `port` is in the list. */
bool pl_port_list_has(const struct pl_port_list *l, uint16_t port);

#endif
