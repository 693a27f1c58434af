/* config.c – conf/pktlog.yml → struct pl_config: the top-level options table, the walk over
 * the file (libyaml document API) that finds each key's row (here, or in a protocol's table
 * hanging off its registry row), defaults and clean-up from the tables, cross-field checks,
 * and loading. Rows, setters and sub-tables: options.h, config_set.c, config_tail.c.
 * It must not act on the config (no capture, no output set-up) and must not log: the
 * caller prints the one error message it returns. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pwd.h>
#include <pcap/pcap.h>

#include "pktlog/metrics.h"
#include "pktlog/portfilter.h"

#include "config_int.h"

/* A config file is a few kilobytes; the cap keeps a wrong path (a log, a disk image) from
 * being slurped into memory. */
#define CONFIG_MAX_BYTES (1u << 20)
/* Deeper than any option needs (4 levels and a list); see check_depth(). */
#define MAX_DEPTH 32

#define CFG struct pl_config

static const char *const output_names[] = { "console", "null", "file", "kafka" };
static const char *const key_names[] = { "none", "community_id", "client_ip", "file_path" };
static const char *const compression_names[] = { "none", "gzip", "snappy", "lz4", "zstd" };
static const char *const acks_names[] = { "all", "1", "0" };
static const char *const fsync_names[] = { "always", "interval", "never" };
static const char *const ebpf_names[] = { "auto", "on", "off" };

#define CHOICES(names, what) { names, PL_ARRAY_LEN(names), what, NULL }
static const struct pl_opt_choices output_types = CHOICES(output_names, "console, null, file or kafka");
static const struct pl_opt_choices kafka_keys =
	CHOICES(key_names, "none, community_id, client_ip or file_path");
static const struct pl_opt_choices compressions =
	CHOICES(compression_names, "none, gzip, snappy, lz4 or zstd");
static const struct pl_opt_choices acks = CHOICES(acks_names, "all, 1 or 0");
static const struct pl_opt_choices fsyncs = CHOICES(fsync_names, "always, interval or never");
static const struct pl_opt_choices ebpf_modes = CHOICES(ebpf_names, "auto, on or off");
static const char *const proc_source_names[] = { "auto", "ebpf", "proc" };
static const char *const log_to_names[] = { "stderr", "syslog" };
static const struct pl_opt_choices log_tos = CHOICES(log_to_names, "stderr or syslog");
static const struct pl_opt_choices proc_sources = CHOICES(proc_source_names, "auto, ebpf or proc");

/* The top level, in the order of conf/pktlog.yml. "protocols" is followed, in lookups and
 * suggestions, by each registered protocol's rows under protocols.NAME. */
