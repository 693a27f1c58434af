/* test_config.c – unit tests for src/config.c: defaults, conf/pktlog.yml, every error kind
 * with its exact "file:line: key:" prefix, value syntaxes, and the state left after errors. */
#include "unit.h"

#include <unistd.h>

#include "pktlog/config.h"
#include "pktlog/kafka.h"
#include "pktlog/registry.h"

#define NAME "t.yml"

static char err[512];

static int load(struct pl_config *cfg, const char *yml)
{
	return pl_config_load_buffer(NAME, yml, strlen(yml), cfg, err, sizeof(err));
}

static void assert_ports(const struct pl_port_list *l, const uint16_t *want, int n)
{
	int i;

	assert_int_equal(l->n, n);
	for (i = 0; i < n; i++)
		assert_int_equal(l->port[i], want[i]);
}

static void assert_is_defaults(const struct pl_config *c)
{
	static const uint16_t http[] = { 80, 8080, 8000, 5000, 8002 };
	static const uint16_t mysql[] = { 3306, 3307 };

	assert_null(c->capture.iface);
	assert_int_equal(c->capture.snaplen, 65535);
	assert_int_equal(c->capture.buffer_mb, 32);
	assert_false(c->capture.promisc);
	assert_null(c->capture.bpf_filter);
	assert_int_equal(c->capture.workers, 1);
	assert_int_equal(c->capture.ebpf, PL_EBPF_AUTO);
	assert_false(c->capture.immediate);
	assert_string_equal(c->capture.user, "nobody");
	assert_int_equal(c->flows.max_flows, 65536);
	assert_int_equal(c->flows.stream_buffer_bytes, 262144);
	assert_int_equal(c->flows.idle_timeout_ns, 60 * PL_NS_PER_SEC);
	assert_true(c->http.enabled);
	assert_ports(&c->http.ports, http, 5);
	assert_int_equal(c->http.transaction_timeout_ns, 10 * PL_NS_PER_SEC);
	assert_int_equal(c->http.max_message_size, 10485760);
	assert_int_equal(c->http.max_pending, 64);
	assert_int_equal(c->http.max_url_length, 8192);
	assert_int_equal(c->http.n_send_headers, 0);
	assert_false(c->http.send_all_headers);
	assert_true(c->http.redact_authorization);
	assert_true(c->http.redact_cookies);
	assert_true(c->mysql.enabled);
	assert_ports(&c->mysql.ports, mysql, 2);
	assert_int_equal(c->mysql.transaction_timeout_ns, 10 * PL_NS_PER_SEC);
	assert_int_equal(c->mysql.max_query_length, 8192);
	assert_int_equal(c->flows.max_buffer_mb, 64);
	assert_int_equal(c->http.max_memory_mb, 64);
	assert_int_equal(c->mysql.max_statements, 1024);
	assert_false(c->mysql.send_request);
	assert_false(c->mysql.send_response);
	assert_int_equal(c->mysql.max_rows, 10);
	assert_int_equal(c->mysql.max_row_length, 1024);
	assert_int_equal(c->output.type, PL_OUTPUT_CONSOLE);
	assert_null(c->output.file_path);
	assert_string_equal(c->data_dir, "/var/lib/pktlog");
	assert_null(c->host_name);
	assert_null(c->app_id);
	assert_true(c->fast_paths);
	assert_null(c->metrics.listen);
	assert_true(c->metrics.heartbeat);
	assert_int_equal(c->metrics.heartbeat_interval_ns, 60 * PL_NS_PER_SEC);
	assert_string_equal(c->metrics.heartbeat_topic, "pktlog-heartbeat");
	assert_true(c->tls.enabled);
	assert_int_equal(c->tls.ports.n, 7);
	assert_int_equal(c->tls.max_handshake_bytes, 65536);
	assert_int_equal(c->tls.max_memory_mb, 64);
}

/* Loads yml, expects failure with exactly this message, and the defaults left behind. */
static void expect_error(const char *yml, const char *want)
{
	struct pl_config cfg = { 0 };

	assert_int_equal(load(&cfg, yml), -1);
	assert_string_equal(err, want);
	assert_null(cfg.path);
	assert_is_defaults(&cfg);
	pl_config_free(&cfg);
	pl_config_free(&cfg); /* documented safe twice */
}

/* protocols.tls: defaults, options, validation, and the ports it shares with nobody. */
static void test_tls_options(void **state)
{
	static const uint16_t defaults[] = { 443, 8443, 993, 995, 5223, 8883, 9243 };
	static const uint16_t without_443[] = { 8443, 993, 995, 5223, 8883, 9243 };
	static const uint16_t mine[] = { 4433 };
	struct pl_config cfg = { 0 };

	assert_int_equal(load(&cfg, "protocols:\n  tls:\n    max_handshake_bytes: 4096\n"
				  "    max_memory_mb: 8\n"), 0);
	assert_ports(&cfg.tls.ports, defaults, 7);
	assert_int_equal(cfg.tls.max_handshake_bytes, 4096);
	assert_int_equal(cfg.tls.max_memory_mb, 8);
	pl_config_free(&cfg);
	/* a default tls port the file gives to http stays http's */
	assert_int_equal(load(&cfg, "protocols:\n  http:\n    ports: [80, 443]\n"), 0);
	assert_ports(&cfg.tls.ports, without_443, 6);
	pl_config_free(&cfg);
	assert_int_equal(load(&cfg, "protocols:\n  tls:\n    ports: [4433]\n    enabled: false\n"), 0);
	assert_ports(&cfg.tls.ports, mine, 1);
	assert_false(cfg.tls.enabled);
	pl_config_free(&cfg);
	expect_error("protocols:\n  tls:\n    ports: [443, 3306]\n",
		     NAME ":3: protocols.tls.ports: port 3306 is configured for both mysql and tls");
	expect_error("protocols:\n  tls:\n    ports: [8443]\n  http:\n    ports: [8443]\n",
		     NAME ":5: protocols.http.ports: port 8443 is configured for both http and tls");
	expect_error("protocols:\n  tls:\n    max_handshake_bytes: 100\n",
		     NAME ":3: protocols.tls.max_handshake_bytes: 100 is out of range 1024-16777216");
	expect_error("protocols:\n  tls:\n    max_memory_mb: 0\n",
		     NAME ":3: protocols.tls.max_memory_mb: 0 is out of range 1-65536");
	expect_error("protocols:\n  tls:\n    colour: red\n",
		     NAME ":3: protocols.tls.colour: unknown option");
}

