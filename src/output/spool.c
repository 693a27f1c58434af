/* spool.c – the disk buffer behind include/pktlog/spool.h: segment files of checksummed records.
 *
 * Layout: DIR/NNNNNNNNNNNNNNNNNNNN.seg, numbered in write order, plus DIR/cursor (the
 * acknowledged position). A record is magic, body length, CRC32C of (length, body), then the
 * body: key length, topic length, key, topic, payload. Writers only append and never reopen an
 * old segment, so damage (a crash mid-write, a bad disk) can only be skipped, never spread.
 * Must not talk to Kafka, and must not trust a byte it reads back. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "pktlog/spool.h"

#define MAGIC 0x31524c50u            /* "PLR1" little-endian */
#define BODY_HDR 4u                  /* key length, topic length */
#define CURSOR_LEN 42                /* "%020llu %020llu\n" */
#define MAX_SEGMENTS 65536

struct seg {
	uint64_t id;
	uint64_t size;
};

struct pl_spool {
	char *dir;
	int dirfd;
	struct pl_spool_opts opts;
	struct pl_stats *st;
	struct seg *segs;            /* sorted by id; the last one is the write segment when wfd >= 0 */
	size_t nsegs, capsegs;
	uint64_t total;
	int wfd;                     /* -1: no write segment yet (opened on the first append) */
	bool dirty;                  /* appended since the last fsync */
	uint64_t last_sync_ns;
	bool io_failed;              /* the last append failed: a waiting source waits a while */
	uint64_t io_retry_ns;        /* ...until then */
	uint64_t io_logged_ns, io_suppressed;
	/* reader: the segment being read is loaded whole into buf */
	uint8_t *buf;
	size_t bufcap, buflen;
	uint64_t rseg, roff;
	bool loaded;
	struct pl_spool_pos acked;
	int cursor_fd;
	bool cursor_failed;          /* said once per spell of failed cursor writes */
};

/* ---- record format ---- */

static uint32_t crc_table[256];
static int crc_mode;                 /* 0 not chosen yet, 1 CPU instruction, 2 table */

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

/* Every spooled byte is checksummed twice (append, drain): with the SSE4.2 instruction that
 * costs next to nothing, with the table it was a third of the spool's CPU time. */
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
	}
	for (; len; p++, len--)
		c = _mm_crc32_u8((uint32_t)c, *p);
	return (uint32_t)c;
}

static int pick_crc(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2") ? 1 : 2;
}
#else
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	return crc_sw(crc, p, len);
}

static int pick_crc(void)
{
	return 2;
}
#endif

uint32_t pl_spool_crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (!crc_mode) {
		crc_init();
		crc_mode = pick_crc();
	}
	if (crc_mode == 1)
		return ~crc_hw(~crc, buf, len);
	return ~crc_sw(~crc, buf, len);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

void pl_spool_encode_header(uint8_t *hdr, const void *payload, size_t len,
			    const char *key, size_t klen, const char *topic, size_t tlen)
{
	uint32_t body = (uint32_t)(BODY_HDR + klen + tlen + len);
	uint32_t crc;

	put32(hdr, MAGIC);
	put32(hdr + 4, body);
	put16(hdr + 12, (uint16_t)klen);
	put16(hdr + 14, (uint16_t)tlen);
	crc = pl_spool_crc32c(0, hdr + 4, 4);
	crc = pl_spool_crc32c(crc, hdr + 12, BODY_HDR);
	crc = pl_spool_crc32c(crc, key, klen);
	crc = pl_spool_crc32c(crc, topic, tlen);
	crc = pl_spool_crc32c(crc, payload, len);
	put32(hdr + 8, crc);
}

