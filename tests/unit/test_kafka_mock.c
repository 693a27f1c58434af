/* test_kafka_mock.c – src/output/kafka.c against librdkafka's mock cluster, for faults a real
 * broker cannot stage on demand: a produce request answered with an error, and one answered
 * only after the messages timed out. Adds to tests/integration/test_kafka.py (a real broker),
 * never replaces it. */
#include "unit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include "pktlog/config.h"
#include "pktlog/kafka.h"

#define NEVENTS 200
#define MAXEVENTS 12000              /* more than the spool window (RING in kafka.c) */
#define PRODUCE_API 0                /* Kafka's ApiKey for ProduceRequest */
#define TOPIC "mock"

struct fixture {
	rd_kafka_t *mock_rk;         /* owns the mock cluster */
	rd_kafka_mock_cluster_t *mc;
	char dir[64];
	struct pl_config cfg;
	struct pl_stats st;
	int acks_ok, acks_bad;
	int acked[MAXEVENTS];
};

static void on_ack(void *token, int ok, void *arg)
{
	struct fixture *f = arg;
	int id = (int)(intptr_t)token - 1;

	assert_true(id >= 0 && id < MAXEVENTS);
	f->acked[id]++;
	if (ok)
		f->acks_ok++;
	else
		f->acks_bad++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];

	assert_non_null(f);
	f->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	assert_non_null(f->mock_rk);
	f->mc = rd_kafka_mock_cluster_new(f->mock_rk, 1);
	assert_non_null(f->mc);
	assert_int_equal(rd_kafka_mock_topic_create(f->mc, TOPIC, 1, 1), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/pktlog-kmock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(pl_config_defaults(&f->cfg), 0);
	free(f->cfg.output.kafka.topic);
	free(f->cfg.data_dir);
	f->cfg.output.kafka.brokers = strdup(rd_kafka_mock_cluster_bootstraps(f->mc));
	f->cfg.output.kafka.topic = strdup(TOPIC);
	f->cfg.data_dir = strdup(f->dir);
	f->cfg.output.kafka.message_timeout_ns = 1 * PL_NS_PER_SEC;
	f->cfg.output.kafka.flush_timeout_ns = 2 * PL_NS_PER_SEC;
	f->cfg.output.spool.fsync = PL_SPOOL_FSYNC_NEVER;
	pl_log_level_max = PL_LOG_ERR;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	pl_config_free(&f->cfg);
	rd_kafka_mock_cluster_destroy(f->mc);
	rd_kafka_destroy(f->mock_rk);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	free(f);
	return system(cmd);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void publish(struct fixture *f, struct pl_kafka *k, int n)
{
	for (int i = 0; i < n; i++) {
		char ev[32];
		int len = snprintf(ev, sizeof(ev), "id=%d", i);

		assert_int_equal(pl_kafka_publish(k, ev, (size_t)len, NULL, NULL, (void *)(intptr_t)(i + 1)), 0);
		if (i % 50 == 49)
			pl_kafka_poll(k);
	}
}

/* Poll for ms milliseconds, or (until_done) until n events are delivered and nothing is left. */
static void poll_for(struct fixture *f, struct pl_kafka *k, int n, uint64_t ms, bool until_done)
{
	struct timespec pause = { 0, 5 * 1000000 };
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if (until_done && f->st.output_delivered >= (uint64_t)n && !f->st.output_inflight &&
		    !f->st.spool_bytes)
			break;
		pl_kafka_poll(k);
		nanosleep(&pause, NULL);
	}
}