static const struct pl_option top[] = {
	PL_OPT_SECTION_ROW("capture"),
	PL_OPT_STRING_ROW("capture.interface", CFG, capture.iface, NULL, PL_OPT_NULLABLE, PL_CHECK_NONE),
	PL_OPT_U32_ROW("capture.snaplen", CFG, capture.snaplen, 64, 262144, 65535),
	PL_OPT_U32_ROW("capture.buffer_size_mb", CFG, capture.buffer_mb, 1, 4096, 32),
	PL_OPT_BOOL_ROW("capture.promiscuous", CFG, capture.promisc, false),
	PL_OPT_STRING_ROW("capture.bpf_filter", CFG, capture.bpf_filter, NULL, PL_OPT_NULLABLE, PL_CHECK_BPF),
	PL_OPT_U32_ROW("capture.workers", CFG, capture.workers, 1, 64, 1),
	PL_OPT_ENUM_ROW("capture.ebpf", CFG, capture.ebpf, &ebpf_modes, PL_EBPF_AUTO),
	PL_OPT_BOOL_ROW("capture.immediate", CFG, capture.immediate, false),
	PL_OPT_STRING_ROW("capture.user", CFG, capture.user, "nobody", PL_OPT_NULLABLE, PL_CHECK_USER),
	PL_OPT_SECTION_ROW("flows"),
	PL_OPT_U32_ROW("flows.max_flows", CFG, flows.max_flows, 1, 16777216, 65536),
	PL_OPT_U32_ROW("flows.stream_buffer_bytes", CFG, flows.stream_buffer_bytes, 0, 1073741824, 262144),
	PL_OPT_U32_ROW("flows.max_buffer_mb", CFG, flows.max_buffer_mb, 1, 65536, 64),
	PL_OPT_DURATION_ROW("flows.idle_timeout", CFG, flows.idle_timeout_ns, 60 * PL_NS_PER_SEC),
	PL_OPT_SECTION_ROW("protocols"),
	PL_OPT_SECTION_ROW("output"),
	PL_OPT_ENUM_ROW("output.type", CFG, output.type, &output_types, PL_OUTPUT_CONSOLE),
	PL_OPT_SECTION_ROW("output.file"),
	PL_OPT_STRING_ROW("output.file.path", CFG, output.file_path, NULL, PL_OPT_NULLABLE, PL_CHECK_NONE),
	PL_OPT_SECTION_ROW("output.kafka"),
	PL_OPT_STRING_ROW("output.kafka.brokers", CFG, output.kafka.brokers, NULL, PL_OPT_NULLABLE,
			  PL_CHECK_NONE),
	PL_OPT_STRING_ROW("output.kafka.topic", CFG, output.kafka.topic, "pktlog", 0, PL_CHECK_NONE),
	PL_OPT_ENUM_ROW("output.kafka.key", CFG, output.kafka.key, &kafka_keys, PL_KAFKA_KEY_NONE),
	/* lz4 by default: why in conf/pktlog.yml */
	PL_OPT_ENUM_ROW("output.kafka.compression", CFG, output.kafka.compression, &compressions,
			PL_KAFKA_COMP_LZ4),
	PL_OPT_ENUM_ROW("output.kafka.acks", CFG, output.kafka.acks, &acks, PL_KAFKA_ACKS_ALL),
	PL_OPT_BOOL_ROW("output.kafka.idempotence", CFG, output.kafka.idempotence, true),
	PL_OPT_DURATION_ROW("output.kafka.linger", CFG, output.kafka.linger_ns, 10 * 1000000ULL),
	PL_OPT_U32_ROW("output.kafka.batch_messages", CFG, output.kafka.batch_messages, 1, 1000000, 10000),
	PL_OPT_U32_ROW("output.kafka.batch_bytes", CFG, output.kafka.batch_bytes, 1, 2147483647, 1000000),
	PL_OPT_U32_ROW("output.kafka.queue_messages", CFG, output.kafka.queue_messages, 1, 10000000, 100000),
	PL_OPT_DURATION_ROW("output.kafka.message_timeout", CFG, output.kafka.message_timeout_ns,
			    30 * PL_NS_PER_SEC),
	PL_OPT_DURATION_ROW("output.kafka.flush_timeout", CFG, output.kafka.flush_timeout_ns,
			    10 * PL_NS_PER_SEC),
	/* names and values are librdkafka's: the Kafka output checks them when it opens */
	{ .key = "output.kafka.properties", .type = PL_OPT_PROPS,
	  .off = PL_OPT_OFF(CFG, output.kafka.prop_key[0], char *),
	  .off2 = PL_OPT_OFF(CFG, output.kafka.prop_val[0], char *),
	  .line_off = PL_OPT_OFF(CFG, output.kafka.prop_line[0], unsigned long),
	  .count_off = PL_OPT_OFF(CFG, output.kafka.n_props, int), .max = PL_MAX_KAFKA_PROPS },
	PL_OPT_SECTION_ROW("output.spool"),
	PL_OPT_U64_ROW("output.spool.max_bytes", CFG, output.spool.max_bytes, 65536, UINT64_MAX / 2,
		       1073741824ULL),
	PL_OPT_U32_ROW("output.spool.segment_bytes", CFG, output.spool.segment_bytes, 4096, 268435456,
		       1048576),
	PL_OPT_ENUM_ROW("output.spool.fsync", CFG, output.spool.fsync, &fsyncs, PL_SPOOL_FSYNC_INTERVAL),
	PL_OPT_DURATION_ROW("output.spool.fsync_interval", CFG, output.spool.fsync_interval_ns,
			    PL_NS_PER_SEC),
	PL_OPT_SECTION_ROW("tail"),
	PL_OPT_TABLE_LIST_ROW("tail.inputs", CFG, tail.inputs, tail.n_inputs, PL_TAIL_MAX_INPUTS,
			      &pl_tail_input_options),
	PL_OPT_U32_ROW("tail.read_buffer_bytes", CFG, tail.read_buffer_bytes, 4096, 67108864, 262144),
	PL_OPT_DURATION_ROW("tail.close_inactive", CFG, tail.close_inactive_ns, 300 * PL_NS_PER_SEC),
	PL_OPT_DURATION_ROW("tail.close_removed", CFG, tail.close_removed_ns, 5 * PL_NS_PER_SEC),
	PL_OPT_DURATION_ROW("tail.commit_interval", CFG, tail.commit_interval_ns, PL_NS_PER_SEC),
	PL_OPT_U32_ROW("tail.max_inflight", CFG, tail.max_inflight, 16, 16777216, 65536),
	PL_OPT_SECTION_ROW("process"),
	PL_OPT_ENUM_ROW("process.enabled", CFG, process.enabled, &ebpf_modes, PL_EBPF_AUTO),
	PL_OPT_ENUM_ROW("process.source", CFG, process.source, &proc_sources, PL_PROC_SOURCE_AUTO),
	PL_OPT_DURATION_ROW("process.refresh_interval", CFG, process.refresh_interval_ns, PL_NS_PER_SEC),
	PL_OPT_U32_ROW("process.cache_entries", CFG, process.cache_entries, 16, 1048576, 1024),
	PL_OPT_SECTION_ROW("metrics"),
	PL_OPT_STRING_ROW("metrics.listen", CFG, metrics.listen, NULL, PL_OPT_NULLABLE, PL_CHECK_LISTEN),
	PL_OPT_BOOL_ROW("metrics.heartbeat", CFG, metrics.heartbeat, true),
	PL_OPT_DURATION_ROW("metrics.heartbeat_interval", CFG, metrics.heartbeat_interval_ns,
			    60 * PL_NS_PER_SEC),
	PL_OPT_STRING_ROW("metrics.heartbeat_topic", CFG, metrics.heartbeat_topic, "pktlog-heartbeat", 0,
			  PL_CHECK_NONE),
	PL_OPT_STRING_ROW("data_dir", CFG, data_dir, "/var/lib/pktlog", 0, PL_CHECK_NONE),
	PL_OPT_SECTION_ROW("logging"),
	PL_OPT_ENUM_ROW("logging.to", CFG, log_to, &log_tos, PL_LOG_TO_STDERR),
	PL_OPT_STRING_ROW("host_name", CFG, host_name, NULL, PL_OPT_NULLABLE, PL_CHECK_NONE),
	PL_OPT_STRING_ROW("app_id", CFG, app_id, NULL, PL_OPT_NULLABLE, PL_CHECK_NONE),
	PL_OPT_SECTION_ROW("tuning"),
	PL_OPT_BOOL_ROW("tuning.fast_paths", CFG, fast_paths, true),
};

