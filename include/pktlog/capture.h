/* capture.h – frames from libpcap, live or from capture files.
 *
 * Contract (capture → decode): each frame reaches the callback as
 * (frame, caplen, wirelen, ts_ns, linktype). Capture owns libpcap and the BPF program,
 * and reports kernel drops. No other module includes pcap.h. */
#ifndef PKTLOG_CAPTURE_H
#define PKTLOG_CAPTURE_H

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
 * capture.bpf_filter). Returns the length written, or 0 when it does not fit. */
size_t pl_capture_filter(const struct pl_config *cfg, char *out, size_t cap);

/* Deliver up to `max` frames (max <= 0: what is there). Waits at most timeout_ms for
 * live traffic. Returns the number delivered, PL_CAPTURE_EOF at the end of a file, or
 * PL_CAPTURE_ERROR after logging (a truncated or corrupt file names the file). */
#define PL_CAPTURE_EOF (-2)
#define PL_CAPTURE_ERROR (-1)
int pl_capture_next(struct pl_capture *c, int max, int timeout_ms, pl_frame_fn fn, void *arg);

/* Kernel drop count for a live capture (0 for files). */
uint64_t pl_capture_drops(struct pl_capture *c);

/* Bytes of the file read so far and its size (0, 0 for live). */
void pl_capture_progress(struct pl_capture *c, uint64_t *done, uint64_t *total);

void pl_capture_close(struct pl_capture *c);

#endif
