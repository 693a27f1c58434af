/* warn.c – the tailer's rate limiter for warnings that repeat (an unreadable file written
 * in a loop, a directory that cannot be watched, a registry that cannot commit): one line
 * per thing, per cause and interval, and the count of those held back. Owns no state of its
 * own: each caller keeps a struct pl_tail_limit next to what it warns about. */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include "pktlog/tail.h"

bool pl_tail_limit_pass(struct pl_tail_limit *l, uint64_t now_ns, uint64_t every_ns, int cause,
			uint32_t *suppressed)
{
	bool new_cause = cause != l->cause;

	if (!new_cause && l->next_ns && now_ns < l->next_ns) {
		if (l->suppressed < UINT32_MAX)
			l->suppressed++;
		return false;
	}
	/* Held back lines of an earlier cause are counted in this line too: same thing, same
	 * kind of failure. */
	*suppressed = l->suppressed;
	l->suppressed = 0;
	l->cause = cause;
	l->next_ns = now_ns + every_ns;
	if (!l->next_ns)
		l->next_ns = 1;
	return true;
}

void pl_tail_warn(struct pl_tail_limit *l, uint64_t now_ns, int cause, const char *fmt, ...)
{
	char msg[1024];
	uint32_t n;
	va_list ap;

	if (!pl_tail_limit_pass(l, now_ns, PL_TAIL_WARN_EVERY_NS, cause, &n))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		pl_warn("%s (%u more suppressed)", msg, n);
	else
		pl_warn("%s", msg);
}

void pl_tail_limit_flush(struct pl_tail_limit *l, const char *what)
{
	if (l->suppressed) {
		if (l->cause)
			pl_warn("%s: %s (%u more suppressed)", what, strerror(l->cause), l->suppressed);
		else
			pl_warn("%s (%u more suppressed)", what, l->suppressed);
	}
	*l = (struct pl_tail_limit){ 0 };
}
