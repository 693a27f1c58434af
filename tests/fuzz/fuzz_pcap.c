/* fuzz_pcap.c – libFuzzer harness for the whole pipeline on a capture file: libpcap's
 * reader → decode → flows → HTTP/MySQL → JSON. Seeded with the captures in pcaps/, so
 * mutations keep real link types, handshakes and messages. */
#include <stdio.h>
#include <string.h>
#include <pcap/pcap.h>
#include "pktlog/decode.h"
#include "pktlog/event.h"
#include "pktlog/flow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char render[64 * 1024];
static struct pl_stats stats;

static void emit(const struct pl_event *ev, void *arg)
{
	if (!pl_event_to_json(ev, NULL, render, sizeof(render)))
		stats.events_truncated++;
}

static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct pl_flow_table *t = ((void **)user)[0];
	int linktype = *(int *)((void **)user)[1];
	struct pl_packet pkt;

	if (pl_decode(bytes, h->caplen, linktype, true, &pkt) != PL_DEC_OK)
		return;
	pkt.ts_ns = (uint64_t)h->ts.tv_sec * PL_NS_PER_SEC + (uint64_t)h->ts.tv_usec * 1000;
	pl_flow_packet(t, &pkt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pl_config cfg;
	struct pl_proto_env env = { &cfg, &stats, emit, NULL };
	FILE *f = fmemopen((void *)data, size, "rb");

	if (!f)
		return 0;
	pcap_t *p = pcap_fopen_offline(f, err);
	if (!p) {
		fclose(f);
		return 0;
	}
	if (pl_config_defaults(&cfg) != 0) {
		pcap_close(p);
		return 0;
	}
	cfg.flows.max_flows = 64;
	cfg.flows.stream_buffer_bytes = 16384;
	cfg.flows.max_buffer_mb = 1;
	struct pl_flow_table *t = pl_flow_table_new(&cfg, &env);
	int linktype = pcap_datalink(p);
	void *user[2] = { t, &linktype };
	if (t)
		pcap_dispatch(p, -1, on_frame, (u_char *)user);
	pl_flow_table_free(t);
	pcap_close(p);     /* closes f */
	pl_config_free(&cfg);
	return 0;
}