static const struct pl_opt_table top_table = { top, PL_ARRAY_LEN(top), NULL, NULL, NULL };

_Static_assert(PL_ARRAY_LEN(top) <= TOP_ROWS_MAX, "raise TOP_ROWS_MAX");

static const struct pl_option proto_section = PL_OPT_SECTION_ROW("protocols.*");

/* ---- checks of string values ---- */

/* capture.bpf_filter must compile (on Ethernet, as live capture on most interfaces will);
 * checked here so a replay refuses it too, not only a live capture. */
static int check_bpf(struct ctx *c, const char *expr, const yaml_node_t *v, const char *key)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
	struct bpf_program prog;
	int rc = 0;

	if (!p)
		return cfg_fail(c, cfg_line(v), key, "out of memory");
	if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0)
		rc = cfg_fail(c, cfg_line(v), key, "invalid filter \"%s\": %s", expr, pcap_geterr(p));
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
		return cfg_fail(c, cfg_line(v), key, "cannot look up user \"%s\": %s", user,
				strerror(errno));
	return cfg_fail(c, cfg_line(v), key, "no user \"%s\" on this system (\"\" keeps the user "
			"pktlog was started as)", user);
}

static int check_listen(struct ctx *c, const char *listen, const yaml_node_t *v, const char *key)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (pl_metrics_parse_listen(listen, &ss, &len) < 0)
		return cfg_fail(c, cfg_line(v), key, "expected HOST:PORT with an IPv4 address or "
				"[IPv6] and a port 0-65535, found \"%s\"", listen);
	return 0;
}

