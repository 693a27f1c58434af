/* proc.c – process attribution for live capture: starts the /proc resolver in a helper
 * process and the eBPF source (before the privilege drop, while pktlog has no threads),
 * keeps a bounded cache of answers per connection, gives each event a copy carrying the
 * processes of its local sides (pl_proc_annotate), and has the eBPF map's closed entries
 * deleted after their grace period (pl_proc_tick, main thread). The cache is shared by the
 * capture threads under one lock; it is allocated once at start, so annotating allocates
 * nothing. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include "pktlog/proc.h"
#include "ebpf.h"

#define WAYS 4                        /* cache: sets of 4, the least recently used goes */
#define ANSWER_TIMEOUT_MS 3000
#define CLOSE_GRACE_EXTRA_NS (5 * PL_NS_PER_SEC)  /* past flows.idle_timeout: capture lag */
#define COUNT_EVERY_NS (10 * PL_NS_PER_SEC)      /* proc_ebpf_entries: a walk of the map */

struct entry {
	bool used;
	uint8_t af;
	uint8_t cip[16], sip[16];
	uint16_t cport, sport;
	uint64_t checked_ns, used_ns;
	bool has[2];
	struct pl_proc_info info[2];
};

static struct {
	bool on;
	int sock;
	pid_t helper;
	uint32_t seq;
	uint64_t refresh_ns;
	struct entry *cache;
	uint32_t n_sets;
	struct pl_proc_ebpf *ebpf;    /* NULL: /proc only */
	uint64_t close_grace_ns;      /* a closed socket's entry stays this long in the map */
	uint64_t next_count_ns;       /* main thread: next count of the map's entries */
	uint64_t entries;             /* main thread: the last count */
	uint64_t counted_closes;      /* main thread: closes stamped at the last count */
	pthread_mutex_t lock;
} mod = { .sock = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static _Thread_local struct {
	struct pl_event ev;
	struct pl_event_process p[2];
	struct pl_proc_info info[2];
	struct pl_str args[2][PL_PROC_MAX_ARGS];
} tl;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* --- the helper process --- */

/* Become capture.user (as pktlog itself will) but keep the two capabilities reading other
 * processes' /proc/PID/fd and exe needs; drop every other one for good. */
static void helper_reduce_privileges(const char *user)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	uint32_t keep = (1u << CAP_SYS_PTRACE) | (1u << CAP_DAC_READ_SEARCH);
	struct passwd *pw = user && *user && geteuid() == 0 ? getpwnam(user) : NULL;

	for (int cap = 0; cap <= 63; cap++)
		if (cap != CAP_SYS_PTRACE && cap != CAP_DAC_READ_SEARCH &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL)
			break;
	if (pw) {   /* the permitted set survives setuid with KEEPCAPS; effective is reset */
		prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
		if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(1);   /* never run as root by accident: the parent sees EOF */
	}
	if (syscall(SYS_capget, &hdr, data) == 0) {
		data[0].effective = data[0].permitted & keep;
		data[0].permitted &= keep;
		data[0].inheritable = 0;
		data[1].effective = data[1].permitted = data[1].inheritable = 0;
		syscall(SYS_capset, &hdr, data);
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static void helper_main(int sock, pid_t parent, uint64_t refresh_ns, const char *user)
{
	struct pl_proc_resolver *r;
	struct pl_proc_query q;
	struct pl_proc_answer *a = malloc(sizeof(*a));
	ssize_t n;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "pktlog-proc");
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	helper_reduce_privileges(user);
	r = pl_proc_resolver_new(refresh_ns);
	if (!r || !a)
		_exit(1);
	while ((n = recv(sock, &q, sizeof(q), 0)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if ((size_t)n != sizeof(q))
			continue;
		pl_proc_resolve(r, &q, a);
		a->seq = q.seq;
		if (send(sock, a, sizeof(*a), MSG_NOSIGNAL) < 0)
			break;
	}
	_exit(0);
}

static int start_helper(uint64_t refresh_ns, const char *user)
{
	int sv[2];
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		helper_main(sv[1], parent, refresh_ns, user);
	}
	close(sv[1]);
	mod.sock = sv[0];
	mod.helper = pid;
	return 0;
}

/* Whether this process may read other users' /proc/PID/fd (the helper keeps these). */
static bool can_read_others(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data) != 0)
		return false;
	return (data[0].effective & (1u << CAP_SYS_PTRACE)) &&
	       (data[0].effective & (1u << CAP_DAC_READ_SEARCH));
}

