// SPDX-License-Identifier: GPL-2.0
/* procattr.bpf.c – records which process made each TCP socket, for process attribution.
 *
 * tp_btf/sys_exit, filtered to successful connect()/accept()/accept4(): while `current` is
 * the process that made the call, walk fd → file → socket → sock for the 4-tuple and store
 * the process (pid, parent, comm, the first bytes of its command line, the path of its
 * executable) under that tuple in the LRU `owners` map. A tuple made again overwrites its
 * entry, so the map always holds the latest connection of a tuple.
 *
 * iter.s/task_file, run once by the loader at start-up: every connected TCP socket held by
 * a file descriptor of any process, with that process, for connections made before pktlog
 * started (never overwriting what sys_exit recorded meanwhile). Sleepable, to read the
 * other process's command line (bpf_copy_from_user_task).
 *
 * tp_btf/inet_sock_set_state to TCP_CLOSE: stamps the socket's entry closed and queues it.
 * It does not delete: pktlog reads the map some time after the packets, and a short-lived
 * connection is closed by then; the loader deletes queued entries once a grace period has
 * passed. (That tracepoint fires in whatever context is on the CPU: right for closing a
 * tuple, never used to name its owner.)
 *
 * The loader sets the syscall numbers (host ABI). x86-64 only: reads the syscall number and
 * first argument from pt_regs (orig_ax, di). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "pktlog/procattr.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define EINPROGRESS 115
#define TCP_CLOSE 7
#define TCP_LISTEN 10

/* The kernel types read, reduced to the fields used; CO-RE relocates them against the
 * running kernel's BTF, so their layout here does not matter. */
struct pt_regs { unsigned long di, orig_ax; } __attribute__((preserve_access_index));
struct in6_addr { union { unsigned char u6_addr8[16]; } in6_u; } __attribute__((preserve_access_index));
struct ns_common { unsigned int inum; } __attribute__((preserve_access_index));
struct net { struct ns_common ns; } __attribute__((preserve_access_index));
typedef struct { struct net *net; } possible_net_t;
typedef struct { unsigned int val; } kuid_t;
struct sock_common {
	unsigned int skc_daddr, skc_rcv_saddr;
	unsigned short skc_dport, skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr, skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));
struct sock {
	struct sock_common __sk_common;
	unsigned short sk_protocol;
	kuid_t sk_uid;
} __attribute__((preserve_access_index));
/* inet_sport stays set when closing has cleared skc_num (inet_put_port) */
struct inet_sock { unsigned short inet_sport; } __attribute__((preserve_access_index));
struct file;
struct socket { struct file *file; struct sock *sk; } __attribute__((preserve_access_index));
struct qstr { const unsigned char *name; } __attribute__((preserve_access_index));
struct dentry { struct dentry *d_parent; struct qstr d_name; } __attribute__((preserve_access_index));
struct vfsmount { struct dentry *mnt_root; } __attribute__((preserve_access_index));
struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
} __attribute__((preserve_access_index));
struct path { struct vfsmount *mnt; struct dentry *dentry; } __attribute__((preserve_access_index));
struct file { void *private_data; struct path f_path; } __attribute__((preserve_access_index));
struct fdtable { unsigned int max_fds; struct file **fd; } __attribute__((preserve_access_index));
struct files_struct { struct fdtable *fdt; } __attribute__((preserve_access_index));
struct mm_struct {
	unsigned long arg_start, arg_end;
	struct file *exe_file;
} __attribute__((preserve_access_index));
struct task_struct {
	int tgid;
	char comm[16];
	struct task_struct *real_parent;
	struct files_struct *files;
	struct mm_struct *mm;
} __attribute__((preserve_access_index));

/* Set by the loader before load. */
const volatile long nr_connect = -1, nr_accept = -1, nr_accept4 = -1;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);        /* the loader sets it */
	__type(key, struct pl_pa_key);
	__type(value, struct pl_pa_owner);
} owners SEC(".maps");

/* The value is built here: it is larger than the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pl_pa_owner);
} scratch SEC(".maps");

/* Owners entries stamped closed, oldest first, for the loader to delete after the grace. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4096);        /* the loader sets it */
	__type(value, struct pl_pa_closed);
} closed SEC(".maps");