int cfg_check_string(struct ctx *c, enum pl_opt_check kind, const char *str,
		     const yaml_node_t *v, const char *key)
{
	switch (kind) {
	case PL_CHECK_BPF: return check_bpf(c, str, v, key);
	case PL_CHECK_USER: return check_user(c, str, v, key);
	case PL_CHECK_LISTEN: return check_listen(c, str, v, key);
	default: return 0;
	}
}

/* ---- finding a key's row ---- */

/* Calls fn with every known dotted key and its row, in table order, until fn returns true;
 * returns that row (NULL when none). */
static const struct pl_option *each_key(bool (*fn)(const char *key, void *arg), void *arg)
{
	char full[KEY_MAX + 1];

	for (size_t i = 0; i < PL_ARRAY_LEN(top); i++) {
		if (fn(top[i].key, arg))
			return &top[i];
		if (strcmp(top[i].key, "protocols") != 0)
			continue;
		for (size_t p = 0; p < pl_n_protocols; p++) {
			const struct pl_opt_table *t = pl_protocols[p].options;

			snprintf(full, sizeof(full), "protocols.%s", pl_protocols[p].name);
			if (fn(full, arg))
				return &proto_section;
			for (size_t r = 0; r < t->n; r++) {
				snprintf(full, sizeof(full), "protocols.%s.%s", pl_protocols[p].name,
					 t->rows[r].key);
				if (fn(full, arg))
					return &t->rows[r];
			}
		}
	}
	return NULL;
}

