/* log.c – the one place pktlog writes diagnostics: stderr, or syslog (logging.to).
 *
 * Each message is formatted whole and written with one call, so lines from several threads
 * never interleave. On stderr a message reads "pktlog: LEVEL: text". When stderr is a
 * journald stream (systemd sets JOURNAL_STREAM to its device:inode), each line starts with
 * the sd-daemon priority prefix ("<3>" … "<7>") so the journal keeps the level. With
 * logging.to: syslog, messages go to syslog(3) as facility daemon, ident "pktlog". */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "pktlog/common.h"

int pl_log_level_max = PL_LOG_WARN;

static enum pl_log_to log_to = PL_LOG_TO_STDERR;
static bool journal_prefix;

static const char *const level_names[] = { "error", "warning", "info", "debug" };
static const int level_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* True when stderr is the stream systemd named in JOURNAL_STREAM ("device:inode"). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* syslog(3) drops messages silently when nothing listens on /dev/log: ask first. */
static int syslog_reachable(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc, err;

	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)&a, sizeof(a));
	err = errno;
	close(fd);
	return rc == 0 ? 0 : -err;
}

int pl_log_open(enum pl_log_to to)
{
	int rc = 0;

	if (to == PL_LOG_TO_SYSLOG && (rc = syslog_reachable()) < 0) {
		pl_log(PL_LOG_WARN, "logging.to: syslog: /dev/log: %s; logging to stderr instead",
		       strerror(-rc));
		to = PL_LOG_TO_STDERR;
	}
	if (log_to == PL_LOG_TO_SYSLOG && to != PL_LOG_TO_SYSLOG)
		closelog();
	log_to = to;
	journal_prefix = to == PL_LOG_TO_STDERR && stderr_is_journal();
	if (to == PL_LOG_TO_SYSLOG)
		openlog("pktlog", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	return rc < 0 ? -1 : 0;
}

void pl_log_close(void)
{
	if (log_to == PL_LOG_TO_SYSLOG)
		closelog();
	log_to = PL_LOG_TO_STDERR;
	journal_prefix = false;
}

void pl_log(int level, const char *fmt, ...)
{
	char buf[2048];
	size_t n = 0, room = sizeof(buf) - 1; /* keep one byte for the newline */
	va_list ap;
	int k;

	if (level > pl_log_level_max)
		return;
	if (level < 0 || level > PL_LOG_DEBUG)
		level = PL_LOG_ERR;
	if (log_to == PL_LOG_TO_SYSLOG) {
		va_start(ap, fmt);
		k = vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		if (k >= 0)
			syslog(level_prio[level], "%s: %s", level_names[level], buf);
		return;
	}
	k = snprintf(buf, room, "%spktlog: %s: ", journal_prefix ? (const char *[]){
		"<3>", "<4>", "<6>", "<7>" }[level] : "", level_names[level]);
	if (k > 0)
		n = PL_MIN((size_t)k, room - 1);
	va_start(ap, fmt);
	k = vsnprintf(buf + n, room - n, fmt, ap);
	va_end(ap);
	if (k > 0)
		n += PL_MIN((size_t)k, room - n - 1);
	buf[n++] = '\n';
	/* One write: a failed or short write to stderr has nowhere else to be reported. */
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
}
