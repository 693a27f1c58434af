/* test_tail.c – unit tests of the tailer: globs, line splitting, multiline joining, container
 * formats (Docker, CRI, auto, metadata), the offset registry and file identity, rendering,
 * rate-limited warnings, and the tailer loop against a fake output (symlink loops, more files
 * than descriptors, pauses that must not make it read a byte twice). */
#include "unit.h"
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "pktlog/event.h"
#include "pktlog/tail.h"
#include "../../src/tail/render.h"

/* ---- helpers ---- */

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

#define MAX_GOT 64

struct got {
	char text[MAX_GOT][256];
	uint64_t off[MAX_GOT], end[MAX_GOT];
	bool trunc[MAX_GOT], split[MAX_GOT];
	int n;
};

static void collect(void *arg, const struct pl_tail_line *l)
{
	struct got *g = arg;

	assert_true(g->n < MAX_GOT);
	snprintf(g->text[g->n], sizeof(g->text[0]), "%.*s", (int)l->len, l->p);
	g->off[g->n] = l->off;
	g->end[g->n] = l->end;
	g->trunc[g->n] = l->truncated;
	g->split[g->n] = l->split;
	g->n++;
}

/* ---- glob ---- */

static void test_glob(void **state)
{
	char base[256];

	(void)state;
	assert_true(pl_tail_glob_match("/var/log/*.log", "/var/log/app.log"));
	assert_false(pl_tail_glob_match("/var/log/*.log", "/var/log/sub/app.log"));
	assert_false(pl_tail_glob_match("/var/log/*.log", "/var/log/app.log.1"));
	assert_true(pl_tail_glob_match("/var/log/**/*.log", "/var/log/app.log"));
	assert_true(pl_tail_glob_match("/var/log/**/*.log", "/var/log/a/b/c/app.log"));
	assert_false(pl_tail_glob_match("/var/log/**/*.log", "/var/log/a/.hidden/app.log"));
	assert_true(pl_tail_glob_match("logs/*/x.log", "logs/a/x.log"));
	assert_false(pl_tail_glob_match("logs/*/x.log", "/logs/a/x.log"));
	assert_true(pl_tail_glob_dir_may_match("/var/log/*/x.log", "/var/log/nginx"));
	assert_false(pl_tail_glob_dir_may_match("/var/log/*/x.log", "/var/log/nginx/deeper"));
	assert_true(pl_tail_glob_dir_may_match("/var/log/**/x.log", "/var/log/a/b/c"));
	assert_false(pl_tail_glob_dir_may_match("/var/log/*.log", "/etc"));
	pl_tail_glob_base("/var/log/**/*.log", base, sizeof(base));
	assert_string_equal(base, "/var/log");
	pl_tail_glob_base("/var/log/app.log", base, sizeof(base));
	assert_string_equal(base, "/var/log");
	pl_tail_glob_base("*.log", base, sizeof(base));
	assert_string_equal(base, ".");
	pl_tail_glob_base("/x*", base, sizeof(base));
	assert_string_equal(base, "/");
}

/* ---- line splitting ---- */

static void test_lines_basic(void **state)
{
	struct pl_tail_lines ls;
	struct got g = { .n = 0 };
	const char *a = "one\ntwo\r\nthr", *b = "ee\n\nfour";

	(void)state;
	pl_tail_lines_init(&ls, 100, false, 10);
	assert_int_equal(pl_tail_lines_feed(&ls, a, strlen(a), 10, collect, &g), 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.text[0], "one");
	assert_int_equal(g.off[0], 10);
	assert_int_equal(g.end[0], 14);
	assert_string_equal(g.text[1], "two"); /* CR dropped */
	assert_int_equal(g.end[1], 19);
	assert_int_equal(pl_tail_lines_feed(&ls, b, strlen(b), 10 + strlen(a), collect, &g), 0);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.text[2], "three");
	assert_int_equal(g.off[2], 19);
	assert_int_equal(g.end[2], 25);
	assert_string_equal(g.text[3], "");
	assert_int_equal(g.end[3], 26);
	/* "four" waits for its newline. */
	pl_tail_lines_free(&ls);
}

static void test_lines_split(void **state)
{
	struct pl_tail_lines ls;
	struct got g = { .n = 0 };
	const char *s = "abcdefghij\n0123456789ab\nxyz\n";

	(void)state;
	pl_tail_lines_init(&ls, 5, false, 0);
	assert_int_equal(pl_tail_lines_feed(&ls, s, strlen(s), 0, collect, &g), 0);
	assert_int_equal(g.n, 6);
	assert_string_equal(g.text[0], "abcde");
	assert_true(g.split[0]);
	assert_int_equal(g.end[0], 5);
	assert_string_equal(g.text[1], "fghij"); /* exactly full: no empty extra piece */
	assert_int_equal(g.end[1], 11);
	assert_string_equal(g.text[2], "01234");
	assert_string_equal(g.text[3], "56789");
	assert_string_equal(g.text[4], "ab");
	assert_int_equal(g.end[4], 24);
	assert_string_equal(g.text[5], "xyz");
	assert_false(g.split[5]);
	pl_tail_lines_free(&ls);
}

static void test_lines_truncate(void **state)
{
	struct pl_tail_lines ls;
	struct got g = { .n = 0 };
	const char *s = "abcdefghij\nabcde\nxy\n";
	uint64_t off = 0;

	(void)state;
	pl_tail_lines_init(&ls, 5, true, 0);
	/* Byte by byte: the partial path must behave the same as the in-place one. */
	for (size_t i = 0; i < strlen(s); i++, off++)
		assert_int_equal(pl_tail_lines_feed(&ls, s + i, 1, off, collect, &g), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.text[0], "abcde");
	assert_true(g.trunc[0]);
	assert_int_equal(g.off[0], 0);
	assert_int_equal(g.end[0], 11);
	assert_string_equal(g.text[1], "abcde");
	assert_false(g.trunc[1]);
	assert_string_equal(g.text[2], "xy");
	assert_int_equal(g.end[2], 20);
	pl_tail_lines_free(&ls);
}

/* ---- multiline ---- */

static void ml_feed(struct pl_tail_ml *ml, struct pl_tail_rec *r, const char *const *lines, int n,
		    struct got *g)
{
	uint64_t off = 0;

	for (int i = 0; i < n; i++) {
		size_t len = strlen(lines[i]);
		struct pl_tail_line l = { lines[i], len, off, off + len + 1, false, false, 0, 0, NULL };
		assert_int_equal(pl_tail_ml_add(ml, r, &l, 1000, collect, g), 0);
		off += len + 1;
	}
}

