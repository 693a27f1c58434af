/* test_metrics.c – Prometheus rendering and the HTTP endpoint (src/metrics.c). */
#include <arpa/inet.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>
#include "unit.h"
#include "pktlog/metrics.h"
#include "pktlog/registry.h"

/* Every counter of struct pl_stats has exactly one metric: a field added without a row
 * here would silently never be exported. */
static void test_table_covers_every_counter(void **s)
{
	size_t slots = sizeof(struct pl_stats) / sizeof(uint64_t);
	unsigned char *seen = calloc(slots, 1);

	for (int i = 0; i < PL_DEC__COUNT; i++)
		seen[offsetof(struct pl_stats, decode) / 8 + (size_t)i]++;
	for (size_t i = 0; i < pl_metrics_table_size(); i++)
		seen[pl_metrics_table_offset(i) / 8]++;
	for (size_t i = 0; i < slots; i++) {
		if (seen[i] != 1)
			fprintf(stderr, "struct pl_stats slot %zu (byte %zu) is covered %d times\n",
				i, i * 8, seen[i]);
		assert_int_equal(seen[i], 1);
	}
	free(seen);
}

/* Each protocol's stats block describes its own counters (NAME_*), and the registry's port
 * lookup finds each protocol by its default ports. */
static void test_registry_rows(void **s)
{
	struct pl_config cfg;

	assert_int_equal(pl_config_defaults(&cfg), 0);
	assert_true(pl_n_protocols >= 3 && pl_n_protocols <= PL_PROTO_MAX);
	for (size_t p = 0; p < pl_n_protocols; p++) {
		const struct pl_proto_desc *d = &pl_protocols[p];
		size_t len = strlen(d->name);

		assert_ptr_equal(pl_proto_by_name(d->name), d);
		assert_non_null(d->ops);
		assert_non_null(d->stats);
		assert_true(d->stats->n_first <= d->stats->n_rows);
		for (size_t i = 0; i < d->stats->n_rows; i++) {
			assert_memory_equal(d->stats->rows[i].name, d->name, len);
			assert_int_equal(d->stats->rows[i].name[len], '_');
		}
		for (size_t i = 0; i < d->n_default_ports; i++)
			assert_ptr_equal(pl_proto_for_port(&cfg, d->default_ports[i]), d);
	}
	assert_null(pl_proto_for_port(&cfg, 22));
	assert_null(pl_proto_by_name("gopher"));
	cfg.mysql.enabled = false;
	assert_null(pl_proto_for_port(&cfg, 3306));
	pl_config_free(&cfg);
}

static void test_render(void **s)
{
	struct pl_stats st;
	static char buf[65536];

	memset(&st, 0, sizeof(st));
	st.packets = 12345;
	st.decode[PL_DEC_NOT_TCP] = 7;
	st.flows_active = 3;
	size_t n = pl_metrics_render(&st, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_non_null(strstr(buf, "# TYPE pktlog_packets_total counter\npktlog_packets_total 12345\n"));
	assert_non_null(strstr(buf, "pktlog_decode_frames_total{result=\"not_tcp\"} 7\n"));
	assert_non_null(strstr(buf, "# TYPE pktlog_flows_active gauge\npktlog_flows_active 3\n"));
	assert_int_equal(pl_metrics_render(&st, buf, 100), 0);
}

static size_t get(uint16_t port, const char *path, char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	char req[256];
	size_t got = 0;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	for (;;) {
		ssize_t r = read(fd, out + got, cap - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	out[got] = 0;
	close(fd);
	return got;
}

static void test_serve(void **s)
{
	char err[256];
	static char resp[70000];
	struct pl_stats st;
	struct pl_metrics *m = pl_metrics_start("127.0.0.1:0", err, sizeof(err));

	assert_non_null(m);
	assert_true(pl_metrics_port(m) > 0);
	memset(&st, 0, sizeof(st));
	st.events = 42;
	pl_metrics_update(m, &st);
	get(pl_metrics_port(m), "/metrics", resp, sizeof(resp));
	assert_non_null(strstr(resp, " 200 OK"));
	assert_non_null(strstr(resp, "text/plain; version=0.0.4"));
	assert_non_null(strstr(resp, "\npktlog_events_total 42\n"));
	get(pl_metrics_port(m), "/other", resp, sizeof(resp));
	assert_non_null(strstr(resp, " 404 "));
	pl_metrics_stop(m);
}

static void test_bad_listen(void **s)
{
	char err[256];

	assert_null(pl_metrics_start("localhost", err, sizeof(err)));
	assert_non_null(strstr(err, "metrics.listen: \"localhost\""));
	assert_null(pl_metrics_start("127.0.0.1:99999", err, sizeof(err)));
	assert_null(pl_metrics_start("300.1.1.1:80", err, sizeof(err)));
	struct pl_metrics *m = pl_metrics_start("[::1]:0", err, sizeof(err));
	pl_metrics_stop(m);    /* IPv6 loopback may be off; either way no crash */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_covers_every_counter),
		cmocka_unit_test(test_registry_rows),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_serve),
		cmocka_unit_test(test_bad_listen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
