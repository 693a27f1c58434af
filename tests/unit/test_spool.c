/* test_spool.c – unit tests for src/output/spool.c: order, restart, bounds, damage. */
#include "unit.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "pktlog/spool.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/pktlog-spool-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static struct pl_spool *open_spool(struct pl_stats *st, uint64_t max, uint32_t seg)
{
	struct pl_spool_opts o = { dir, max, seg, PL_SPOOL_FSYNC_ALWAYS, PL_NS_PER_SEC };
	struct pl_spool *s = pl_spool_open(&o, st);

	assert_non_null(s);
	return s;
}

static void put(struct pl_spool *s, int i)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "event-%04d", i);

	assert_int_equal(pl_spool_append(s, buf, (size_t)n, "k", 1, "topic", 5), PL_SPOOL_OK);
}

/* Read everything unread; returns the number of records, checks they are first, first+1, ... */
static int drain(struct pl_spool *s, int first)
{
	struct pl_spool_rec r;
	char want[64];
	int n = 0;

	while (pl_spool_read(s, &r) == 1) {
		int len = snprintf(want, sizeof(want), "event-%04d", first + n);
		assert_int_equal(r.len, (size_t)len);
		assert_memory_equal(r.payload, want, r.len);
		assert_int_equal(r.tlen, 5);
		assert_memory_equal(r.topic, "topic", 5);
		assert_int_equal(r.klen, 1);
		n++;
		pl_spool_ack(s, r.next);
	}
	return n;
}

static void test_order(void **state)
{
	struct pl_stats st = { 0 };
	struct pl_spool *s = open_spool(&st, 1 << 20, 4096);

	for (int i = 0; i < 500; i++)   /* several segments */
		put(s, i);
	assert_false(pl_spool_at_end(s));
	assert_int_equal(drain(s, 0), 500);
	assert_true(pl_spool_at_end(s));
	put(s, 500);
	assert_int_equal(drain(s, 500), 1);
	assert_int_equal(st.spool_records, 501);
	assert_int_equal(st.spool_corrupt, 0);
	pl_spool_close(s);
}

static void test_restart(void **state)
{
	struct pl_stats st = { 0 };
	struct pl_spool *s = open_spool(&st, 1 << 20, 4096);
	struct pl_spool_rec r;

	for (int i = 0; i < 300; i++)
		put(s, i);
	/* Deliver 100, read 50 more without delivering them: they must come back. */
	for (int i = 0; i < 150; i++) {
		assert_int_equal(pl_spool_read(s, &r), 1);
		if (i < 100)
			pl_spool_ack(s, r.next);
	}
	pl_spool_close(s);
	s = open_spool(&st, 1 << 20, 4096);
	assert_int_equal(drain(s, 100), 200);
	pl_spool_close(s);
	s = open_spool(&st, 1 << 20, 4096);
	assert_true(pl_spool_at_end(s));
	assert_int_equal(pl_spool_bytes(s), 0);
	pl_spool_close(s);
}

static void test_rewind(void **state)
{
	struct pl_stats st = { 0 };
	struct pl_spool *s = open_spool(&st, 1 << 20, 4096);
	struct pl_spool_rec r;
	struct pl_spool_pos p;

	for (int i = 0; i < 10; i++)
		put(s, i);
	p = pl_spool_read_pos(s);
	for (int i = 0; i < 5; i++)
		assert_int_equal(pl_spool_read(s, &r), 1);
	pl_spool_rewind(s, p);
	assert_int_equal(drain(s, 0), 10);
	pl_spool_close(s);
}

static void test_full(void **state)
{
	struct pl_stats st = { 0 };
	struct pl_spool *s = open_spool(&st, 65536, 4096);
	int n = 0;
	char big[100] = { 0 };

	while (pl_spool_append(s, big, sizeof(big), NULL, 0, "t", 1) == PL_SPOOL_OK)
		n++;
	assert_true(n > 500);
	assert_true(pl_spool_bytes(s) <= 65536);
	assert_true(pl_spool_should_pause(s));
	assert_int_equal(pl_spool_append(s, big, sizeof(big), NULL, 0, "t", 1), PL_SPOOL_FULL);
	/* Delivering frees whole segments, and then there is room again. */
	for (int i = 0; i < n / 2; i++)
		assert_int_equal(pl_spool_read(s, &(struct pl_spool_rec){ 0 }), 1);
	pl_spool_ack(s, pl_spool_read_pos(s));
	assert_int_equal(pl_spool_append(s, big, sizeof(big), NULL, 0, "t", 1), PL_SPOOL_OK);
	assert_int_equal(pl_spool_append(s, big, PL_SPOOL_MAX_RECORD, NULL, 0, "t", 1), PL_SPOOL_TOO_BIG);
	pl_spool_close(s);
}