static void test_multiline_indent(void **state)
{
	static const char *const lines[] = {
		"Exception in thread main", "\tat a.b(C.java:1)", "  at d.e(F.java:2)", "next event", "third",
	};
	struct pl_tail_ml ml;
	struct pl_tail_rec r = { 0 };
	struct got g = { .n = 0 };
	char err[128];

	(void)state;
	assert_int_equal(pl_tail_ml_init(&ml, PL_TAIL_ML_INDENT, NULL, 500, 4096, 5 * PL_NS_PER_SEC,
					 err, sizeof(err)), 0);
	ml_feed(&ml, &r, lines, 5, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.text[0], "Exception in thread main\n\tat a.b(C.java:1)\n  at d.e(F.java:2)");
	assert_int_equal(g.off[0], 0);
	assert_int_equal(g.end[0], g.off[1]);
	assert_string_equal(g.text[1], "next event");
	/* "third" waits: not expired before the timeout, then flushed. */
	assert_false(pl_tail_ml_expired(&ml, &r, 1000 + PL_NS_PER_SEC));
	assert_true(pl_tail_ml_expired(&ml, &r, 1000 + 5 * PL_NS_PER_SEC));
	pl_tail_ml_flush(&r, collect, &g);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.text[2], "third");
	pl_tail_rec_free(&r);
	pl_tail_ml_free(&ml);
}

static void test_multiline_pattern(void **state)
{
	static const char *const lines[] = {
		"2026-01-01 start", "cont 1", "cont 2", "cont 3", "2026-01-02 next", "c",
	};
	struct pl_tail_ml ml;
	struct pl_tail_rec r = { 0 };
	struct got g = { .n = 0 };
	char err[128];

	(void)state;
	assert_int_equal(pl_tail_ml_init(&ml, PL_TAIL_ML_PATTERN, "(", 3, 4096, PL_NS_PER_SEC,
					 err, sizeof(err)), -1);
	assert_int_equal(pl_tail_ml_init(&ml, PL_TAIL_ML_PATTERN, "^[0-9]{4}-", 3, 4096, PL_NS_PER_SEC,
					 err, sizeof(err)), 0);
	ml_feed(&ml, &r, lines, 6, &g);
	pl_tail_ml_flush(&r, collect, &g);
	assert_int_equal(g.n, 3);
	/* max_lines 3: the fourth line starts a record of its own. */
	assert_string_equal(g.text[0], "2026-01-01 start\ncont 1\ncont 2");
	assert_string_equal(g.text[1], "cont 3");
	assert_string_equal(g.text[2], "2026-01-02 next\nc");
	pl_tail_rec_free(&r);
	pl_tail_ml_free(&ml);
}

static void test_multiline_max_bytes(void **state)
{
	static const char *const lines[] = { "abcdef", " ghijkl", " mnop" };
	struct pl_tail_ml ml;
	struct pl_tail_rec r = { 0 };
	struct got g = { .n = 0 };
	char err[128];

	(void)state;
	assert_int_equal(pl_tail_ml_init(&ml, PL_TAIL_ML_INDENT, NULL, 10, 10, PL_NS_PER_SEC,
					 err, sizeof(err)), 0);
	ml_feed(&ml, &r, lines, 3, &g);
	pl_tail_ml_flush(&r, collect, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.text[0], "abcdef\n gh");
	assert_true(g.trunc[0]);
	pl_tail_rec_free(&r);
	pl_tail_ml_free(&ml);
}

/* ---- registry and identity ---- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tail.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, bool append)
{
	int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_registry(void **state)
{
	struct pl_tail_reg *r;
	struct pl_tail_id id = { 1, 42, 0xdeadbeefcafeULL, 17 }, got;
	uint64_t off = 0;

	(void)state;
	r = pl_tail_reg_open(tmpdir);
	assert_non_null(r);
	assert_int_equal(pl_tail_reg_get(r, 1, 42, &got, &off), 0);
	assert_int_equal(pl_tail_reg_begin(r), 0);
	assert_int_equal(pl_tail_reg_put(r, &id, "/x/a.log", 1234), 0);
	assert_int_equal(pl_tail_reg_put(r, &(struct pl_tail_id){ 1, 43, 1, 1 }, "/x/b.log", 5), 0);
	assert_int_equal(pl_tail_reg_commit(r), 0);
	pl_tail_reg_close(r);

	/* Reopened: what was committed is there. */
	r = pl_tail_reg_open(tmpdir);
	assert_non_null(r);
	assert_int_equal(pl_tail_reg_get(r, 1, 42, &got, &off), 1);
	assert_int_equal(off, 1234);
	assert_true(got.fp == id.fp && got.fp_len == 17);
	assert_int_equal(pl_tail_reg_count(r), 2);
	assert_int_equal(pl_tail_reg_begin(r), 0);
	assert_int_equal(pl_tail_reg_put(r, &id, "/x/a.log", 2000), 0); /* update in place */
	assert_int_equal(pl_tail_reg_del(r, 1, 43), 0);
	assert_int_equal(pl_tail_reg_commit(r), 0);
	assert_int_equal(pl_tail_reg_get(r, 1, 42, &got, &off), 1);
	assert_int_equal(off, 2000);
	assert_int_equal(pl_tail_reg_count(r), 1);
	/* Rows written before a time are dropped, later ones kept. */
	assert_int_equal(pl_tail_reg_begin(r), 0);
	assert_int_equal(pl_tail_reg_prune(r, 1000), 0);
	assert_int_equal(pl_tail_reg_prune(r, INT64_MAX), 1);
	assert_int_equal(pl_tail_reg_commit(r), 0);
	assert_int_equal(pl_tail_reg_count(r), 0);
	pl_tail_reg_close(r);
	assert_null(pl_tail_reg_open("/proc/no/such/dir"));
}

static void test_identity(void **state)
{
	char path[128];
	struct pl_tail_id id = { 0 };
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/id.log", tmpdir);
	write_file(path, "first file line 1\n", false);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pl_tail_fp_read(fd, &id), 0);
	assert_int_equal(id.fp_len, 18);
	assert_true(pl_tail_fp_same(fd, &id));
	/* Growing keeps the identity: only the first fp_len bytes count. */
	write_file(path, "more\n", true);
	assert_true(pl_tail_fp_same(fd, &id));
	close(fd);
	/* Deleted and a new file made (maybe on the same inode): a different head. */
	unlink(path);
	write_file(path, "second file line 1\n", false);
	fd = open(path, O_RDONLY);
	assert_false(pl_tail_fp_same(fd, &id));
	close(fd);
	/* Shorter than the stored head: not the same file either. */
	write_file(path, "first", false);
	fd = open(path, O_RDONLY);
	assert_false(pl_tail_fp_same(fd, &id));
	close(fd);
	assert_int_not_equal(pl_tail_fp_hash("a", 1), pl_tail_fp_hash("b", 1));
}

/* ---- container formats ---- */

struct cgot {
	char text[MAX_GOT][512];
	size_t len[MAX_GOT];
	uint64_t off[MAX_GOT], end[MAX_GOT], ts[MAX_GOT];
	uint8_t stream[MAX_GOT];
	bool trunc[MAX_GOT];
	const char *err[MAX_GOT];
	int n;
};

