/* fuzz_proc.c – libFuzzer harness: the /proc parsers of process attribution (src/proc/
 * parse.c) on any bytes. The input is split at newlines like a socket table; each line goes
 * through the tcp and tcp6 row parsers, and the whole input through the stat, cmdline and
 * socket-link parsers. Checks what a row parser promises: IPv4 rows leave the address's last
 * 12 bytes zero, and the cmdline bounds hold. Seeds: real /proc content (seeds/proc/). */
#include <stdlib.h>
#include <string.h>
#include "pktlog/proc.h"

static void check_row(const struct pl_proc_sock *s)
{
	static const uint8_t zero[12];

	if (s->af != 4 && s->af != 6)
		abort();
	if (s->af == 4 && (memcmp(s->local_ip + 4, zero, 12) || memcmp(s->remote_ip + 4, zero, 12)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	static struct pl_proc_info in;
	struct pl_proc_sock s;
	uint64_t inode;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (pl_proc_parse_tcp_line(p, n, false, &s) == 0)
			check_row(&s);
		if (pl_proc_parse_tcp_line(p, n, true, &s) == 0)
			check_row(&s);
		pl_proc_parse_socket_link(p, n, &inode);
		p += n + 1;
	}
	memset(&in, 0, sizeof(in));
	if (pl_proc_parse_stat((const char *)data, size, &in) == 0 && in.name_len > sizeof(in.name))
		abort();
	pl_proc_parse_cmdline((const char *)data, size, &in);
	if (in.n_args > PL_PROC_MAX_ARGS || in.args_len > sizeof(in.args) ||
	    in.args_count < in.n_args || (in.args_len && in.args[in.args_len - 1] != '\0'))
		abort();
	return 0;
}
