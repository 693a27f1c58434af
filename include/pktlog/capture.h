/* capture.h – frames from libpcap, live or from capture files.
 *
 * Contract (capture → decode): each frame reaches the callback as
 * (frame, caplen, wirelen, ts_ns, linktype). Capture owns libpcap and the BPF program,
 * and reports kernel drops. No other module includes pcap.h. */
#ifndef PKTLOG_CAPTURE_H
#define PKTLOG_CAPTURE_H

#include <stdio.h>
#include "pktlog/common.h"
#include "pktlog/config.h"

struct pl_capture;

typedef void (*pl_frame_fn)(void *arg, const uint8_t *frame, uint32_t caplen,
			    uint32_t wirelen, uint64_t ts_ns, int linktype);

/* Open a capture file (pcap or pcapng). NULL after logging why, naming the file. */
struct pl_capture *pl_capture_open_file(const char *path);

/* Open a live capture on `iface` with the filter built from cfg (see pl_capture_filter).
 * NULL after logging why (naming the interface; a missing CAP_NET_RAW says so). */
struct pl_capture *pl_capture_open_live(const char *iface, const struct pl_config *cfg);

/* Build the classic BPF expression for cfg's protocol ports (ANDed with
 * capture.bpf_filter). Returns the length written, or 0 when it does not fit.
 * (A live capture on a link without Ethernet headers, such as "any", uses the same
 * expression without its "vlan" branch, which libpcap refuses there.) */
size_t pl_capture_filter(const struct pl_config *cfg, char *out, size_t cap);

/* Deliver up to `max` frames (max <= 0: what is there). Waits at most timeout_ms for
 * live traffic. Returns the number delivered, PL_CAPTURE_EOF at the end of a file, or
 * PL_CAPTURE_ERROR after logging (a truncated or corrupt file names the file). */
#define PL_CAPTURE_EOF (-2)
#define PL_CAPTURE_ERROR (-1)
int pl_capture_next(struct pl_capture *c, int max, int timeout_ms, pl_frame_fn fn, void *arg);

/* The capture's link type (a DLT_ value), as frames are handed to pl_frame_fn. */
int pl_capture_linktype(const struct pl_capture *c);

/* Kernel drop count for a live capture (0 for files). */
uint64_t pl_capture_drops(struct pl_capture *c);

/* Bytes of the file read so far and its size (0, 0 for live). */
void pl_capture_progress(struct pl_capture *c, uint64_t *done, uint64_t *total);

void pl_capture_close(struct pl_capture *c);

/* Open n (>= 1) live captures on `iface` that share the traffic: with n > 1 they join one
 * PACKET_FANOUT group by flow hash, so both directions of a connection reach the same
 * handle. The filter is the eBPF port filter (bpf/portfilter.bpf.c, one program for the
 * group) when capture.ebpf allows and the kernel loads it, else the classic filter; no
 * packet of another port slips in before the filter is in place. Fills out[0..n).
 * Returns 0, or -1 after logging (nothing is left open). */
int pl_capture_open_live_group(const char *iface, const struct pl_config *cfg,
			       struct pl_capture **out, int n);

/* Apply cfg's protocol ports (after a config reload) without reopening: the handle that
 * owns the group's eBPF program updates its port map (the others do nothing); a classic
 * filter is replaced on this handle. Call from the thread reading `c`. 0, or -1 after logging. */
int pl_capture_update_ports(struct pl_capture *c, const struct pl_config *cfg);

/* Kernel and filter counters of a live capture (zeros for files). The eBPF counts are
 * the group's and come only from the handle that owns the program, so sums over a
 * group's handles stay right. */
struct pl_capture_counters {
	uint64_t received;       /* pcap_stats ps_recv */
	uint64_t kernel_drops;   /* ps_drop: the ring was full */
	uint64_t if_drops;       /* ps_ifdrop: dropped by the interface */
	uint64_t ebpf_packets;   /* kept by the eBPF filter, all ports */
	uint64_t ebpf_bytes;
	bool ebpf;               /* this handle is filtered by eBPF */
};
void pl_capture_counters(struct pl_capture *c, struct pl_capture_counters *out);

/* One line per configured port with the eBPF filter's packet and byte counts (nothing
 * when `c` does not own an eBPF program). */
void pl_capture_print_ports(struct pl_capture *c, FILE *f);

/* Switch to `user` (its uid, gid, no supplementary groups; NULL or "" keeps the user)
 * and drop every capability (effective, permitted, inheritable, ambient and, while
 * still allowed, the bounding set). Before switching, `data_dir` (may be NULL) and what
 * is in it, two levels deep (the tailer's registry, the spool), are handed to that user
 * so pktlog can keep writing its state. Call after the capture sockets are set up; a
 * thread started earlier loses its capabilities only through the user switch.
 * 0, or -1 after logging. */
int pl_capture_drop_privileges(const char *user, const char *data_dir);

#endif