static void ccollect(void *arg, const struct pl_tail_line *l)
{
	struct cgot *g = arg;

	assert_true(g->n < MAX_GOT);
	snprintf(g->text[g->n], sizeof(g->text[0]), "%.*s", (int)l->len, l->p);
	g->len[g->n] = l->len;
	g->off[g->n] = l->off;
	g->end[g->n] = l->end;
	g->ts[g->n] = l->ts_ns;
	g->stream[g->n] = l->stream;
	g->trunc[g->n] = l->truncated;
	g->err[g->n] = l->error;
	g->n++;
}

/* Feed whole lines (each followed by '\n' in the "file") through lines.c and a decoder. */
struct cfeed {
	struct pl_tail_cdec d;
	struct cgot *g;
};

static void cfeed_line(void *arg, const struct pl_tail_line *l)
{
	struct cfeed *c = arg;

	assert_int_equal(pl_tail_cdec_line(&c->d, l, ccollect, c->g), 0);
}

static void cdecode(int format, uint32_t max, const char *text, struct cgot *g)
{
	struct cfeed c = { .g = g };
	struct pl_tail_lines ls;

	memset(g, 0, sizeof(*g));
	pl_tail_cdec_init(&c.d, format, max);
	pl_tail_lines_init(&ls, 1 << 20, false, 0);
	assert_int_equal(pl_tail_lines_feed(&ls, text, strlen(text), 0, cfeed_line, &c), 0);
	pl_tail_lines_free(&ls);
	pl_tail_cdec_free(&c.d);
}

static void test_parse_time(void **state)
{
	uint64_t ns;

	(void)state;
	assert_true(pl_tail_parse_time("2026-11-23T11:32:04.123456789Z", 30, &ns));
	assert_true(ns == 1795433524123456789ULL);
	assert_true(pl_tail_parse_time("2026-11-23T11:32:04Z", 20, &ns));
	assert_true(ns == 1795433524000000000ULL);
	assert_true(pl_tail_parse_time("2026-11-23T12:32:04.5+01:00", 27, &ns));
	assert_true(ns == 1795433524500000000ULL);
	assert_true(pl_tail_parse_time("2026-11-23T11:32:04.1234567891Z", 31, &ns));
	assert_true(ns == 1795433524123456789ULL);
	assert_false(pl_tail_parse_time("2026-11-23 11:32:04Z", 20, &ns));
	assert_false(pl_tail_parse_time("2026-13-23T11:32:04Z", 20, &ns));
	assert_false(pl_tail_parse_time("2026-11-23T11:32:04.Z", 21, &ns));
	assert_false(pl_tail_parse_time("2026-11-23T11:32:04", 19, &ns));
	assert_false(pl_tail_parse_time("2026-11-23T11:32:04+0100", 24, &ns));
}

static void test_docker_format(void **state)
{
	static struct cgot g;
	const char *log =
		"{\"log\":\"hello \\\"w\\\" \\u00e9 \\ud83d\\ude00 \\\\\\n\",\"stream\":\"stdout\","
		"\"time\":\"2026-11-23T11:32:04.123456789Z\"}\n"
		/* a 3-piece line on stderr, a stdout line between its pieces */
		"{\"log\":\"part1-\",\"stream\":\"stderr\",\"time\":\"2026-11-23T11:32:05Z\"}\n"
		"{\"log\":\"out\\n\",\"stream\":\"stdout\",\"attrs\":{\"a\":[1,{\"b\":null}]},"
		"\"time\":\"2026-11-23T11:32:05Z\"}\n"
		"{\"log\":\"part2-\",\"stream\":\"stderr\",\"time\":\"2026-11-23T11:32:05Z\"}\n"
		"{\"log\":\"part3\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-23T11:32:06Z\"}\n"
		"{\"log\":\"cut {\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T11:32:06Z\"}\n"
		"{\"log\":\"\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T11:32:07Z\"}\n"
		"{\"log\":\"ends in a backslash n \\\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T11:32:07Z\"}\n"
		"{\"log\":\"y\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T11:32:07Z\"}\n";

	(void)state;
	cdecode(PL_TAIL_FORMAT_DOCKER, 1 << 20, log, &g);
	assert_int_equal(g.n, 6);
	assert_string_equal(g.text[0], "hello \"w\" \xc3\xa9 \xf0\x9f\x98\x80 \\");
	assert_int_equal(g.stream[0], PL_TAIL_STREAM_STDOUT);
	assert_true(g.ts[0] == 1795433524123456789ULL);
	assert_null(g.err[0]);
	/* stdout's line ends where stderr's pending line began: a restart must read it again */
	assert_string_equal(g.text[1], "out");
	assert_int_equal(g.stream[1], PL_TAIL_STREAM_STDOUT);
	assert_true(g.end[1] == g.off[2]);
	assert_string_equal(g.text[2], "part1-part2-part3");
	assert_int_equal(g.stream[2], PL_TAIL_STREAM_STDERR);
	assert_true(g.ts[2] == 1795433525000000000ULL);
	/* the object cut by the runtime and the next written on its line: shipped raw */
	assert_string_equal(g.text[3],
		"{\"log\":\"cut {\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T11:32:06Z\"}");
	assert_non_null(g.err[3]);
	assert_int_equal(g.ts[3], 0);
	assert_string_equal(g.text[4], "");
	assert_null(g.err[4]);
	/* "\\n" is a backslash and an n, not the runtime's newline: joined with the next */
	assert_string_equal(g.text[5], "ends in a backslash n \\ny");
}

static void test_docker_join_cap(void **state)
{
	static struct cgot g;
	char log[4096];
	int n = 0;

	(void)state;
	for (int i = 0; i < 5; i++)
		n += snprintf(log + n, sizeof(log) - (size_t)n,
			      "{\"log\":\"0123456789%s\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}\n",
			      i == 4 ? "\\n" : "");
	n += snprintf(log + n, sizeof(log) - (size_t)n,
		      "{\"log\":\"next\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}\n");
	cdecode(PL_TAIL_FORMAT_DOCKER, 25, log, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.text[0], "0123456789012345678901234");
	assert_true(g.trunc[0]);
	assert_int_equal(g.off[0], 0);
	assert_string_equal(g.text[1], "next");
	assert_false(g.trunc[1]);
	assert_true(g.end[0] == g.off[1]);
}

