/* ebpf.h – the eBPF source of process attribution (src/proc/ebpf.c), private to src/proc/. */
#ifndef PKTLOG_PROC_EBPF_H
#define PKTLOG_PROC_EBPF_H

#include "pktlog/proc.h"

struct pl_proc_ebpf;

/* Load and attach bpf/procattr.bpf.c with an owners map of max_entries. NULL on failure,
 * with the reason in why. Needs CAP_BPF and CAP_PERFMON (root); reading needs nothing. */
struct pl_proc_ebpf *pl_proc_ebpf_open(uint32_t max_entries, char *why, size_t whylen);

/* The process that made the socket local (lip, lport) ↔ remote (rip, rport) in this
 * network namespace. Returns 0 with out filled, or -1 when the map does not have it. */
int pl_proc_ebpf_lookup(struct pl_proc_ebpf *e, uint8_t af, const uint8_t *lip, uint16_t lport,
			const uint8_t *rip, uint16_t rport, struct pl_proc_info *out);

void pl_proc_ebpf_close(struct pl_proc_ebpf *e);

#endif
