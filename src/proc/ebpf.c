/* ebpf.c – loads bpf/procattr.bpf.c (tp_btf/sys_exit on connect/accept, the start-up
 * iterator, tp_btf/inet_sock_set_state on close) through its bpftool skeleton, runs the
 * iterator once, reads the owners map, and deletes the entries of sockets closed longer than
 * a grace period ago: the eBPF source of process attribution. Loaded before the privilege
 * drop; the maps are used through their descriptors afterwards, which needs no capability.
 * The maps are the kernel's and bounded (LRU owners, a queue of closes); a lookup copies one
 * entry. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "pktlog/libbpf_log.h"
#include "pktlog/procattr.h"
#include "ebpf.h"
#include "procattr.skel.h"

#define SWEEP_MAX 65536              /* closed entries handled per sweep */

struct pl_proc_ebpf {
	struct procattr *skel;
	int map_fd, closed_fd, stats_fd;
	unsigned int netns;
	uint64_t iter_sockets;        /* recorded by the start-up iterator */
	uint64_t evicted;             /* entries deleted after their grace */
};

/* Counter i of the stats map, summed over the CPUs; 0 when unreadable. */
static uint64_t bpf_stat(const struct pl_proc_ebpf *e, uint32_t i)
{
	static uint64_t v[1024];
	int n = libbpf_num_possible_cpus();
	uint64_t sum = 0;

	if (n <= 0 || n > (int)PL_ARRAY_LEN(v) || bpf_map_lookup_elem(e->stats_fd, &i, v) != 0)
		return 0;
	for (int c = 0; c < n; c++)
		sum += v[c];
	return sum;
}

/* Every connected TCP socket held by a process now, into the owners map (iter.s/task_file).
 * Returns 0, or -1 with the reason in why. */
