/* config.c – conf/pktlog.yml → struct pl_config: defaults, YAML parsing (libyaml document API),
 * validation with "FILE:LINE: KEY: message" errors. It must not act on the config (no capture,
 * no output set-up) and must not log: the caller prints the one error message it returns. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pwd.h>
#include <regex.h>
#include <pcap/pcap.h>
#include <yaml.h>
#include <librdkafka/rdkafka.h>

#include "pktlog/config.h"
#include "pktlog/metrics.h"

/* A config file is a few kilobytes; the cap keeps a wrong path (a log, a disk image) from
 * being slurped into memory. */
#define CONFIG_MAX_BYTES (1u << 20)
/* Longest dotted key we ever look up; longer keys are unknown by construction. */
#define KEY_MAX 128
/* Deeper than any option needs (4 levels and a list); see check_depth(). */
#define MAX_DEPTH 32
/* How much of a bad value or key is echoed back in a message. */
#define SHOW_MAX 48

enum opt_type {
	OPT_SECTION,  /* a mapping holding further options */
	OPT_STRING,   /* char *; OPT_NULLABLE lets ""/null mean NULL */
	OPT_U32,      /* uint32_t within [min, max] */
	OPT_BOOL,     /* bool */
	OPT_DURATION, /* uint64_t nanoseconds, > 0 */
	OPT_PORTS,    /* struct pl_port_list; aux = which port slot (for the overlap check) */
	OPT_HEADERS,  /* protocols.http.send_headers */
	OPT_OUTPUT,   /* enum pl_output_type */
	OPT_TAIL_INPUTS, /* tail.inputs: a list of mappings */
	OPT_U64,      /* uint64_t within [min, max] */
	OPT_ENUM,     /* an enum stored as int; aux = which table in enum_tables */
	OPT_PROPS,    /* output.kafka.properties: a string map checked against librdkafka */
};

#define OPT_NULLABLE 1u

struct option {
	const char *key;
	enum opt_type type;
	size_t off;
	uint64_t min, max;
	unsigned flags;
	int aux;
};

enum { SLOT_HTTP, SLOT_MYSQL, SLOT_TLS, N_SLOTS };
enum { ENUM_KEY, ENUM_COMPRESSION, ENUM_ACKS, ENUM_FSYNC, ENUM_EBPF, ENUM_PROC_SOURCE };
/* OPT_STRING values checked at load (aux): a filter that compiles, a user that exists, an
 * address that parses. */
enum { STR_ANY, STR_BPF, STR_USER, STR_LISTEN };

#define OFF(field) offsetof(struct pl_config, field)

static const struct option options[] = {
	{ "capture", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "capture.interface", OPT_STRING, OFF(capture.iface), 0, 0, OPT_NULLABLE, 0 },
	{ "capture.snaplen", OPT_U32, OFF(capture.snaplen), 64, 262144, 0, 0 },
	{ "capture.buffer_size_mb", OPT_U32, OFF(capture.buffer_mb), 1, 4096, 0, 0 },
	{ "capture.promiscuous", OPT_BOOL, OFF(capture.promisc), 0, 0, 0, 0 },
	{ "capture.bpf_filter", OPT_STRING, OFF(capture.bpf_filter), 0, 0, OPT_NULLABLE, STR_BPF },
	{ "capture.workers", OPT_U32, OFF(capture.workers), 1, 64, 0, 0 },
	{ "capture.ebpf", OPT_ENUM, OFF(capture.ebpf), 0, 0, 0, ENUM_EBPF },
	{ "capture.immediate", OPT_BOOL, OFF(capture.immediate), 0, 0, 0, 0 },
	{ "capture.user", OPT_STRING, OFF(capture.user), 0, 0, OPT_NULLABLE, STR_USER },
	{ "flows", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "flows.max_flows", OPT_U32, OFF(flows.max_flows), 1, 16777216, 0, 0 },
	{ "flows.stream_buffer_bytes", OPT_U32, OFF(flows.stream_buffer_bytes), 0, 1073741824, 0, 0 },
	{ "flows.max_buffer_mb", OPT_U32, OFF(flows.max_buffer_mb), 1, 65536, 0, 0 },
	{ "flows.idle_timeout", OPT_DURATION, OFF(flows.idle_timeout_ns), 0, 0, 0, 0 },
	{ "protocols", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "protocols.http", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "protocols.http.enabled", OPT_BOOL, OFF(http.enabled), 0, 0, 0, 0 },
	{ "protocols.http.ports", OPT_PORTS, OFF(http.ports), 0, 0, 0, SLOT_HTTP },
	{ "protocols.http.transaction_timeout", OPT_DURATION, OFF(http.transaction_timeout_ns), 0, 0, 0, 0 },
	{ "protocols.http.max_message_size", OPT_U32, OFF(http.max_message_size), 1024, 1073741824, 0, 0 },
	{ "protocols.http.max_pending_requests", OPT_U32, OFF(http.max_pending), 1, 4096, 0, 0 },
	{ "protocols.http.max_url_length", OPT_U32, OFF(http.max_url_length), 64, 1048576, 0, 0 },
	{ "protocols.http.max_memory_mb", OPT_U32, OFF(http.max_memory_mb), 1, 65536, 0, 0 },
	{ "protocols.http.send_headers", OPT_HEADERS, 0, 0, 0, 0, 0 },
	{ "protocols.http.send_all_headers", OPT_BOOL, OFF(http.send_all_headers), 0, 0, 0, 0 },
	{ "protocols.http.redact_authorization", OPT_BOOL, OFF(http.redact_authorization), 0, 0, 0, 0 },
	{ "protocols.http.redact_cookies", OPT_BOOL, OFF(http.redact_cookies), 0, 0, 0, 0 },
	{ "protocols.mysql", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "protocols.mysql.enabled", OPT_BOOL, OFF(mysql.enabled), 0, 0, 0, 0 },
	{ "protocols.mysql.ports", OPT_PORTS, OFF(mysql.ports), 0, 0, 0, SLOT_MYSQL },
	{ "protocols.mysql.transaction_timeout", OPT_DURATION, OFF(mysql.transaction_timeout_ns), 0, 0, 0, 0 },
	{ "protocols.mysql.max_query_length", OPT_U32, OFF(mysql.max_query_length), 64, 16777216, 0, 0 },
	{ "protocols.mysql.max_statements", OPT_U32, OFF(mysql.max_statements), 1, 65536, 0, 0 },
	{ "protocols.mysql.send_request", OPT_BOOL, OFF(mysql.send_request), 0, 0, 0, 0 },
	{ "protocols.mysql.send_response", OPT_BOOL, OFF(mysql.send_response), 0, 0, 0, 0 },
	{ "protocols.mysql.max_rows", OPT_U32, OFF(mysql.max_rows), 0, 100000, 0, 0 },
	{ "protocols.mysql.max_row_length", OPT_U32, OFF(mysql.max_row_length), 16, 1048576, 0, 0 },
	{ "protocols.tls", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "protocols.tls.enabled", OPT_BOOL, OFF(tls.enabled), 0, 0, 0, 0 },
	{ "protocols.tls.ports", OPT_PORTS, OFF(tls.ports), 0, 0, 0, SLOT_TLS },
	{ "protocols.tls.max_handshake_bytes", OPT_U32, OFF(tls.max_handshake_bytes), 1024, 16777216, 0, 0 },
	{ "protocols.tls.max_memory_mb", OPT_U32, OFF(tls.max_memory_mb), 1, 65536, 0, 0 },
	{ "output", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "output.type", OPT_OUTPUT, OFF(output.type), 0, 0, 0, 0 },
	{ "output.file", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "output.file.path", OPT_STRING, OFF(output.file_path), 0, 0, OPT_NULLABLE, 0 },
	{ "output.kafka", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "output.kafka.brokers", OPT_STRING, OFF(output.kafka.brokers), 0, 0, OPT_NULLABLE, 0 },
	{ "output.kafka.topic", OPT_STRING, OFF(output.kafka.topic), 0, 0, 0, 0 },
	{ "output.kafka.key", OPT_ENUM, OFF(output.kafka.key), 0, 0, 0, ENUM_KEY },
	{ "output.kafka.compression", OPT_ENUM, OFF(output.kafka.compression), 0, 0, 0, ENUM_COMPRESSION },
	{ "output.kafka.acks", OPT_ENUM, OFF(output.kafka.acks), 0, 0, 0, ENUM_ACKS },
	{ "output.kafka.idempotence", OPT_BOOL, OFF(output.kafka.idempotence), 0, 0, 0, 0 },
	{ "output.kafka.linger", OPT_DURATION, OFF(output.kafka.linger_ns), 0, 0, 0, 0 },
	{ "output.kafka.batch_messages", OPT_U32, OFF(output.kafka.batch_messages), 1, 1000000, 0, 0 },
	{ "output.kafka.batch_bytes", OPT_U32, OFF(output.kafka.batch_bytes), 1, 2147483647, 0, 0 },
	{ "output.kafka.queue_messages", OPT_U32, OFF(output.kafka.queue_messages), 1, 10000000, 0, 0 },
	{ "output.kafka.message_timeout", OPT_DURATION, OFF(output.kafka.message_timeout_ns), 0, 0, 0, 0 },
	{ "output.kafka.flush_timeout", OPT_DURATION, OFF(output.kafka.flush_timeout_ns), 0, 0, 0, 0 },
	{ "output.kafka.properties", OPT_PROPS, 0, 0, 0, 0, 0 },
	{ "output.spool", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "output.spool.max_bytes", OPT_U64, OFF(output.spool.max_bytes), 65536, UINT64_MAX / 2, 0, 0 },
	{ "output.spool.segment_bytes", OPT_U32, OFF(output.spool.segment_bytes), 4096, 268435456, 0, 0 },
	{ "output.spool.fsync", OPT_ENUM, OFF(output.spool.fsync), 0, 0, 0, ENUM_FSYNC },
	{ "output.spool.fsync_interval", OPT_DURATION, OFF(output.spool.fsync_interval_ns), 0, 0, 0, 0 },
	{ "tail", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "tail.inputs", OPT_TAIL_INPUTS, 0, 0, 0, 0, 0 },
	{ "tail.read_buffer_bytes", OPT_U32, OFF(tail.read_buffer_bytes), 4096, 67108864, 0, 0 },
	{ "tail.close_inactive", OPT_DURATION, OFF(tail.close_inactive_ns), 0, 0, 0, 0 },
	{ "tail.close_removed", OPT_DURATION, OFF(tail.close_removed_ns), 0, 0, 0, 0 },
	{ "tail.commit_interval", OPT_DURATION, OFF(tail.commit_interval_ns), 0, 0, 0, 0 },
	{ "tail.max_inflight", OPT_U32, OFF(tail.max_inflight), 16, 16777216, 0, 0 },
	{ "metrics", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "metrics.listen", OPT_STRING, OFF(metrics.listen), 0, 0, OPT_NULLABLE, STR_LISTEN },
	{ "metrics.heartbeat", OPT_BOOL, OFF(metrics.heartbeat), 0, 0, 0, 0 },
	{ "metrics.heartbeat_interval", OPT_DURATION, OFF(metrics.heartbeat_interval_ns), 0, 0, 0, 0 },
	{ "metrics.heartbeat_topic", OPT_STRING, OFF(metrics.heartbeat_topic), 0, 0, 0, 0 },
	{ "process", OPT_SECTION, 0, 0, 0, 0, 0 },
	{ "process.enabled", OPT_ENUM, OFF(process.enabled), 0, 0, 0, ENUM_EBPF },
	{ "process.source", OPT_ENUM, OFF(process.source), 0, 0, 0, ENUM_PROC_SOURCE },
	{ "process.refresh_interval", OPT_DURATION, OFF(process.refresh_interval_ns), 0, 0, 0, 0 },
	{ "process.cache_entries", OPT_U32, OFF(process.cache_entries), 16, 1048576, 0, 0 },
	{ "data_dir", OPT_STRING, OFF(data_dir), 0, 0, 0, 0 },
	{ "host_name", OPT_STRING, OFF(host_name), 0, 0, OPT_NULLABLE, 0 },
	{ "app_id", OPT_STRING, OFF(app_id), 0, 0, OPT_NULLABLE, 0 },
};

