/* config.h – conf/pktlog.yml → struct pl_config.
 *
 * Every option has a default, kept in its options-table row (pktlog/options.h: config.c's
 * top level, each protocol's table off its registry row, config_tail.c for tail inputs),
 * and is validated at load; any error names file:line and the key. The struct owns its
 * strings; pl_config_free releases them. */
#ifndef PKTLOG_CONFIG_H
#define PKTLOG_CONFIG_H

#include "pktlog/common.h"

#define PL_MAX_PORTS 64
#define PL_MAX_HEADERS 32

struct pl_port_list {
	uint16_t port[PL_MAX_PORTS];
	int n;
};

/* capture.ebpf: whether the eBPF socket pre-filter is used. */
enum pl_ebpf_mode { PL_EBPF_AUTO = 0, PL_EBPF_ON, PL_EBPF_OFF };

/* process.source: where process attribution looks sockets up. */
enum pl_proc_source { PL_PROC_SOURCE_AUTO = 0, PL_PROC_SOURCE_EBPF, PL_PROC_SOURCE_PROC };

enum pl_output_type { PL_OUTPUT_CONSOLE = 0, PL_OUTPUT_NULL, PL_OUTPUT_FILE, PL_OUTPUT_KAFKA };

/* output.kafka.key: what each message is keyed (and so partitioned) by. */
enum pl_kafka_key { PL_KAFKA_KEY_NONE = 0, PL_KAFKA_KEY_COMMUNITY_ID, PL_KAFKA_KEY_CLIENT_IP,
		    PL_KAFKA_KEY_FILE_PATH };
enum pl_kafka_compression { PL_KAFKA_COMP_NONE = 0, PL_KAFKA_COMP_GZIP, PL_KAFKA_COMP_SNAPPY,
			    PL_KAFKA_COMP_LZ4, PL_KAFKA_COMP_ZSTD };
enum pl_kafka_acks { PL_KAFKA_ACKS_ALL = 0, PL_KAFKA_ACKS_ONE, PL_KAFKA_ACKS_NONE };
/* output.spool.fsync: when appended records are forced to disk. */
enum pl_spool_fsync { PL_SPOOL_FSYNC_ALWAYS = 0, PL_SPOOL_FSYNC_INTERVAL, PL_SPOOL_FSYNC_NEVER };

#define PL_MAX_KAFKA_PROPS 64

#define PL_TAIL_MAX_INPUTS 64
#define PL_TAIL_MAX_PATHS 16
#define PL_TAIL_MAX_FIELDS 16

/* tail.inputs[].format: how each line of a file is wrapped. */
enum { PL_TAIL_FORMAT_RAW = 0, PL_TAIL_FORMAT_DOCKER, PL_TAIL_FORMAT_CRI, PL_TAIL_FORMAT_AUTO };

/* One entry of tail.inputs (or one --tail PATTERN). */
struct pl_tail_input {
	char *paths[PL_TAIL_MAX_PATHS];  /* paths: globs, "**" recurses; at least one */
	int n_paths;
	char *excludes[PL_TAIL_MAX_PATHS]; /* exclude: globs matched against the full path, [] */
	int n_excludes;
	char *topic;                     /* topic, NULL = the output's default */
	char *field_keys[PL_TAIL_MAX_FIELDS]; /* fields: static fields.KEY: VALUE, {} */
	char *field_values[PL_TAIL_MAX_FIELDS];
	int n_fields;
	bool start_at_end;               /* start_position: beginning | end, beginning */
	uint32_t max_line_bytes;         /* max_line_bytes, 1048576 */
	bool truncate_long_lines;        /* long_lines: split | truncate, split */
	char *ml_pattern;                /* multiline.start_pattern (POSIX ERE), NULL */
	bool ml_indent;                  /* multiline.indent_continues, false */
	uint32_t ml_max_lines;           /* multiline.max_lines, 500 */
	uint64_t ml_timeout_ns;          /* multiline.timeout, 5s */
	int format;                      /* format: raw | docker | cri | auto, raw (PL_TAIL_FORMAT_*) */
};

struct pl_config {
	char *path;                      /* file it was loaded from, NULL for built-in defaults */

	struct {
		char *iface;                 /* capture.interface; NULL = none (use --iface / --pcap) */
		uint32_t snaplen;            /* capture.snaplen, 65535 */
		uint32_t buffer_mb;          /* capture.buffer_size_mb, 32 */
		bool promisc;                /* capture.promiscuous, false */
		char *bpf_filter;            /* capture.bpf_filter, NULL: ANDed with the generated filter */
		uint32_t workers;            /* capture.workers, 1: capture threads (PACKET_FANOUT by flow hash) */
		enum pl_ebpf_mode ebpf;      /* capture.ebpf, auto: eBPF port pre-filter (auto falls back to classic BPF) */
		bool immediate;              /* capture.immediate, false: deliver each packet at once (TPACKET_V2) */
		char *user;                  /* capture.user, "nobody": user to switch to after setup; NULL/"" keeps the user */
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
		uint32_t max_memory_mb;      /* protocols.http.max_memory_mb, 64: HTTP connection states, records, kept bytes, per capture thread */
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
		bool enabled;                /* protocols.tls.enabled, true */
		struct pl_port_list ports;   /* protocols.tls.ports, [443, 8443, 993, 995, 5223, 8883, 9243] */
		uint32_t max_handshake_bytes;/* protocols.tls.max_handshake_bytes, 65536: kept per handshake message */
		uint32_t max_memory_mb;      /* protocols.tls.max_memory_mb, 64: handshake states and kept messages, per capture thread */
	} tls;

