/* resolve.c – the /proc resolver the helper process runs: a snapshot of the host's TCP
 * sockets (/proc/net/tcp{,6}: 4-tuple → owner uid and inode), their processes (/proc/PID/fd
 * links: inode → pid) and what those processes are (/proc/PID/{stat,exe,cmdline}), all read
 * at one moment. A query answers from the snapshot; one that misses a side rebuilds it, at
 * most once per refresh interval. Everything is allocated once, at creation; the tables are
 * bounded (MAX_ROWS sockets, MAX_INFOS processes) and what does not fit is left out. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "pktlog/proc.h"

#define MAX_ROWS 65536u               /* sockets with an owner, per snapshot */
#define ROW_SLOTS (2 * MAX_ROWS)       /* open addressing, load <= 1/2 */
#define MAX_INFOS 1024u               /* processes described, per snapshot */
#define INFO_SLOTS (2 * MAX_INFOS)
#define READ_CHUNK 65536
#define LINE_MAX_BYTES 512

struct row {
	struct pl_proc_sock s;
	int32_t pid;                  /* 0 = no process found holding it */
	uint32_t next_inode;          /* chain in the inode table (index + 1) */
};

struct pl_proc_resolver {
	uint64_t refresh_ns, built_ns;
	bool built;
	struct row *rows;
	uint32_t n_rows;
	uint32_t *by_tuple;           /* slot → row index + 1 */
	uint32_t *by_inode;
	struct pl_proc_info *infos;
	uint32_t n_infos;
	uint32_t *by_pid;             /* slot → info index + 1 */
	char *buf;                    /* READ_CHUNK + LINE_MAX_BYTES */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

static uint64_t tuple_hash(uint8_t af, const uint8_t *lip, uint16_t lport, const uint8_t *rip,
			   uint16_t rport)
{
	uint64_t a, b, c, d, h = af;

	memcpy(&a, lip, 8);
	memcpy(&b, lip + 8, 8);
	memcpy(&c, rip, 8);
	memcpy(&d, rip + 8, 8);
	h = mix(mix(mix(mix(mix(h, a), b), c), d), (uint64_t)lport << 16 | rport);
	return h ^ (h >> 29);
}

struct pl_proc_resolver *pl_proc_resolver_new(uint64_t refresh_ns)
{
	struct pl_proc_resolver *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->refresh_ns = refresh_ns;
	r->rows = calloc(MAX_ROWS, sizeof(*r->rows));
	r->by_tuple = calloc(ROW_SLOTS, sizeof(*r->by_tuple));
	r->by_inode = calloc(ROW_SLOTS, sizeof(*r->by_inode));
	r->infos = calloc(MAX_INFOS, sizeof(*r->infos));
	r->by_pid = calloc(INFO_SLOTS, sizeof(*r->by_pid));
	r->buf = malloc(READ_CHUNK + LINE_MAX_BYTES);
	if (!r->rows || !r->by_tuple || !r->by_inode || !r->infos || !r->by_pid || !r->buf) {
		pl_proc_resolver_free(r);
		return NULL;
	}
	return r;
}

void pl_proc_resolver_free(struct pl_proc_resolver *r)
{
	if (!r)
		return;
	free(r->rows);
	free(r->by_tuple);
	free(r->by_inode);
	free(r->infos);
	free(r->by_pid);
	free(r->buf);
	free(r);
}

static void add_row(struct pl_proc_resolver *r, const struct pl_proc_sock *s)
{
	uint64_t h = tuple_hash(s->af, s->local_ip, s->local_port, s->remote_ip, s->remote_port);
	uint32_t i = (uint32_t)(h % ROW_SLOTS), k;

	if (r->n_rows >= MAX_ROWS)
		return;
	while (r->by_tuple[i])
		i = (i + 1) % ROW_SLOTS;
	r->rows[r->n_rows] = (struct row){ .s = *s };
	r->by_tuple[i] = r->n_rows + 1;
	k = (uint32_t)(mix(0, s->inode) % ROW_SLOTS);
	while (r->by_inode[k])
		k = (k + 1) % ROW_SLOTS;
	r->by_inode[k] = r->n_rows + 1;
	r->n_rows++;
}

static struct row *find_row(struct pl_proc_resolver *r, uint8_t af, const uint8_t *lip,
			    uint16_t lport, const uint8_t *rip, uint16_t rport)
{
	uint32_t i = (uint32_t)(tuple_hash(af, lip, lport, rip, rport) % ROW_SLOTS);

	for (; r->by_tuple[i]; i = (i + 1) % ROW_SLOTS) {
		struct row *w = &r->rows[r->by_tuple[i] - 1];
		if (w->s.af == af && w->s.local_port == lport && w->s.remote_port == rport &&
		    !memcmp(w->s.local_ip, lip, 16) && !memcmp(w->s.remote_ip, rip, 16))
			return w;
	}
	return NULL;
}

static struct row *find_inode(struct pl_proc_resolver *r, uint64_t inode)
{
	uint32_t i = (uint32_t)(mix(0, inode) % ROW_SLOTS);

