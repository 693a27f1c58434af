/* libbpf_log.c – libbpf's messages through pktlog's log (see pktlog/libbpf_log.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "pktlog/common.h"
#include "pktlog/libbpf_log.h"

/* libbpf's chatter only with -vv; one line each, its newline cut. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	int lv = level == LIBBPF_WARN ? PL_LOG_DEBUG : PL_LOG_DEBUG + 1;

	if (lv > pl_log_level_max)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	pl_debug("libbpf: %s", line);
	return 0;
}

void pl_libbpf_log_init(void)
{
	libbpf_set_print(libbpf_log);
}