static const char *const output_names[] = {
	[PL_OUTPUT_CONSOLE] = "console",
	[PL_OUTPUT_NULL] = "null",
	[PL_OUTPUT_FILE] = "file",
	[PL_OUTPUT_KAFKA] = "kafka",
};

/* Names for OPT_ENUM options, in enum order; `what` is the "expected ..." phrase. */
struct enum_table {
	const char *const *names;
	size_t n;
	const char *what;
};

static const char *const key_names[] = { "none", "community_id", "client_ip", "file_path" };
static const char *const compression_names[] = { "none", "gzip", "snappy", "lz4", "zstd" };
static const char *const acks_names[] = { "all", "1", "0" };
static const char *const fsync_names[] = { "always", "interval", "never" };
static const char *const ebpf_names[] = { "auto", "on", "off" };
static const char *const proc_source_names[] = { "auto", "ebpf", "proc" };

static const struct enum_table enum_tables[] = {
	[ENUM_KEY] = { key_names, PL_ARRAY_LEN(key_names), "none, community_id, client_ip or file_path" },
	[ENUM_COMPRESSION] = { compression_names, PL_ARRAY_LEN(compression_names),
			       "none, gzip, snappy, lz4 or zstd" },
	[ENUM_ACKS] = { acks_names, PL_ARRAY_LEN(acks_names), "all, 1 or 0" },
	[ENUM_FSYNC] = { fsync_names, PL_ARRAY_LEN(fsync_names), "always, interval or never" },
	[ENUM_EBPF] = { ebpf_names, PL_ARRAY_LEN(ebpf_names), "auto, on or off" },
	[ENUM_PROC_SOURCE] = { proc_source_names, PL_ARRAY_LEN(proc_source_names), "auto, ebpf or proc" },
};

struct duration_unit {
	const char *suffix;
	uint64_t ns;
};

static const struct duration_unit duration_units[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "ms", 1000000 },
	{ "s", PL_NS_PER_SEC },
	{ "m", 60 * PL_NS_PER_SEC },
	{ "h", 3600 * PL_NS_PER_SEC },
};

static const uint16_t default_http_ports[] = { 80, 8080, 8000, 5000, 8002 };
static const uint16_t default_mysql_ports[] = { 3306, 3307 };
static const uint16_t default_tls_ports[] = { 443, 8443, 993, 995, 5223, 8883, 9243 };

/* Parsing state: the lines are kept so cross-field checks, made after the walk, can
 * still point at the place in the file the user has to change. */
struct ctx {
	const char *name;
	yaml_document_t *doc;
	struct pl_config *cfg;
	char *err;
	size_t errlen;
	unsigned long port_line[N_SLOTS][PL_MAX_PORTS]; /* 0: the port is a default */
	unsigned long output_type_line;
	unsigned long kafka_acks_line;
	unsigned long spool_segment_line;
};

/* ---- small helpers ---- */

static unsigned long node_line(const yaml_node_t *n)
{
	return n ? (unsigned long)n->start_mark.line + 1 : 0;
}