	for (; r->by_inode[i]; i = (i + 1) % ROW_SLOTS)
		if (r->rows[r->by_inode[i] - 1].s.inode == inode)
			return &r->rows[r->by_inode[i] - 1];
	return NULL;
}

/* Every owned, non-listening socket of one table. Lines are cut at LINE_MAX_BYTES. */
static int read_table(struct pl_proc_resolver *r, const char *path, bool v6)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t have = 0;
	ssize_t n;
	bool first = true;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;   /* no IPv6 in this kernel */
	while ((n = read(fd, r->buf + have, READ_CHUNK)) > 0) {
		char *p = r->buf, *end = r->buf + have + (size_t)n, *nl;

		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			struct pl_proc_sock s;

			if (!first && pl_proc_parse_tcp_line(p, (size_t)(nl - p), v6, &s) == 0 &&
			    s.inode && s.state != 10 /* TCP_LISTEN */)
				add_row(r, &s);
			first = false;
			p = nl + 1;
		}
		have = PL_MIN((size_t)(end - p), (size_t)LINE_MAX_BYTES);
		memmove(r->buf, p, have);
	}
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Read up to cap bytes of dirfd/name. Returns the length, or -1. */
static ssize_t read_small(int dirfd, const char *name, char *buf, size_t cap)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	size_t have = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -1;
	while (have < cap && (n = read(fd, buf + have, cap - have)) > 0)
		have += (size_t)n;
	close(fd);
	return n < 0 ? -1 : (ssize_t)have;
}

static void describe(int piddir, int32_t pid, struct pl_proc_info *in, char *scratch, size_t cap)
{
	ssize_t n;

	memset(in, 0, offsetof(struct pl_proc_info, name));
	in->pid = pid;
	in->ppid = -1;
	n = read_small(piddir, "stat", scratch, cap);
	if (n > 0)
		pl_proc_parse_stat(scratch, (size_t)n, in);
	n = readlinkat(piddir, "exe", in->exe, sizeof(in->exe));
	in->exe_len = n > 0 && (size_t)n < sizeof(in->exe) ? (uint16_t)n : 0;
	n = read_small(piddir, "cmdline", scratch, cap);
	if (n > 0)
		pl_proc_parse_cmdline(scratch, (size_t)n, in);
}

static struct pl_proc_info *find_info(struct pl_proc_resolver *r, int32_t pid)
{
	uint32_t i = (uint32_t)(mix(1, (uint64_t)pid) % INFO_SLOTS);

	for (; r->by_pid[i]; i = (i + 1) % INFO_SLOTS)
		if (r->infos[r->by_pid[i] - 1].pid == pid)
			return &r->infos[r->by_pid[i] - 1];
	return NULL;
}