static void test_cri_format(void **state)
{
	static struct cgot g;
	const char *log =
		"2026-11-23T11:32:04.123456789Z stdout F hello world\n"
		"2026-11-23T11:32:05.000000001Z stderr P err-a \n"
		"2026-11-23T11:32:05.000000002Z stdout F between\n"
		"2026-11-23T11:32:05.000000003Z stderr P err-b\n"
		"2026-11-23T11:32:05.000000004Z stderr F  err-c\n"
		"2026-11-23T11:32:06Z stdout F \n"
		"2026-11-23T11:32:06Z stdout F\n"
		"not a cri line\n"
		"2026-11-23T11:32:06+02:00 stdout F:x tagged\n"
		"2026-11-23T11:32:06Z stdin F bad stream\n";

	(void)state;
	cdecode(PL_TAIL_FORMAT_CRI, 1 << 20, log, &g);
	assert_int_equal(g.n, 8);
	assert_string_equal(g.text[0], "hello world");
	assert_true(g.ts[0] == 1795433524123456789ULL);
	assert_string_equal(g.text[1], "between");
	assert_string_equal(g.text[2], "err-a err-b err-c");
	assert_int_equal(g.stream[2], PL_TAIL_STREAM_STDERR);
	assert_true(g.ts[2] == 1795433525000000001ULL);
	assert_string_equal(g.text[3], "");
	assert_string_equal(g.text[4], "");
	assert_string_equal(g.text[5], "not a cri line");
	assert_non_null(g.err[5]);
	assert_string_equal(g.text[6], "tagged");
	assert_true(g.ts[6] == 1795433526000000000ULL - 7200 * PL_NS_PER_SEC);
	assert_non_null(g.err[7]);
}

static void test_format_auto(void **state)
{
	static struct cgot g;

	(void)state;
	assert_int_equal(pl_tail_format_detect("{\"log\":\"x\"}", 11), PL_TAIL_FORMAT_DOCKER);
	assert_int_equal(pl_tail_format_detect("2026-11-23T11:32:04Z stdout F x", 31), PL_TAIL_FORMAT_CRI);
	assert_int_equal(pl_tail_format_detect("plain text", 10), PL_TAIL_FORMAT_RAW);
	cdecode(PL_TAIL_FORMAT_AUTO, 1 << 20, "2026-11-23T11:32:04Z stdout F x\n"
		"2026-11-23T11:32:04Z stdout F y\n", &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.text[1], "y");
	cdecode(PL_TAIL_FORMAT_AUTO, 1 << 20, "plain\n2026-11-23T11:32:04Z stdout F y\n", &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.text[1], "2026-11-23T11:32:04Z stdout F y");
	assert_null(g.err[1]);
}

static void test_container_meta(void **state)
{
	static struct pl_tail_meta_cache cache;
	struct pl_tail_meta m;
	char dir[] = "/tmp/pl_meta_XXXXXX", sub[256], path[512];
	const char *id = "4f1c2e9a8b7d6c5e4f1c2e9a8b7d6c5e4f1c2e9a8b7d6c5e4f1c2e9a8b7d6c5e";
	FILE *f;

	(void)state;
	pl_tail_meta_for(&cache, "/var/log/pods/shop_web-7d9f_0b1c-22/nginx/3.log", 1, &m);
	assert_string_equal(m.k8s_namespace, "shop");
	assert_string_equal(m.k8s_pod, "web-7d9f");
	assert_string_equal(m.k8s_uid, "0b1c-22");
	assert_string_equal(m.k8s_container, "nginx");
	assert_string_equal(m.container_id, "");
	pl_tail_meta_for(&cache, "/var/log/pods/shop_web_0b1c/nginx/3.log.20261123-113204", 1, &m);
	assert_string_equal(m.k8s_container, "nginx");
	pl_tail_meta_for(&cache, "/var/log/pods/shop-web-0b1c/nginx/3.log", 1, &m);
	assert_string_equal(m.k8s_namespace, "");

	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/%s", dir, id);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/config.v2.json", sub);
	f = fopen(path, "w");
	fputs("{\"State\":{\"Running\":true,\"Name\":\"no\"},\"ID\":\"x\",\"Config\":{\"Hostname\":\"h\","
	      "\"Env\":[\"A=1\"],\"Labels\":{},\"Image\":\"nginx:1.25\"},\"Image\":\"sha256:ab\","
	      "\"Name\":\"/web\\u0031\"}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s-json.log", sub, id);
	pl_tail_meta_for(&cache, path, 10, &m);
	assert_string_equal(m.container_id, id);
	assert_string_equal(m.container_name, "web1");
	assert_string_equal(m.container_image, "nginx:1.25");
	/* cached: the file's removal is not seen within the minute */
	snprintf(path, sizeof(path), "%s/config.v2.json", sub);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s-json.log.1", sub, id);
	pl_tail_meta_for(&cache, path, 20, &m);
	assert_string_equal(m.container_name, "web1");
	pl_tail_meta_for(&cache, path, 20 + 61 * PL_NS_PER_SEC, &m);
	assert_string_equal(m.container_id, id);
	assert_string_equal(m.container_name, "");
	/* not Docker's shape */
	pl_tail_meta_for(&cache, "/x/abc/abc-json.log", 1, &m);
	assert_string_equal(m.container_id, "");
	rmdir(sub);
	rmdir(dir);
}

static void test_render_container(void **state)
{
	static struct pl_tail_meta m;
	struct pl_tail_tpl tpl;
	char tbuf[4096], buf[2048], ts[32];
	struct pl_tail_line l = { "hi", 2, 5, 9, false, false, 1795433524123456789ULL,
				  PL_TAIL_STREAM_STDERR, NULL };
	size_t n;

	(void)state;
	strcpy(m.container_id, "abc123abc123");
	strcpy(m.container_image, "nginx");
	strcpy(m.k8s_namespace, "ns");
	strcpy(m.k8s_pod, "p");
	strcpy(m.k8s_uid, "u");
	strcpy(m.k8s_container, "c");
	tpl.buf = tbuf;
	tpl.cap = sizeof(tbuf);
	assert_int_equal(pl_tail_tpl_build(&tpl, "/l", "h", NULL, &m), 0);
	n = pl_tail_render_tpl(buf, sizeof(buf), ts, pl_format_time(1795433530000000000ULL, ts), &l,
			       false, &tpl);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf,
		"{\"@timestamp\":\"2026-11-23T11:32:04.123456789Z\",\"message\":\"hi\","
		"\"stream\":\"stderr\",\"event\":{\"created\":\"2026-11-23T11:32:10.000000000Z\"},"
		"\"log\":{\"file\":{\"path\":\"/l\"},\"offset\":5},\"host\":{\"name\":\"h\"},"
		"\"input\":{\"type\":\"log\"},\"container\":{\"id\":\"abc123abc123\",\"image\":{\"name\":\"nginx\"}},"
		"\"kubernetes\":{\"namespace\":\"ns\",\"pod\":{\"name\":\"p\",\"uid\":\"u\"},"
		"\"container\":{\"name\":\"c\"}}}");
	l.ts_ns = 0;
	l.stream = 0;
	l.error = "cri: no valid time";
	n = pl_tail_render_tpl(buf, sizeof(buf), ts, pl_format_time(1795433530000000000ULL, ts), &l,
			       false, &tpl);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"message\":\"hi\",\"error\":{\"message\":\"cri: no valid time\"},\"log\""));
	assert_non_null(strstr(buf, "{\"@timestamp\":\"2026-11-23T11:32:10.000000000Z\""));
}

