/* parser_only.c – the http-parser ceiling: read the capture like pcap_loop.c and feed each
 * TCP payload on port 8080 to http-parser alone (one request and one response parser per
 * client port, no callbacks doing work), to show how much of pktlog's time the library
 * itself needs. Prints packets, messages and seconds. Built and run by bench/replay. */
#include <pcap/pcap.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct conn { http_parser req, resp; int used; };
static struct conn conns[65536];
static unsigned long long packets, messages;
static http_parser_settings settings;

static int on_complete(http_parser *p) { (void)p; messages++; return 0; }
static int on_data(http_parser *p, const char *a, size_t n) { (void)p; (void)a; (void)n; return 0; }

static void on_pkt(u_char *u, const struct pcap_pkthdr *h, const u_char *b)
{
	(void)u;
	packets++;
	if (h->caplen < 14 + 20 + 20 || b[12] != 0x08 || b[13] != 0x00 || b[23] != 6)
		return;
	unsigned ihl = (b[14] & 15) * 4u;
	const u_char *tcp = b + 14 + ihl;
	unsigned tot = (unsigned)b[16] << 8 | b[17];
	unsigned sport = (unsigned)tcp[0] << 8 | tcp[1], dport = (unsigned)tcp[2] << 8 | tcp[3];
	unsigned off = (tcp[12] >> 4) * 4u;
	if (tot < ihl + off || 14 + tot > h->caplen)
		return;
	size_t len = tot - ihl - off;
	if (!len)
		return;
	int to_server = dport == 8080;
	struct conn *c = &conns[to_server ? sport : dport];
	if (!c->used) {
		http_parser_init(&c->req, HTTP_REQUEST);
		http_parser_init(&c->resp, HTTP_RESPONSE);
		c->used = 1;
	}
	http_parser_execute(to_server ? &c->req : &c->resp, &settings, (const char *)tcp + off, len);
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct timespec t0, t1;

	if (argc != 2) {
		fprintf(stderr, "usage: parser_only FILE\n");
		return 2;
	}
	pcap_t *p = pcap_open_offline(argv[1], err);
	if (!p) {
		fprintf(stderr, "parser_only: %s: %s\n", argv[1], err);
		return 1;
	}
	settings.on_message_complete = on_complete;
	settings.on_url = settings.on_status = settings.on_header_field = settings.on_header_value = on_data;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pcap_dispatch(p, -1, on_pkt, NULL) < 0) {
		fprintf(stderr, "parser_only: %s\n", pcap_geterr(p));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("packets=%llu messages=%llu seconds=%.6f\n", packets, messages,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	pcap_close(p);
	return 0;
}
