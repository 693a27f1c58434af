/* test_output.c – the output face and its rows (src/output/output.c, writer.c) and the
 * event → output stage (src/output/publish.c): acks, counters and records through the ops
 * table, a write failure that is final, topics and rendering of the publisher. Kafka's row
 * is tested against a real broker by tests/integration/test_kafka.py. */
#include "unit.h"
#include <stdint.h>
#include <unistd.h>
#include "pktlog/config.h"
#include "pktlog/output.h"
#include "pktlog/publish.h"

struct fixture {
	char dir[64];
	char path[128];
	struct pl_config cfg;
	struct pl_stats st;
	int acks_ok, acks_bad;
};

static void on_ack(void *token, int ok, void *arg)
{
	struct fixture *f = arg;

	assert_non_null(token);
	if (ok)
		f->acks_ok++;
	else
		f->acks_bad++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/pktlog-output-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/events.json", f->dir);
	assert_int_equal(pl_config_defaults(&f->cfg), 0);
	pl_log_level_max = PL_LOG_ERR - 1;   /* the failures below are expected: quiet */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pl_config_free(&f->cfg);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void use_file(struct fixture *f, const char *path)
{
	free(f->cfg.output.file_path);
	f->cfg.output.file_path = strdup(path);
	assert_non_null(f->cfg.output.file_path);
	f->cfg.output.type = PL_OUTPUT_FILE;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(fp);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 16) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* The file row: records are written whole, each acked once with 1, and counted. */
static void test_file_row_writes_acks_and_counts(void **state)
{
	struct fixture *f = *state;
	struct pl_output *o;
	char *text;

	use_file(f, f->path);
	o = pl_output_open(&f->cfg, &f->st, on_ack, f);
	assert_non_null(o);
	assert_int_equal(f->st.output_healthy, 1);
	assert_int_equal(pl_output_publish(o, "{\"a\":1}", 7, NULL, NULL, (void *)(intptr_t)1), 0);
	assert_int_equal(pl_output_publish(o, "{\"b\":2}", 7, "key", "topic", NULL), 0);
	assert_int_equal(pl_output_publish(o, "{\"c\":3}", 7, NULL, NULL, (void *)(intptr_t)3), 0);
	assert_int_equal(f->acks_ok, 0);                 /* buffered: not durable yet */
	assert_int_equal(pl_output_flush(o), 0);
	assert_int_equal(f->acks_ok, 2);
	assert_false(pl_output_should_pause(o));
	assert_false(pl_output_broken(o));
	assert_int_equal(pl_output_close(o), 0);
	assert_int_equal(f->st.output_accepted, 3);
	assert_int_equal(f->st.output_written, 3);
	assert_int_equal(f->st.output_dropped, 0);
	text = slurp(f->path);
	assert_string_equal(text, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
	free(text);
}

/* The null row: accepted, written and acked at once; nothing fails. */
static void test_null_row_acks_at_once(void **state)
{
	struct fixture *f = *state;
	struct pl_output *o;

	f->cfg.output.type = PL_OUTPUT_NULL;
	o = pl_output_open(&f->cfg, &f->st, on_ack, f);
	assert_non_null(o);
	assert_int_equal(pl_output_publish(o, "x", 1, NULL, NULL, (void *)(intptr_t)1), 0);
	assert_int_equal(f->acks_ok, 1);
	assert_int_equal(pl_output_flush(o), 0);
	pl_output_poll(o);
	assert_int_equal(pl_output_close(o), 0);
	assert_int_equal(f->st.output_accepted, 1);
	assert_int_equal(f->st.output_written, 1);
}

/* A replay's write failure is final: the output is broken, the record is acked with 0,
 * counted dropped, and close says so. /dev/full refuses every write (ENOSPC). */
static void test_failed_write_is_final_outside_retry(void **state)
{
	struct fixture *f = *state;
	struct pl_output *o;

	use_file(f, "/dev/full");
	o = pl_output_open(&f->cfg, &f->st, on_ack, f);
	assert_non_null(o);
	pl_output_set_retry(o, false);
	assert_int_equal(pl_output_publish(o, "x", 1, NULL, NULL, (void *)(intptr_t)1), 0);
	assert_int_equal(pl_output_flush(o), -1);
	assert_true(pl_output_broken(o));
	assert_true(pl_output_should_pause(o));
	assert_int_equal(f->acks_bad, 1);
	assert_int_equal(f->acks_ok, 0);
	assert_int_equal(f->st.output_errors, 1);
	assert_int_equal(f->st.output_dropped, 1);
	assert_int_equal(f->st.output_healthy, 0);
	assert_int_equal(pl_output_publish(o, "y", 1, NULL, NULL, NULL), -1);
	assert_int_equal(f->st.output_dropped, 2);
	assert_int_equal(pl_output_close(o), -1);
}

/* A file that cannot be opened: NULL, nothing left open. */
static void test_open_failure(void **state)
{
	struct fixture *f = *state;
	char bad[160];

	snprintf(bad, sizeof(bad), "%s/no/such/dir/events.json", f->dir);
	use_file(f, bad);
	assert_null(pl_output_open(&f->cfg, &f->st, on_ack, f));
}

/* output.kafka.topic's %{type} is expanded per event type, and SIGHUP's new pattern
 * replaces the names. */
static void test_publisher_topics(void **state)
{
	struct fixture *f = *state;
	struct pl_publisher pub;

	f->cfg.output.type = PL_OUTPUT_NULL;
	free(f->cfg.output.kafka.topic);
	f->cfg.output.kafka.topic = strdup("pk-%{type}-x");
	assert_int_equal(pl_publisher_open(&pub, &f->cfg, &f->st, on_ack, f), 0);
	assert_string_equal(pub.topics.by_type[PL_EV_HTTP], "pk-http-x");
	assert_string_equal(pub.topics.by_type[PL_EV_MYSQL], "pk-mysql-x");
	assert_string_equal(pub.topics.by_type[PL_EV_TLS], "pk-tls-x");
	assert_string_equal(pub.topics.log, "pk-log-x");
	assert_int_equal(pl_publisher_set_topics(&pub, "plain"), 0);
	assert_string_equal(pub.topics.by_type[PL_EV_HTTP], "plain");
	assert_string_equal(pub.topics.log, "plain");
	assert_int_equal(pl_publisher_close(&pub), 0);
	assert_null(pub.topics.by_type[PL_EV_HTTP]);
	assert_int_equal(pl_publisher_close(&pub), 0);   /* twice is fine: the clean-up path */
}

/* pl_publish renders the event with the thread's host name, counts it in the thread's
 * counters and hands it to the output; records of other sources go out as they are. */
static void test_publish_renders_and_counts(void **state)
{
	struct fixture *f = *state;
	struct pl_publisher pub;
	struct pl_stats mine = { 0 };
	struct pl_render r;
	struct pl_event ev = { .type = PL_EV_HTTP, .ok = true, .af = 4,
			       .community_id = "1:abc" };
	char *text;

	use_file(f, f->path);
	assert_int_equal(pl_publisher_open(&pub, &f->cfg, &f->st, on_ack, f), 0);
	assert_int_equal(pl_render_init(&r, &pub, &mine, "host-a"), 0);
	pl_publish(&ev, &r);
	assert_int_equal(pl_publish_record(&pub, "{\"line\":1}", 10, NULL, NULL,
					   (void *)(intptr_t)7), 0);
	assert_int_equal(pl_publisher_flush(&pub), 0);
	assert_false(pl_publisher_broken(&pub));
	assert_int_equal(pl_publisher_close(&pub), 0);
	pl_render_free(&r);
	assert_int_equal(mine.events, 1);
	assert_int_equal(mine.events_truncated, 0);
	assert_int_equal(f->st.output_written, 2);
	assert_int_equal(f->acks_ok, 1);
	text = slurp(f->path);
	assert_non_null(strstr(text, "\"host\":{\"name\":\"host-a\"}"));
	assert_non_null(strstr(text, "\"community_id\":\"1:abc\""));
	assert_non_null(strstr(text, "\n{\"line\":1}\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_row_writes_acks_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_row_acks_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_is_final_outside_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publisher_topics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_renders_and_counts, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