	struct {
		bool enabled;                /* protocols.http2.enabled, true */
		struct pl_port_list ports;   /* protocols.http2.ports, [50051]: h2c with prior knowledge */
	} http2;

	struct {
		enum pl_output_type type;    /* output.type: console | null | file, console */
		char *file_path;             /* output.file.path, required when type is file */
		struct {
			char *brokers;           /* output.kafka.brokers, NULL; "host:port,host:port" */
			char *topic;             /* output.kafka.topic, "pktlog"; %{type} is replaced */
			enum pl_kafka_key key;   /* output.kafka.key, none */
			enum pl_kafka_compression compression; /* output.kafka.compression, lz4 */
			enum pl_kafka_acks acks; /* output.kafka.acks, all */
			bool idempotence;        /* output.kafka.idempotence, true */
			uint64_t linger_ns;      /* output.kafka.linger, 10ms */
			uint32_t batch_messages; /* output.kafka.batch_messages, 10000 */
			uint32_t batch_bytes;    /* output.kafka.batch_bytes, 1000000 */
			uint32_t queue_messages; /* output.kafka.queue_messages, 100000 */
			uint64_t message_timeout_ns; /* output.kafka.message_timeout, 30s */
			uint64_t flush_timeout_ns;   /* output.kafka.flush_timeout, 10s */
			char *prop_key[PL_MAX_KAFKA_PROPS]; /* output.kafka.properties, {} */
			char *prop_val[PL_MAX_KAFKA_PROPS];
			unsigned long prop_line[PL_MAX_KAFKA_PROPS]; /* where each was set (messages), 0: not from a file */
			int n_props;
		} kafka;
		struct {
			uint64_t max_bytes;      /* output.spool.max_bytes, 1073741824 */
			uint32_t segment_bytes;  /* output.spool.segment_bytes, 1048576 */
			enum pl_spool_fsync fsync; /* output.spool.fsync, interval */
			uint64_t fsync_interval_ns; /* output.spool.fsync_interval, 1s */
		} spool;
	} output;

	struct {
		struct pl_tail_input inputs[PL_TAIL_MAX_INPUTS]; /* tail.inputs, [] */
		int n_inputs;
		uint32_t read_buffer_bytes;  /* tail.read_buffer_bytes, 262144: one read when behind */
		uint64_t close_inactive_ns;  /* tail.close_inactive, 5m: idle files closed, reopened on write */
		uint64_t close_removed_ns;   /* tail.close_removed, 5s: deleted/rotated files kept after EOF */
		uint64_t commit_interval_ns; /* tail.commit_interval, 1s: registry batch period */
		uint32_t max_inflight;       /* tail.max_inflight, 65536: unacknowledged records before pausing */
	} tail;

	struct {
		char *listen;                /* metrics.listen, NULL = no endpoint; "127.0.0.1:9464" */
		bool heartbeat;              /* metrics.heartbeat, true (live capture and tailing only) */
		uint64_t heartbeat_interval_ns; /* metrics.heartbeat_interval, 60s */
		char *heartbeat_topic;       /* metrics.heartbeat_topic, "pktlog-heartbeat" (Kafka) */
	} metrics;

	struct {
		enum pl_ebpf_mode enabled;   /* process.enabled, auto: auto | on | off (live capture only) */
		enum pl_proc_source source;  /* process.source, proc: auto | ebpf | proc */
		uint64_t refresh_interval_ns;/* process.refresh_interval, 1s: least time between /proc scans */
		uint32_t cache_entries;      /* process.cache_entries, 1024: connections remembered */
	} process;

	char *data_dir;                  /* data_dir, /var/lib/pktlog */
	enum pl_log_to log_to;           /* logging.to, stderr: stderr | syslog */
	char *host_name;                 /* host_name, NULL = gethostname() */
	char *app_id;                    /* app_id, NULL: fields.appid of heartbeats */
	bool fast_paths;                 /* tuning.fast_paths, true: decode and reassembly shortcuts (off: differential tests) */
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

/* Append a tail input with the defaults above, watching `pattern` (--tail). 0 or -1. */
int pl_config_tail_add(struct pl_config *cfg, const char *pattern);

/* True when `port` is in the list. */
bool pl_port_list_has(const struct pl_port_list *l, uint16_t port);

#endif