static uint64_t format_ms(uint64_t ns)
{
	return ns / 1000000;
}

/* The eBPF source, unless process.source is proc. Returns 0 (loaded, or fell back with the
 * reason in why), -1 when source: ebpf cannot have it. */
static int start_ebpf(const struct pl_config *cfg, char *why, size_t whylen)
{
	uint32_t entries = PL_MAX(4096u, PL_MIN(cfg->process.cache_entries * 4u, 65536u));

	if (cfg->process.source == PL_PROC_SOURCE_PROC) {
		snprintf(why, whylen, "process.source: proc");
		return 0;
	}
	mod.ebpf = pl_proc_ebpf_open(entries, why, whylen);
	return mod.ebpf || cfg->process.source != PL_PROC_SOURCE_EBPF ? 0 : -1;
}

int pl_proc_start(const struct pl_config *cfg)
{
	uint32_t want = cfg->process.cache_entries, sets = 1;
	bool required = cfg->process.enabled == PL_EBPF_ON;
	char why[256] = "";

	if (cfg->process.enabled == PL_EBPF_OFF) {
		pl_info("process attribution: off (process.enabled: off)");
		return 0;
	}
	while (sets * WAYS < want)
		sets <<= 1;
	mod.cache = calloc((size_t)sets * WAYS, sizeof(*mod.cache));
	/* the helper first: it must not inherit the eBPF program's descriptors */
	if (!mod.cache || start_helper(cfg->process.refresh_interval_ns, cfg->capture.user) != 0) {
		pl_log(required ? PL_LOG_ERR : PL_LOG_WARN, "process attribution: cannot start the "
		       "/proc reader: %s; %s", strerror(errno), required ? "stopping" : "attribution is off");
		pl_proc_stop();
		return required ? -1 : 0;
	}
	if (start_ebpf(cfg, why, sizeof(why)) != 0) {
		pl_log(required ? PL_LOG_ERR : PL_LOG_WARN, "process attribution: process.source: "
		       "ebpf: %s; %s", why, required ? "stopping (process.enabled: on)" :
		       "attribution is off");
		pl_proc_stop();
		return required ? -1 : 0;
	}
	mod.n_sets = sets;
	mod.refresh_ns = cfg->process.refresh_interval_ns;
	mod.on = true;
	/* a closed connection's last events can come up to flows.idle_timeout later */
	mod.close_grace_ns = cfg->flows.idle_timeout_ns + CLOSE_GRACE_EXTRA_NS;
	/* One line: the mechanism, why, and what it misses. */
	if (mod.ebpf) {
		struct pl_proc_ebpf_counters c;

		pl_proc_ebpf_counters(mod.ebpf, &c);
		pl_info("process attribution: source ebpf: a BPF program (tp_btf/sys_exit) records "
			"the process of each TCP socket made by connect/accept from now on; the "
			"iterator (iter/task_file) found %llu connections open at start-up; entries of "
			"closed sockets (tp_btf/inet_sock_set_state) are deleted %llu ms after the "
			"close; sockets the map does not know from /proc, rescanned at most every "
			"%llu ms%s",
			(unsigned long long)c.iter_sockets,
			(unsigned long long)format_ms(mod.close_grace_ns),
			(unsigned long long)format_ms(cfg->process.refresh_interval_ns),
			can_read_others() ? "" : "; no CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: /proc "
			"only for this user's processes");
	} else {
		pl_info("process attribution: source proc: reading /proc (%s): socket tables and "
			"/proc/PID/fd rescanned at most every %llu ms, when a connection is not known; "
			"connections opened and closed between two scans are not attributed%s", why,
			(unsigned long long)format_ms(cfg->process.refresh_interval_ns),
			can_read_others() ? "" : "; no CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: only "
			"this user's processes");
	}
	return 0;
}

void pl_proc_stop(void)
{
	if (mod.sock >= 0) {
		close(mod.sock);   /* the helper reads EOF and exits */
		mod.sock = -1;
	}
	if (mod.helper > 0) {
		waitpid(mod.helper, NULL, 0);
		mod.helper = 0;
	}
	mod.on = false;
	pl_proc_ebpf_close(mod.ebpf);
	mod.ebpf = NULL;
	free(mod.cache);
	mod.cache = NULL;
}

