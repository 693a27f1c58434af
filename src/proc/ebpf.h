/* ebpf.h – the eBPF source of process attribution (src/proc/ebpf.c), private to src/proc/. */
#ifndef PKTLOG_PROC_EBPF_H
#define PKTLOG_PROC_EBPF_H

#include "pktlog/proc.h"

struct pl_proc_ebpf;

/* Load and attach bpf/procattr.bpf.c with an owners map of max_entries, and run its
 * iterator once (the connections open now). NULL on failure, with the reason in why. Needs
 * CAP_BPF and CAP_PERFMON (root); reading and sweeping need nothing. */
struct pl_proc_ebpf *pl_proc_ebpf_open(uint32_t max_entries, char *why, size_t whylen);

/* The process that made the socket local (lip, lport) ↔ remote (rip, rport) in this
 * network namespace. Returns 0 with out filled, or -1 when the map does not have it. */
int pl_proc_ebpf_lookup(struct pl_proc_ebpf *e, uint8_t af, const uint8_t *lip, uint16_t lport,
			const uint8_t *rip, uint16_t rport, struct pl_proc_info *out);

/* Delete the entries of sockets closed at least grace_ns ago (oldest first, bounded work).
 * Returns how many were deleted. */
uint64_t pl_proc_ebpf_sweep(struct pl_proc_ebpf *e, uint64_t grace_ns);

/* Entries in the owners map now (walks its keys: call rarely). */
uint64_t pl_proc_ebpf_entries(struct pl_proc_ebpf *e);

struct pl_proc_ebpf_counters {
	uint64_t iter_sockets;        /* recorded by the start-up iterator */
	uint64_t evicted;             /* deleted by pl_proc_ebpf_sweep */
	uint64_t closes;              /* entries stamped closed by the kernel program */
	uint64_t close_queue_full;    /* closes not queued (queue full): left to the LRU */
};

void pl_proc_ebpf_counters(struct pl_proc_ebpf *e, struct pl_proc_ebpf_counters *out);

void pl_proc_ebpf_close(struct pl_proc_ebpf *e);

#endif