static int fail(struct ctx *c, unsigned long line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct ctx *c, unsigned long line, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->err || c->errlen == 0)
		return -1;
	n = snprintf(c->err, c->errlen, "%s:%lu: %s: ", c->name, line, key);
	if (n < 0 || (size_t)n >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copy at most buflen - 1 bytes of a file-supplied string for a message, with control
 * bytes masked so a hostile file cannot put escape sequences on the operator's terminal. */
static const char *show(const char *p, size_t len, char *buf, size_t buflen)
{
	size_t i, n = PL_MIN(len, buflen - 1);

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	buf[n] = '\0';
	return buf;
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "a scalar";
	}
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static size_t slen(const yaml_node_t *n)
{
	return n->data.scalar.length;
}

static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (i = 0; i < PL_ARRAY_LEN(nulls); i++)
		if (strcmp(sval(n), nulls[i]) == 0)
			return true;
	return false;
}

static int want_scalar(struct ctx *c, const yaml_node_t *n, const char *key, const char *what)
{
	if (n->type == YAML_SCALAR_NODE)
		return 0;
	return fail(c, node_line(n), key, "expected %s, found %s", what, node_kind(n));
}

/* Decimal digits only: YAML 1.1's octal/hex/sexagesimal forms are surprises, not features. */
static int parse_u64(const char *s, size_t len, size_t *used, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		i++;
	}
	if (i == 0)
		return -1;
	*used = i;
	*out = v;
	return 0;
}

static size_t levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[KEY_MAX + 1];

	if (la > KEY_MAX || lb > KEY_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			best = PL_MIN(best, up + 1);
			best = PL_MIN(best, row[j - 1] + 1);
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const struct option *find_option(const char *key)
{
	size_t i;

	for (i = 0; i < PL_ARRAY_LEN(options); i++)
		if (strcmp(options[i].key, key) == 0)
			return &options[i];
	return NULL;
}

static const struct option *closest_option(const char *key)
{
	const struct option *best = NULL;
	size_t i, best_d = 3; /* suggest only near-misses: distance <= 2 */

	for (i = 0; i < PL_ARRAY_LEN(options); i++) {
		size_t d = levenshtein(key, options[i].key);
		if (d < best_d) {
			best_d = d;
			best = &options[i];
		}
	}
	return best;
}

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- defaults / free ---- */

static void tail_input_free(struct pl_tail_input *in);

static void set_ports(struct pl_port_list *l, const uint16_t *ports, size_t n)
{
	memcpy(l->port, ports, n * sizeof(*ports));
	l->n = (int)n;
}

int pl_config_defaults(struct pl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capture.snaplen = 65535;
	cfg->capture.buffer_mb = 32;
	cfg->capture.workers = 1;
	cfg->capture.ebpf = PL_EBPF_AUTO;
	cfg->capture.user = dup_str("nobody");
	if (!cfg->capture.user)
		return -1;
	cfg->flows.max_flows = 65536;
	cfg->flows.stream_buffer_bytes = 262144;
	cfg->flows.idle_timeout_ns = 60 * PL_NS_PER_SEC;
	cfg->flows.max_buffer_mb = 64;
	cfg->http.enabled = true;
	set_ports(&cfg->http.ports, default_http_ports, PL_ARRAY_LEN(default_http_ports));
	cfg->http.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg->http.max_message_size = 10485760;
	cfg->http.max_pending = 64;
	cfg->http.max_url_length = 8192;
	cfg->http.max_memory_mb = 64;
	cfg->http.redact_authorization = true;
	cfg->http.redact_cookies = true;
	cfg->mysql.enabled = true;
	set_ports(&cfg->mysql.ports, default_mysql_ports, PL_ARRAY_LEN(default_mysql_ports));
	cfg->mysql.transaction_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg->mysql.max_query_length = 8192;
	cfg->mysql.max_statements = 1024;
	cfg->mysql.max_rows = 10;
	cfg->mysql.max_row_length = 1024;
	cfg->tls.enabled = true;
	set_ports(&cfg->tls.ports, default_tls_ports, PL_ARRAY_LEN(default_tls_ports));
	cfg->tls.max_handshake_bytes = 65536;
	cfg->tls.max_memory_mb = 64;
	cfg->output.type = PL_OUTPUT_CONSOLE;
	cfg->output.kafka.topic = dup_str("pktlog");
	cfg->output.kafka.compression = PL_KAFKA_COMP_LZ4;   /* why: conf/pktlog.yml */
	cfg->output.kafka.idempotence = true;
	cfg->output.kafka.linger_ns = 10 * 1000000ULL;
	cfg->output.kafka.batch_messages = 10000;
	cfg->output.kafka.batch_bytes = 1000000;
	cfg->output.kafka.queue_messages = 100000;
	cfg->output.kafka.message_timeout_ns = 30 * PL_NS_PER_SEC;
	cfg->output.kafka.flush_timeout_ns = 10 * PL_NS_PER_SEC;
	cfg->output.spool.max_bytes = 1073741824ULL;
	cfg->output.spool.segment_bytes = 1048576;
	cfg->output.spool.fsync = PL_SPOOL_FSYNC_INTERVAL;
	cfg->output.spool.fsync_interval_ns = PL_NS_PER_SEC;
	if (!cfg->output.kafka.topic)
		return -1;
	cfg->tail.read_buffer_bytes = 262144;
	cfg->tail.close_inactive_ns = 300 * PL_NS_PER_SEC;
	cfg->tail.close_removed_ns = 5 * PL_NS_PER_SEC;
	cfg->tail.commit_interval_ns = PL_NS_PER_SEC;
	cfg->tail.max_inflight = 65536;
	cfg->metrics.heartbeat = true;
	cfg->process.refresh_interval_ns = PL_NS_PER_SEC;
	cfg->process.cache_entries = 1024;
	cfg->metrics.heartbeat_interval_ns = 60 * PL_NS_PER_SEC;
	cfg->metrics.heartbeat_topic = dup_str("pktlog-heartbeat");
	cfg->data_dir = dup_str("/var/lib/pktlog");
	if (!cfg->data_dir || !cfg->metrics.heartbeat_topic)
		return -1;
	return 0;
}

void pl_config_free(struct pl_config *cfg)
{
	int i;

	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->capture.iface);
	free(cfg->capture.bpf_filter);
	free(cfg->capture.user);
	for (i = 0; i < cfg->http.n_send_headers && i < PL_MAX_HEADERS; i++)
		free(cfg->http.send_headers[i]);
	free(cfg->output.file_path);
	free(cfg->output.kafka.brokers);
	free(cfg->output.kafka.topic);
	for (i = 0; i < cfg->output.kafka.n_props && i < PL_MAX_KAFKA_PROPS; i++) {
		free(cfg->output.kafka.prop_key[i]);
		free(cfg->output.kafka.prop_val[i]);
	}
	free(cfg->metrics.listen);
	free(cfg->metrics.heartbeat_topic);
	free(cfg->data_dir);
	free(cfg->host_name);
	free(cfg->app_id);
	for (i = 0; i < cfg->tail.n_inputs && i < PL_TAIL_MAX_INPUTS; i++)
		tail_input_free(&cfg->tail.inputs[i]);
	memset(cfg, 0, sizeof(*cfg));
}

bool pl_port_list_has(const struct pl_port_list *l, uint16_t port)
{
	int i;

	for (i = 0; i < l->n && i < PL_MAX_PORTS; i++)
		if (l->port[i] == port)
			return true;
	return false;
}

/* ---- value setters, one per option type ---- */

/* capture.bpf_filter must compile (on Ethernet, as live capture on most interfaces will);
 * checked here so a replay refuses it too, not only a live capture. */