/* --- the cache --- */

static uint32_t key_hash(const struct pl_event *ev)
{
	uint64_t h = ev->af, a, b;

	for (int i = 0; i < 16; i += 8) {
		memcpy(&a, ev->client.ip + i, 8);
		memcpy(&b, ev->server.ip + i, 8);
		h = (h ^ a) * 0x9e3779b97f4a7c15ULL;
		h = (h ^ b) * 0xff51afd7ed558ccdULL;
	}
	h = (h ^ ((uint64_t)ev->client.port << 16 | ev->server.port)) * 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(h >> 32);
}

static bool same(const struct entry *e, const struct pl_event *ev)
{
	return e->used && e->af == ev->af && e->cport == ev->client.port &&
	       e->sport == ev->server.port && !memcmp(e->cip, ev->client.ip, 16) &&
	       !memcmp(e->sip, ev->server.ip, 16);
}

/* The entry of ev's connection, or a fresh one replacing its set's least recent. */
static struct entry *cache_slot(const struct pl_event *ev, bool *fresh)
{
	struct entry *set = &mod.cache[(key_hash(ev) & (mod.n_sets - 1)) * WAYS], *old = set;

	*fresh = false;
	for (int i = 0; i < WAYS; i++) {
		if (same(&set[i], ev))
			return &set[i];
		if (!set[i].used || (old->used && set[i].used_ns < old->used_ns))
			old = &set[i];
	}
	*fresh = true;
	memset(old, 0, offsetof(struct entry, info));
	old->used = true;
	old->af = ev->af;
	memcpy(old->cip, ev->client.ip, 16);
	memcpy(old->sip, ev->server.ip, 16);
	old->cport = ev->client.port;
	old->sport = ev->server.port;
	return old;
}

/* One round trip to the helper. Returns 0 with *a filled, or -1. */
static int ask(const struct pl_event *ev, struct pl_proc_answer *a)
{
	struct pl_proc_query q = { .seq = ++mod.seq, .af = ev->af, .client_port = ev->client.port,
				   .server_port = ev->server.port };
	struct pollfd pfd = { mod.sock, POLLIN, 0 };
	uint64_t deadline = mono_ns() + ANSWER_TIMEOUT_MS * 1000000ULL;

	memcpy(q.client_ip, ev->client.ip, 16);
	memcpy(q.server_ip, ev->server.ip, 16);
	if (mod.sock < 0 || send(mod.sock, &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q))
		return -1;
	for (;;) {
		uint64_t now = mono_ns();
		ssize_t n;

		if (now >= deadline)
			return -1;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			continue;
		n = recv(mod.sock, a, sizeof(*a), MSG_DONTWAIT);
		if (n == 0)
			return -1;   /* the helper is gone */
		if (n == (ssize_t)sizeof(*a) && a->seq == q.seq)
			return 0;
		/* a late answer to a query that timed out: skip it */
	}
}

/* At most one line per minute (called under mod.lock). */
static void warn_failed(uint64_t now)
{
	static uint64_t next_ns;
	static uint64_t failed;

	failed++;
	if (now < next_ns)
		return;
	next_ns = now + 60 * PL_NS_PER_SEC;
	pl_warn("process attribution: the /proc reader (pid %d) did not answer (%llu times so "
		"far); events go without process fields", (int)mod.helper, (unsigned long long)failed);
}

/* Both sides in the eBPF map; true when it knew at least one. */
static bool from_ebpf(struct entry *e, const struct pl_event *ev)
{
	static _Thread_local struct pl_proc_info in;
	bool any = false;

	for (int i = 0; i < 2; i++) {
		const struct pl_endpoint *l = i ? &ev->server : &ev->client;
		const struct pl_endpoint *r = i ? &ev->client : &ev->server;

		if (pl_proc_ebpf_lookup(mod.ebpf, ev->af, l->ip, l->port, r->ip, r->port, &in) != 0)
			continue;
		e->has[i] = true;
		e->info[i] = in;
		any = true;
	}
	return any;
}