static void add_info(struct pl_proc_resolver *r, int piddir, int32_t pid)
{
	uint32_t i = (uint32_t)(mix(1, (uint64_t)pid) % INFO_SLOTS);

	if (r->n_infos >= MAX_INFOS || find_info(r, pid))
		return;
	describe(piddir, pid, &r->infos[r->n_infos], r->buf, READ_CHUNK);
	while (r->by_pid[i])
		i = (i + 1) % INFO_SLOTS;
	r->by_pid[i] = ++r->n_infos;
}

/* The sockets one process holds: give their rows this pid (the first holder wins). */
static void scan_pid(struct pl_proc_resolver *r, int piddir, int32_t pid)
{
	int fdd = openat(piddir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *e;
	bool owns = false;

	if (fdd < 0)
		return;
	d = fdopendir(fdd);
	if (!d) {
		close(fdd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char link[64];
		ssize_t n;
		uint64_t inode;
		struct row *w;

		if (e->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(d), e->d_name, link, sizeof(link));
		if (n <= 0 || (size_t)n >= sizeof(link) ||
		    pl_proc_parse_socket_link(link, (size_t)n, &inode) != 0)
			continue;
		w = find_inode(r, inode);
		if (w && !w->pid) {
			w->pid = pid;
			owns = true;
		}
	}
	closedir(d);
	if (owns)
		add_info(r, piddir, pid);
}

static int scan_processes(struct pl_proc_resolver *r)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *endp;
		long pid = strtol(e->d_name, &endp, 10);
		int piddir;

		if (*endp || pid <= 0 || pid > INT32_MAX)
			continue;
		piddir = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (piddir < 0)
			continue;   /* gone since readdir */
		scan_pid(r, piddir, (int32_t)pid);
		close(piddir);
	}
	closedir(d);
	return 0;
}

static int rebuild(struct pl_proc_resolver *r)
{
	int rc;

	r->n_rows = 0;
	r->n_infos = 0;
	memset(r->by_tuple, 0, ROW_SLOTS * sizeof(*r->by_tuple));
	memset(r->by_inode, 0, ROW_SLOTS * sizeof(*r->by_inode));
	memset(r->by_pid, 0, INFO_SLOTS * sizeof(*r->by_pid));
	rc = read_table(r, "/proc/net/tcp", false);
	rc |= read_table(r, "/proc/net/tcp6", true);
	rc |= scan_processes(r);
	r->built = true;
	r->built_ns = mono_ns();
	return rc;
}

/* Side 0: the client's socket (local = client); side 1: the server's. */
static bool lookup(struct pl_proc_resolver *r, const struct pl_proc_query *q, int side,
		   struct pl_proc_info *out)
{
	const uint8_t *lip = side ? q->server_ip : q->client_ip;
	const uint8_t *rip = side ? q->client_ip : q->server_ip;
	uint16_t lport = side ? q->server_port : q->client_port;
	uint16_t rport = side ? q->client_port : q->server_port;
	struct row *w = find_row(r, q->af, lip, lport, rip, rport);
	const struct pl_proc_info *in;

	if (!w || !w->pid)
		return false;
	in = find_info(r, w->pid);
	if (in) {
		*out = *in;
	} else {   /* MAX_INFOS reached: the pid alone */
		memset(out, 0, offsetof(struct pl_proc_info, name));
		out->pid = w->pid;
		out->ppid = -1;
	}
	out->uid = w->s.uid;
	out->has_uid = 1;
	return true;
}

void pl_proc_resolve(struct pl_proc_resolver *r, const struct pl_proc_query *q,
		     struct pl_proc_answer *a)
{
	memset(a, 0, offsetof(struct pl_proc_answer, info));
	for (int pass = 0; pass < 2; pass++) {
		for (int side = 0; side < 2; side++)
			if (!a->found[side] && r->built)
				a->found[side] = lookup(r, q, side, &a->info[side]);
		if (a->found[0] && a->found[1])
			return;
		if (pass == 1)
			return;
		if (r->built && mono_ns() - r->built_ns < r->refresh_ns) {
			a->rate_limited = 1;
			return;
		}
		a->scanned = 1;
		if (rebuild(r) != 0)
			a->error = 1;
	}
}