static bool key_is(const char *key, void *arg)
{
	return strcmp(key, arg) == 0;
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

struct closest {
	const char *key;
	char best[KEY_MAX + 1];
	size_t best_d;
};

static bool closer(const char *key, void *arg)
{
	struct closest *c = arg;
	size_t d = levenshtein(c->key, key);

	if (d < c->best_d) {
		c->best_d = d;
		snprintf(c->best, sizeof(c->best), "%s", key);
	}
	return false;
}

/* ---- defaults / free ---- */

int pl_config_defaults(struct pl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (cfg_table_defaults(&top_table, cfg) < 0)
		return -1;
	for (size_t p = 0; p < pl_n_protocols; p++)
		if (cfg_table_defaults(pl_protocols[p].options, cfg) < 0)
			return -1;
	return 0;
}

void pl_config_free(struct pl_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	cfg_table_free(&top_table, cfg);
	for (size_t p = 0; p < pl_n_protocols; p++)
		cfg_table_free(pl_protocols[p].options, cfg);
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

/* ---- the walk ---- */

static int walk_pair(struct ctx *c, const yaml_node_t *map, const yaml_node_pair_t *p,
		     const char *prefix)
{
	const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
	const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
	const yaml_node_t *prev;
	const struct pl_option *o;
	char key[2 * KEY_MAX + 2]; /* room for a known prefix, a dot and a shown key */

	if (!k || !v)
		return cfg_fail(c, cfg_line(map), *prefix ? prefix : "-", "malformed mapping");
	if (k->type != YAML_SCALAR_NODE)
		return cfg_fail(c, cfg_line(k), *prefix ? prefix : "-",
				"option names must be plain words, found %s", cfg_kind(k));
	o = cfg_make_key(prefix, k, key, sizeof(key)) ? each_key(key_is, key) : NULL;
	if (!o) {
		struct closest near = { key, "", 3 }; /* suggest only near-misses: distance <= 2 */

		each_key(closer, &near);
		if (near.best[0])
			return cfg_fail(c, cfg_line(k), key, "unknown option (did you mean %s?)", near.best);
		return cfg_fail(c, cfg_line(k), key, "unknown option");
	}
	prev = cfg_earlier_key(c, map, p, k);
	if (prev)
		return cfg_fail(c, cfg_line(k), key, "duplicate key (first set on line %lu)", cfg_line(prev));
	if (o >= top && o < top + PL_ARRAY_LEN(top))
		c->top_line[o - top] = cfg_line(v);
	return cfg_set(c, o, v, key, c->cfg);
}

int cfg_walk_mapping(struct ctx *c, const yaml_node_t *map, const char *prefix)
{
	const yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
		if (walk_pair(c, map, p, prefix) < 0)
			return -1;
	return 0;
}

/* ---- cross-field checks ---- */

/* Where the file set a top-level option (0: it did not). */
static unsigned long line_of(const struct ctx *c, const char *key)
{
	for (size_t i = 0; i < PL_ARRAY_LEN(top); i++)
		if (strcmp(top[i].key, key) == 0)
			return c->top_line[i];
	return 0;
}

/* Drop entry i of row b's port list (a default that gives way to another protocol). */
static void drop_port(struct ctx *c, size_t b, int i)
{
	struct pl_port_list *l = pl_proto_ports_mut(c->cfg, &pl_protocols[b]);

	memmove(&l->port[i], &l->port[i + 1], (size_t)(l->n - i - 1) * sizeof(l->port[0]));
	memmove(&c->port_line[b][i], &c->port_line[b][i + 1],
		(size_t)(l->n - i - 1) * sizeof(c->port_line[0][0]));
	l->n--;
}

/* Row y yields (registry.h: ports_yield): its default ports that the file names under row o
 * are o's. Either may come first in the registry. */
static void yield_defaults(struct ctx *c, size_t y, size_t o)
{
	const struct pl_port_list *ly = pl_proto_ports(c->cfg, &pl_protocols[y]);
	const struct pl_port_list *lo = pl_proto_ports(c->cfg, &pl_protocols[o]);

	for (int i = 0; i < ly->n; i++)
		for (int j = 0; j < lo->n; j++)
			if (ly->port[i] == lo->port[j] && !c->port_line[y][i] && c->port_line[o][j]) {
				drop_port(c, y, i--);
				break;
			}
}

/* Rows a < b of the registry against each other: a port has one protocol. A default port
 * of a row that yields (registry.h: ports_yield) and that the file names under the other
 * is left to that one; otherwise the list the user wrote last is the one to fix. */
static int check_port_pair(struct ctx *c, size_t a, size_t b)
{
	const struct pl_proto_desc *pa = &pl_protocols[a], *pb = &pl_protocols[b];
	const struct pl_port_list *la = pl_proto_ports(c->cfg, pa), *lb = pl_proto_ports(c->cfg, pb);
	char key[KEY_MAX];

	if ((pa->over && strcmp(pa->over, pb->name) == 0) ||
	    (pb->over && strcmp(pb->over, pa->name) == 0))
		return 0;   /* shared on purpose: the row that is over the other decides */
	if (pb->ports_yield)
		yield_defaults(c, b, a);
	if (pa->ports_yield)
		yield_defaults(c, a, b);
	for (int i = 0; i < la->n; i++) {
		for (int j = 0; j < lb->n; j++) {
			unsigned long al = c->port_line[a][i], bl = c->port_line[b][j];
			/* Both on one line: the other row is named when b yields (as always). */
			bool a_later = pb->ports_yield ? al >= bl : al > bl;
			const struct pl_proto_desc *later = a_later ? pa : pb;

			if (la->port[i] != lb->port[j])
				continue;
			snprintf(key, sizeof(key), "protocols.%s.ports", later->name);
			return cfg_fail(c, a_later ? al : bl, key, "port %u is configured for both %s and %s",
				    la->port[i], pa->name, pb->name);
		}
	}
	return 0;
}

static int check_ports(struct ctx *c)
{
	for (size_t b = 1; b < pl_n_protocols; b++)
		for (size_t a = 0; a < b; a++)
			if (check_port_pair(c, a, b) < 0)
				return -1;
	return 0;
}

/* The capture filter (the eBPF port map, the classic filter built from the same lists) holds
 * PL_PF_MAX_PORTS ports: the enabled protocols' distinct ports must fit. Named: the list
 * holding the first port past the bound when the file wrote it, else the last list written. */
static int check_port_total(struct ctx *c)
{
	uint16_t seen[PL_PROTO_MAX * PL_MAX_PORTS];
	int n = 0;
	size_t row = 0;
	unsigned long line = 0;
	char key[KEY_MAX];

	for (size_t p = 0; p < pl_n_protocols; p++) {
		const struct pl_port_list *l = pl_proto_ports(c->cfg, &pl_protocols[p]);

		for (int i = 0; pl_proto_enabled(c->cfg, &pl_protocols[p]) && i < l->n; i++) {
			int j;

			for (j = 0; j < n && seen[j] != l->port[i]; j++)
				;
			if (j < n)
				continue;
			seen[n++] = l->port[i];
			if (n == PL_PF_MAX_PORTS + 1 && c->port_line[p][i]) {
				row = p;
				line = c->port_line[p][i];
			}
		}
	}
	if (n <= PL_PF_MAX_PORTS)
		return 0;
	bool named = line != 0;

	for (size_t p = 0; !named && p < pl_n_protocols; p++)
		for (int i = 0; pl_proto_enabled(c->cfg, &pl_protocols[p]) &&
				i < pl_proto_ports(c->cfg, &pl_protocols[p])->n; i++)
			if (c->port_line[p][i] > line) {
				row = p;
				line = c->port_line[p][i];
			}
	snprintf(key, sizeof(key), "protocols.%s.ports", pl_protocols[row].name);
	return cfg_fail(c, line, key, "the enabled protocols listen on %d distinct ports; the "
			"capture filter holds at most %d (shorten a protocols.*.ports list or "
			"disable a protocol)", n, PL_PF_MAX_PORTS);
}

static int check_kafka(struct ctx *c)
{
	struct pl_config *cfg = c->cfg;
	unsigned long type_line = line_of(c, "output.type");

	/* Brokers configured and no explicit type: the user means Kafka. */
	if (cfg->output.kafka.brokers && !type_line)
		cfg->output.type = PL_OUTPUT_KAFKA;
	if (cfg->output.type == PL_OUTPUT_KAFKA && !cfg->output.kafka.brokers)
		return cfg_fail(c, type_line, "output.kafka.brokers",
			    "output.type is kafka but no output.kafka.brokers is set");
	if (cfg->output.kafka.idempotence && cfg->output.kafka.acks != PL_KAFKA_ACKS_ALL)
		return cfg_fail(c, line_of(c, "output.kafka.acks"), "output.kafka.acks",
			    "idempotence requires acks: all (or set output.kafka.idempotence: false)");
	if (cfg->output.spool.segment_bytes > cfg->output.spool.max_bytes)
		return cfg_fail(c, line_of(c, "output.spool.max_bytes"), "output.spool.max_bytes",
			    "smaller than output.spool.segment_bytes");
	return 0;
}

static int check_config(struct ctx *c)
{
	if (c->cfg->output.type == PL_OUTPUT_FILE && !c->cfg->output.file_path)
		return cfg_fail(c, line_of(c, "output.type"), "output.file.path",
			    "output.type is file but no output.file.path is set");
	if (check_kafka(c) < 0)
		return -1;
	if (check_ports(c) < 0)
		return -1;
	return check_port_total(c);
}

/* ---- loading ---- */

static int yaml_fail(struct ctx *c, const yaml_parser_t *parser)
{
	const char *problem = parser->problem ? parser->problem : "invalid YAML";
	unsigned long line = (unsigned long)parser->problem_mark.line + 1;

	if (parser->error == YAML_MEMORY_ERROR)
		return cfg_fail(c, line, "-", "out of memory while parsing YAML");
	if (parser->context)
		return cfg_fail(c, line, "-", "YAML syntax error: %s %s", parser->problem ? problem : "",
			    parser->context);
	return cfg_fail(c, line, "-", "YAML syntax error: %s", problem);
}

static int walk_root(struct ctx *c)
{
	const yaml_node_t *root = yaml_document_get_root_node(c->doc);

	if (!root || cfg_is_null(root)) /* empty file, or only comments: all defaults */
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return cfg_fail(c, cfg_line(root), "-", "the top level must be a mapping of options, found %s",
			    cfg_kind(root));
	return cfg_walk_mapping(c, root, "");
}

/* One document only: a second one would silently be ignored otherwise. */
static int check_single_document(struct ctx *c, yaml_parser_t *parser)
{
	yaml_document_t next;
	int rc = 0;

	if (!yaml_parser_load(parser, &next))
		return yaml_fail(c, parser);
	if (yaml_document_get_root_node(&next))
		rc = cfg_fail(c, cfg_line(yaml_document_get_root_node(&next)), "-",
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
		return cfg_fail(c, 0, "-", "out of memory");
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
			rc = cfg_fail(c, line, "-", "nested deeper than %d levels", MAX_DEPTH);
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
		return cfg_fail(c, 0, "-", "out of memory");
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
		return cfg_fail(&c, 0, "-", "out of memory");
	}
	if (parse(&c, buf, len) < 0)
		goto bad;
	cfg->path = strdup(c.name);
	if (!cfg->path) {
		cfg_fail(&c, 0, "-", "out of memory");
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