static void refresh_entry(struct entry *e, const struct pl_event *ev, struct pl_stats *st,
			  uint64_t now)
{
	static _Thread_local struct pl_proc_answer a;

	e->checked_ns = now;
	if (mod.ebpf && from_ebpf(e, ev))
		return;   /* the other side is remote, or its own syscall was seen too */
	st->proc_fallbacks++;
	if (ask(ev, &a) != 0) {
		st->proc_errors++;
		warn_failed(now);
		return;
	}
	st->proc_scans += a.scanned;
	st->proc_errors += a.error;
	if (a.rate_limited && !a.found[0] && !a.found[1] && !e->has[0] && !e->has[1])
		st->proc_rate_limited++;
	/* a side not found now keeps what an earlier answer said: its process may have
	 * exited, or closed the socket, since */
	for (int i = 0; i < 2; i++) {
		if (!a.found[i])
			continue;
		e->has[i] = true;
		e->info[i] = a.info[i];
	}
}

/* --- the event copy --- */

static void to_event(struct pl_event_process *p, struct pl_str *args,
		     const struct pl_proc_info *in)
{
	size_t off = 0;

	p->pid = in->pid;
	p->ppid = in->ppid;
	p->uid = in->uid;
	p->has_uid = in->has_uid;
	p->name = (struct pl_str){ in->name, in->name_len };
	p->executable = (struct pl_str){ in->exe, in->exe_len };
	p->n_args = 0;
	for (int i = 0; i < in->n_args && i < PL_PROC_MAX_ARGS && off < in->args_len; i++) {
		size_t n = strnlen(in->args + off, in->args_len - off);
		args[i] = (struct pl_str){ in->args + off, n };
		off += n + 1;
		p->n_args++;
	}
	p->args = args;
	p->args_count = in->args_count;
}

const struct pl_event *pl_proc_annotate(const struct pl_event *ev, struct pl_stats *st)
{
	struct entry *e;
	bool fresh, has[2];
	uint64_t now;

	if (!mod.on)
		return ev;
	st->proc_lookups++;
	now = mono_ns();
	pthread_mutex_lock(&mod.lock);
	e = cache_slot(ev, &fresh);
	e->used_ns = now;
	if (fresh || now - e->checked_ns >= mod.refresh_ns)
		refresh_entry(e, ev, st, now);
	for (int i = 0; i < 2; i++) {
		has[i] = e->has[i];
		if (has[i])
			tl.info[i] = e->info[i];
	}
	pthread_mutex_unlock(&mod.lock);
	if (!has[0] && !has[1]) {
		st->proc_misses++;
		return ev;
	}
	st->proc_hits++;
	tl.ev = *ev;
	for (int i = 0; i < 2; i++)
		if (has[i])
			to_event(&tl.p[i], tl.args[i], &tl.info[i]);
	tl.ev.process.client = has[0] ? &tl.p[0] : NULL;
	tl.ev.process.server = has[1] ? &tl.p[1] : NULL;
	return &tl.ev;
}

/* --- the eBPF map's upkeep and the module's counters (main thread) --- */

/* Counts the map's entries when something was closed or deleted, or every COUNT_EVERY_NS:
 * a walk of at most the map's size in keys. */
void pl_proc_tick(void)
{
	struct pl_proc_ebpf_counters c;
	uint64_t now, evicted;

	if (!mod.on || !mod.ebpf)
		return;
	now = mono_ns();
	evicted = pl_proc_ebpf_sweep(mod.ebpf, mod.close_grace_ns);
	pl_proc_ebpf_counters(mod.ebpf, &c);
	if (evicted || c.closes != mod.counted_closes || now >= mod.next_count_ns) {
		mod.entries = pl_proc_ebpf_entries(mod.ebpf);
		mod.counted_closes = c.closes;
		mod.next_count_ns = now + COUNT_EVERY_NS;
	}
}

void pl_proc_add_stats(struct pl_stats *sum)
{
	struct pl_proc_ebpf_counters c;

	if (!mod.on || !mod.ebpf)
		return;
	pl_proc_ebpf_counters(mod.ebpf, &c);
	sum->proc_ebpf = 1;
	sum->proc_iter_sockets += c.iter_sockets;
	sum->proc_ebpf_closes += c.closes;
	sum->proc_ebpf_evicted += c.evicted;
	sum->proc_ebpf_queue_full += c.close_queue_full;
	sum->proc_ebpf_entries = mod.entries;
}