int pl_spool_parse(const uint8_t *buf, size_t len, size_t off, struct pl_spool_rec *r,
		   size_t *next)
{
	uint32_t body, crc;
	size_t klen, tlen;

	if (off >= len)
		return PL_SPOOL_REC_END;
	if (len - off < PL_SPOOL_HDR)
		return PL_SPOOL_REC_TORN;
	if (get32(buf + off) != MAGIC)
		return PL_SPOOL_REC_CORRUPT;
	body = get32(buf + off + 4);
	if (body < BODY_HDR || body > PL_SPOOL_MAX_RECORD)
		return PL_SPOOL_REC_CORRUPT;
	if (len - off - PL_SPOOL_HDR < body)
		return PL_SPOOL_REC_TORN;
	crc = pl_spool_crc32c(0, buf + off + 4, 4);
	crc = pl_spool_crc32c(crc, buf + off + PL_SPOOL_HDR, body);
	if (crc != get32(buf + off + 8))
		return PL_SPOOL_REC_CORRUPT;
	klen = get16(buf + off + PL_SPOOL_HDR);
	tlen = get16(buf + off + PL_SPOOL_HDR + 2);
	if (klen + tlen > body - BODY_HDR)
		return PL_SPOOL_REC_CORRUPT;
	r->key = (const char *)buf + off + PL_SPOOL_HDR + BODY_HDR;
	r->klen = klen;
	r->topic = r->key + klen;
	r->tlen = tlen;
	r->payload = (const uint8_t *)r->topic + tlen;
	r->len = body - BODY_HDR - klen - tlen;
	r->pos.off = off;
	*next = off + PL_SPOOL_HDR + body;
	r->next.off = *next;
	return PL_SPOOL_REC_OK;
}

size_t pl_spool_resync(const uint8_t *buf, size_t len, size_t off)
{
	static const uint8_t magic[4] = { 'P', 'L', 'R', '1' };
	const uint8_t *hit;

	if (off + 1 >= len)
		return len;
	hit = memmem(buf + off + 1, len - off - 1, magic, sizeof(magic));
	return hit ? (size_t)(hit - buf) : len;
}

/* ---- segments ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void seg_name(char *buf, size_t len, uint64_t id)
{
	snprintf(buf, len, "%020" PRIu64 ".seg", id);
}

static int add_seg(struct pl_spool *s, uint64_t id, uint64_t size)
{
	if (s->nsegs == s->capsegs) {
		size_t cap = s->capsegs ? s->capsegs * 2 : 64;
		struct seg *n;

		if (cap > MAX_SEGMENTS)
			return -1;
		n = realloc(s->segs, cap * sizeof(*n));
		if (!n)
			return -1;
		s->segs = n;
		s->capsegs = cap;
	}
	s->segs[s->nsegs++] = (struct seg){ id, size };
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int scan_dir(struct pl_spool *s)
{
	int fd = dup(s->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		unsigned long long id;
		char tail[8];
		struct stat st;

		if (sscanf(e->d_name, "%20llu%7s", &id, tail) != 2 || strcmp(tail, ".seg") != 0)
			continue;
		if (fstatat(s->dirfd, e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (add_seg(s, id, (uint64_t)st.st_size) < 0)
			break;
		s->total += (uint64_t)st.st_size;
	}
	closedir(d);
	if (s->nsegs)
		qsort(s->segs, s->nsegs, sizeof(*s->segs), cmp_seg);
	return 0;
}

static struct seg *find_seg(struct pl_spool *s, uint64_t id)
{
	for (size_t i = 0; i < s->nsegs; i++)
		if (s->segs[i].id == id)
			return &s->segs[i];
	return NULL;
}

static bool is_write_seg(const struct pl_spool *s, uint64_t id)
{
	return s->wfd >= 0 && s->nsegs && s->segs[s->nsegs - 1].id == id;
}

static void save_cursor(struct pl_spool *s)
{
	char line[CURSOR_LEN + 1];

	if (s->cursor_fd < 0)
		return;
	snprintf(line, sizeof(line), "%020" PRIu64 " %020" PRIu64 "\n", s->acked.seg, s->acked.off);
	/* No fsync: a lost cursor only means re-sending a little more (at-least-once). */
	ssize_t n = pwrite(s->cursor_fd, line, CURSOR_LEN, 0);
	int err = n < 0 ? errno : ENOSPC;

	if (n == CURSOR_LEN) {
		s->cursor_failed = false;
		return;
	}
	if (!s->cursor_failed)
		pl_warn("spool %s: cursor not saved: %s; after a restart, records already delivered "
			"may be sent again", s->dir, strerror(err));
	s->cursor_failed = true;
	if (s->st)
		s->st->output_errors++;
}

static void load_cursor(struct pl_spool *s)
{
	char line[CURSOR_LEN + 1] = { 0 };
	unsigned long long seg, off;

	s->cursor_fd = openat(s->dirfd, "cursor", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->cursor_fd < 0) {
		pl_warn("spool %s: cannot open the cursor: %s", s->dir, strerror(errno));
		return;
	}
	if (pread(s->cursor_fd, line, CURSOR_LEN, 0) == CURSOR_LEN &&
	    sscanf(line, "%20llu %20llu", &seg, &off) == 2) {
		s->acked.seg = seg;
		s->acked.off = off;
	}
}

