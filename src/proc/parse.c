/* parse.c – parsers of the /proc text process attribution reads: rows of /proc/net/tcp{,6},
 * /proc/PID/fd socket links, /proc/PID/stat and /proc/PID/cmdline. Pure functions over a
 * bounded buffer: no I/O, no allocation (fuzzed by tests/fuzz/fuzz_proc_tcp.c). */
#include <string.h>
#include "pktlog/proc.h"

/* A cursor over one line. */
struct cur {
	const char *p, *end;
};

static void skip_spaces(struct cur *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

/* Exactly n hex digits → *v (n <= 16). */
static int hex_fixed(struct cur *c, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if ((size_t)(c->end - c->p) < n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int d = pl_hex_digit((unsigned char)c->p[i]);
		if (d < 0)
			return -1;
		x = x << 4 | (uint64_t)d;
	}
	c->p += n;
	*v = x;
	return 0;
}

/* 1..max decimal digits (base 10) or hex digits (base 16) → *v. */
static int number(struct cur *c, int base, size_t max, uint64_t *v)
{
	uint64_t x = 0;
	size_t n = 0;

	for (; c->p < c->end && n < max; c->p++, n++) {
		int d = pl_hex_digit((unsigned char)*c->p);
		if (d < 0 || d >= base)
			break;
		x = x * (uint64_t)base + (uint64_t)d;
	}
	if (!n || (c->p < c->end && (unsigned)pl_hex_digit((unsigned char)*c->p) < (unsigned)base))
		return -1;   /* none, or more than max digits */
	*v = x;
	return 0;
}

static int expect(struct cur *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

/* The kernel prints each 32-bit word of the address as it lies in memory, read as a host
 * integer (%08X): writing the parsed word back in host order gives the original bytes. */
static int address(struct cur *c, bool v6, uint8_t ip[16], uint16_t *port)
{
	uint64_t w, p;

	memset(ip, 0, 16);
	for (int i = 0; i < (v6 ? 4 : 1); i++) {
		uint32_t w32;

		if (hex_fixed(c, 8, &w) != 0)
			return -1;
		w32 = (uint32_t)w;
		memcpy(ip + 4 * i, &w32, 4);
	}
	if (expect(c, ':') != 0 || hex_fixed(c, 4, &p) != 0)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

static bool v4_mapped(const uint8_t ip[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(ip, prefix, sizeof(prefix)) == 0;
}

static void unmap(uint8_t ip[16])
{
	memmove(ip, ip + 12, 4);
	memset(ip + 4, 0, 12);
}

/* "sl: local remote st tx:rx tr:when retrnsmt uid timeout inode ..." */
int pl_proc_parse_tcp_line(const char *line, size_t len, bool v6, struct pl_proc_sock *out)
{
	struct cur c = { line, line + len };
	uint64_t v, st, uid, inode;

	memset(out, 0, sizeof(*out));
	skip_spaces(&c);
	if (number(&c, 10, 10, &v) != 0 || expect(&c, ':') != 0)
		return -1;   /* the header line starts with "sl" */
	skip_spaces(&c);
	if (address(&c, v6, out->local_ip, &out->local_port) != 0 || expect(&c, ' ') != 0 ||
	    address(&c, v6, out->remote_ip, &out->remote_port) != 0 || expect(&c, ' ') != 0 ||
	    hex_fixed(&c, 2, &st) != 0)
		return -1;
	skip_spaces(&c);   /* tx_queue:rx_queue */
	if (number(&c, 16, 8, &v) != 0 || expect(&c, ':') != 0 || number(&c, 16, 8, &v) != 0)
		return -1;
	skip_spaces(&c);   /* tr:tm->when */
	if (number(&c, 16, 2, &v) != 0 || expect(&c, ':') != 0 || number(&c, 16, 16, &v) != 0)
		return -1;
	skip_spaces(&c);   /* retrnsmt */
	if (number(&c, 16, 8, &v) != 0)
		return -1;
	skip_spaces(&c);
	if (number(&c, 10, 10, &uid) != 0 || uid > UINT32_MAX)
		return -1;
	skip_spaces(&c);   /* timeout */
	if (number(&c, 10, 20, &v) != 0)
		return -1;
	skip_spaces(&c);
	if (number(&c, 10, 20, &inode) != 0)
		return -1;
	if (c.p < c.end && *c.p != ' ')
		return -1;
	out->state = (uint8_t)st;
	out->uid = (uint32_t)uid;
	out->inode = inode;
	out->af = v6 ? 6 : 4;
	if (v6 && v4_mapped(out->local_ip) && v4_mapped(out->remote_ip)) {
		unmap(out->local_ip);
		unmap(out->remote_ip);
		out->af = 4;
	}
	return 0;
}

int pl_proc_parse_socket_link(const char *s, size_t len, uint64_t *inode)
{
	struct cur c = { s, s + len };
	static const char pre[] = "socket:[";

	if (len < sizeof(pre) || memcmp(s, pre, sizeof(pre) - 1) != 0)
		return -1;
	c.p += sizeof(pre) - 1;
	if (number(&c, 10, 20, inode) != 0 || expect(&c, ']') != 0 || c.p != c.end)
		return -1;
	return 0;
}

/* "pid (comm) state ppid ...": comm may hold spaces and parentheses, so it ends at the
 * last ')'. */
int pl_proc_parse_stat(const char *buf, size_t len, struct pl_proc_info *out)
{
	const char *open = memchr(buf, '(', len), *close = NULL;
	struct cur c;
	uint64_t ppid;

	for (size_t i = len; i > 0; i--) {
		if (buf[i - 1] == ')') {
			close = buf + i - 1;
			break;
		}
	}
	if (!open || !close || close < open)
		return -1;
	c = (struct cur){ close + 1, buf + len };
	if (expect(&c, ' ') != 0 || c.p >= c.end)
		return -1;
	c.p++;   /* state letter */
	if (expect(&c, ' ') != 0 || number(&c, 10, 10, &ppid) != 0 || ppid > INT32_MAX)
		return -1;
	out->name_len = (uint8_t)PL_MIN((size_t)(close - open - 1), sizeof(out->name));
	memcpy(out->name, open + 1, out->name_len);
	out->ppid = (int32_t)ppid;
	return 0;
}

void pl_proc_parse_cmdline(const char *buf, size_t len, struct pl_proc_info *out)
{
	size_t used = 0, i = 0;

	out->n_args = 0;
	out->args_count = 0;
	/* the arguments are NUL-terminated; a last one without its NUL (cut read) counts too */
	while (i < len) {
		const char *a = buf + i, *nul = memchr(a, '\0', len - i);
		size_t n = nul ? (size_t)(nul - a) : len - i;

		out->args_count++;
		i += n + 1;
		if (out->n_args >= PL_PROC_MAX_ARGS || used + 1 >= sizeof(out->args))
			continue;
		n = PL_MIN(n, sizeof(out->args) - used - 1);
		memcpy(out->args + used, a, n);
		out->args[used + n] = '\0';
		used += n + 1;
		out->n_args++;
	}
	out->args_len = (uint16_t)used;
}
