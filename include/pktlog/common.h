/* common.h – logging, result codes and small helpers shared by every module.
 *
 * Nothing here allocates. Logging goes to stderr (with journald's priority prefixes when
 * stderr is the journal) or to syslog (logging.to); messages name the input they are about
 * (file, interface, file:line). */
#ifndef PKTLOG_COMMON_H
#define PKTLOG_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum pl_log_level { PL_LOG_ERR = 0, PL_LOG_WARN = 1, PL_LOG_INFO = 2, PL_LOG_DEBUG = 3 };

/* Messages at or below this level are printed; -v raises it. Default WARN. */
extern int pl_log_level_max;

/* Where pl_log writes. pl_log_open is called once the config is read (before that,
 * stderr); it is not thread-safe against pl_log and must run before threads start. When
 * syslog is asked for and nothing listens on /dev/log it warns, stays on stderr and
 * returns -1. */
enum pl_log_to { PL_LOG_TO_STDERR = 0, PL_LOG_TO_SYSLOG };
int pl_log_open(enum pl_log_to to);
void pl_log_close(void);

void pl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define pl_err(...)   pl_log(PL_LOG_ERR, __VA_ARGS__)
#define pl_warn(...)  pl_log(PL_LOG_WARN, __VA_ARGS__)
#define pl_info(...)  pl_log(PL_LOG_INFO, __VA_ARGS__)
#define pl_debug(...) pl_log(PL_LOG_DEBUG, __VA_ARGS__)

#define PL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PL_MAX(a, b) ((a) > (b) ? (a) : (b))

#define PL_NS_PER_SEC 1000000000ULL

/* A borrowed, not NUL-terminated byte string. */
struct pl_str {
	const char *p;
	size_t len;
};
#define PL_STR_NULL ((struct pl_str){ NULL, 0 })

/* The value of a hexadecimal digit (either case), or -1. */
static inline int pl_hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

#endif