static void drop_seg_at(struct pl_spool *s, size_t i)
{
	char name[32];

	seg_name(name, sizeof(name), s->segs[i].id);
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		pl_warn("spool %s: cannot delete %s: %s", s->dir, name, strerror(errno));
	s->total -= PL_MIN(s->total, s->segs[i].size);
	memmove(&s->segs[i], &s->segs[i + 1], (s->nsegs - i - 1) * sizeof(*s->segs));
	s->nsegs--;
	if (s->st)
		s->st->spool_bytes = s->total;
}

static int close_write_seg(struct pl_spool *s);

/* Segments wholly behind the acknowledged position are delivered: delete them. The write
 * segment too, once everything in it is delivered, so an idle spool holds no bytes (and the
 * spool_bytes gauge says 0); the next append starts a new one. */
static void drop_acked(struct pl_spool *s)
{
	while (s->nsegs) {
		const struct seg *g = &s->segs[0];
		bool behind = g->id < s->acked.seg ||
			      (g->id == s->acked.seg && s->acked.off >= g->size);

		if (!behind)
			break;
		if (is_write_seg(s, g->id))
			close_write_seg(s);
		drop_seg_at(s, 0);
	}
}

/* Put the reader at the acknowledged position, or at the oldest segment if that is gone. */
static void place_reader(struct pl_spool *s)
{
	if (!s->nsegs) {
		s->rseg = s->acked.seg;
		s->roff = s->acked.off;
		return;
	}
	if (!find_seg(s, s->acked.seg) && s->acked.seg < s->segs[0].id)
		s->acked = (struct pl_spool_pos){ s->segs[0].id, 0 };
	s->rseg = s->acked.seg;
	s->roff = s->acked.off;
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0750) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