static int check_bpf(struct ctx *c, const char *expr, const yaml_node_t *v, const char *key)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
	struct bpf_program prog;
	int rc = 0;

	if (!p)
		return fail(c, node_line(v), key, "out of memory");
	if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0)
		rc = fail(c, node_line(v), key, "invalid filter \"%s\": %s", expr, pcap_geterr(p));
	else
		pcap_freecode(&prog);
	pcap_close(p);
	return rc;
}

static int check_user(struct ctx *c, const char *user, const yaml_node_t *v, const char *key)
{
	errno = 0;
	if (getpwnam(user))
		return 0;
	if (errno && errno != ENOENT && errno != ESRCH)
		return fail(c, node_line(v), key, "cannot look up user \"%s\": %s", user,
			    strerror(errno));
	return fail(c, node_line(v), key, "no user \"%s\" on this system (\"\" keeps the user "
		    "pktlog was started as)", user);
}

static int check_listen(struct ctx *c, const char *listen, const yaml_node_t *v, const char *key)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (pl_metrics_parse_listen(listen, &ss, &len) < 0)
		return fail(c, node_line(v), key, "expected HOST:PORT with an IPv4 address or "
			    "[IPv6] and a port 0-65535, found \"%s\"", listen);
	return 0;
}

static int check_string(struct ctx *c, int kind, const char *str, const yaml_node_t *v,
			const char *key)
{
	switch (kind) {
	case STR_BPF: return check_bpf(c, str, v, key);
	case STR_USER: return check_user(c, str, v, key);
	case STR_LISTEN: return check_listen(c, str, v, key);
	default: return 0;
	}
}

static int set_string(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	char **dst = (char **)((char *)c->cfg + o->off);
	char *copy = NULL;

	if (want_scalar(c, v, key, "a string") < 0)
		return -1;
	if (is_null(v) || slen(v) == 0) {
		if (!(o->flags & OPT_NULLABLE))
			return fail(c, node_line(v), key, "must not be empty");
	} else {
		if (strlen(sval(v)) != slen(v))
			return fail(c, node_line(v), key, "contains a NUL byte");
		if (check_string(c, o->aux, sval(v), v, key) < 0)
			return -1;
		copy = strdup(sval(v));
		if (!copy)
			return fail(c, node_line(v), key, "out of memory");
	}
	free(*dst);
	*dst = copy;
	return 0;
}

static int set_u32(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	char buf[SHOW_MAX + 1];
	uint64_t n;
	size_t used;

	if (want_scalar(c, v, key, "a number") < 0)
		return -1;
	if (slen(v) == 0 || strspn(sval(v), "0123456789") != slen(v))
		return fail(c, node_line(v), key, "expected a number, found \"%s\"",
			    show(sval(v), slen(v), buf, sizeof(buf)));
	/* All digits: the only way to fail now is a number too big for 64 bits. */
	if (parse_u64(sval(v), slen(v), &used, &n) < 0 || n < o->min || n > o->max)
		return fail(c, node_line(v), key, "%s is out of range %llu-%llu",
			    show(sval(v), slen(v), buf, sizeof(buf)),
			    (unsigned long long)o->min, (unsigned long long)o->max);
	*(uint32_t *)((char *)c->cfg + o->off) = (uint32_t)n;
	return 0;
}

static int set_bool(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	static const struct { const char *word; bool val; } words[] = {
		{ "true", true }, { "yes", true }, { "on", true },
		{ "false", false }, { "no", false }, { "off", false },
	};
	char buf[SHOW_MAX + 1];
	size_t i;

	if (want_scalar(c, v, key, "true or false") < 0)
		return -1;
	for (i = 0; i < PL_ARRAY_LEN(words); i++) {
		if (strcasecmp(sval(v), words[i].word) == 0 && strlen(sval(v)) == slen(v)) {
			*(bool *)((char *)c->cfg + o->off) = words[i].val;
			return 0;
		}
	}
	return fail(c, node_line(v), key, "expected true or false (or yes/no, on/off), found \"%s\"",
		    show(sval(v), slen(v), buf, sizeof(buf)));
}

/* "500ms", "10s", "1m", "2h", "250us", "100ns"; a bare number counts seconds. */
static int parse_duration(const char *s, size_t len, uint64_t *ns)
{
	const char *unit;
	uint64_t n;
	size_t used, i;

	if (parse_u64(s, len, &used, &n) < 0)
		return -1;
	unit = used == len ? "s" : s + used;
	if (used != len && strlen(unit) != len - used) /* a NUL inside the scalar */
		return -1;
	for (i = 0; i < PL_ARRAY_LEN(duration_units); i++) {
		const struct duration_unit *u = &duration_units[i];
		if (strcmp(unit, u->suffix) != 0)
			continue;
		if (n > UINT64_MAX / u->ns)
			return -2;
		*ns = n * u->ns;
		return 0;
	}
	return -1;
}

static int set_duration(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	char buf[SHOW_MAX + 1];
	uint64_t ns = 0;
	int rc;

	if (want_scalar(c, v, key, "a duration") < 0)
		return -1;
	rc = parse_duration(sval(v), slen(v), &ns);
	if (rc == -2)
		return fail(c, node_line(v), key, "duration \"%s\" is too long",
			    show(sval(v), slen(v), buf, sizeof(buf)));
	if (rc < 0)
		return fail(c, node_line(v), key,
			    "expected a duration such as 500ms, 10s, 1m or 2h, found \"%s\"",
			    show(sval(v), slen(v), buf, sizeof(buf)));
	if (ns == 0)
		return fail(c, node_line(v), key, "duration must be greater than 0");
	*(uint64_t *)((char *)c->cfg + o->off) = ns;
	return 0;
}

static int want_list(struct ctx *c, const yaml_node_t *v, const char *key, const char *what)
{
	if (v->type == YAML_SEQUENCE_NODE || is_null(v))
		return 0;
	return fail(c, node_line(v), key, "expected a list of %s, found %s", what, node_kind(v));
}

static int list_len(const yaml_node_t *v)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return 0;
	return (int)(v->data.sequence.items.top - v->data.sequence.items.start);
}

static const yaml_node_t *list_item(struct ctx *c, const yaml_node_t *v, int i)
{
	return yaml_document_get_node(c->doc, v->data.sequence.items.start[i]);
}

static int parse_port(struct ctx *c, const yaml_node_t *item, const char *key, uint16_t *port)
{
	char buf[SHOW_MAX + 1];
	uint64_t n;
	size_t used;

	if (want_scalar(c, item, key, "a port number") < 0)
		return -1;
	if (parse_u64(sval(item), slen(item), &used, &n) < 0 || used != slen(item)) {
		if (slen(item) > 0 && strspn(sval(item), "0123456789") == slen(item))
			return fail(c, node_line(item), key, "port %s is out of range 1-65535",
				    show(sval(item), slen(item), buf, sizeof(buf)));
		return fail(c, node_line(item), key, "expected a port number, found \"%s\"",
			    show(sval(item), slen(item), buf, sizeof(buf)));
	}
	if (n < 1 || n > 65535)
		return fail(c, node_line(item), key, "port %llu is out of range 1-65535",
			    (unsigned long long)n);
	*port = (uint16_t)n;
	return 0;
}

