/* log.c – the one place pktlog writes diagnostics (stderr; syslog when daemonised). */
#include <stdarg.h>
#include <stdio.h>
#include "pktlog/common.h"

int pl_log_level_max = PL_LOG_WARN;

void pl_log(int level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (level > pl_log_level_max)
		return;
	if (level < 0 || level > PL_LOG_DEBUG)
		level = PL_LOG_ERR;
	fprintf(stderr, "pktlog: %s: ", names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
