/* portfilter.h – the ABI between bpf/portfilter.bpf.c and its loader src/capture/ebpf_filter.c.
 *
 * Kept to fixed-width fields without padding so clang -target bpf and the host compiler
 * lay it out the same way. Must not include anything but what both sides have. */
#ifndef PKTLOG_PORTFILTER_H
#define PKTLOG_PORTFILTER_H

/* Ports the filter can hold at once; each configured port owns one counter slot. */
#define PL_PF_MAX_PORTS 128

/* One counter slot of the per-CPU `counts` array (userspace sums the CPUs). */
struct pl_pf_count {
	unsigned long long packets;
	unsigned long long bytes;   /* skb->len: the frame as it was on the wire */
};

#endif