/* Counters for the loader (PL_PA_*). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PL_PA__STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &i);

	if (v)
		(*v)++;
}

static __always_inline int v4_mapped(const unsigned char *a)
{
	for (int i = 0; i < 10; i++)
		if (a[i])
			return 0;
	return a[10] == 0xff && a[11] == 0xff;
}

/* The 4-tuple of sk; 0 when it is not TCP over IPv4/IPv6. */
static __always_inline int tuple(struct sock *sk, struct pl_pa_key *k)
{
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	k->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	k->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!k->lport)   /* at TCP_CLOSE: the port is released before the tracepoint */
		k->lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	k->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		unsigned int l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		unsigned int r = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		k->af = 4;
		__builtin_memcpy(k->lip, &l, 4);
		__builtin_memcpy(k->rip, &r, 4);
		return 1;
	}
	if (family != AF_INET6)
		return 0;
	BPF_CORE_READ_INTO(&k->lip, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	BPF_CORE_READ_INTO(&k->rip, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	k->af = 6;
	if (v4_mapped(k->lip) && v4_mapped(k->rip)) {
		k->af = 4;
		for (int i = 0; i < 4; i++) {
			k->lip[i] = k->lip[12 + i];
			k->rip[i] = k->rip[12 + i];
		}
		for (int i = 4; i < 16; i++)
			k->lip[i] = k->rip[i] = 0;
	}
	return 1;
}

/* Walking the executable's path: one step per bpf_loop() iteration, so the verifier checks
 * the step once instead of every unrolled iteration (that took it ~0.7 s at start-up). */
struct walk {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	struct pl_pa_owner *o;
	unsigned int n;
};

/* One step: a component into o->exe, or up across a mount. Returns 1 to stop. */
static long walk_step(__u32 i, struct walk *w)
{
	/* plain copies: inside BPF_CORE_READ, w->d would be relocated as a kernel field */
	struct dentry *d = w->d;
	struct vfsmount *vm = w->vm;
	struct mount *m = w->m;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	unsigned int n = w->n;
	long len;

	if (d == BPF_CORE_READ(vm, mnt_root)) {
		struct mount *pm = BPF_CORE_READ(m, mnt_parent);

		if (pm == m) {   /* the namespace's root mount: done */
			w->o->exe_ok = 1;
			return 1;
		}
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->m = pm;
		w->vm = (void *)pm + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	if (d == parent) {
		w->o->exe_ok = 1;
		return 1;
	}
	if (n >= PL_PA_EXE_PARTS)
		return 1;   /* too deep: left out */
	len = bpf_probe_read_kernel_str(w->o->exe[n], PL_PA_EXE_PART, BPF_CORE_READ(d, d_name.name));
	if (len <= 1 || len >= PL_PA_EXE_PART)
		return 1;   /* unreadable, or maybe cut: left out */
	w->n = n + 1;
	w->d = parent;
	return 0;
}

/* The executable's path, as components from the file up to the root, crossing mounts. */
static __always_inline void exe_path(struct file *exe, struct pl_pa_owner *o)
{
	struct walk w = { .d = BPF_CORE_READ(exe, f_path.dentry), .o = o };

	w.vm = BPF_CORE_READ(exe, f_path.mnt);
	w.m = (void *)w.vm - bpf_core_field_offset(struct mount, mnt);
	o->exe_ok = 0;
	bpf_loop(PL_PA_EXE_PARTS + 8, walk_step, &w, 0);
	o->exe_parts = (unsigned char)w.n;
	if (!w.n)
		o->exe_ok = 0;
}

/* The socket behind file, or NULL when file is not one. */
static __always_inline struct sock *sock_of(struct file *file)
{
	struct socket *sock = BPF_CORE_READ(file, private_data);

	if (!sock || BPF_CORE_READ(sock, file) != file)
		return NULL;   /* not a socket */
	return BPF_CORE_READ(sock, sk);
}

/* o ← task (the process holding sk). from_iter: task is not current (the iterator), whose
 * memory is read with bpf_copy_from_user_task, only allowed in a sleepable program. */
static __always_inline void fill_owner(struct task_struct *task, struct sock *sk,
				       struct pl_pa_owner *o, const int from_iter)
{
	unsigned long a0, a1;

	o->ts_ns = bpf_ktime_get_ns();
	o->closed_ns = 0;
	o->from_iter = from_iter;
	o->pid = BPF_CORE_READ(task, tgid);
	o->ppid = BPF_CORE_READ(task, real_parent, tgid);
	o->uid = BPF_CORE_READ(sk, sk_uid.val);
	if (from_iter)
		BPF_CORE_READ_STR_INTO(&o->comm, task, comm);
	else
		bpf_get_current_comm(o->comm, sizeof(o->comm));
	a0 = BPF_CORE_READ(task, mm, arg_start);
	a1 = BPF_CORE_READ(task, mm, arg_end);
	o->args_len = 0;
	o->args_cut = 0;
	if (a1 > a0) {
		unsigned long len = a1 - a0;
		long err;

		if (len > PL_PA_ARGS - 1) {
			len = PL_PA_ARGS - 1;
			o->args_cut = 1;
		}
		len &= PL_PA_ARGS - 1;   /* the bound, in a form the verifier follows */
		if (from_iter)
			err = len ? bpf_copy_from_user_task(o->args, len, (void *)a0, task, 0) : -1;
		else
			err = len ? bpf_probe_read_user(o->args, len, (void *)a0) : -1;
		if (err == 0)
			o->args_len = (unsigned short)len;
	}
	o->exe_parts = 0;
	o->exe_ok = 0;
	if (BPF_CORE_READ(task, mm, exe_file))
		exe_path(BPF_CORE_READ(task, mm, exe_file), o);
}

SEC("tp_btf/sys_exit")
int pl_procattr(__u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	long ret = (long)ctx[1], nr = regs->orig_ax;   /* a BTF pointer: a plain load */
	struct task_struct *task;
	struct sock *sk;
	struct file *file, **fds;
	struct pl_pa_owner *o;
	struct pl_pa_key k = {};
	unsigned long fd;
	__u32 zero = 0;

	if (nr == nr_connect) {
		if (ret != 0 && ret != -EINPROGRESS)
			return 0;
		fd = BPF_CORE_READ(regs, di);
	} else if (nr == nr_accept || nr == nr_accept4) {
		if (ret < 0)
			return 0;
		fd = (unsigned long)ret;
	} else {
		return 0;
	}
	task = (struct task_struct *)bpf_get_current_task();
	if (fd >= BPF_CORE_READ(task, files, fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) != 0 || !file)
		return 0;
	sk = sock_of(file);
	if (!sk)
		return 0;
	if (!tuple(sk, &k)) {
		count(PL_PA_NOT_TCP);
		return 0;
	}
	o = bpf_map_lookup_elem(&scratch, &zero);
	if (!o) {
		count(PL_PA_NO_SCRATCH);
		return 0;
	}
	fill_owner(task, sk, o, 0);
	bpf_map_update_elem(&owners, &k, o, BPF_ANY);
	count(PL_PA_RECORDED);
	return 0;
}

/* The iterator's context (kernel/bpf/task_iter.c), relocated against the kernel's BTF. */
struct bpf_iter_meta;
struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

SEC("iter.s/task_file")
int pl_procattr_iter(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct pl_pa_owner *o;
	struct pl_pa_key k = {};
	struct sock *sk;
	unsigned char state;
	__u32 zero = 0;

	if (!task || !file)
		return 0;
	sk = sock_of(file);
	if (!sk || !tuple(sk, &k) || !k.rport)
		return 0;   /* not TCP/IP, or not connected */
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_CLOSE || state == TCP_LISTEN)
		return 0;
	o = bpf_map_lookup_elem(&scratch, &zero);
	if (!o)
		return 0;
	fill_owner(task, sk, o, 1);
	/* what sys_exit recorded since attaching is newer: keep it */
	if (bpf_map_update_elem(&owners, &k, o, BPF_NOEXIST) == 0)
		count(PL_PA_ITER_SOCKETS);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int pl_procattr_close(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct pl_pa_closed c = {};
	struct pl_pa_owner *o;

	if ((int)ctx[2] != TCP_CLOSE || !tuple(sk, &c.key))
		return 0;
	o = bpf_map_lookup_elem(&owners, &c.key);
	if (!o || o->closed_ns)
		return 0;
	c.closed_ns = bpf_ktime_get_ns();
	o->closed_ns = c.closed_ns;
	count(PL_PA_CLOSES);
	if (bpf_map_push_elem(&closed, &c, 0) != 0)
		count(PL_PA_CLOSE_QUEUE_FULL);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