static int set_ports_opt(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	struct pl_port_list *l = (struct pl_port_list *)((char *)c->cfg + o->off);
	struct pl_port_list tmp = { .n = 0 };
	int i, n = list_len(v);

	if (want_list(c, v, key, "ports") < 0)
		return -1;
	if (n == 0)
		return fail(c, node_line(v), key, "the port list is empty");
	if (n > PL_MAX_PORTS)
		return fail(c, node_line(list_item(c, v, PL_MAX_PORTS)), key,
			    "more than %d ports", PL_MAX_PORTS);
	for (i = 0; i < n; i++) {
		const yaml_node_t *item = list_item(c, v, i);
		uint16_t port = 0;

		if (parse_port(c, item, key, &port) < 0)
			return -1;
		if (pl_port_list_has(&tmp, port))
			return fail(c, node_line(item), key, "port %u is listed twice", port);
		tmp.port[tmp.n++] = port;
		c->port_line[o->aux][i] = node_line(item);
	}
	*l = tmp;
	return 0;
}

static int set_headers(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	struct pl_config *cfg = c->cfg;
	int i, n = list_len(v);

	if (want_list(c, v, key, "header names") < 0)
		return -1;
	if (n > PL_MAX_HEADERS)
		return fail(c, node_line(list_item(c, v, PL_MAX_HEADERS)), key,
			    "more than %d headers", PL_MAX_HEADERS);
	for (i = 0; i < cfg->http.n_send_headers; i++) {
		free(cfg->http.send_headers[i]);
		cfg->http.send_headers[i] = NULL;
	}
	cfg->http.n_send_headers = 0;
	for (i = 0; i < n; i++) {
		const yaml_node_t *item = list_item(c, v, i);
		char *name;
		size_t j;

		if (want_scalar(c, item, key, "a header name") < 0)
			return -1;
		if (slen(item) == 0 || strlen(sval(item)) != slen(item))
			return fail(c, node_line(item), key, "header names must be non-empty text");
		name = strdup(sval(item));
		if (!name)
			return fail(c, node_line(item), key, "out of memory");
		/* HTTP header names are case-insensitive; storing them folded lets the
		 * protocol compare bytes without a locale. */
		for (j = 0; name[j]; j++)
			if (name[j] >= 'A' && name[j] <= 'Z')
				name[j] = (char)(name[j] - 'A' + 'a');
		cfg->http.send_headers[cfg->http.n_send_headers++] = name;
	}
	return 0;
}

static int set_output(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	char buf[SHOW_MAX + 1];
	size_t i;

	if (want_scalar(c, v, key, "console, null, file or kafka") < 0)
		return -1;
	for (i = 0; i < PL_ARRAY_LEN(output_names); i++) {
		if (strcmp(sval(v), output_names[i]) == 0 && strlen(sval(v)) == slen(v)) {
			*(enum pl_output_type *)((char *)c->cfg + o->off) = (enum pl_output_type)i;
			c->output_type_line = node_line(v);
			return 0;
		}
	}
	return fail(c, node_line(v), key, "expected console, null, file or kafka, found \"%s\"",
		    show(sval(v), slen(v), buf, sizeof(buf)));
}

static int set_u64(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	char buf[SHOW_MAX + 1];
	uint64_t n;
	size_t used;

	if (want_scalar(c, v, key, "a number") < 0)
		return -1;
	if (slen(v) == 0 || strspn(sval(v), "0123456789") != slen(v) ||
	    parse_u64(sval(v), slen(v), &used, &n) < 0 || n < o->min || n > o->max)
		return fail(c, node_line(v), key, "expected a number in %llu-%llu, found \"%s\"",
			    (unsigned long long)o->min, (unsigned long long)o->max,
			    show(sval(v), slen(v), buf, sizeof(buf)));
	*(uint64_t *)((char *)c->cfg + o->off) = n;
	if (o->off == OFF(output.spool.max_bytes))
		c->spool_segment_line = PL_MAX(c->spool_segment_line, node_line(v));
	return 0;
}

static int set_enum(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	const struct enum_table *t = &enum_tables[o->aux];
	char buf[SHOW_MAX + 1];
	size_t i;

	if (want_scalar(c, v, key, t->what) < 0)
		return -1;
	for (i = 0; i < t->n; i++) {
		if (strcmp(sval(v), t->names[i]) == 0 && strlen(sval(v)) == slen(v)) {
			*(int *)((char *)c->cfg + o->off) = (int)i;
			if (o->aux == ENUM_ACKS)
				c->kafka_acks_line = node_line(v);
			return 0;
		}
	}
	return fail(c, node_line(v), key, "expected %s, found \"%s\"", t->what,
		    show(sval(v), slen(v), buf, sizeof(buf)));
}