/* ---- rendering ---- */

static void test_render(void **state)
{
	static const char *const keys[] = { "appid", "service" };
	static const char *const vals[] = { "shop", "we\"b" };
	struct pl_tail_fields fields = { keys, vals, 2 };
	const char msg[] = "a\"b\\c\td\x01 \xff\xc3\xa9 \xed\xa0\x80!";
	struct pl_tail_line l = { msg, sizeof(msg) - 1, 77, 100, true, false, 0, 0, NULL };
	char buf[1024];
	size_t n;

	(void)state;
	n = pl_tail_render(buf, sizeof(buf), 1795433524123456789ULL, &l, false, "/v/a.log", "h1", &fields);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf,
		"{\"@timestamp\":\"2026-11-23T11:32:04.123456789Z\","
		"\"message\":\"a\\\"b\\\\c\\td\\u0001 \\ufffd\xc3\xa9 \\ufffd\\ufffd\\ufffd!\","
		"\"log\":{\"file\":{\"path\":\"/v/a.log\"},\"offset\":77,\"flags\":[\"truncated\"]},"
		"\"host\":{\"name\":\"h1\"},\"input\":{\"type\":\"log\"},"
		"\"fields\":{\"appid\":\"shop\",\"service\":\"we\\\"b\"}}");
	/* Too small a buffer: 0, never a cut line. */
	assert_int_equal(pl_tail_render(buf, 40, 0, &l, false, "/v/a.log", "h1", &fields), 0);
	assert_true(pl_tail_render_bound(l.len, 100) > n);
}

/* The tailer's path (template once per file, message per line) writes exactly the bytes
 * pl_tail_render writes, whatever byte sits wherever in the message. */
static void test_render_template(void **state)
{
	static const char *const keys[] = { "appid", "svc\n" };
	static const char *const vals[] = { "sh\xffop", "we\"b" };
	struct pl_tail_fields fields = { keys, vals, 2 }, nofields = { NULL, NULL, 0 };
	static char tbuf[4096], a[4096], b[4096];
	struct pl_tail_tpl tpl = { tbuf, sizeof(tbuf), 0, 0 };
	char msg[64], ts[32];
	uint64_t now = 1795433524123456789ULL;
	size_t ts_len = pl_format_time(now, ts);
	unsigned seed = 7;

	(void)state;
	for (int round = 0; round < 4; round++) {
		const char *host = round & 1 ? NULL : "h\"1";
		const struct pl_tail_fields *fl = round & 2 ? &nofields : &fields;
		const char *path = round & 1 ? "/v/\x01a\\b.log" : "/var/log/nginx/access.log";

		assert_int_equal(pl_tail_tpl_build(&tpl, path, host, fl, NULL), 0);
		for (int c = 0; c < 256; c++) {
			for (size_t pos = 0; pos < 20; pos++) {
				size_t len = 17 + (pos + (size_t)c) % 20, na, nb;
				struct pl_tail_line l;
				for (size_t i = 0; i < len; i++)
					msg[i] = (char)('a' + (seed = seed * 1103515245 + 12345) % 26);
				if (pos < len)
					msg[pos] = (char)c;
				l = (struct pl_tail_line){ msg, len, 1000 + pos, 2000, c & 1, (c & 2) != 0, 0, 0, NULL };
				na = pl_tail_render(a, sizeof(a), now, &l, c & 4, path, host, fl);
				nb = pl_tail_render_tpl(b, sizeof(b), ts, ts_len, &l, c & 4, &tpl);
				assert_true(na > 0);
				assert_int_equal(na, nb);
				assert_memory_equal(a, b, na);
				/* Too small: 0, never a cut line. */
				assert_int_equal(pl_tail_render_tpl(b, na - 1, ts, ts_len, &l, c & 4, &tpl), 0);
			}
		}
	}
	/* A template that does not fit its buffer is refused. */
	tpl.cap = 10;
	assert_int_equal(pl_tail_tpl_build(&tpl, "/var/log/x.log", "h", &fields, NULL), -1);
}

/* ---- rate-limited warnings ---- */

static void test_warn_limit(void **state)
{
	struct pl_tail_limit l = { 0 };
	const uint64_t s = PL_NS_PER_SEC;
	uint32_t n = 99;

	(void)state;
	assert_true(pl_tail_limit_pass(&l, 5 * s, 10 * s, EACCES, &n));
	assert_int_equal(n, 0);
	for (int i = 0; i < 700; i++)   /* the same failure again and again: held back */
		assert_false(pl_tail_limit_pass(&l, 5 * s + (uint64_t)i * 1000, 10 * s, EACCES, &n));
	assert_int_equal(l.suppressed, 700);
	/* Another cause of the same kind is news: logged at once, with what was held back. */
	assert_true(pl_tail_limit_pass(&l, 6 * s, 10 * s, EIO, &n));
	assert_int_equal(n, 700);
	assert_false(pl_tail_limit_pass(&l, 7 * s, 10 * s, EIO, &n));
	/* The interval over: the next one goes out with the count. */
	assert_true(pl_tail_limit_pass(&l, 16 * s, 10 * s, EIO, &n));
	assert_int_equal(n, 1);
	assert_false(pl_tail_limit_pass(&l, 17 * s, 10 * s, EIO, &n));
	pl_tail_limit_flush(&l, "/x.log: read");
	assert_int_equal(l.suppressed, 0);
	assert_int_equal(l.next_ns, 0);
	/* A clock of 0 (a fresh limiter at the epoch) still passes the first time. */
	assert_true(pl_tail_limit_pass(&l, 0, 10 * s, 0, &n));
	assert_false(pl_tail_limit_pass(&l, 1, 10 * s, 0, &n));
}

/* ---- the tailer against a fake output ---- */

struct fake_out {
	struct pl_tail *t;
	char lines[256][128];
	void *tokens[4096];
	int n_tokens;
	int n;
	volatile bool pause;
	volatile int n_when_unpaused;
};

static int fake_publish(void *arg, const char *json, size_t len, const char *key,
			const char *topic, void *token)
{
	struct fake_out *o = arg;
	const char *m = strstr(json, "\"message\":\"");

	assert_true(m != NULL && o->n < 256);
	m += 11;
	snprintf(o->lines[o->n++], sizeof(o->lines[0]), "%.*s", (int)(strchr(m, '"') - m), m);
	assert_true(o->n_tokens < 4096);
	o->tokens[o->n_tokens++] = token;
	(void)len;
	(void)key;
	(void)topic;
	return 0;
}

static void fake_flush(void *arg)
{
	struct fake_out *o = arg;

	for (int i = 0; i < o->n_tokens; i++)
		pl_tail_ack(o->t, o->tokens[i], 1);
	o->n_tokens = 0;
}

static void *stopper(void *arg)
{
	usleep(300 * 1000);
	pl_tail_stop(arg);
	return NULL;
}

