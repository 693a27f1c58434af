/* kafka_driver.c – bench/kafka's stand-in source: pushes every line of a file through pktlog's
 * own output (pl_output_open/publish/poll/close, the calls the pipeline makes) into Kafka and
 * reports how long it took until the broker acknowledged all of them. Must not touch librdkafka
 * itself: whatever it measures is pktlog's output, spool included.
 *
 *   kafka_driver [--wait] CONFIG DATA_DIR EVENTS_FILE
 *
 * Without --wait it behaves like live capture: it never waits, so whatever librdkafka's queue
 * cannot take goes through the disk spool. With --wait it behaves like the tailer: it stops
 * publishing while pl_output_should_pause() says so, polling the output meanwhile.
 *
 * Prints "driver: N messages in S s (R msgs/s), delivered D, spooled P, failed F". Exit 0 when
 * every line was delivered, 1 otherwise. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "pktlog/config.h"
#include "pktlog/output.h"
#include "pktlog/stats.h"

#define BATCH 64                      /* events between two pl_output_poll, like a pcap batch */
#define DRAIN_TIMEOUT_NS (300ull * 1000000000ull)

static uint64_t acked_ok, acked_bad;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_ack(void *token, int ok, void *arg)
{
	if (ok)
		acked_ok++;
	else
		acked_bad++;
}

static const char *map_file(const char *path, size_t *len)
{
	struct stat sb;
	void *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size == 0) {
		perror(path);
		return NULL;
	}
	p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		perror(path);
		return NULL;
	}
	*len = (size_t)sb.st_size;
	return p;
}

/* Publish every line; returns how many were handed to the output. */
static uint64_t publish_all(struct pl_output *o, const char *buf, size_t len, bool wait)
{
	const char *p = buf, *end = buf + len;
	struct timespec pause = { 0, 100000 };
	uint64_t n = 0;

	while (p < end) {
		while (wait && pl_output_should_pause(o)) {
			nanosleep(&pause, NULL);
			pl_output_poll(o);
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		/* A token per event, as the tailer passes: the ack path is part of the cost. */
		if (l && pl_output_publish(o, p, l, NULL, NULL, (void *)(uintptr_t)(n + 1)) == 0)
			n++;
		if (n % BATCH == 0)
			pl_output_poll(o);
		p += l + 1;
	}
	return n;
}

/* Serve delivery reports and drain the spool until the broker holds every event. */
static int wait_delivered(struct pl_output *o, const struct pl_stats *st, uint64_t n)
{
	uint64_t deadline = now_ns() + DRAIN_TIMEOUT_NS;
	struct timespec pause = { 0, 200000 };

	while (st->output_delivered < n || st->output_inflight || st->spool_bytes) {
		if (now_ns() > deadline)
			return -1;
		pl_output_poll(o);
		nanosleep(&pause, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pl_config cfg = { 0 };
	struct pl_stats st = { 0 };
	struct pl_output *o;
	char err[512];
	const char *buf;
	size_t len;
	uint64_t t0, t1, n;
	bool wait = argc > 1 && strcmp(argv[1], "--wait") == 0;
	int rc;

	argc -= wait;
	argv += wait;
	if (argc != 4) {
		fprintf(stderr, "usage: kafka_driver [--wait] CONFIG DATA_DIR EVENTS_FILE\n");
		return 2;
	}
	pl_log_level_max = PL_LOG_WARN;
	if (pl_config_load(argv[1], &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	free(cfg.data_dir);
	cfg.data_dir = strdup(argv[2]);
	buf = map_file(argv[3], &len);
	if (!buf || !cfg.data_dir)
		return 2;
	t0 = now_ns();
	o = pl_output_open(&cfg, &st, on_ack, NULL);
	if (!o)
		return 1;
	n = publish_all(o, buf, len, wait);
	rc = wait_delivered(o, &st, n);
	t1 = now_ns();
	if (pl_output_close(o) != 0)
		rc = -1;
	printf("driver: %" PRIu64 " messages in %.3f s (%.0f msgs/s), delivered %" PRIu64
	       ", spooled %" PRIu64 ", failed %" PRIu64 ", acked %" PRIu64 "/%" PRIu64 "\n",
	       n, (double)(t1 - t0) / 1e9, (double)n * 1e9 / (double)(t1 - t0),
	       st.output_delivered, st.spool_records, st.output_failed, acked_ok, acked_bad);
	pl_config_free(&cfg);
	return rc == 0 && acked_bad == 0 ? 0 : 1;
}
