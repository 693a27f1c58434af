/* ebpf_filter.c – loads bpf/portfilter.bpf.c through its bpftool skeleton and manages its port map.
 *
 * The libbpf half of the capture module (see ebpf_filter.h for why it is a separate file).
 * Keeps the userspace mirror of which port owns which counter slot. Must not include
 * pcap.h and must not touch packets. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "pktlog/libbpf_log.h"
#include <bpf/libbpf.h>
#include "pktlog/portfilter.h"
#include "portfilter.skel.h"
#include "ebpf_filter.h"

struct pl_ebpf {
	struct portfilter *skel;
	int ncpu;
	struct pl_pf_count *percpu;          /* scratch: one value per possible CPU */
	uint16_t slot_port[PL_PF_MAX_PORTS]; /* port owning each slot */
	bool slot_used[PL_PF_MAX_PORTS];
};

struct pl_ebpf *pl_ebpf_open(bool ethernet, uint32_t keep_bytes, char *why, size_t whylen)
{
	struct pl_ebpf *e;
	int err;

	pl_libbpf_log_init();
	e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	e->ncpu = libbpf_num_possible_cpus();
	if (e->ncpu <= 0 || !(e->percpu = calloc((size_t)e->ncpu, sizeof(*e->percpu)))) {
		snprintf(why, whylen, "cannot count CPUs");
		goto fail;
	}
	e->skel = portfilter__open();
	if (!e->skel) {
		snprintf(why, whylen, "cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	err = portfilter__load(e->skel);
	if (err) {
		snprintf(why, whylen, "cannot load the BPF program: %s", strerror(-err));
		goto fail;
	}
	e->skel->bss->armed = 0;
	e->skel->bss->keep_bytes = keep_bytes;
	e->skel->bss->l2_ethernet = ethernet;
	e->skel->bss->lo_ifindex = if_nametoindex("lo");
	return e;
fail:
	pl_ebpf_close(e);
	return NULL;
}

int pl_ebpf_attach(struct pl_ebpf *e, int sock_fd)
{
	int prog = bpf_program__fd(e->skel->progs.pl_portfilter);

	if (setsockopt(sock_fd, SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof(prog)) != 0)
		return -errno;
	return 0;
}

static bool wanted(uint16_t port, const uint16_t *ports, int n)
{
	for (int i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

static int slot_of(const struct pl_ebpf *e, uint16_t port)
{
	for (int i = 0; i < PL_PF_MAX_PORTS; i++)
		if (e->slot_used[i] && e->slot_port[i] == port)
			return i;
	return -1;
}

static void retire(struct pl_ebpf *e, int slot)
{
	uint16_t port = e->slot_port[slot];

	if (bpf_map__delete_elem(e->skel->maps.ports, &port, sizeof(port), 0) != 0)
		pl_warn("eBPF filter: cannot remove port %u: %s", port, strerror(errno));
	e->slot_used[slot] = false;
}

/* A reused slot must not carry the old port's counts: zero it before the port points to it. */
static int adopt(struct pl_ebpf *e, uint16_t port)
{
	uint32_t slot;

	for (slot = 0; slot < PL_PF_MAX_PORTS && e->slot_used[slot]; slot++)
		;
	if (slot == PL_PF_MAX_PORTS) {
		pl_err("eBPF filter: more than %d ports configured", PL_PF_MAX_PORTS);
		return -1;
	}
	memset(e->percpu, 0, (size_t)e->ncpu * sizeof(*e->percpu));
	if (bpf_map__update_elem(e->skel->maps.counts, &slot, sizeof(slot), e->percpu,
				 (size_t)e->ncpu * sizeof(*e->percpu), 0) != 0 ||
	    bpf_map__update_elem(e->skel->maps.ports, &port, sizeof(port), &slot, sizeof(slot), 0) != 0) {
		pl_err("eBPF filter: cannot add port %u: %s", port, strerror(errno));
		return -1;
	}
	e->slot_port[slot] = port;
	e->slot_used[slot] = true;
	return 0;
}

int pl_ebpf_set_ports(struct pl_ebpf *e, const uint16_t *ports, int n)
{
	for (int i = 0; i < PL_PF_MAX_PORTS; i++)
		if (e->slot_used[i] && !wanted(e->slot_port[i], ports, n))
			retire(e, i);
	for (int i = 0; i < n; i++)
		if (slot_of(e, ports[i]) < 0 && adopt(e, ports[i]) != 0)
			return -1;
	return 0;
}

void pl_ebpf_arm(struct pl_ebpf *e, bool on)
{
	e->skel->bss->armed = on;
}

int pl_ebpf_counts(struct pl_ebpf *e, struct pl_ebpf_port_count *out, int cap)
{
	int n = 0;

	for (uint32_t slot = 0; slot < PL_PF_MAX_PORTS && n < cap; slot++) {
		if (!e->slot_used[slot])
			continue;
		if (bpf_map__lookup_elem(e->skel->maps.counts, &slot, sizeof(slot), e->percpu,
					 (size_t)e->ncpu * sizeof(*e->percpu), 0) != 0)
			continue;
		out[n] = (struct pl_ebpf_port_count){ .port = e->slot_port[slot] };
		for (int c = 0; c < e->ncpu; c++) {
			out[n].packets += e->percpu[c].packets;
			out[n].bytes += e->percpu[c].bytes;
		}
		n++;
	}
	return n;
}

void pl_ebpf_close(struct pl_ebpf *e)
{
	if (!e)
		return;
	portfilter__destroy(e->skel);
	free(e->percpu);
	free(e);
}