struct pl_spool *pl_spool_open(const struct pl_spool_opts *opts, struct pl_stats *st)
{
	struct pl_spool *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->opts = *opts;
	s->st = st;
	s->wfd = -1;
	s->cursor_fd = -1;
	s->dir = strdup(opts->dir);
	s->bufcap = (size_t)opts->segment_bytes + PL_SPOOL_HDR + PL_SPOOL_MAX_RECORD;
	s->buf = malloc(s->bufcap);
	s->dirfd = -1;
	if (!s->dir || !s->buf)
		goto fail;
	if (make_dir(opts->dir) < 0 ||
	    (s->dirfd = open(opts->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		pl_err("spool %s: %s", opts->dir, strerror(errno));
		goto fail;
	}
	if (scan_dir(s) < 0) {
		pl_err("spool %s: cannot list: %s", opts->dir, strerror(errno));
		goto fail;
	}
	load_cursor(s);
	place_reader(s);
	drop_acked(s);
	if (st)
		st->spool_bytes = s->total;
	if (s->total)
		pl_info("spool %s: %zu segments, %" PRIu64 " bytes to re-send", s->dir, s->nsegs, s->total);
	s->last_sync_ns = now_ns();
	return s;
fail:
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->segs);
	free(s->buf);
	free(s->dir);
	free(s);
	return NULL;
}

/* ---- writing ---- */

#define IO_LOG_EVERY_NS (10 * PL_NS_PER_SEC)
#define IO_PAUSE_NS (PL_NS_PER_SEC / 2)

/* err is the errno saved at the failing call (later calls, ftruncate included, change it).
 * One line per spell of failures, then one every IO_LOG_EVERY_NS with the count between. */
static void io_error(struct pl_spool *s, const char *what, int err)
{
	uint64_t now = now_ns();

	s->io_failed = true;
	s->io_retry_ns = now + IO_PAUSE_NS;
	if (s->st)
		s->st->output_errors++;
	if (s->io_logged_ns && now - s->io_logged_ns < IO_LOG_EVERY_NS) {
		s->io_suppressed++;
		return;
	}
	s->io_logged_ns = now;
	if (s->io_suppressed)
		pl_err("spool %s: %s failed: %s (%llu more failures since the last message)", s->dir,
		       what, strerror(err), (unsigned long long)s->io_suppressed);
	else
		pl_err("spool %s: %s failed: %s", s->dir, what, strerror(err));
	s->io_suppressed = 0;
}

static void io_ok(struct pl_spool *s)
{
	if (!s->io_failed)
		return;
	pl_info("spool %s: writing again", s->dir);
	s->io_failed = false;
	s->io_logged_ns = s->io_suppressed = 0;
}

/* writev until every byte is out; -1 with errno from the call that failed. Returns the bytes
 * written in *done either way. */
static int writev_all(int fd, struct iovec *iov, int n, size_t *done)
{
	*done = 0;
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		*done += (size_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int close_write_seg(struct pl_spool *s)
{
	int rc = 0;

	if (s->wfd < 0)
		return 0;
	if (s->dirty && s->opts.fsync != PL_SPOOL_FSYNC_NEVER && fdatasync(s->wfd) < 0)
		rc = -1;
	s->dirty = false;
	close(s->wfd);
	s->wfd = -1;
	return rc;
}

/* New segments only: an old one may end in a torn record we must not write after. */
static int open_write_seg(struct pl_spool *s)
{
	uint64_t id = s->nsegs ? s->segs[s->nsegs - 1].id + 1 : s->acked.seg + 1;
	char name[32];

	if (close_write_seg(s) < 0)
		io_error(s, "fsync", errno);
	seg_name(name, sizeof(name), id);
	s->wfd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
	if (s->wfd < 0)
		return -1;
	if (add_seg(s, id, 0) < 0) {
		close(s->wfd);
		s->wfd = -1;
		unlinkat(s->dirfd, name, 0);
		errno = ENOSPC;
		return -1;
	}
	/* The new name must survive a crash too, or its records vanish with it. */
	if (s->opts.fsync != PL_SPOOL_FSYNC_NEVER)
		fsync(s->dirfd);
	if (s->nsegs == 1) {
		/* Everything before was delivered: both positions start on the new segment. */
		s->acked = (struct pl_spool_pos){ id, 0 };
		s->rseg = id;
		s->roff = 0;
		s->loaded = false;
	}
	return 0;
}

int pl_spool_append(struct pl_spool *s, const void *payload, size_t len,
		    const char *key, size_t klen, const char *topic, size_t tlen)
{
	uint8_t hdr[PL_SPOOL_HDR + BODY_HDR];
	size_t rec = PL_SPOOL_HDR + BODY_HDR + klen + tlen + len;
	struct iovec iov[4];
	size_t done;

	if (klen > UINT16_MAX || tlen > UINT16_MAX || rec - PL_SPOOL_HDR > PL_SPOOL_MAX_RECORD)
		return PL_SPOOL_TOO_BIG;
	if (s->total + rec > s->opts.max_bytes)
		return PL_SPOOL_FULL;
	if ((s->wfd < 0 || s->segs[s->nsegs - 1].size >= s->opts.segment_bytes) &&
	    open_write_seg(s) < 0) {
		io_error(s, "creating a segment", errno);
		return PL_SPOOL_IO;
	}
	pl_spool_encode_header(hdr, payload, len, key, klen, topic, tlen);
	iov[0] = (struct iovec){ hdr, sizeof(hdr) };
	iov[1] = (struct iovec){ (void *)key, klen };
	iov[2] = (struct iovec){ (void *)topic, tlen };
	iov[3] = (struct iovec){ (void *)payload, len };
	if (writev_all(s->wfd, iov, 4, &done) < 0) {
		/* Cut a partial record off so the segment still ends on a boundary. */
		io_error(s, "write", errno);
		if (done && ftruncate(s->wfd, (off_t)s->segs[s->nsegs - 1].size) < 0)
			close_write_seg(s);
		return PL_SPOOL_IO;
	}
	io_ok(s);
	s->segs[s->nsegs - 1].size += rec;
	s->total += rec;
	s->dirty = true;
	if (s->st) {
		s->st->spool_records++;
		s->st->spool_bytes = s->total;
	}
	/* A failed fsync is logged and counted, but the record is in the segment (and counted in
	 * spool_records): it stays dirty, so its ack waits for a sync that works. */
	if (s->opts.fsync == PL_SPOOL_FSYNC_ALWAYS)
		pl_spool_sync(s);
	return PL_SPOOL_OK;
}

bool pl_spool_durable(const struct pl_spool *s)
{
	return !s->dirty || s->opts.fsync == PL_SPOOL_FSYNC_NEVER;
}

int pl_spool_sync(struct pl_spool *s)
{
	s->last_sync_ns = now_ns();
	if (!s->dirty || s->wfd < 0)
		return 0;
	if (fdatasync(s->wfd) < 0) {
		io_error(s, "fsync", errno);
		return -1;
	}
	s->dirty = false;
	return 0;
}

int pl_spool_tick(struct pl_spool *s, uint64_t now)
{
	if (!s->dirty || s->opts.fsync != PL_SPOOL_FSYNC_INTERVAL)
		return 0;
	if (now - s->last_sync_ns < s->opts.fsync_interval_ns)
		return 0;
	return pl_spool_sync(s) == 0;
}

/* ---- reading ---- */

/* Read the reader's segment into buf: all of it, or what was added since the last load. */
static int load(struct pl_spool *s)
{
	const struct seg *g = find_seg(s, s->rseg);
	char name[32];
	size_t want, from = s->loaded ? s->buflen : 0;
	int fd;

	if (!g)
		return -1;
	want = (size_t)PL_MIN(g->size, (uint64_t)s->bufcap);
	if (s->loaded && want <= s->buflen)
		return 0;
	seg_name(name, sizeof(name), g->id);
	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (from < want) {
		ssize_t n = pread(fd, s->buf + from, want - from, (off_t)from);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		from += (size_t)n;
	}
	close(fd);
	s->buflen = from;
	s->loaded = true;
	return 0;
}

/* Move to the segment after the reader's; false when there is none. */
static bool next_seg(struct pl_spool *s)
{
	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i].id > s->rseg) {
			s->rseg = s->segs[i].id;
			s->roff = 0;
			s->loaded = false;
			return true;
		}
	}
	return false;
}

