/* proc.h – process attribution (src/proc/): which local process owns each side of a
 * connection, for live capture.
 *
 * pl_proc_start() (before any thread starts and before privileges are dropped) forks a small
 * resolver that keeps only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH and reads /proc: the socket
 * tables /proc/net/tcp{,6} (socket inode and owner uid per 4-tuple), /proc/PID/fd (which
 * process holds the inode) and /proc/PID/{stat,exe,cmdline}. pl_proc_annotate() asks it,
 * through a bounded cache, at emit time. Replay never starts it: events then carry nothing.
 * The parsers are exposed for the unit tests and the fuzz harness. */
#ifndef PKTLOG_PROC_H
#define PKTLOG_PROC_H

#include "pktlog/common.h"
#include "pktlog/config.h"
#include "pktlog/event.h"
#include "pktlog/stats.h"

/* --- the module (src/proc/proc.c) --- */

/* Start attribution for live capture per cfg->process. Returns 0 when it runs or is off
 * (enabled: auto and not possible: said once, and 0), -1 when enabled: on and it cannot run. */
int pl_proc_start(const struct pl_config *cfg);

/* Stop the resolver (idempotent). */
void pl_proc_stop(void);

/* The event to render: ev itself when attribution is off or found nothing, else a copy
 * (this thread's, valid until the next call) with ev->process filled. Counts in st. */
const struct pl_event *pl_proc_annotate(const struct pl_event *ev, struct pl_stats *st);

/* The main thread's turn, about once a second: with the eBPF source, delete the map entries
 * of sockets closed longer than the grace period ago. No-op when attribution is off. */
void pl_proc_tick(void);

/* Add the module's own counters and gauges (proc_ebpf, proc_iter_sockets, proc_ebpf_*) to
 * sum. Main thread only. */
void pl_proc_add_stats(struct pl_stats *sum);

/* --- parsers of /proc content (src/proc/parse.c); all bounded, none allocates --- */

/* One row of /proc/net/tcp or /proc/net/tcp6. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * is given as IPv4 (af 4), so that dual-stack sockets match IPv4 packets. */
struct pl_proc_sock {
	uint8_t af;                   /* 4 or 6 */
	uint8_t local_ip[16], remote_ip[16]; /* network byte order; IPv4 in the first 4 bytes */
	uint16_t local_port, remote_port;
	uint8_t state;                /* TCP_ESTABLISHED = 1 … TCP_LISTEN = 10 */
	uint32_t uid;
	uint64_t inode;               /* 0: no owner (TIME_WAIT, orphaned) */
};

/* Parse one line (without its newline) of /proc/net/tcp (v6 false) or tcp6 (v6 true).
 * Returns 0, or -1 for the header line or anything malformed. */
int pl_proc_parse_tcp_line(const char *line, size_t len, bool v6, struct pl_proc_sock *out);

/* "socket:[12345]" (a /proc/PID/fd link) → 12345. Returns 0, or -1 when not a socket. */
int pl_proc_parse_socket_link(const char *s, size_t len, uint64_t *inode);

#define PL_PROC_NAME_MAX 16           /* comm: TASK_COMM_LEN */
#define PL_PROC_EXE_MAX 512           /* longer executable paths are left out, not cut */
#define PL_PROC_ARGS_MAX 1024         /* bytes of arguments kept (each NUL-terminated) */

/* What the resolver read of one process: fixed size, it crosses the helper's socket. */
struct pl_proc_info {
	int32_t pid;
	int32_t ppid;                 /* -1 = unread */
	uint32_t uid;                 /* owner of the socket (from the socket table) */
	uint8_t has_uid;
	uint8_t name_len;             /* 0 = unread */
	uint16_t exe_len;             /* 0 = unread (no permission, kernel thread, too long) */
	uint16_t args_len;            /* bytes used in args: n_args NUL-terminated strings */
	uint16_t n_args;
	uint32_t args_count;          /* arguments in the command line (as far as it was read) */
	char name[PL_PROC_NAME_MAX];
	char exe[PL_PROC_EXE_MAX];
	char args[PL_PROC_ARGS_MAX];
};

/* /proc/PID/stat → comm (name, name_len) and ppid. Returns 0, or -1 when malformed. */
int pl_proc_parse_stat(const char *buf, size_t len, struct pl_proc_info *out);

/* /proc/PID/cmdline (NUL-separated) → args, n_args (at most PL_PROC_MAX_ARGS, each cut to
 * fit PL_PROC_ARGS_MAX in all) and args_count. */
void pl_proc_parse_cmdline(const char *buf, size_t len, struct pl_proc_info *out);

/* --- the resolver (src/proc/resolve.c), run by the helper process --- */

struct pl_proc_query {
	uint32_t seq;                 /* echoed in the answer */
	uint8_t af;
	uint8_t client_ip[16], server_ip[16];
	uint16_t client_port, server_port;
};

struct pl_proc_answer {
	uint32_t seq;
	uint8_t found[2];             /* [0] client side local and owned, [1] server side */
	uint8_t scanned;              /* this query rebuilt the snapshot */
	uint8_t rate_limited;         /* a side was missing and the snapshot could not be rebuilt yet */
	uint8_t error;                /* /proc could not be read */
	struct pl_proc_info info[2];
};

struct pl_proc_resolver;

/* A resolver whose snapshot is rebuilt at most once per refresh_ns. NULL on ENOMEM. */
struct pl_proc_resolver *pl_proc_resolver_new(uint64_t refresh_ns);
void pl_proc_resolver_free(struct pl_proc_resolver *r);
void pl_proc_resolve(struct pl_proc_resolver *r, const struct pl_proc_query *q,
		     struct pl_proc_answer *a);

#endif
