/* libbpf_log.h – routes libbpf's own messages into pktlog's log, for the two eBPF loaders
 * (the capture filter, src/capture/ebpf_filter.c, and process attribution, src/proc/ebpf.c). */
#ifndef PKTLOG_LIBBPF_LOG_H
#define PKTLOG_LIBBPF_LOG_H

/* From now on libbpf's warnings are logged at debug level (-vv) and its other messages one
 * level below; call before opening a skeleton. */
void pl_libbpf_log_init(void);

#endif