/* Same, but only the "file:line: key:" prefix is fixed (libyaml's wording may vary). */
static void expect_error_prefix(const char *yml, const char *prefix)
{
	struct pl_config cfg = { 0 };

	assert_int_equal(load(&cfg, yml), -1);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("got \"%s\", want prefix \"%s\"", err, prefix);
	assert_is_defaults(&cfg);
	pl_config_free(&cfg);
}

static void test_capture_live_options(void **state)
{
	static const char yml[] = "capture:\n  workers: 4\n  ebpf: off\n  immediate: true\n  user: \"root\"\n";
	struct pl_config cfg = { 0 };

	assert_int_equal(pl_config_load_buffer(NAME, yml, strlen(yml), &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.capture.workers, 4);
	assert_int_equal(cfg.capture.ebpf, PL_EBPF_OFF);
	assert_true(cfg.capture.immediate);
	assert_string_equal(cfg.capture.user, "root");
	pl_config_free(&cfg);
	/* issue 13: checked at load, with file:line:key, not when capture starts. */
	expect_error("capture:\n  user: \"no-such-user-pktlog\"\n",
		     NAME ":2: capture.user: no user \"no-such-user-pktlog\" on this system "
		     "(\"\" keeps the user pktlog was started as)");
	expect_error_prefix("capture:\n\n  bpf_filter: \"tcp port banana\"\n",
			    NAME ":3: capture.bpf_filter: invalid filter \"tcp port banana\": ");
	expect_error_prefix("metrics:\n  listen: \"localhost:9464\"\n", NAME ":2: metrics.listen: ");
	expect_error_prefix("metrics:\n  listen: \"127.0.0.1:65536\"\n", NAME ":2: metrics.listen: ");
	expect_error_prefix("metrics:\n  listen: \"[::1\"\n", NAME ":2: metrics.listen: ");
	expect_error("capture:\n  ebpf: maybe\n",
		     NAME ":2: capture.ebpf: expected auto, on or off, found \"maybe\"");
	expect_error_prefix("capture:\n  workers: 0\n", NAME ":2: capture.workers: ");
}

static void test_defaults(void **state)
{
	struct pl_config cfg;

	assert_int_equal(pl_config_defaults(&cfg), 0);
	assert_null(cfg.path);
	assert_is_defaults(&cfg);
	pl_config_free(&cfg);
	assert_null(cfg.data_dir);
	pl_config_free(&cfg);
}

static void test_shipped_file_is_defaults(void **state)
{
	struct pl_config cfg = { 0 };

	assert_int_equal(pl_config_load("conf/pktlog.yml", &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.path, "conf/pktlog.yml");
	assert_non_null(cfg.capture.iface);
	assert_string_equal(cfg.capture.iface, "any");
	free(cfg.capture.iface);
	cfg.capture.iface = NULL;
	assert_is_defaults(&cfg);
	pl_config_free(&cfg);
}

static void test_empty_and_comments(void **state)
{
	static const char *const inputs[] = { "", "# nothing\n\n   # here\n", "---\n", "~\n", "{}\n" };
	struct pl_config cfg = { 0 };
	size_t i;

	for (i = 0; i < PL_ARRAY_LEN(inputs); i++) {
		assert_int_equal(load(&cfg, inputs[i]), 0);
		assert_string_equal(cfg.path, NAME);
		assert_is_defaults(&cfg);
	}
	pl_config_free(&cfg);
}

static void test_full_override(void **state)
{
	static const uint16_t http[] = { 81 };
	static const uint16_t mysql[] = { 3306, 33060 };
	struct pl_config cfg = { 0 };
	const char *yml =
		"capture:\n"
		"  interface: eth0\n"
		"  snaplen: 1500\n"
		"  buffer_size_mb: 4096\n"
		"  promiscuous: yes\n"
		"  bpf_filter: 'not host 10.0.0.1'\n"
		"flows: {max_flows: 1, stream_buffer_bytes: 0, idle_timeout: 2m}\n"
		"protocols:\n"
		"  http:\n"
		"    enabled: off\n"
		"    ports:\n"
		"      - 81\n"
		"    transaction_timeout: 1500ms\n"
		"    max_message_size: 1024\n"
		"    max_pending_requests: 4096\n"
		"    max_url_length: 64\n"
		"    send_headers: [User-Agent, X-REQUEST-ID]\n"
		"    send_all_headers: true\n"
		"    redact_authorization: no\n"
		"    redact_cookies: false\n"
		"  mysql:\n"
		"    enabled: false\n"
		"    ports: [3306, 33060]\n"
		"    transaction_timeout: 3\n"
		"output:\n"
		"  type: file\n"
		"  file:\n"
		"    path: /tmp/events.json\n"
		"data_dir: /srv/pktlog\n"
		"host_name: web1\n";

	assert_int_equal(load(&cfg, yml), 0);
	assert_string_equal(cfg.capture.iface, "eth0");
	assert_int_equal(cfg.capture.snaplen, 1500);
	assert_int_equal(cfg.capture.buffer_mb, 4096);
	assert_true(cfg.capture.promisc);
	assert_string_equal(cfg.capture.bpf_filter, "not host 10.0.0.1");
	assert_int_equal(cfg.flows.max_flows, 1);
	assert_int_equal(cfg.flows.stream_buffer_bytes, 0);
	assert_int_equal(cfg.flows.idle_timeout_ns, 120 * PL_NS_PER_SEC);
	assert_false(cfg.http.enabled);
	assert_ports(&cfg.http.ports, http, 1);
	assert_int_equal(cfg.http.transaction_timeout_ns, 1500000000ULL);
	assert_int_equal(cfg.http.max_message_size, 1024);
	assert_int_equal(cfg.http.max_pending, 4096);
	assert_int_equal(cfg.http.max_url_length, 64);
	assert_int_equal(cfg.http.n_send_headers, 2);
	assert_string_equal(cfg.http.send_headers[0], "user-agent");
	assert_string_equal(cfg.http.send_headers[1], "x-request-id");
	assert_true(cfg.http.send_all_headers);
	assert_false(cfg.http.redact_authorization);
	assert_false(cfg.http.redact_cookies);
	assert_false(cfg.mysql.enabled);
	assert_ports(&cfg.mysql.ports, mysql, 2);
	assert_int_equal(cfg.mysql.transaction_timeout_ns, 3 * PL_NS_PER_SEC);
	assert_int_equal(cfg.output.type, PL_OUTPUT_FILE);
	assert_string_equal(cfg.output.file_path, "/tmp/events.json");
	assert_string_equal(cfg.data_dir, "/srv/pktlog");
	assert_string_equal(cfg.host_name, "web1");
	assert_true(pl_port_list_has(&cfg.mysql.ports, 33060));
	assert_false(pl_port_list_has(&cfg.mysql.ports, 80));
	pl_config_free(&cfg);
}

static void test_durations(void **state)
{
	static const struct { const char *text; uint64_t ns; } cases[] = {
		{ "500ms", 500000000ULL }, { "10s", 10 * PL_NS_PER_SEC }, { "1m", 60 * PL_NS_PER_SEC },
		{ "2h", 7200 * PL_NS_PER_SEC }, { "250us", 250000ULL }, { "7ns", 7 },
		{ "45", 45 * PL_NS_PER_SEC }, { "\"30s\"", 30 * PL_NS_PER_SEC },
	};
	struct pl_config cfg = { 0 };
	char yml[128];
	size_t i;

	for (i = 0; i < PL_ARRAY_LEN(cases); i++) {
		snprintf(yml, sizeof(yml), "flows:\n  idle_timeout: %s\n", cases[i].text);
		assert_int_equal(load(&cfg, yml), 0);
		assert_int_equal(cfg.flows.idle_timeout_ns, cases[i].ns);
	}
	pl_config_free(&cfg);
	expect_error("flows:\n  idle_timeout: 0s\n",
		     NAME ":2: flows.idle_timeout: duration must be greater than 0");
	expect_error("flows:\n  idle_timeout: 0\n",
		     NAME ":2: flows.idle_timeout: duration must be greater than 0");
	expect_error("flows:\n  idle_timeout: 10d\n",
		     NAME ":2: flows.idle_timeout: expected a duration such as 500ms, 10s, 1m or 2h, found \"10d\"");
	expect_error("flows:\n  idle_timeout: s\n",
		     NAME ":2: flows.idle_timeout: expected a duration such as 500ms, 10s, 1m or 2h, found \"s\"");
	expect_error("flows:\n  idle_timeout: 10 s\n",
		     NAME ":2: flows.idle_timeout: expected a duration such as 500ms, 10s, 1m or 2h, found \"10 s\"");
	expect_error("flows:\n  idle_timeout: 99999999999999h\n",
		     NAME ":2: flows.idle_timeout: duration \"99999999999999h\" is too long");
	expect_error("protocols:\n  mysql:\n    transaction_timeout: [1s]\n",
		     NAME ":3: protocols.mysql.transaction_timeout: expected a duration, found a list");
}

static void test_booleans(void **state)
{
	static const char *const yes[] = { "true", "yes", "on", "True", "YES", "On" };
	static const char *const no[] = { "false", "no", "off", "False", "NO", "OFF" };
	struct pl_config cfg = { 0 };
	char yml[128];
	size_t i;

	for (i = 0; i < PL_ARRAY_LEN(yes); i++) {
		snprintf(yml, sizeof(yml), "capture:\n  promiscuous: %s\n", yes[i]);
		assert_int_equal(load(&cfg, yml), 0);
		assert_true(cfg.capture.promisc);
	}
	for (i = 0; i < PL_ARRAY_LEN(no); i++) {
		snprintf(yml, sizeof(yml), "protocols:\n  http:\n    redact_cookies: %s\n", no[i]);
		assert_int_equal(load(&cfg, yml), 0);
		assert_false(cfg.http.redact_cookies);
	}
	pl_config_free(&cfg);
	expect_error("capture:\n  promiscuous: maybe\n",
		     NAME ":2: capture.promiscuous: expected true or false (or yes/no, on/off), found \"maybe\"");
	expect_error("capture:\n  promiscuous: 1\n",
		     NAME ":2: capture.promiscuous: expected true or false (or yes/no, on/off), found \"1\"");
}

static void test_lowercase_headers(void **state)
{
	struct pl_config cfg = { 0 };

	assert_int_equal(load(&cfg, "protocols:\n  http:\n    send_headers:\n      - Content-Type\n"
				    "      - X-Forwarded-FOR\n      - host\n"), 0);
	assert_int_equal(cfg.http.n_send_headers, 3);
	assert_string_equal(cfg.http.send_headers[0], "content-type");
	assert_string_equal(cfg.http.send_headers[1], "x-forwarded-for");
	assert_string_equal(cfg.http.send_headers[2], "host");
	pl_config_free(&cfg);
}

static void test_syntax_error(void **state)
{
	expect_error_prefix("capture:\n  snaplen: 100\n bad indent: 1\n", NAME ":3: -: YAML syntax error: ");
	expect_error_prefix("capture: [1, 2\n", NAME ":2: -: YAML syntax error: ");
	expect_error_prefix("a: \"unterminated\n", NAME ":2: -: YAML syntax error: ");
	expect_error_prefix("capture: {}\n---\nflows: {}\n", NAME ":3: -: only one YAML document is allowed");
}

static void test_deep_nesting(void **state)
{
	char yml[4096];

	memset(yml, '[', sizeof(yml) - 1);
	yml[sizeof(yml) - 1] = '\0';
	memcpy(yml, "capture: ", 9);
	expect_error(yml, NAME ":1: -: nested deeper than 32 levels");
}

static void test_unknown_keys(void **state)
{
	expect_error("capture:\n  snaplenn: 100\n",
		     NAME ":2: capture.snaplenn: unknown option (did you mean capture.snaplen?)");
	expect_error("capture:\n  snaplen: 100\nflow:\n  max_flows: 5\n",
		     NAME ":3: flow: unknown option (did you mean flows?)");
	expect_error("protocols:\n  http:\n    prots: [80]\n",
		     NAME ":3: protocols.http.prots: unknown option (did you mean protocols.http.ports?)");
	expect_error("kafka:\n  brokers: x\n", NAME ":1: kafka: unknown option");
	expect_error("\n\noutput:\n  file:\n    path: x\n    mode: 0644\n",
		     NAME ":6: output.file.mode: unknown option");
	expect_error("? [a, b]\n: 1\n", NAME ":1: -: option names must be plain words, found a list");
}

static void test_wrong_types(void **state)
{
	expect_error("capture:\n  snaplen: [1, 2]\n",
		     NAME ":2: capture.snaplen: expected a number, found a list");
	expect_error("capture:\n  snaplen: abc\n",
		     NAME ":2: capture.snaplen: expected a number, found \"abc\"");
	expect_error("capture:\n  snaplen: -1\n",
		     NAME ":2: capture.snaplen: expected a number, found \"-1\"");
	expect_error("capture:\n  snaplen:\n", NAME ":2: capture.snaplen: expected a number, found \"\"");
	expect_error("capture:\n  interface: {a: 1}\n",
		     NAME ":2: capture.interface: expected a string, found a mapping");
	expect_error("capture: 5\n", NAME ":1: capture: expected a mapping of options, found a scalar");
	expect_error("protocols:\n  http:\n    ports: 80\n",
		     NAME ":3: protocols.http.ports: expected a list of ports, found a scalar");
	expect_error("protocols:\n  http:\n    send_headers: {a: b}\n",
		     NAME ":3: protocols.http.send_headers: expected a list of header names, found a mapping");
	expect_error("protocols:\n  http:\n    send_headers: [[a]]\n",
		     NAME ":3: protocols.http.send_headers: expected a header name, found a list");
	expect_error("data_dir: \"\"\n", NAME ":1: data_dir: must not be empty");
	expect_error("- a\n- b\n", NAME ":1: -: the top level must be a mapping of options, found a list");
	expect_error("just text\n", NAME ":1: -: the top level must be a mapping of options, found a scalar");
}

static void test_ranges(void **state)
{
	static const struct { const char *sect, *key; unsigned long long min, max; } r[] = {
		{ "capture", "snaplen", 64, 262144 },
		{ "capture", "buffer_size_mb", 1, 4096 },
		{ "flows", "max_flows", 1, 16777216 },
		{ "flows", "stream_buffer_bytes", 0, 1073741824 },
		{ "protocols:\n  http", "max_message_size", 1024, 1073741824 },
		{ "protocols:\n  http", "max_pending_requests", 1, 4096 },
		{ "protocols:\n  http", "max_url_length", 64, 1048576 },
	};
	struct pl_config cfg = { 0 };
	char yml[256], want[256];
	size_t i;

	for (i = 0; i < PL_ARRAY_LEN(r); i++) {
		bool nested = strchr(r[i].sect, '\n') != NULL;
		const char *dotted = nested ? "protocols.http" : r[i].sect;
		const char *ind = nested ? "    " : "  ";
		int line = nested ? 3 : 2;

		snprintf(yml, sizeof(yml), "%s:\n%s%s: %llu\n", r[i].sect, ind, r[i].key, r[i].min);
		assert_int_equal(load(&cfg, yml), 0);
		snprintf(yml, sizeof(yml), "%s:\n%s%s: %llu\n", r[i].sect, ind, r[i].key, r[i].max);
		assert_int_equal(load(&cfg, yml), 0);
		snprintf(yml, sizeof(yml), "%s:\n%s%s: %llu\n", r[i].sect, ind, r[i].key, r[i].max + 1);
		snprintf(want, sizeof(want), NAME ":%d: %s.%s: %llu is out of range %llu-%llu", line, dotted,
			 r[i].key, r[i].max + 1, r[i].min, r[i].max);
		expect_error(yml, want);
		if (r[i].min == 0)
			continue;
		snprintf(yml, sizeof(yml), "%s:\n%s%s: %llu\n", r[i].sect, ind, r[i].key, r[i].min - 1);
		snprintf(want, sizeof(want), NAME ":%d: %s.%s: %llu is out of range %llu-%llu", line, dotted,
			 r[i].key, r[i].min - 1, r[i].min, r[i].max);
		expect_error(yml, want);
	}
	pl_config_free(&cfg);
	expect_error("capture:\n  snaplen: 99999999999999999999999\n",
		     NAME ":2: capture.snaplen: 99999999999999999999999 is out of range 64-262144");
}

/* protocols.http2.ports: shared with http on purpose (the client's first bytes decide), with
 * mysql or tls never; a default tls port named under http2 gives way as it does to http. */
static void test_http2_ports(void **state)
{
	static const uint16_t h2[] = { 8080, 50051 };
	static const uint16_t tls_without_8443[] = { 443, 993, 995, 5223, 8883, 9243 };
	static const uint16_t h2_8443[] = { 8443 };
	struct pl_config cfg = { 0 };

	(void)state;
	assert_int_equal(load(&cfg, "protocols:\n  http2:\n    ports: [8080, 50051]\n"), 0);
	assert_ports(&cfg.http2.ports, h2, 2);
	assert_int_equal(cfg.http.ports.n, 5);      /* 8080 stays http's too */
	pl_config_free(&cfg);
	assert_int_equal(load(&cfg, "protocols:\n  http:\n    ports: [80, 50051]\n"
				  "  http2:\n    ports: [50051]\n"), 0);
	pl_config_free(&cfg);
	expect_error("protocols:\n  http2:\n    ports: [50051, 3306]\n",
		     NAME ":3: protocols.http2.ports: port 3306 is configured for both mysql and http2");
	expect_error("protocols:\n  http2:\n    ports: [7000]\n  mysql:\n    ports: [7000]\n",
		     NAME ":5: protocols.mysql.ports: port 7000 is configured for both mysql and http2");
	expect_error("protocols:\n  tls:\n    ports: [8443]\n  http2:\n    ports: [8443]\n",
		     NAME ":5: protocols.http2.ports: port 8443 is configured for both tls and http2");
	assert_int_equal(load(&cfg, "protocols:\n  http2:\n    ports: [8443]\n"), 0);
	assert_ports(&cfg.http2.ports, h2_8443, 1);
	assert_ports(&cfg.tls.ports, tls_without_8443, 6);
	pl_config_free(&cfg);
}

/* "ports: [first, first+1, ..., first+n-1]" */
static void port_range(char *out, size_t cap, int first, int n)
{
	size_t o = (size_t)snprintf(out, cap, "ports: [");

	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%d", i ? ", " : "", first + i);
	snprintf(out + o, cap - o, "]");
}

/* The capture filter holds PL_PF_MAX_PORTS (128) ports: enabled protocols that list more
 * distinct ports are refused at load, naming the list to shorten, instead of losing the
 * ports past the 128th in silence. Ports shared on purpose (http2 over http) count once. */
static void test_ports_beyond_capture_filter(void **state)
{
	char h[600], m[600], h2[600], yml[2048];
	struct pl_config cfg = { 0 };

	(void)state;
	port_range(h, sizeof(h), 1000, 64);
	port_range(m, sizeof(m), 2000, 64);
	/* http 64 + mysql 64 + tls's 7 defaults + http2's 50051: 136 */
	snprintf(yml, sizeof(yml), "protocols:\n  http:\n    %s\n  mysql:\n    %s\n", h, m);
	expect_error(yml, NAME ":5: protocols.mysql.ports: the enabled protocols listen on 136 "
			  "distinct ports; the capture filter holds at most 128 (shorten a "
			  "protocols.*.ports list or disable a protocol)");
	/* the same with tls off and http2 on http's ports: 128, the most the filter holds */
	port_range(h2, sizeof(h2), 1000, 64);
	snprintf(yml, sizeof(yml), "protocols:\n  http:\n    %s\n  mysql:\n    %s\n"
		 "  tls:\n    enabled: false\n  http2:\n    %s\n", h, m, h2);
	assert_int_equal(load(&cfg, yml), 0);
	pl_config_free(&cfg);
	/* one http2 port of its own: 129 */
	port_range(h2, sizeof(h2), 1001, 63);
	h2[strlen(h2) - 1] = '\0';
	strcat(h2, ", 50051]");
	snprintf(yml, sizeof(yml), "protocols:\n  http:\n    %s\n  mysql:\n    %s\n"
		 "  tls:\n    enabled: false\n  http2:\n    %s\n", h, m, h2);
	expect_error(yml, NAME ":9: protocols.http2.ports: the enabled protocols listen on 129 "
			  "distinct ports; the capture filter holds at most 128 (shorten a "
			  "protocols.*.ports list or disable a protocol)");
}

static void test_ports(void **state)
{
	char yml[1024];
	int i, n;

	expect_error("protocols:\n  http:\n    ports:\n      - 80\n      - 70000\n",
		     NAME ":5: protocols.http.ports: port 70000 is out of range 1-65535");
	expect_error("protocols:\n  http:\n    ports: [0]\n",
		     NAME ":3: protocols.http.ports: port 0 is out of range 1-65535");
	expect_error("protocols:\n  http:\n    ports: [http]\n",
		     NAME ":3: protocols.http.ports: expected a port number, found \"http\"");
	expect_error("protocols:\n  http:\n    ports: []\n",
		     NAME ":3: protocols.http.ports: the port list is empty");
	expect_error("protocols:\n  http:\n    ports:\n",
		     NAME ":3: protocols.http.ports: the port list is empty");
	expect_error("protocols:\n  mysql:\n    ports:\n      - 3306\n      - 3306\n",
		     NAME ":5: protocols.mysql.ports: port 3306 is listed twice");
	/* mysql lists a default http port: the mysql line is the one to fix */
	expect_error("protocols:\n  mysql:\n    ports: [3306, 8080]\n",
		     NAME ":3: protocols.mysql.ports: port 8080 is configured for both http and mysql");
	/* http lists a default mysql port */
	expect_error("protocols:\n  http:\n    ports:\n      - 80\n      - 3307\n",
		     NAME ":5: protocols.http.ports: port 3307 is configured for both http and mysql");
	/* both set: blame the later one */
	expect_error("protocols:\n  mysql:\n    ports: [9000]\n  http:\n    ports: [9000]\n",
		     NAME ":5: protocols.http.ports: port 9000 is configured for both http and mysql");

	n = snprintf(yml, sizeof(yml), "protocols:\n  http:\n    ports:\n");
	for (i = 0; i < PL_MAX_PORTS + 1; i++)
		n += snprintf(yml + n, sizeof(yml) - (size_t)n, "      - %d\n", 10000 + i);
	expect_error(yml, NAME ":68: protocols.http.ports: more than 64 ports");

	{ /* exactly PL_MAX_PORTS is fine */
		struct pl_config cfg = { 0 };
		char *cut = strstr(yml, "      - 10064\n");
		*cut = '\0';
		assert_int_equal(load(&cfg, yml), 0);
		assert_int_equal(cfg.http.ports.n, PL_MAX_PORTS);
		assert_true(pl_port_list_has(&cfg.http.ports, 10063));
		assert_false(pl_port_list_has(&cfg.http.ports, 10064));
		pl_config_free(&cfg);
	}
}

static void test_too_many_headers(void **state)
{
	struct pl_config cfg = { 0 };
	char yml[2048];
	int i, n;

	n = snprintf(yml, sizeof(yml), "protocols:\n  http:\n    send_headers:\n");
	for (i = 0; i < PL_MAX_HEADERS + 1; i++)
		n += snprintf(yml + n, sizeof(yml) - (size_t)n, "      - X-H%d\n", i);
	expect_error(yml, NAME ":36: protocols.http.send_headers: more than 32 headers");
	*strstr(yml, "      - X-H32\n") = '\0';
	assert_int_equal(load(&cfg, yml), 0);
	assert_int_equal(cfg.http.n_send_headers, PL_MAX_HEADERS);
	assert_string_equal(cfg.http.send_headers[31], "x-h31");
	pl_config_free(&cfg);
	expect_error("protocols:\n  http:\n    send_headers: [\"\"]\n",
		     NAME ":3: protocols.http.send_headers: header names must be non-empty text");
}

static void test_kafka(void **state)
{
	struct pl_config cfg = { 0 };

	assert_int_equal(load(&cfg, "output:\n  kafka:\n    brokers: \"a:1,b:2\"\n    topic: x-%{type}\n"
				"    key: community_id\n    properties:\n      client.id: me\n"
				"  spool:\n    fsync: always\n    max_bytes: 10000000\n"), 0);
	assert_int_equal(cfg.output.type, PL_OUTPUT_KAFKA);   /* brokers set, no type: kafka */
	assert_string_equal(cfg.output.kafka.brokers, "a:1,b:2");
	assert_string_equal(cfg.output.kafka.topic, "x-%{type}");
	assert_int_equal(cfg.output.kafka.key, PL_KAFKA_KEY_COMMUNITY_ID);
	assert_int_equal(cfg.output.kafka.n_props, 1);
	assert_string_equal(cfg.output.kafka.prop_key[0], "client.id");
	assert_int_equal(cfg.output.spool.fsync, PL_SPOOL_FSYNC_ALWAYS);
	assert_int_equal(cfg.output.spool.max_bytes, 10000000);
	assert_true(cfg.output.kafka.idempotence);
	assert_int_equal(cfg.output.kafka.acks, PL_KAFKA_ACKS_ALL);
	pl_config_free(&cfg);
	expect_error("output:\n  type: kafka\n",
		     NAME ":2: output.kafka.brokers: output.type is kafka but no output.kafka.brokers is set");
	expect_error("output:\n  kafka:\n    brokers: a:1\n    acks: 1\n",
		     NAME ":4: output.kafka.acks: idempotence requires acks: all (or set output.kafka.idempotence: false)");
	expect_error("output:\n  kafka:\n    compression: brotli\n",
		     NAME ":3: output.kafka.compression: expected none, gzip, snappy, lz4 or zstd, found \"brotli\"");
	/* librdkafka's names are the Kafka output's to check (at start, and when it opens),
	 * with the message a config error has */
	assert_int_equal(load(&cfg, "output:\n  kafka:\n    properties:\n      client.id: me\n"
				"      no.such: 1\n"), 0);
	assert_int_equal(cfg.output.kafka.prop_line[1], 5);
	char kerr[512];
	assert_int_equal(pl_kafka_check_properties(&cfg, kerr, sizeof(kerr)), -1);
	assert_ptr_equal(strstr(kerr, NAME ":5: output.kafka.properties.no.such: "), kerr);
	free(cfg.output.kafka.prop_key[1]);
	cfg.output.kafka.prop_key[1] = strdup("linger.ms");
	assert_int_equal(pl_kafka_check_properties(&cfg, kerr, sizeof(kerr)), 0);
	pl_config_free(&cfg);
	expect_error_prefix("output:\n  spool:\n    fsync: sometimes\n", NAME ":3: output.spool.fsync: ");
	/* the 64-bit option says its errors as the 32-bit ones do */
	expect_error("output:\n  spool:\n    max_bytes: 100\n",
		     NAME ":3: output.spool.max_bytes: 100 is out of range 65536-9223372036854775807");
	expect_error("output:\n  spool:\n    max_bytes: 1e9\n",
		     NAME ":3: output.spool.max_bytes: expected a number, found \"1e9\"");
}

static void test_output(void **state)
{
	struct pl_config cfg = { 0 };

	expect_error("output:\n  type: kafkaa\n",
		     NAME ":2: output.type: expected console, null, file or kafka, found \"kafkaa\"");
	expect_error("output:\n  type: file\n",
		     NAME ":2: output.file.path: output.type is file but no output.file.path is set");
	expect_error("output:\n  type: file\n  file:\n    path: \"\"\n",
		     NAME ":2: output.file.path: output.type is file but no output.file.path is set");
	assert_int_equal(load(&cfg, "output:\n  type: null\n"), 0);
	assert_int_equal(cfg.output.type, PL_OUTPUT_NULL);
	assert_int_equal(load(&cfg, "output:\n  file:\n    path: /x\n  type: file\n"), 0);
	assert_int_equal(cfg.output.type, PL_OUTPUT_FILE);
	assert_string_equal(cfg.output.file_path, "/x");
	pl_config_free(&cfg);
}

static void test_duplicate_keys(void **state)
{
	expect_error("capture:\n  snaplen: 100\n  promiscuous: true\n  snaplen: 200\n",
		     NAME ":4: capture.snaplen: duplicate key (first set on line 2)");
	expect_error("capture: {}\nflows: {}\ncapture: {}\n",
		     NAME ":3: capture: duplicate key (first set on line 1)");
	expect_error("output: {type: null, type: console}\n",
		     NAME ":1: output.type: duplicate key (first set on line 1)");
}

static void test_unreadable_file(void **state)
{
	struct pl_config cfg = { 0 };

	assert_int_equal(pl_config_load("/nonexistent/pktlog.yml", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/pktlog.yml: cannot read: No such file or directory");
	assert_is_defaults(&cfg);
	assert_int_equal(pl_config_load("conf", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "conf: cannot read: a directory, not a regular file");
	assert_is_defaults(&cfg);
	pl_config_free(&cfg);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/test_config_XXXXXX";
	const char *yml = "capture:\n  snaplen: 9000\n  snaplen: 1\n";
	struct pl_config cfg = { 0 };
	char want[256];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yml, strlen(yml)), (ssize_t)strlen(yml));
	close(fd);
	assert_int_equal(pl_config_load(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: capture.snaplen: duplicate key (first set on line 2)", path);
	assert_string_equal(err, want);
	unlink(path);
	pl_config_free(&cfg);
}

static void test_load_after_error(void **state)
{
	struct pl_config cfg = { 0 };

	/* a good load with strings and headers set, then a bad one over it */
	assert_int_equal(load(&cfg, "capture: {interface: lo}\nprotocols: {http: {send_headers: [A]}}\n"), 0);
	assert_int_equal(load(&cfg, "capture:\n  interface: eth1\n  snaplen: 1\n"), -1);
	assert_string_equal(err, NAME ":3: capture.snaplen: 1 is out of range 64-262144");
	assert_is_defaults(&cfg);
	assert_null(cfg.path);
	/* and a good load after the error starts from clean defaults */
	assert_int_equal(load(&cfg, "host_name: h\n"), 0);
	assert_string_equal(cfg.host_name, "h");
	free(cfg.host_name);
	cfg.host_name = NULL;
	assert_is_defaults(&cfg);
	/* the test switch is an option like the others */
	assert_int_equal(load(&cfg, "tuning:\n  fast_paths: false\n"), 0);
	assert_false(cfg.fast_paths);
	assert_int_equal(load(&cfg, "tuning: {fast_paths: maybe}\n"), -1);
	assert_string_equal(err, NAME ":1: tuning.fast_paths: expected true or false (or yes/no, on/off), found \"maybe\"");
	pl_config_free(&cfg);
	pl_config_free(&cfg);
}

static void test_small_err_buffer(void **state)
{
	struct pl_config cfg = { 0 };
	char small[8];

	assert_int_equal(pl_config_load_buffer(NAME, "x: 1\n", 5, &cfg, small, sizeof(small)), -1);
	assert_string_equal(small, "t.yml:1");
	assert_int_equal(pl_config_load_buffer(NAME, "x: 1\n", 5, &cfg, NULL, 0), -1);
	pl_config_free(&cfg);
}

static void test_port_list_has(void **state)
{
	struct pl_port_list l = { .port = { 1, 65535 }, .n = 2 };

	assert_true(pl_port_list_has(&l, 1));
	assert_true(pl_port_list_has(&l, 65535));
	assert_false(pl_port_list_has(&l, 0));
	l.n = 0;
	assert_false(pl_port_list_has(&l, 1));
}

/* tail.inputs: a list of mappings, each checked key by key; tail.* scalars. */
static void test_tail_inputs(void **state)
{
	struct pl_config cfg = { 0 };
	const struct pl_tail_input *in;

	(void)state;
	assert_int_equal(load(&cfg, ""), 0);
	assert_int_equal(cfg.tail.n_inputs, 0);
	assert_int_equal(cfg.tail.read_buffer_bytes, 262144);
	assert_int_equal(cfg.tail.close_inactive_ns, 300 * PL_NS_PER_SEC);
	assert_int_equal(cfg.tail.close_removed_ns, 5 * PL_NS_PER_SEC);
	assert_int_equal(cfg.tail.commit_interval_ns, PL_NS_PER_SEC);
	assert_int_equal(cfg.tail.max_inflight, 65536);
	assert_int_equal(load(&cfg,
		"tail:\n"
		"  commit_interval: 200ms\n"
		"  inputs:\n"
		"    - paths: /var/log/a.log\n"
		"    - paths: [\"/srv/**/*.log\", /x/*.txt]\n"
		"      exclude: [\"*.gz\"]\n"
		"      topic: logs\n"
		"      fields: {appid: shop, service: web}\n"
		"      start_position: end\n"
		"      max_line_bytes: 4096\n"
		"      long_lines: truncate\n"
		"      multiline:\n"
		"        start_pattern: '^[0-9]{4}-'\n"
		"        max_lines: 20\n"
		"        timeout: 2s\n"), 0);
	assert_int_equal(cfg.tail.commit_interval_ns, 200 * 1000000ULL);
	assert_int_equal(cfg.tail.n_inputs, 2);
	in = &cfg.tail.inputs[0];
	assert_int_equal(in->n_paths, 1);
	assert_string_equal(in->paths[0], "/var/log/a.log");
	assert_false(in->start_at_end);
	assert_int_equal(in->max_line_bytes, 1048576);
	assert_int_equal(in->ml_max_lines, 500);
	assert_null(in->ml_pattern);
	in = &cfg.tail.inputs[1];
	assert_int_equal(in->n_paths, 2);
	assert_string_equal(in->paths[1], "/x/*.txt");
	assert_string_equal(in->excludes[0], "*.gz");
	assert_string_equal(in->topic, "logs");
	assert_int_equal(in->n_fields, 2);
	assert_string_equal(in->field_keys[1], "service");
	assert_string_equal(in->field_values[1], "web");
	assert_true(in->start_at_end);
	assert_true(in->truncate_long_lines);
	assert_int_equal(in->max_line_bytes, 4096);
	assert_string_equal(in->ml_pattern, "^[0-9]{4}-");
	assert_int_equal(in->ml_max_lines, 20);
	assert_int_equal(in->ml_timeout_ns, 2 * PL_NS_PER_SEC);

	assert_int_equal(load(&cfg, "tail:\n  inputs:\n    - exclude: [a]\n"), -1);
	assert_string_equal(err, "t.yml:3: tail.inputs: an input needs paths");
	assert_int_equal(load(&cfg, "tail:\n  inputs:\n    - paths: a\n      start_position: middle\n"), -1);
	assert_string_equal(err, "t.yml:4: tail.inputs.start_position: expected beginning or end, found \"middle\"");
	assert_int_equal(load(&cfg, "tail:\n  inputs:\n    - paths: a\n      multiline: {start_pattern: '('}\n"), -1);
	assert_non_null(strstr(err, "t.yml:4: tail.inputs.multiline.start_pattern: invalid regular expression"));
	assert_int_equal(load(&cfg, "tail:\n  inputs:\n    - paths: a\n      colour: red\n"), -1);
	assert_non_null(strstr(err, "t.yml:4: tail.inputs.colour: unknown option"));
	assert_int_equal(load(&cfg, "tail:\n  inputs:\n    - paths: a\n      max_line_bytes: 10\n"), -1);
	assert_string_equal(err, "t.yml:4: tail.inputs.max_line_bytes: 10 is out of range 64-67108864");
	assert_int_equal(load(&cfg, "tail:\n  inputs: [a.log]\n"), -1);
	assert_non_null(strstr(err, "each input must be a mapping"));
	assert_int_equal(cfg.tail.n_inputs, 0); /* back to defaults after an error */

	assert_int_equal(pl_config_tail_add(&cfg, "/v/*.log"), 0);
	assert_int_equal(cfg.tail.n_inputs, 1);
	assert_string_equal(cfg.tail.inputs[0].paths[0], "/v/*.log");
	assert_int_equal(cfg.tail.inputs[0].max_line_bytes, 1048576);
	pl_config_free(&cfg);
}

/* Each protocol's options hang off its registry row: its enabled and ports rows store where
 * the row's enabled_off and ports_off say (port lookup reads them there), and its defaults
 * (ports from the registry row) are what pl_config_defaults gives. */
static void test_protocol_options(void **state)
{
	struct pl_config cfg;

	assert_int_equal(pl_config_defaults(&cfg), 0);
	for (size_t p = 0; p < pl_n_protocols; p++) {
		const struct pl_proto_desc *d = &pl_protocols[p];
		const struct pl_port_list *l = pl_proto_ports(&cfg, d);
		bool enabled = false, ports = false;

		for (size_t r = 0; r < d->options->n; r++) {
			const struct pl_option *o = &d->options->rows[r];

			if (strcmp(o->key, "enabled") == 0)
				enabled = o->type == PL_OPT_BOOL && o->off == d->enabled_off;
			if (strcmp(o->key, "ports") == 0)
				ports = o->type == PL_OPT_PORTS && o->off == d->ports_off;
		}
		assert_true(enabled);
		assert_true(ports);
		assert_true(pl_proto_enabled(&cfg, d));
		assert_int_equal(l->n, (int)d->n_default_ports);
		for (size_t i = 0; i < d->n_default_ports; i++)
			assert_int_equal(l->port[i], d->default_ports[i]);
	}
	pl_config_free(&cfg);
	/* a protocol's option set through the file lands in its fields */
	assert_int_equal(load(&cfg, "protocols:\n  tls:\n    enabled: false\n    max_memory_mb: 3\n"), 0);
	assert_false(pl_proto_enabled(&cfg, pl_proto_by_name("tls")));
	assert_int_equal(cfg.tls.max_memory_mb, 3);
	pl_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_tls_options),
		cmocka_unit_test(test_shipped_file_is_defaults),
		cmocka_unit_test(test_empty_and_comments),
		cmocka_unit_test(test_full_override),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_lowercase_headers),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_http2_ports),
		cmocka_unit_test(test_ports_beyond_capture_filter),
		cmocka_unit_test(test_too_many_headers),
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_kafka),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_after_error),
		cmocka_unit_test(test_small_err_buffer),
		cmocka_unit_test(test_port_list_has),
		cmocka_unit_test(test_capture_live_options),
		cmocka_unit_test(test_tail_inputs),
		cmocka_unit_test(test_protocol_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
