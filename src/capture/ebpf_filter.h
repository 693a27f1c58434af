/* ebpf_filter.h – private interface between pcap_source.c and the libbpf loader ebpf_filter.c.
 *
 * Plain C types only: <pcap/pcap.h> and <bpf/libbpf.h> define the same structs, so the
 * two sides of the capture module live in separate files joined by this header. */
#ifndef PKTLOG_EBPF_FILTER_H
#define PKTLOG_EBPF_FILTER_H

#include "pktlog/common.h"

struct pl_ebpf;

/* Load the port filter, disarmed (it drops everything until pl_ebpf_arm). `ethernet`:
 * frames start with an Ethernet header (else with the IP header, as on "any").
 * NULL on failure, with the reason (e.g. "Operation not permitted") in why. */
struct pl_ebpf *pl_ebpf_open(bool ethernet, uint32_t keep_bytes, char *why, size_t whylen);

/* Attach to a packet socket (SO_ATTACH_BPF). 0, or -errno. */
int pl_ebpf_attach(struct pl_ebpf *e, int sock_fd);

/* Make the port set exactly ports[0..n) (duplicates ignored): ports no longer wanted
 * are removed and their counters retired, new ones get a zeroed counter slot.
 * 0, or -1 after logging when the map is full or an update failed. */
int pl_ebpf_set_ports(struct pl_ebpf *e, const uint16_t *ports, int n);

void pl_ebpf_arm(struct pl_ebpf *e, bool on);

/* Counters of the configured ports, summed over CPUs: up to cap entries. Returns the count. */
struct pl_ebpf_port_count {
	uint16_t port;
	uint64_t packets, bytes;
};
int pl_ebpf_counts(struct pl_ebpf *e, struct pl_ebpf_port_count *out, int cap);

/* Detach nothing (the socket's close does that); free the program and maps. NULL is fine. */
void pl_ebpf_close(struct pl_ebpf *e);

#endif