static void run_for_a_moment(struct pl_tail *t)
{
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, stopper, t), 0);
	assert_int_equal(pl_tail_run(t), 0);
	pthread_join(th, NULL);
}

static void test_tailer_resume(void **state)
{
	struct pl_config cfg;
	struct pl_stats st = { 0 };
	struct fake_out *o = calloc(1, sizeof(*o));
	struct pl_tail_env env = { fake_publish, fake_flush, NULL, o, "h", &st, NULL };
	char dir[100], pat[200], path[200];
	struct pl_tail *t;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/logs", tmpdir);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/app.log", dir);
	write_file(path, "l1\nl2\n", false);
	snprintf(pat, sizeof(pat), "%s/*.log", dir);
	assert_int_equal(pl_config_defaults(&cfg), 0);
	free(cfg.data_dir);
	cfg.data_dir = strdup(tmpdir);
	assert_int_equal(pl_config_tail_add(&cfg, pat), 0);

	t = pl_tail_open(&cfg, &env);
	assert_non_null(t);
	o->t = t;
	run_for_a_moment(t);
	assert_int_equal(o->n, 2);
	assert_string_equal(o->lines[0], "l1");
	assert_string_equal(o->lines[1], "l2");
	assert_int_equal(st.tail_records_acked, 2);
	pl_tail_close(t);

	/* Restart: nothing is sent again; new lines are. */
	write_file(path, "l3\npartial", true);
	o->n = 0;
	t = pl_tail_open(&cfg, &env);
	assert_non_null(t);
	o->t = t;
	run_for_a_moment(t);
	assert_int_equal(o->n, 1);
	assert_string_equal(o->lines[0], "l3");
	pl_tail_close(t);

	/* A partial line is not delivered, so its bytes are read again after a restart. */
	write_file(path, " done\n", true);
	o->n = 0;
	t = pl_tail_open(&cfg, &env);
	o->t = t;
	run_for_a_moment(t);
	assert_int_equal(o->n, 1);
	assert_string_equal(o->lines[0], "partial done");
	pl_tail_close(t);
	pl_config_free(&cfg);
	free(o);
}

static void test_tailer_unacked_is_resent(void **state)
{
	struct pl_config cfg;
	struct pl_stats st = { 0 };
	struct fake_out *o = calloc(1, sizeof(*o));
	struct pl_tail_env env = { fake_publish, NULL, NULL, o, "h", &st, NULL }; /* never acks */
	char pat[200], path[200], sub[100];
	struct pl_tail *t;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/noack", tmpdir);
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/x.log", sub);
	write_file(path, "a\nb\n", false);
	snprintf(pat, sizeof(pat), "%s/*.log", sub);
	assert_int_equal(pl_config_defaults(&cfg), 0);
	free(cfg.data_dir);
	cfg.data_dir = strdup(sub);
	assert_int_equal(pl_config_tail_add(&cfg, pat), 0);
	t = pl_tail_open(&cfg, &env);
	o->t = t;
	run_for_a_moment(t);
	assert_int_equal(o->n, 2);
	pl_tail_close(t);
	/* Not acknowledged, so not committed: a restart sends both again. */
	env.flush = fake_flush;
	o->n = 0;
	o->n_tokens = 0;
	t = pl_tail_open(&cfg, &env);
	o->t = t;
	run_for_a_moment(t);
	assert_int_equal(o->n, 2);
	pl_tail_close(t);
	pl_config_free(&cfg);
	free(o);
}

static bool fake_should_pause(void *arg)
{
	return ((struct fake_out *)arg)->pause;
}

static void *unpauser(void *arg)
{
	struct fake_out *o = arg;

	usleep(300 * 1000);
	o->n_when_unpaused = o->n;
	o->pause = false;
	usleep(300 * 1000);
	pl_tail_stop(o->t);
	return NULL;
}

/* Back-pressure: while the output says pause, nothing is read (so nothing is dropped). */
static void test_tailer_pause(void **state)
{
	struct pl_config cfg;
	struct pl_stats st = { 0 };
	struct fake_out *o = calloc(1, sizeof(*o));
	struct pl_tail_env env = { fake_publish, fake_flush, fake_should_pause, o, "h", &st, NULL };
	char pat[200], path[200], sub[100];
	struct pl_tail *t;
	pthread_t th;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/pause", tmpdir);
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/p.log", sub);
	write_file(path, "a\nb\nc\n", false);
	snprintf(pat, sizeof(pat), "%s/*.log", sub);
	assert_int_equal(pl_config_defaults(&cfg), 0);
	free(cfg.data_dir);
	cfg.data_dir = strdup(sub);
	assert_int_equal(pl_config_tail_add(&cfg, pat), 0);
	o->pause = true;
	t = pl_tail_open(&cfg, &env);
	o->t = t;
	assert_int_equal(pthread_create(&th, NULL, unpauser, o), 0);
	assert_int_equal(pl_tail_run(t), 0);
	pthread_join(th, NULL);
	assert_int_equal(o->n_when_unpaused, 0);
	assert_true(st.tail_paused >= 1);
	assert_int_equal(o->n, 3);
	assert_int_equal(st.tail_records_acked, 3);
	pl_tail_close(t);
	pl_config_free(&cfg);
	free(o);
}

/* A pause asked for in the middle of a read buffer (thousands of lines in one read) takes
 * effect there: publishing stops within PAUSE_CHECK_EVERY (64) records, the rest of the buffer
 * is read again once the output lets go, and every line arrives once, in order, counted once. */
struct mid_out {
	struct pl_tail *t;
	void *tokens[4096];
	int n_tokens, n, hold_at, n_at_release;
	bool in_order;
	volatile bool hold;
	int pulse, next_pause, pause_asks;   /* pulse: pause after every `pulse` records */
};

static int mid_publish(void *arg, const char *json, size_t len, const char *key,
		       const char *topic, void *token)
{
	struct mid_out *o = arg;
	const char *m = strstr(json, "\"message\":\"line ");

	o->in_order &= m && atoi(m + 16) == o->n;
	o->n++;
	assert_true(o->n_tokens < 4096);
	o->tokens[o->n_tokens++] = token;
	(void)len;
	(void)key;
	(void)topic;
	return 0;
}

static void mid_flush(void *arg)
{
	struct mid_out *o = arg;

	for (int i = 0; i < o->n_tokens; i++)
		pl_tail_ack(o->t, o->tokens[i], 1);
	o->n_tokens = 0;
}

static bool mid_should_pause(void *arg)
{
	struct mid_out *o = arg;

	if (o->pulse) {
		/* Each pause holds for a few asks (the tailer asks again after a flush). */
		if (o->pause_asks)
			return o->pause_asks-- > 0;
		if (o->n >= o->next_pause) {
			o->next_pause = o->n + o->pulse;
			o->pause_asks = 3;
			return true;
		}
		return false;
	}
	return o->hold && o->n >= o->hold_at;
}