static int run_iterator(struct pl_proc_ebpf *e, char *why, size_t whylen)
{
	struct bpf_link *link = e->skel->links.pl_procattr_iter;
	char buf[256];
	ssize_t n;
	int fd;

	fd = link ? bpf_iter_create(bpf_link__fd(link)) : -1;
	if (fd < 0) {
		snprintf(why, whylen, "cannot start iter.s/task_file: %s", strerror(errno));
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		;
	if (n < 0)
		snprintf(why, whylen, "iter.s/task_file: %s", strerror(errno));
	close(fd);
	bpf_link__destroy(link);
	e->skel->links.pl_procattr_iter = NULL;
	e->iter_sockets = bpf_stat(e, PL_PA_ITER_SOCKETS);
	return n < 0 ? -1 : 0;
}

struct pl_proc_ebpf *pl_proc_ebpf_open(uint32_t max_entries, char *why, size_t whylen)
{
	struct pl_proc_ebpf *e;
	struct stat st;
	int err;

#if !defined(__x86_64__)
	snprintf(why, whylen, "the eBPF program reads x86-64 syscall registers");
	return NULL;
#endif
	if (stat("/proc/self/ns/net", &st) != 0) {
		snprintf(why, whylen, "/proc/self/ns/net: %s", strerror(errno));
		return NULL;
	}
	pl_libbpf_log_init();
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	e->netns = (unsigned int)st.st_ino;
	e->skel = procattr__open();
	if (!e->skel) {
		snprintf(why, whylen, "cannot open the program: %s", strerror(errno));
		goto fail;
	}
	e->skel->rodata->nr_connect = SYS_connect;
	e->skel->rodata->nr_accept = SYS_accept;
	e->skel->rodata->nr_accept4 = SYS_accept4;
	bpf_map__set_max_entries(e->skel->maps.owners, max_entries);
	bpf_map__set_max_entries(e->skel->maps.closed, max_entries);
	err = procattr__load(e->skel);
	if (err) {
		snprintf(why, whylen, "cannot load tp_btf/sys_exit: %s%s", strerror(-err),
			 err == -EPERM ? " (needs CAP_BPF and CAP_PERFMON, or root)" : "");
		goto fail;
	}
	err = procattr__attach(e->skel);
	if (err) {
		snprintf(why, whylen, "cannot attach tp_btf/sys_exit: %s", strerror(-err));
		goto fail;
	}
	e->map_fd = bpf_map__fd(e->skel->maps.owners);
	e->closed_fd = bpf_map__fd(e->skel->maps.closed);
	e->stats_fd = bpf_map__fd(e->skel->maps.stats);
	/* after attaching: a connection made meanwhile is seen by sys_exit, not lost between */
	if (run_iterator(e, why, whylen) != 0)
		goto fail;
	return e;
fail:
	pl_proc_ebpf_close(e);
	return NULL;
}

/* "/" + the components, root first (the map holds them deepest first). */
static void exe_of(const struct pl_pa_owner *o, struct pl_proc_info *out)
{
	size_t n = 0;

	out->exe_len = 0;
	if (!o->exe_ok || !o->exe_parts || o->exe_parts > PL_PA_EXE_PARTS)
		return;
	for (int i = o->exe_parts - 1; i >= 0; i--) {
		size_t len = strnlen(o->exe[i], PL_PA_EXE_PART);

		if (n + 1 + len > sizeof(out->exe))
			return;
		out->exe[n++] = '/';
		memcpy(out->exe + n, o->exe[i], len);
		n += len;
	}
	out->exe_len = (uint16_t)n;
}

static void to_info(const struct pl_pa_owner *o, struct pl_proc_info *out)
{
	size_t args = PL_MIN((size_t)o->args_len, sizeof(o->args));

	memset(out, 0, offsetof(struct pl_proc_info, name));
	out->pid = (int32_t)o->pid;
	out->ppid = (int32_t)o->ppid;
	out->uid = o->uid;
	out->has_uid = 1;
	out->name_len = (uint8_t)strnlen(o->comm, sizeof(o->comm));
	memcpy(out->name, o->comm, out->name_len);
	exe_of(o, out);
	if (o->args_cut) {   /* the last argument was cut: keep the whole ones */
		while (args && o->args[args - 1] != '\0')
			args--;
	}
	pl_proc_parse_cmdline(o->args, args, out);
	if (o->args_cut)
		out->args_count = 0;   /* unknown */
}

int pl_proc_ebpf_lookup(struct pl_proc_ebpf *e, uint8_t af, const uint8_t *lip, uint16_t lport,
			const uint8_t *rip, uint16_t rport, struct pl_proc_info *out)
{
	struct pl_pa_key k;
	struct pl_pa_owner o;

	memset(&k, 0, sizeof(k));
	k.netns = e->netns;
	k.af = af;
	k.lport = lport;
	k.rport = rport;
	memcpy(k.lip, lip, 16);
	memcpy(k.rip, rip, 16);
	if (bpf_map_lookup_elem(e->map_fd, &k, &o) != 0)
		return -1;
	to_info(&o, out);
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);   /* bpf_ktime_get_ns()'s clock */
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t pl_proc_ebpf_sweep(struct pl_proc_ebpf *e, uint64_t grace_ns)
{
	struct pl_pa_closed c;
	struct pl_pa_owner o;
	uint64_t now = mono_ns(), n = 0;

	for (int i = 0; i < SWEEP_MAX; i++) {
		if (bpf_map_lookup_elem(e->closed_fd, NULL, &c) != 0)
			break;   /* empty (the head is peeked) */
		if (c.closed_ns > now || now - c.closed_ns < grace_ns)
			break;   /* oldest first: the rest are younger (or closed after now was read) */
		if (bpf_map_lookup_and_delete_elem(e->closed_fd, NULL, &c) != 0)
			break;
		/* the tuple may have been made again since: then its entry is another's */
		if (bpf_map_lookup_elem(e->map_fd, &c.key, &o) != 0 || o.closed_ns != c.closed_ns)
			continue;
		if (bpf_map_delete_elem(e->map_fd, &c.key) == 0)
			n++;
	}
	e->evicted += n;
	return n;
}

uint64_t pl_proc_ebpf_entries(struct pl_proc_ebpf *e)
{
	struct pl_pa_key k, next;
	uint64_t n = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(e->map_fd, prev, &next) == 0) {
		n++;
		k = next;
		prev = &k;
	}
	return n;
}

void pl_proc_ebpf_counters(struct pl_proc_ebpf *e, struct pl_proc_ebpf_counters *out)
{
	out->iter_sockets = e->iter_sockets;
	out->evicted = e->evicted;
	out->closes = bpf_stat(e, PL_PA_CLOSES);
	out->close_queue_full = bpf_stat(e, PL_PA_CLOSE_QUEUE_FULL);
}

void pl_proc_ebpf_close(struct pl_proc_ebpf *e)
{
	if (!e)
		return;
	procattr__destroy(e->skel);
	free(e);
}
