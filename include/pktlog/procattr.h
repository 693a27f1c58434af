/* procattr.h – the ABI between bpf/procattr.bpf.c and its loader src/proc/ebpf.c: the
 * owners map, 4-tuple of a TCP socket → the process that made it by connect() or accept()
 * (or held it at start-up, found by the iterator), and the queue of sockets closed since.
 *
 * Fixed-width fields, no implicit padding, so clang -target bpf and the host compiler lay
 * it out the same way. Must not include anything but what both sides have. */
#ifndef PKTLOG_PROCATTR_H
#define PKTLOG_PROCATTR_H

#define PL_PA_COMM 16
#define PL_PA_ARGS 256                /* the command line read: at most PL_PA_ARGS - 1 bytes */
#define PL_PA_EXE_PARTS 12            /* path components of the executable, deepest first */
#define PL_PA_EXE_PART 32             /* bytes per component, NUL included */

/* One side of a connection as its own socket sees it. IPv4 (also an IPv4-mapped IPv6
 * address of a dual-stack socket) has af 4 and the address in the first 4 bytes. */
struct pl_pa_key {
	unsigned int netns;           /* inode of the socket's network namespace */
	unsigned short lport, rport;  /* host byte order */
	unsigned char af;
	unsigned char pad[3];
	unsigned char lip[16], rip[16];
};

struct pl_pa_owner {
	unsigned long long ts_ns;     /* bpf_ktime_get_ns() of the syscall (or of the iterator) */
	unsigned long long closed_ns; /* bpf_ktime_get_ns() of its TCP_CLOSE; 0 while open */
	unsigned int pid, ppid;       /* thread group ids */
	unsigned int uid;             /* sk_uid: the socket's owner (/proc/net/tcp's uid) */
	unsigned short args_len;      /* bytes in args (NUL-separated), 0 = unread */
	unsigned char exe_parts;      /* components in exe */
	unsigned char exe_ok;         /* 1: exe holds the whole path */
	unsigned char args_cut;       /* 1: the command line was longer than args */
	unsigned char from_iter;      /* 1: found by the start-up iterator, not at connect/accept */
	unsigned char pad2[6];
	char comm[PL_PA_COMM];
	char args[PL_PA_ARGS];
	char exe[PL_PA_EXE_PARTS][PL_PA_EXE_PART];
};

/* One entry of the closed queue: the owners entry of key was stamped closed at closed_ns;
 * the loader deletes it once the grace period has passed (if the stamp is still the same). */
struct pl_pa_closed {
	unsigned long long closed_ns;
	struct pl_pa_key key;
	unsigned int pad;
};

/* Indexes of the stats map (per CPU). */
enum {
	PL_PA_RECORDED = 0,           /* connect/accept recorded */
	PL_PA_NOT_TCP,                /* a socket, but not TCP over IP */
	PL_PA_NO_SCRATCH,
	PL_PA_ITER_SOCKETS,           /* recorded by the start-up iterator */
	PL_PA_CLOSES,                 /* owners entries stamped closed */
	PL_PA_CLOSE_QUEUE_FULL,       /* stamped, but the queue was full: left to the LRU */
	PL_PA__STATS
};

#endif
