/* ebpf.c – loads bpf/procattr.bpf.c (tp_btf/sys_exit on connect/accept) through its bpftool
 * skeleton and reads its owners map: the eBPF source of process attribution. Loaded before
 * the privilege drop; the map is read through its descriptor afterwards, which needs no
 * capability. The map is the kernel's and bounded (LRU); a lookup copies one entry. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "pktlog/libbpf_log.h"
#include "pktlog/procattr.h"
#include "ebpf.h"
#include "procattr.skel.h"

struct pl_proc_ebpf {
	struct procattr *skel;
	int map_fd;
	unsigned int netns;
};

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

void pl_proc_ebpf_close(struct pl_proc_ebpf *e)
{
	if (!e)
		return;
	procattr__destroy(e->skel);
	free(e);
}