static void *mid_release(void *arg)
{
	struct mid_out *o = arg;

	usleep(300 * 1000);
	o->n_at_release = o->n;
	o->hold = false;
	usleep(300 * 1000);
	pl_tail_stop(o->t);
	return NULL;
}

static void test_tailer_pause_inside_a_buffer(void **state)
{
	struct pl_config cfg;
	struct pl_stats st = { 0 };
	struct mid_out *o = calloc(1, sizeof(*o));
	struct pl_tail_env env = { mid_publish, mid_flush, mid_should_pause, o, "h", &st, NULL };
	char pat[200], path[200], sub[100];
	struct pl_tail *t;
	pthread_t th;
	FILE *f;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/midpause", tmpdir);
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/m.log", sub);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 3000; i++)
		fprintf(f, "line %d\n", i);
	fclose(f);
	snprintf(pat, sizeof(pat), "%s/*.log", sub);
	assert_int_equal(pl_config_defaults(&cfg), 0);
	free(cfg.data_dir);
	cfg.data_dir = strdup(sub);
	assert_int_equal(pl_config_tail_add(&cfg, pat), 0);
	o->hold = true;
	o->hold_at = 600;
	o->in_order = true;
	t = pl_tail_open(&cfg, &env);
	o->t = t;
	assert_int_equal(pthread_create(&th, NULL, mid_release, o), 0);
	assert_int_equal(pl_tail_run(t), 0);
	pthread_join(th, NULL);
	assert_true(o->n_at_release >= o->hold_at && o->n_at_release < o->hold_at + 64);
	assert_true(st.tail_paused >= 1);
	assert_true(o->in_order);
	assert_int_equal(o->n, 3000);
	assert_int_equal(st.tail_lines, 3000);
	assert_int_equal(st.tail_records_acked, 3000);
	/* The rest of the buffer was kept, not read again. */
	assert_int_equal(st.tail_bytes_read, file_size(path));
	pl_tail_close(t);
	pl_config_free(&cfg);
	free(o);
}

static void *stop_when_done(void *arg)
{
	struct mid_out *o = arg;

	for (int i = 0; i < 3000 && o->n < o->hold_at; i++)
		usleep(10 * 1000);
	usleep(200 * 1000);
	pl_tail_stop(o->t);
	return NULL;
}

/* Many pauses, small reads (lines cross the read buffers' edges), a pause after every 50
 * records: every line once, in order, and no byte of the file read twice. */