static void corrupt_byte(const char *name, off_t off)
{
	char path[128];
	int fd;
	unsigned char b;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x55;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void test_corrupt_record(void **state)
{
	struct pl_stats st = { 0 };
	struct pl_spool *s = open_spool(&st, 1 << 20, 1 << 16);
	struct pl_spool_rec r;
	int n = 0;

	for (int i = 0; i < 10; i++)
		put(s, i);
	pl_spool_close(s);
	/* Each record is 12 + 4 + 1 + 5 + 10 = 32 bytes: damage the payload of the 4th. */
	corrupt_byte("00000000000000000001.seg", 3 * 32 + 25);
	s = open_spool(&st, 1 << 20, 1 << 16);
	while (pl_spool_read(s, &r) == 1)
		n++;
	assert_int_equal(n, 9);
	assert_int_equal(st.spool_corrupt, 1);
	pl_spool_close(s);
}

static void test_torn_tail(void **state)
{
	struct pl_stats st = { 0 };
	struct pl_spool *s = open_spool(&st, 1 << 20, 1 << 16);
	struct pl_spool_rec r;
	char path[128];
	int n = 0;

	for (int i = 0; i < 10; i++)
		put(s, i);
	pl_spool_close(s);
	snprintf(path, sizeof(path), "%s/00000000000000000001.seg", dir);
	assert_int_equal(truncate(path, 10 * 32 - 7), 0);   /* a crash mid-write */
	s = open_spool(&st, 1 << 20, 1 << 16);
	put(s, 9);                                          /* goes to a new segment */
	while (pl_spool_read(s, &r) == 1)
		n++;
	assert_int_equal(n, 10);
	assert_int_equal(st.spool_corrupt, 1);
	pl_spool_close(s);
}

static void test_parse_bounds(void **state)
{
	uint8_t rec[64];
	struct pl_spool_rec r;
	size_t next = 0;

	pl_spool_encode_header(rec, "abc", 3, "k", 1, "t", 1);
	memcpy(rec + 16, "ktabc", 5);
	assert_int_equal(pl_spool_parse(rec, 21, 0, &r, &next), PL_SPOOL_REC_OK);
	assert_int_equal(next, 21);
	assert_int_equal(r.len, 3);
	for (size_t len = 0; len < 21; len++)
		assert_int_not_equal(pl_spool_parse(rec, len, 0, &r, &next), PL_SPOOL_REC_OK);
	assert_int_equal(pl_spool_parse(rec, 21, 21, &r, &next), PL_SPOOL_REC_END);
	assert_int_equal(pl_spool_resync(rec, 21, 0), 21);
	/* CRC32C check value from RFC 3720. */
	assert_int_equal(pl_spool_crc32c(0, "123456789", 9), 0xe3069283);
}

/* Bit at a time, straight from the polynomial: the reference for every length and alignment. */
static uint32_t crc_ref(const uint8_t *p, size_t len)
{
	uint32_t c = ~0u;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

static void test_crc_lengths(void **state)
{
	uint8_t buf[300];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += 13)
			assert_int_equal(pl_spool_crc32c(0, buf + off, len), crc_ref(buf + off, len));
	/* Chained calls equal one call over the whole. */
	assert_int_equal(pl_spool_crc32c(pl_spool_crc32c(0, buf, 101), buf + 101, 199),
			 crc_ref(buf, 300));
}

/* Once everything is delivered the spool holds no bytes, and appends carry on after it. */
static void test_idle_spool_is_empty(void **state)
{
	struct pl_stats st = { 0 };
	struct pl_spool *s = open_spool(&st, 1 << 20, 4096);

	for (int i = 0; i < 5; i++)
		put(s, i);
	assert_int_equal(drain(s, 0), 5);
	assert_int_equal(pl_spool_bytes(s), 0);
	assert_int_equal(st.spool_bytes, 0);
	assert_true(pl_spool_at_end(s));
	for (int i = 5; i < 8; i++)
		put(s, i);
	assert_false(pl_spool_at_end(s));
	assert_int_equal(drain(s, 5), 3);
	put(s, 8);
	pl_spool_close(s);
	s = open_spool(&st, 1 << 20, 4096);
	assert_int_equal(drain(s, 8), 1);
	pl_spool_close(s);
}

/* A segment that cannot grow (RLIMIT_FSIZE: a real write failure, partway through a record):
 * the append fails with the errno of the failing write, not a stale one (a short writev sets
 * none), the segment keeps only whole records, and every record appended before reads back. */
static void test_write_error_errno_and_whole_records(void **state)
{
	struct pl_stats st = { 0 };
	struct pl_spool *s = open_spool(&st, 1 << 20, 1 << 20);
	struct rlimit old, lim;
	char logbuf[4096] = { 0 };
	int logfd[2], saved_err = dup(STDERR_FILENO), ok = 0, rc = PL_SPOOL_OK;
	char payload[300];

	memset(payload, 'p', sizeof(payload));
	assert_int_equal(pipe(logfd), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1000;                  /* three records of ~320 bytes, then part of one */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	dup2(logfd[1], STDERR_FILENO);
	errno = ENOTTY;                       /* what the log showed */
	for (int i = 0; i < 10 && rc == PL_SPOOL_OK; i++) {
		rc = pl_spool_append(s, payload, sizeof(payload), "k", 1, "topic", 5);
		ok += rc == PL_SPOOL_OK;
	}
	dup2(saved_err, STDERR_FILENO);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	close(logfd[1]);
	assert_true(read(logfd[0], logbuf, sizeof(logbuf) - 1) > 0);
	close(logfd[0]);
	close(saved_err);
	assert_int_equal(rc, PL_SPOOL_IO);
	assert_int_equal(ok, 3);
	assert_non_null(strstr(logbuf, "write failed: File too large"));
	assert_null(strstr(logbuf, "Inappropriate ioctl"));
	assert_true(pl_spool_should_pause(s));   /* a source that can wait waits a moment */
	assert_int_equal(st.spool_records, 3);
	assert_int_equal(st.output_errors, 1);
	struct pl_spool_rec r;
	int n = 0;
	while (pl_spool_read(s, &r) == 1) {
		assert_int_equal(r.len, sizeof(payload));
		n++;
	}
	assert_int_equal(n, 3);
	assert_int_equal(st.spool_corrupt, 0);
	pl_spool_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test(test_crc_lengths),
		cmocka_unit_test_setup_teardown(test_idle_spool_is_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error_errno_and_whole_records, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