int pl_spool_read(struct pl_spool *s, struct pl_spool_rec *r)
{
	for (;;) {
		size_t next = 0;
		int rc;

		if (!find_seg(s, s->rseg)) {
			if (!next_seg(s))
				return 0;
			continue;
		}
		if (load(s) < 0) {
			pl_warn("spool %s: cannot read segment %" PRIu64 ": %s", s->dir, s->rseg,
				strerror(errno));
			if (s->st)
				s->st->spool_corrupt++;
			if (!next_seg(s))
				return 0;
			continue;
		}
		rc = pl_spool_parse(s->buf, s->buflen, (size_t)s->roff, r, &next);
		if (rc == PL_SPOOL_REC_OK) {
			r->pos.seg = r->next.seg = s->rseg;
			s->roff = next;
			return 1;
		}
		if (rc == PL_SPOOL_REC_END) {
			if (is_write_seg(s, s->rseg) || !next_seg(s))
				return 0;
			continue;
		}
		/* Damaged bytes: count them once and look for the next record start. */
		if (s->st)
			s->st->spool_corrupt++;
		s->roff = pl_spool_resync(s->buf, s->buflen, (size_t)s->roff);
	}
}

void pl_spool_rewind(struct pl_spool *s, struct pl_spool_pos to)
{
	if (to.seg != s->rseg)
		s->loaded = false;
	s->rseg = to.seg;
	s->roff = to.off;
}

struct pl_spool_pos pl_spool_read_pos(const struct pl_spool *s)
{
	return (struct pl_spool_pos){ s->rseg, s->roff };
}

void pl_spool_ack(struct pl_spool *s, struct pl_spool_pos upto)
{
	if (upto.seg == s->acked.seg && upto.off == s->acked.off)
		return;
	s->acked = upto;
	drop_acked(s);
	save_cursor(s);
}

bool pl_spool_at_end(const struct pl_spool *s)
{
	const struct seg *last;

	if (!s->nsegs)
		return true;
	last = &s->segs[s->nsegs - 1];
	return s->rseg > last->id || (s->rseg == last->id && s->roff >= last->size);
}

uint64_t pl_spool_bytes(const struct pl_spool *s)
{
	return s->total;
}

bool pl_spool_should_pause(const struct pl_spool *s)
{
	/* After a failed append (a full disk) a source that can wait waits a moment rather
	 * than lose events; it tries again after IO_PAUSE_NS. */
	if (s->io_failed && now_ns() < s->io_retry_ns)
		return true;
	return s->total >= s->opts.max_bytes - s->opts.max_bytes / 10;
}

bool pl_spool_failing(const struct pl_spool *s)
{
	return s->io_failed;
}

void pl_spool_close(struct pl_spool *s)
{
	if (!s)
		return;
	if (s->dirty && s->wfd >= 0 && fdatasync(s->wfd) < 0)
		io_error(s, "fsync", errno);
	s->dirty = false;
	close_write_seg(s);
	/* An empty spool leaves no segment behind: the next start has nothing to scan. */
	if (s->nsegs == 1 && s->acked.seg == s->segs[0].id && s->acked.off >= s->segs[0].size)
		drop_seg_at(s, 0);
	save_cursor(s);
	if (s->cursor_fd >= 0)
		close(s->cursor_fd);
	close(s->dirfd);
	free(s->segs);
	free(s->buf);
	free(s->dir);
	free(s);
}