static void test_tailer_pauses_read_each_byte_once(void **state)
{
	struct pl_config cfg;
	struct pl_stats st = { 0 };
	struct mid_out *o = calloc(1, sizeof(*o));
	struct pl_tail_env env = { mid_publish, mid_flush, mid_should_pause, o, "h", &st, NULL };
	char pat[200], path[200], sub[100];
	struct pl_tail *t;
	pthread_t th;
	FILE *f;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/pulse", tmpdir);
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/p.log", sub);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 20000; i++)
		fprintf(f, "line %d %.*s\n", i, (i * 37) % 300,
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	fclose(f);
	snprintf(pat, sizeof(pat), "%s/*.log", sub);
	assert_int_equal(pl_config_defaults(&cfg), 0);
	free(cfg.data_dir);
	cfg.data_dir = strdup(sub);
	cfg.tail.read_buffer_bytes = 4096;
	assert_int_equal(pl_config_tail_add(&cfg, pat), 0);
	o->pulse = 50;
	o->next_pause = 50;
	o->hold_at = 20000;
	o->in_order = true;
	t = pl_tail_open(&cfg, &env);
	o->t = t;
	assert_int_equal(pthread_create(&th, NULL, stop_when_done, o), 0);
	assert_int_equal(pl_tail_run(t), 0);
	pthread_join(th, NULL);
	assert_true(o->in_order);
	assert_int_equal(o->n, 20000);
	assert_int_equal(st.tail_lines, 20000);
	assert_true(st.tail_paused >= 100);
	assert_int_equal(st.tail_bytes_read, file_size(path));
	pl_tail_close(t);
	pl_config_free(&cfg);
	free(o);
}

static void *stop_later(void *arg)
{
	usleep(2500 * 1000);
	pl_tail_stop(arg);
	return NULL;
}

/* Two links to "." and one to ".." under a "**" pattern: each directory is scanned once,
 * each loop reported once, every line read once under its real path. */
static void test_tailer_symlink_loops(void **state)
{
	struct pl_config cfg;
	struct pl_stats st = { 0 };
	struct fake_out *o = calloc(1, sizeof(*o));
	struct pl_tail_env env = { fake_publish, fake_flush, NULL, o, "h", &st, NULL };
	char dir[200], sub[240], pat[240], path[260], link[260];
	struct pl_tail *t;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/loops", tmpdir);
	snprintf(sub, sizeof(sub), "%s/a", dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/app.log", sub);
	write_file(path, "one\ntwo\n", false);
	snprintf(link, sizeof(link), "%s/x", dir);
	assert_int_equal(symlink(".", link), 0);
	snprintf(link, sizeof(link), "%s/y", dir);
	assert_int_equal(symlink(".", link), 0);
	snprintf(link, sizeof(link), "%s/up", sub);
	assert_int_equal(symlink("..", link), 0);
	snprintf(pat, sizeof(pat), "%s/**/*.log", dir);
	assert_int_equal(pl_config_defaults(&cfg), 0);
	free(cfg.data_dir);
	cfg.data_dir = strdup(dir);
	assert_int_equal(pl_config_tail_add(&cfg, pat), 0);

	t = pl_tail_open(&cfg, &env);
	assert_non_null(t);
	o->t = t;
	run_for_a_moment(t);
	assert_int_equal(o->n, 2);
	assert_string_equal(o->lines[0], "one");
	assert_string_equal(o->lines[1], "two");
	assert_int_equal(st.tail_files_seen, 1);
	assert_int_equal(st.tail_dir_loops, 3);
	assert_int_equal(st.tail_scan_limited, 0);
	pl_tail_close(t);
	pl_config_free(&cfg);
	free(o);
}

/* A scan stops at its work limit (counted), and gives up at once when the process is
 * stopping (env.quit), so a SIGTERM is heard during a scan of a huge tree. */
static void test_tailer_scan_limits_and_quit(void **state)
{
	struct pl_config cfg;
	struct pl_stats st = { 0 };
	struct fake_out *o = calloc(1, sizeof(*o));
	volatile sig_atomic_t quit = 0;
	struct pl_tail_env env = { fake_publish, fake_flush, NULL, o, "h", &st, &quit };
	char dir[200], sub[240], pat[240], path[260];
	struct pl_tail *t;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/wide", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (int i = 0; i < 30; i++) {
		snprintf(sub, sizeof(sub), "%s/d%02d", dir, i);
		assert_int_equal(mkdir(sub, 0755), 0);
		snprintf(path, sizeof(path), "%s/app.log", sub);
		write_file(path, "x\n", false);
	}
	snprintf(pat, sizeof(pat), "%s/**/*.log", dir);
	assert_int_equal(pl_config_defaults(&cfg), 0);
	free(cfg.data_dir);
	cfg.data_dir = strdup(dir);
	assert_int_equal(pl_config_tail_add(&cfg, pat), 0);

	t = pl_tail_open(&cfg, &env);
	assert_non_null(t);
	o->t = t;
	pl_tail_set_scan_limits(t, 10, 1000);   /* the base and 9 of its 30 directories */
	run_for_a_moment(t);
	assert_int_equal(o->n, 9);
	assert_int_equal(st.tail_files_seen, 9);
	assert_int_equal(st.tail_scan_limited, 1);
	pl_tail_close(t);

	memset(&st, 0, sizeof(st));
	o->n = 0;
	t = pl_tail_open(&cfg, &env);
	assert_non_null(t);
	o->t = t;
	pl_tail_set_scan_limits(t, 1000, 12);   /* entries: the 30 subdirectories */
	run_for_a_moment(t);
	assert_true(st.tail_files_seen > 0 && st.tail_files_seen < 30);
	assert_int_equal(st.tail_scan_limited, 1);
	pl_tail_close(t);

	/* The process is stopping: no scan goes on. */
	memset(&st, 0, sizeof(st));
	o->n = 0;
	quit = 1;
	t = pl_tail_open(&cfg, &env);
	assert_non_null(t);
	o->t = t;
	run_for_a_moment(t);
	assert_int_equal(o->n, 0);
	assert_int_equal(st.tail_files_seen, 0);
	pl_tail_close(t);
	pl_config_free(&cfg);
	free(o);
}

/* More files than the descriptor limit allows: the rest wait, are counted, and are read
 * as close_inactive closes the idle ones. In a child process: the hard limit is lowered
 * and cannot be raised again without CAP_SYS_RESOURCE. Exit status: the failed check.
 * limit 0: no change. */
struct appender {
	const char *dir;
	int n;
};

/* start_position end: lines written after start-up, while most files wait. */
static void *append_later(void *arg)
{
	const struct appender *a = arg;
	char path[260], text[32];

	usleep(300 * 1000);
	for (int i = 0; i < a->n; i++) {
		snprintf(path, sizeof(path), "%s/f%03d.log", a->dir, i);
		snprintf(text, sizeof(text), "late %d\n", i);
		write_file(path, text, true);
	}
	return NULL;
}

static int many_files_child(const char *dir, int n, rlim_t limit, const char *prefix)
{
	struct appender app = { dir, n };
	pthread_t wr;
	struct pl_config cfg;
	struct pl_stats st = { 0 };
	struct fake_out *o = calloc(1, sizeof(*o));
	struct pl_tail_env env = { fake_publish, fake_flush, NULL, o, "h", &st, NULL };
	struct rlimit small = { limit, limit };
	char pat[240];
	struct pl_tail *t;
	pthread_t th;

	snprintf(pat, sizeof(pat), "%s/*.log", dir);
	if (!o || pl_config_defaults(&cfg) != 0)
		return 2;
	free(cfg.data_dir);
	cfg.data_dir = strdup(dir);
	cfg.tail.close_inactive_ns = 100 * 1000000ULL;
	if (pl_config_tail_add(&cfg, pat) != 0 || (limit && setrlimit(RLIMIT_NOFILE, &small) != 0))
		return 3;
	cfg.tail.inputs[0].start_at_end = strcmp(prefix, "late ") == 0;
	if (cfg.tail.inputs[0].start_at_end && pthread_create(&wr, NULL, append_later, &app) != 0)
		return 6;
	t = pl_tail_open(&cfg, &env);
	if (!t)
		return 4;
	o->t = t;
	if (pthread_create(&th, NULL, stop_later, t) != 0 || pl_tail_run(t) != 0)
		return 5;
	pthread_join(th, NULL);
	if (cfg.tail.inputs[0].start_at_end)
		pthread_join(wr, NULL);
	if (o->n != n)
		return 10;                  /* every file read, once */
	for (int i = 0; i < n; i++)
		if (strncmp(o->lines[i], prefix, strlen(prefix)) != 0)
			return 11;          /* only what was not delivered before */
	if (st.tail_files_seen != (uint64_t)n)
		return 12;
	if (st.tail_files_waiting != 0)
		return 13;                  /* none waits any more */
	if (limit && st.tail_errors == 0)
		return 14;                  /* the waits were counted */
	if (limit && st.tail_idle_closed == 0)
		return 15;                  /* idle files made room */
	pl_tail_close(t);
	pl_config_free(&cfg);
	free(o);
	return 0;
}

static void test_tailer_more_files_than_descriptors(void **state)
{
	char dir[200], path[260], text[32];
	int n = 120, status = -1;
	pid_t pid;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/many", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%03d.log", dir, i);
		snprintf(text, sizeof(text), "line %d\n", i);
		write_file(path, text, false);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(many_files_child(dir, n, 100, "line "));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* Restarted short of descriptors: files that wait keep their registry rows through
	 * the start-up prune, so they resume where delivery stopped (no line read twice).
	 * The prune drops rows written before the start's second: let one pass. */
	sleep(2);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%03d.log", dir, i);
		snprintf(text, sizeof(text), "more %d\n", i);
		write_file(path, text, true);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(many_files_child(dir, n, 100, "more "));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* start_position end, new files: those that waited for a descriptor start at the
	 * size they had when found, so what was there is skipped and what came later is not. */
	snprintf(dir, sizeof(dir), "%s/many_end", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%03d.log", dir, i);
		snprintf(text, sizeof(text), "old %d\n", i);
		write_file(path, text, false);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(many_files_child(dir, n, 100, "late "));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_lines_basic),
		cmocka_unit_test(test_lines_split),
		cmocka_unit_test(test_lines_truncate),
		cmocka_unit_test(test_multiline_indent),
		cmocka_unit_test(test_multiline_pattern),
		cmocka_unit_test(test_multiline_max_bytes),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_template),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_docker_format),
		cmocka_unit_test(test_docker_join_cap),
		cmocka_unit_test(test_cri_format),
		cmocka_unit_test(test_format_auto),
		cmocka_unit_test(test_container_meta),
		cmocka_unit_test(test_render_container),
		cmocka_unit_test(test_tailer_resume),
		cmocka_unit_test(test_tailer_unacked_is_resent),
		cmocka_unit_test(test_tailer_pause),
		cmocka_unit_test(test_tailer_pause_inside_a_buffer),
		cmocka_unit_test(test_tailer_pauses_read_each_byte_once),
		cmocka_unit_test(test_warn_limit),
		cmocka_unit_test(test_tailer_symlink_loops),
		cmocka_unit_test(test_tailer_scan_limits_and_quit),
		cmocka_unit_test(test_tailer_more_files_than_descriptors),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