static void close_and_check_acks(struct fixture *f, struct pl_kafka *k, int n)
{
	assert_int_equal(pl_kafka_close(k), 0);
	/* Every event acknowledged exactly once, and as stored (broker or spool). */
	assert_int_equal(f->acks_ok, n);
	assert_int_equal(f->acks_bad, 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(f->acked[i], 1);
}

/* Publish NEVENTS events "id=N" with a token each, then poll until all are delivered. */
static void run_output(struct fixture *f)
{
	struct pl_kafka *k = pl_kafka_open(&f->cfg, &f->st, on_ack, f);

	assert_non_null(k);
	publish(f, k, NEVENTS);
	poll_for(f, k, NEVENTS, 30000, true);
	close_and_check_acks(f, k, NEVENTS);
}

/* How many times each id is in the mock topic; returns the number of messages read. */
static int read_topic(struct fixture *f, int *count)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
	char errstr[256];
	uint64_t end = now_ms() + 10000;
	rd_kafka_t *c;
	int n = 0;

	rd_kafka_conf_set(conf, "bootstrap.servers", f->cfg.output.kafka.brokers, errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "group.id", "test", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
	c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	assert_non_null(c);
	rd_kafka_topic_partition_list_add(tp, TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(c, tp), 0);
	rd_kafka_topic_partition_list_destroy(tp);
	while (now_ms() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
		int id;

		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_message_destroy(m);
			break;
		}
		assert_int_equal(m->err, 0);
		assert_int_equal(sscanf((const char *)m->payload, "id=%d", &id), 1);
		assert_true(id >= 0 && id < MAXEVENTS);
		count[id]++;
		n++;
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return n;
}

/* The first produce request is refused outright: those events go to the spool and are
 * re-sent from it; the broker never stored them, so each arrives exactly once. */
static void test_produce_error_spools_and_resends(void **state)
{
	struct fixture *f = *state;
	static const rd_kafka_resp_err_t refuse[] = { RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED };
	int count[MAXEVENTS] = { 0 };

	/* The array form: src/dl/rdkafka.c forwards no variadic function it can avoid. */
	rd_kafka_mock_push_request_errors_array(f->mc, PRODUCE_API, 1, refuse);
	run_output(f);
	assert_true(f->st.output_failed > 0);
	assert_true(f->st.spool_records > 0);
	assert_true(f->st.output_retried >= f->st.spool_records);
	assert_int_equal(read_topic(f, count), NEVENTS);
	for (int i = 0; i < NEVENTS; i++)
		assert_int_equal(count[i], 1);
}

/* The broker answers the first produce request only after message_timeout: librdkafka gives
 * up on those messages although the broker may store them. They are spooled and re-sent, so
 * they may arrive twice, but only they: extra copies never exceed the failed reports. */
static void test_late_answer_may_duplicate_only_failed(void **state)
{
	struct fixture *f = *state;
	int count[MAXEVENTS] = { 0 }, n;

	rd_kafka_mock_broker_push_request_error_rtts(f->mc, 1, PRODUCE_API, 1,
						     RD_KAFKA_RESP_ERR_NO_ERROR, 2500);
	run_output(f);
	assert_true(f->st.output_failed > 0);
	n = read_topic(f, count);
	for (int i = 0; i < NEVENTS; i++)
		assert_true(count[i] >= 1);
	assert_true((uint64_t)(n - NEVENTS) <= f->st.output_failed);
}

/* The broker is down for longer than message_timeout while more events than one spool window
 * wait: every window fails and is re-read; once the broker is back all arrive, once each
 * (nothing reached the broker while it was down). */
static void test_outage_longer_than_a_window(void **state)
{
	struct fixture *f = *state;
	static int count[MAXEVENTS];
	struct pl_kafka *k;

	memset(count, 0, sizeof(count));
	rd_kafka_mock_broker_set_down(f->mc, 1);
	k = pl_kafka_open(&f->cfg, &f->st, on_ack, f);
	assert_non_null(k);
	publish(f, k, MAXEVENTS);
	poll_for(f, k, MAXEVENTS, 3500, false);
	assert_int_equal(f->st.output_delivered, 0);
	assert_true(f->st.spool_records > 0);
	rd_kafka_mock_broker_set_up(f->mc, 1);
	poll_for(f, k, MAXEVENTS, 60000, true);
	assert_int_equal(f->st.output_delivered, MAXEVENTS);
	close_and_check_acks(f, k, MAXEVENTS);
	assert_int_equal(read_topic(f, count), MAXEVENTS);
	for (int i = 0; i < MAXEVENTS; i++)
		assert_int_equal(count[i], 1);
}

/* A source that can wait (the tailer) is told to wait while sixteen full batches are
 * undelivered, even with librdkafka's queue nearly empty (src/output/kafka.c explains why),
 * and to go on once they are delivered; nothing goes through the spool meanwhile. */
static void test_waiting_source_pauses_on_undelivered_bytes(void **state)
{
	struct fixture *f = *state;
	static int count[MAXEVENTS];
	struct pl_kafka *k;
	char ev[1100];
	int n = 1800;

	memset(count, 0, sizeof(count));
	f->cfg.output.kafka.message_timeout_ns = 30 * PL_NS_PER_SEC;
	f->cfg.output.kafka.batch_bytes = 100000;   /* 16 batches: 1.6 MB undelivered */
	k = pl_kafka_open(&f->cfg, &f->st, on_ack, f);
	assert_non_null(k);
	assert_false(pl_kafka_should_pause(k));
	assert_int_equal(rd_kafka_mock_broker_set_rtt(f->mc, 1, 400), 0);
	for (int i = 0; i < n; i++) {
		int len = snprintf(ev, sizeof(ev), "id=%d %0990d", i, 0);
		assert_int_equal(pl_kafka_publish(k, ev, (size_t)len, NULL, NULL, (void *)(intptr_t)(i + 1)), 0);
	}
	/* ~1.8 MB undelivered, 1,800 messages of a 100,000-message queue. */
	assert_true(pl_kafka_should_pause(k));
	poll_for(f, k, n, 30000, true);
	assert_false(pl_kafka_should_pause(k));
	assert_int_equal(f->st.spool_records, 0);
	close_and_check_acks(f, k, n);
	assert_int_equal(read_topic(f, count), n);
	for (int i = 0; i < n; i++)
		assert_int_equal(count[i], 1);
}

/* Issue 18: the waiting source is not paused at three batches undelivered: with so short a
 * queue a reader starved of CPU for a moment left librdkafka a part-full next request, and
 * pktlog ran at 0.85-0.89 of kcat on the same events. Five batches undelivered (1.5 MB here,
 * above the 1 MiB floor) go on; beyond sixteen (4.8 MB) the source waits. */
static void test_waiting_source_goes_on_at_five_batches_undelivered(void **state)
{
	struct fixture *f = *state;
	static int count[MAXEVENTS];
	struct pl_kafka *k;
	char ev[1100];
	int i = 0, n5 = 1500, n = 5000;

	memset(count, 0, sizeof(count));
	f->cfg.output.kafka.message_timeout_ns = 60 * PL_NS_PER_SEC;
	f->cfg.output.kafka.batch_bytes = 300000;
	k = pl_kafka_open(&f->cfg, &f->st, on_ack, f);
	assert_non_null(k);
	assert_int_equal(rd_kafka_mock_broker_set_rtt(f->mc, 1, 400), 0);
	for (; i < n; i++) {
		int len = snprintf(ev, sizeof(ev), "id=%d %0990d", i, 0);
		if (i == n5)   /* ~1.5 MB undelivered: five batches */
			assert_false(pl_kafka_should_pause(k));
		assert_int_equal(pl_kafka_publish(k, ev, (size_t)len, NULL, NULL, (void *)(intptr_t)(i + 1)), 0);
	}
	/* ~5 MB undelivered, 5,000 messages of a 100,000-message queue: past 16 batches. */
	assert_true(pl_kafka_should_pause(k));
	poll_for(f, k, n, 60000, true);
	assert_false(pl_kafka_should_pause(k));
	assert_int_equal(f->st.spool_records, 0);
	close_and_check_acks(f, k, n);
	assert_int_equal(read_topic(f, count), n);
	for (int j = 0; j < n; j++)
		assert_int_equal(count[j], 1);
}

/* Events spooled after a failed delivery are acknowledged once the spool is on disk. When the
 * spool drains before its next fsync tick, the emptied segment is fsynced as it is closed: the
 * acks are due then, not at the next outage or at close (test_kafka_cluster.py found a tailer's
 * offsets stuck that way, and a tailer stops reading at tail.max_inflight). */
static void test_spooled_acks_after_a_drain_before_the_fsync_tick(void **state)
{
	struct fixture *f = *state;
	static const rd_kafka_resp_err_t refuse[] = { RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED };
	struct pl_kafka *k;

	f->cfg.output.spool.fsync = PL_SPOOL_FSYNC_INTERVAL;
	f->cfg.output.spool.fsync_interval_ns = 60 * PL_NS_PER_SEC;
	rd_kafka_mock_push_request_errors_array(f->mc, PRODUCE_API, 1, refuse);
	k = pl_kafka_open(&f->cfg, &f->st, on_ack, f);
	assert_non_null(k);
	publish(f, k, NEVENTS);
	poll_for(f, k, NEVENTS, 30000, true);
	assert_true(f->st.spool_records > 0);
	assert_int_equal(f->st.spool_bytes, 0);
	poll_for(f, k, NEVENTS, 200, false);
	assert_int_equal(f->acks_ok, NEVENTS);
	close_and_check_acks(f, k, NEVENTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_produce_error_spools_and_resends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_answer_may_duplicate_only_failed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_outage_longer_than_a_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiting_source_pauses_on_undelivered_bytes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_waiting_source_goes_on_at_five_batches_undelivered,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_spooled_acks_after_a_drain_before_the_fsync_tick,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