static int set_prop(struct ctx *c, rd_kafka_conf_t *probe, const yaml_node_t *k,
		    const yaml_node_t *v, const char *key)
{
	struct pl_config *cfg = c->cfg;
	char kbuf[SHOW_MAX + 1], errstr[256];
	char full[KEY_MAX + SHOW_MAX + 2];
	int n = cfg->output.kafka.n_props;

	snprintf(full, sizeof(full), "%s.%s", key, show(sval(k), slen(k), kbuf, sizeof(kbuf)));
	if (v->type != YAML_SCALAR_NODE)
		return fail(c, node_line(v), full, "expected a value, found %s", node_kind(v));
	if (strlen(sval(k)) != slen(k) || strlen(sval(v)) != slen(v) || slen(k) == 0)
		return fail(c, node_line(k), full, "names and values must be non-empty text");
	if (n == PL_MAX_KAFKA_PROPS)
		return fail(c, node_line(k), full, "more than %d properties", PL_MAX_KAFKA_PROPS);
	/* librdkafka knows its own settings best: ask it, so a typo fails here, at start. */
	if (rd_kafka_conf_set(probe, sval(k), sval(v), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		return fail(c, node_line(k), full, "%s", errstr);
	cfg->output.kafka.prop_key[n] = strdup(sval(k));
	cfg->output.kafka.prop_val[n] = strdup(sval(v));
	cfg->output.kafka.n_props = n + 1;
	if (!cfg->output.kafka.prop_key[n] || !cfg->output.kafka.prop_val[n])
		return fail(c, node_line(k), full, "out of memory");
	return 0;
}

static int set_props(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	const yaml_node_pair_t *p;
	rd_kafka_conf_t *probe;
	int rc = 0;

	if (is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, node_line(v), key, "expected a mapping of librdkafka properties, found %s",
			    node_kind(v));
	probe = rd_kafka_conf_new();
	if (!probe)
		return fail(c, node_line(v), key, "out of memory");
	for (p = v->data.mapping.pairs.start; rc == 0 && p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *val = yaml_document_get_node(c->doc, p->value);

		if (!k || !val || k->type != YAML_SCALAR_NODE)
			rc = fail(c, node_line(v), key, "property names must be plain words");
		else
			rc = set_prop(c, probe, k, val, key);
	}
	rd_kafka_conf_destroy(probe);
	return rc;
}

/* ---- the walk ---- */

static int walk_mapping(struct ctx *c, const yaml_node_t *map, const char *prefix);

static int set_section(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	if (v->type == YAML_MAPPING_NODE)
		return walk_mapping(c, v, key);
	if (is_null(v)) /* "capture:" with everything commented out below it */
		return 0;
	return fail(c, node_line(v), key, "expected a mapping of options, found %s", node_kind(v));
}

typedef int (*setter_fn)(struct ctx *, const struct option *, const yaml_node_t *, const char *);

static int set_tail_inputs(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key);

static const setter_fn setters[] = {
	[OPT_SECTION] = set_section,
	[OPT_STRING] = set_string,
	[OPT_U32] = set_u32,
	[OPT_BOOL] = set_bool,
	[OPT_DURATION] = set_duration,
	[OPT_PORTS] = set_ports_opt,
	[OPT_HEADERS] = set_headers,
	[OPT_OUTPUT] = set_output,
	[OPT_TAIL_INPUTS] = set_tail_inputs,
	[OPT_U64] = set_u64,
	[OPT_ENUM] = set_enum,
	[OPT_PROPS] = set_props,
};

/* Build "prefix.key" into buf; false when the key cannot be a known option (too long,
 * control bytes, NUL), in which case buf still holds a printable version for the message. */
static bool make_key(const char *prefix, const yaml_node_t *k, char *buf, size_t buflen)
{
	char shown[KEY_MAX + 1];
	bool exact;
	int n;

	show(sval(k), slen(k), shown, sizeof(shown));
	/* show() truncates and masks, so an unchanged copy proves the key is plain. */
	exact = strlen(sval(k)) == slen(k) && strcmp(shown, sval(k)) == 0;
	n = snprintf(buf, buflen, "%s%s%s", prefix, *prefix ? "." : "", shown);
	return exact && n > 0 && (size_t)n <= KEY_MAX;
}

static bool same_scalar(const yaml_node_t *a, const yaml_node_t *b)
{
	return slen(a) == slen(b) && memcmp(sval(a), sval(b), slen(a)) == 0;
}

/* Keys earlier in the mapping were all known options (the walk stops at the first unknown
 * one), so this scan is bounded by the size of the option table, not by the input. */
static const yaml_node_t *earlier_key(struct ctx *c, const yaml_node_t *map,
				      const yaml_node_pair_t *upto, const yaml_node_t *k)
{
	const yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < upto; p++) {
		const yaml_node_t *prev = yaml_document_get_node(c->doc, p->key);
		if (prev && prev->type == YAML_SCALAR_NODE && same_scalar(prev, k))
			return prev;
	}
	return NULL;
}

static int walk_pair(struct ctx *c, const yaml_node_t *map, const yaml_node_pair_t *p,
		     const char *prefix)
{
	const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
	const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
	const yaml_node_t *prev;
	const struct option *o;
	char key[2 * KEY_MAX + 2]; /* room for a known prefix, a dot and a shown key */

	if (!k || !v)
		return fail(c, node_line(map), *prefix ? prefix : "-", "malformed mapping");
	if (k->type != YAML_SCALAR_NODE)
		return fail(c, node_line(k), *prefix ? prefix : "-",
			    "option names must be plain words, found %s", node_kind(k));
	o = make_key(prefix, k, key, sizeof(key)) ? find_option(key) : NULL;
	if (!o) {
		const struct option *near = closest_option(key);
		if (near)
			return fail(c, node_line(k), key, "unknown option (did you mean %s?)", near->key);
		return fail(c, node_line(k), key, "unknown option");
	}
	prev = earlier_key(c, map, p, k);
	if (prev)
		return fail(c, node_line(k), key, "duplicate key (first set on line %lu)", node_line(prev));
	return setters[o->type](c, o, v, key);
}

static int walk_mapping(struct ctx *c, const yaml_node_t *map, const char *prefix)
{
	const yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
		if (walk_pair(c, map, p, prefix) < 0)
			return -1;
	return 0;
}

/* ---- tail.inputs: a list of mappings, each one input ---- */

static void tail_input_defaults(struct pl_tail_input *in)
{
	memset(in, 0, sizeof(*in));
	in->max_line_bytes = 1048576;
	in->ml_max_lines = 500;
	in->ml_timeout_ns = 5 * PL_NS_PER_SEC;
}

static void tail_input_free(struct pl_tail_input *in)
{
	int i;

	for (i = 0; i < in->n_paths && i < PL_TAIL_MAX_PATHS; i++)
		free(in->paths[i]);
	for (i = 0; i < in->n_excludes && i < PL_TAIL_MAX_PATHS; i++)
		free(in->excludes[i]);
	for (i = 0; i < in->n_fields && i < PL_TAIL_MAX_FIELDS; i++) {
		free(in->field_keys[i]);
		free(in->field_values[i]);
	}
	free(in->topic);
	free(in->ml_pattern);
	memset(in, 0, sizeof(*in));
}

int pl_config_tail_add(struct pl_config *cfg, const char *pattern)
{
	struct pl_tail_input *in;

	if (cfg->tail.n_inputs >= PL_TAIL_MAX_INPUTS)
		return -1;
	in = &cfg->tail.inputs[cfg->tail.n_inputs];
	tail_input_defaults(in);
	in->paths[0] = strdup(pattern);
	if (!in->paths[0])
		return -1;
	in->n_paths = 1;
	cfg->tail.n_inputs++;
	return 0;
}

/* A non-empty string without NUL bytes, copied. */
static int tail_text(struct ctx *c, const yaml_node_t *v, const char *key, char **out)
{
	char *p;

	if (want_scalar(c, v, key, "a string") < 0)
		return -1;
	if (slen(v) == 0 || is_null(v) || strlen(sval(v)) != slen(v))
		return fail(c, node_line(v), key, "must be non-empty text");
	p = strdup(sval(v));
	if (!p)
		return fail(c, node_line(v), key, "out of memory");
	free(*out);
	*out = p;
	return 0;
}

/* One string or a list of them, into arr (freed and refilled). */
static int tail_list(struct ctx *c, const yaml_node_t *v, const char *key, char **arr, int *n)
{
	int i, len;

	for (i = 0; i < *n; i++) {
		free(arr[i]);
		arr[i] = NULL;
	}
	*n = 0;
	if (v->type == YAML_SCALAR_NODE)
		return tail_text(c, v, key, &arr[(*n)++]);
	if (want_list(c, v, key, "path patterns") < 0)
		return -1;
	len = list_len(v);
	if (len > PL_TAIL_MAX_PATHS)
		return fail(c, node_line(v), key, "more than %d patterns", PL_TAIL_MAX_PATHS);
	for (i = 0; i < len; i++) {
		if (tail_text(c, list_item(c, v, i), key, &arr[*n]) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

static int tail_fields(struct ctx *c, const yaml_node_t *v, const char *key, struct pl_tail_input *in)
{
	const yaml_node_pair_t *p;

	if (is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, node_line(v), key, "expected a mapping of field: value, found %s", node_kind(v));
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *val = yaml_document_get_node(c->doc, p->value);

		if (!k || !val)
			return fail(c, node_line(v), key, "malformed mapping");
		if (in->n_fields >= PL_TAIL_MAX_FIELDS)
			return fail(c, node_line(k), key, "more than %d fields", PL_TAIL_MAX_FIELDS);
		if (tail_text(c, k, key, &in->field_keys[in->n_fields]) < 0 ||
		    tail_text(c, val, key, &in->field_values[in->n_fields]) < 0) {
			in->n_fields++; /* so the half-set pair is freed */
			return -1;
		}
		in->n_fields++;
	}
	return 0;
}

static int tail_u32(struct ctx *c, const yaml_node_t *v, const char *key, uint32_t min, uint32_t max,
		    uint32_t *out)
{
	struct option o = { key, OPT_U32, 0, min, max, 0, 0 };
	struct pl_config *saved = c->cfg;
	int rc;

	/* set_u32 writes at cfg + off: point it at the destination. */
	c->cfg = (struct pl_config *)(void *)out;
	rc = set_u32(c, &o, v, key);
	c->cfg = saved;
	return rc;
}

static int tail_duration(struct ctx *c, const yaml_node_t *v, const char *key, uint64_t *out)
{
	struct option o = { key, OPT_DURATION, 0, 0, 0, 0, 0 };
	struct pl_config *saved = c->cfg;
	int rc;

	c->cfg = (struct pl_config *)(void *)out;
	rc = set_duration(c, &o, v, key);
	c->cfg = saved;
	return rc;
}

static int tail_bool(struct ctx *c, const yaml_node_t *v, const char *key, bool *out)
{
	struct option o = { key, OPT_BOOL, 0, 0, 0, 0, 0 };
	struct pl_config *saved = c->cfg;
	int rc;

	c->cfg = (struct pl_config *)(void *)out;
	rc = set_bool(c, &o, v, key);
	c->cfg = saved;
	return rc;
}

static int tail_choice(struct ctx *c, const yaml_node_t *v, const char *key, const char *a,
		       const char *b, bool *is_b)
{
	char buf[SHOW_MAX + 1];

	if (want_scalar(c, v, key, a) < 0)
		return -1;
	if (strcmp(sval(v), a) == 0 || strcmp(sval(v), b) == 0) {
		*is_b = strcmp(sval(v), b) == 0;
		return 0;
	}
	return fail(c, node_line(v), key, "expected %s or %s, found \"%s\"", a, b,
		    show(sval(v), slen(v), buf, sizeof(buf)));
}

static int tail_format(struct ctx *c, const yaml_node_t *v, const char *key, int *out)
{
	static const char *const names[] = { "raw", "docker", "cri", "auto" };
	char buf[SHOW_MAX + 1];

	if (want_scalar(c, v, key, "raw, docker, cri or auto") < 0)
		return -1;
	for (int i = 0; i < 4; i++) {
		if (strcmp(sval(v), names[i]) == 0) {
			*out = i;   /* PL_TAIL_FORMAT_* in this order */
			return 0;
		}
	}
	return fail(c, node_line(v), key, "expected raw, docker, cri or auto, found \"%s\"",
		    show(sval(v), slen(v), buf, sizeof(buf)));
}

static int tail_regex(struct ctx *c, const yaml_node_t *v, const char *key, char **out)
{
	regex_t re;
	int rc;

	if (tail_text(c, v, key, out) < 0)
		return -1;
	rc = regcomp(&re, *out, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char msg[128];
		regerror(rc, &re, msg, sizeof(msg));
		return fail(c, node_line(v), key, "invalid regular expression: %s", msg);
	}
	regfree(&re);
	return 0;
}

static int tail_multiline(struct ctx *c, const yaml_node_t *v, const char *prefix,
			  struct pl_tail_input *in)
{
	const yaml_node_pair_t *p;
	char key[KEY_MAX + 64];

	if (is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, node_line(v), prefix, "expected a mapping of options, found %s", node_kind(v));
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *val = yaml_document_get_node(c->doc, p->value);
		int rc;

		if (!k || !val || k->type != YAML_SCALAR_NODE)
			return fail(c, node_line(v), prefix, "malformed mapping");
		make_key(prefix, k, key, sizeof(key));
		if (earlier_key(c, v, p, k))
			return fail(c, node_line(k), key, "duplicate key");
		if (strcmp(sval(k), "start_pattern") == 0)
			rc = tail_regex(c, val, key, &in->ml_pattern);
		else if (strcmp(sval(k), "indent_continues") == 0)
			rc = tail_bool(c, val, key, &in->ml_indent);
		else if (strcmp(sval(k), "max_lines") == 0)
			rc = tail_u32(c, val, key, 1, 1000000, &in->ml_max_lines);
		else if (strcmp(sval(k), "timeout") == 0)
			rc = tail_duration(c, val, key, &in->ml_timeout_ns);
		else
			rc = fail(c, node_line(k), key,
				  "unknown option (expected start_pattern, indent_continues, max_lines or timeout)");
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int tail_input_key(struct ctx *c, const yaml_node_t *k, const yaml_node_t *val,
			  const char *key, struct pl_tail_input *in)
{
	const char *name = sval(k);

	if (strcmp(name, "paths") == 0)
		return tail_list(c, val, key, in->paths, &in->n_paths);
	if (strcmp(name, "exclude") == 0)
		return tail_list(c, val, key, in->excludes, &in->n_excludes);
	if (strcmp(name, "topic") == 0)
		return tail_text(c, val, key, &in->topic);
	if (strcmp(name, "fields") == 0)
		return tail_fields(c, val, key, in);
	if (strcmp(name, "start_position") == 0)
		return tail_choice(c, val, key, "beginning", "end", &in->start_at_end);
	if (strcmp(name, "max_line_bytes") == 0)
		return tail_u32(c, val, key, 64, 67108864, &in->max_line_bytes);
	if (strcmp(name, "long_lines") == 0)
		return tail_choice(c, val, key, "split", "truncate", &in->truncate_long_lines);
	if (strcmp(name, "multiline") == 0)
		return tail_multiline(c, val, key, in);
	if (strcmp(name, "format") == 0)
		return tail_format(c, val, key, &in->format);
	return fail(c, node_line(k), key, "unknown option (expected paths, exclude, topic, fields, "
		    "start_position, max_line_bytes, long_lines, multiline or format)");
}

static int tail_input(struct ctx *c, const yaml_node_t *map, const char *prefix,
		      struct pl_tail_input *in)
{
	const yaml_node_pair_t *p;
	char key[KEY_MAX + 64];

	if (map->type != YAML_MAPPING_NODE)
		return fail(c, node_line(map), prefix, "each input must be a mapping (paths: ...), found %s",
			    node_kind(map));
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *val = yaml_document_get_node(c->doc, p->value);

		if (!k || !val || k->type != YAML_SCALAR_NODE)
			return fail(c, node_line(map), prefix, "malformed mapping");
		make_key(prefix, k, key, sizeof(key));
		if (earlier_key(c, map, p, k))
			return fail(c, node_line(k), key, "duplicate key");
		if (tail_input_key(c, k, val, key, in) < 0)
			return -1;
	}
	if (in->n_paths == 0)
		return fail(c, node_line(map), prefix, "an input needs paths");
	if (in->ml_pattern && in->ml_indent)
		return fail(c, node_line(map), prefix,
			    "multiline: give start_pattern or indent_continues, not both");
	return 0;
}

static int set_tail_inputs(struct ctx *c, const struct option *o, const yaml_node_t *v, const char *key)
{
	struct pl_config *cfg = c->cfg;
	int i, n = list_len(v);

	if (want_list(c, v, key, "inputs") < 0)
		return -1;
	if (n > PL_TAIL_MAX_INPUTS)
		return fail(c, node_line(v), key, "more than %d inputs", PL_TAIL_MAX_INPUTS);
	for (i = 0; i < cfg->tail.n_inputs; i++)
		tail_input_free(&cfg->tail.inputs[i]);
	cfg->tail.n_inputs = 0;
	for (i = 0; i < n; i++) {
		struct pl_tail_input *in = &cfg->tail.inputs[cfg->tail.n_inputs++];

		tail_input_defaults(in);
		if (tail_input(c, list_item(c, v, i), key, in) < 0)
			return -1;
	}
	return 0;
}

/* ---- cross-field checks ---- */

static int check_port_overlap(struct ctx *c)
{
	const struct pl_port_list *h = &c->cfg->http.ports, *m = &c->cfg->mysql.ports;
	int i, j;

	for (i = 0; i < h->n; i++) {
		for (j = 0; j < m->n; j++) {
			unsigned long hl = c->port_line[SLOT_HTTP][i], ml = c->port_line[SLOT_MYSQL][j];
			bool http_later = hl > ml;

			if (h->port[i] != m->port[j])
				continue;
			/* Point at the list the user wrote last: that is the one to fix. */
			return fail(c, http_later ? hl : ml,
				    http_later ? "protocols.http.ports" : "protocols.mysql.ports",
				    "port %u is configured for both http and mysql", h->port[i]);
		}
	}
	return 0;
}

/* protocols.tls.ports against the http and mysql lists: a port has one protocol. A default
 * tls port that the file names under http or mysql is left to that protocol. */
static int check_tls_ports(struct ctx *c)
{
	static const char *const names[] = { "http", "mysql" };
	struct pl_port_list *t = &c->cfg->tls.ports;
	const struct pl_port_list *other[] = { &c->cfg->http.ports, &c->cfg->mysql.ports };

	for (int s = 0; s < 2; s++)
		for (int i = 0; i < t->n; i++)
			for (int j = 0; j < other[s]->n; j++) {
				unsigned long tl = c->port_line[SLOT_TLS][i], ol = c->port_line[s][j];

				if (t->port[i] != other[s]->port[j])
					continue;
				if (!tl && ol) {
					memmove(&t->port[i], &t->port[i + 1],
						(size_t)(t->n - i - 1) * sizeof(t->port[0]));
					memmove(&c->port_line[SLOT_TLS][i], &c->port_line[SLOT_TLS][i + 1],
						(size_t)(t->n - i - 1) * sizeof(c->port_line[0][0]));
					t->n--;
					i--;
					break;
				}
				return fail(c, tl > ol ? tl : ol,
					    tl > ol ? "protocols.tls.ports" : s ? "protocols.mysql.ports" :
					    "protocols.http.ports",
					    "port %u is configured for both %s and tls", t->port[i], names[s]);
			}
	return 0;
}

static int check_kafka(struct ctx *c)
{
	struct pl_config *cfg = c->cfg;

	/* Brokers configured and no explicit type: the user means Kafka. */
	if (cfg->output.kafka.brokers && !c->output_type_line)
		cfg->output.type = PL_OUTPUT_KAFKA;
	if (cfg->output.type == PL_OUTPUT_KAFKA && !cfg->output.kafka.brokers)
		return fail(c, c->output_type_line, "output.kafka.brokers",
			    "output.type is kafka but no output.kafka.brokers is set");
	if (cfg->output.kafka.idempotence && cfg->output.kafka.acks != PL_KAFKA_ACKS_ALL)
		return fail(c, c->kafka_acks_line, "output.kafka.acks",
			    "idempotence requires acks: all (or set output.kafka.idempotence: false)");
	if (cfg->output.spool.segment_bytes > cfg->output.spool.max_bytes)
		return fail(c, c->spool_segment_line, "output.spool.max_bytes",
			    "smaller than output.spool.segment_bytes");
	return 0;
}

static int check_config(struct ctx *c)
{
	if (c->cfg->output.type == PL_OUTPUT_FILE && !c->cfg->output.file_path)
		return fail(c, c->output_type_line, "output.file.path",
			    "output.type is file but no output.file.path is set");
	if (check_kafka(c) < 0)
		return -1;
	return check_port_overlap(c) < 0 ? -1 : check_tls_ports(c);
}

/* ---- loading ---- */

static int yaml_fail(struct ctx *c, const yaml_parser_t *parser)
{
	const char *problem = parser->problem ? parser->problem : "invalid YAML";
	unsigned long line = (unsigned long)parser->problem_mark.line + 1;

	if (parser->error == YAML_MEMORY_ERROR)
		return fail(c, line, "-", "out of memory while parsing YAML");
	if (parser->context)
		return fail(c, line, "-", "YAML syntax error: %s %s", parser->problem ? problem : "",
			    parser->context);
	return fail(c, line, "-", "YAML syntax error: %s", problem);
}

static int walk_root(struct ctx *c)
{
	const yaml_node_t *root = yaml_document_get_root_node(c->doc);

	if (!root || is_null(root)) /* empty file, or only comments: all defaults */
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return fail(c, node_line(root), "-", "the top level must be a mapping of options, found %s",
			    node_kind(root));
	return walk_mapping(c, root, "");
}

/* One document only: a second one would silently be ignored otherwise. */
static int check_single_document(struct ctx *c, yaml_parser_t *parser)
{
	yaml_document_t next;
	int rc = 0;

	if (!yaml_parser_load(parser, &next))
		return yaml_fail(c, parser);
	if (yaml_document_get_root_node(&next))
		rc = fail(c, node_line(yaml_document_get_root_node(&next)), "-",
			  "only one YAML document is allowed");
	yaml_document_delete(&next);
	return rc;
}

/* libyaml's scanner slows down quadratically with flow nesting ("[[[[..." of 1 MiB takes
 * minutes), so a cheap event pass refuses deep input before the document is built. */
static int check_depth(struct ctx *c, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, rc = 0;

	if (!yaml_parser_initialize(&parser))
		return fail(c, 0, "-", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		yaml_event_type_t type;
		unsigned long line;

		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_fail(c, &parser);
			break;
		}
		type = ev.type;
		line = (unsigned long)ev.start_mark.line + 1;
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
		if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
			depth--;
		if (depth > MAX_DEPTH) {
			rc = fail(c, line, "-", "nested deeper than %d levels", MAX_DEPTH);
			break;
		}
	}
	yaml_parser_delete(&parser);
	return rc;
}

static int parse(struct ctx *c, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc;

	if (check_depth(c, buf, len) < 0)
		return -1;
	if (!yaml_parser_initialize(&parser))
		return fail(c, 0, "-", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = yaml_fail(c, &parser);
		goto out;
	}
	c->doc = &doc;
	rc = walk_root(c);
	if (rc == 0)
		rc = check_single_document(c, &parser);
	if (rc == 0)
		rc = check_config(c);
	c->doc = NULL;
	yaml_document_delete(&doc);
out:
	yaml_parser_delete(&parser);
	return rc;
}

static void reset_to_defaults(struct pl_config *cfg)
{
	pl_config_free(cfg);
	if (pl_config_defaults(cfg) < 0)
		pl_config_free(cfg);
}

/* *cfg must be zeroed or hold a config (defaults or an earlier load): it is freed first. */
int pl_config_load_buffer(const char *name, const char *buf, size_t len,
			  struct pl_config *cfg, char *err, size_t errlen)
{
	struct ctx c = { .name = name ? name : "-", .cfg = cfg, .err = err, .errlen = errlen };

	if (err && errlen)
		err[0] = '\0';
	pl_config_free(cfg);
	if (pl_config_defaults(cfg) < 0) {
		pl_config_free(cfg);
		return fail(&c, 0, "-", "out of memory");
	}
	if (parse(&c, buf, len) < 0)
		goto bad;
	cfg->path = dup_str(c.name);
	if (!cfg->path) {
		fail(&c, 0, "-", "out of memory");
		goto bad;
	}
	return 0;
bad:
	reset_to_defaults(cfg);
	return -1;
}

/* What a path names when it is not a regular file, for the error message. */
static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	return "a special file";
}

/* A FIFO or a device would block open() or read() forever: only a regular file is read,
 * checked before opening (stat) and again on the descriptor, opened non-blocking. */
static int read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = -1, e = 0;

	if (stat(path, &st) < 0) {
		e = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode))
		goto not_regular;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		e = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode))
		goto not_regular;
	if ((uint64_t)st.st_size > CONFIG_MAX_BYTES) {
		e = EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		e = ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			goto out;
		}
		if (n == 0) /* file shrank under us: parse what is there */
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	goto out;
not_regular:
	if (fd >= 0)
		close(fd);
	if (err && errlen)
		snprintf(err, errlen, "%s: cannot read: %s, not a regular file", path,
			 file_kind(st.st_mode));
	return -1;
out:
	if (fd >= 0)
		close(fd);
	if (e) {
		free(buf);
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
		return -1;
	}
	*out = buf;
	*outlen = got;
	return 0;
}

int pl_config_load(const char *path, struct pl_config *cfg, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (read_file(path, &buf, &len, err, errlen) < 0) {
		reset_to_defaults(cfg);
		return -1;
	}
	rc = pl_config_load_buffer(path, buf, len, cfg, err, errlen);
	free(buf);
	return rc;
}
