/* fuzz_decode.c – libFuzzer harness for pl_decode(): byte 0 picks the link type, the rest is the frame.
 *
 * Link-type table (input byte 0, taken modulo its length; seeds in
 * tests/fuzz/seeds/decode/ use these indexes):
 *   0 DLT_EN10MB   1 DLT_LINUX_SLL   2 DLT_LINUX_SLL2   3 DLT_NULL   4 DLT_LOOP
 *   5 DLT_RAW      6 LINKTYPE_RAW (101)   7 DLT_IPV4 (228)   8 DLT_IPV6 (229)
 *
 * Every payload byte is read so ASan reports a payload that reaches past the
 * frame; the contract's invariants trap when broken. Each frame is decoded twice,
 * with the fast path (pl_decode's fast_path: tuning.fast_paths) off and on: the results and every field
 * must agree. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <pcap/dlt.h>
#include "pktlog/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int linktypes[] = {
	DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP,
	DLT_RAW, 101, DLT_IPV4, DLT_IPV6,
};

static volatile uint32_t sink;

static void check_packet(const uint8_t *frame, size_t len, const struct pl_packet *p)
{
	uint32_t sum = 0;

	if (p->af != 4 && p->af != 6)
		__builtin_trap();
	if (p->payload_len > p->payload_wire_len)
		__builtin_trap();
	if (p->payload < frame || p->payload_len > len - (size_t)(p->payload - frame))
		__builtin_trap();
	for (uint32_t i = 0; i < p->payload_len; i++)
		sum += p->payload[i];
	sink = sum;
}

/* Field by field: the padding may differ. */
static void check_same(const struct pl_packet *a, const struct pl_packet *b)
{
	if (a->af != b->af || a->tcp_flags != b->tcp_flags || a->sport != b->sport ||
	    a->dport != b->dport || memcmp(a->src, b->src, 16) != 0 ||
	    memcmp(a->dst, b->dst, 16) != 0 || a->seq != b->seq || a->ack != b->ack ||
	    a->window != b->window || a->payload != b->payload ||
	    a->payload_len != b->payload_len || a->payload_wire_len != b->payload_wire_len ||
	    a->ts_ns != b->ts_ns)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl_packet pkt, ref;
	const uint8_t *frame;
	size_t len;
	int lt, rc, rc_ref;

	if (size < 1 || size - 1 > UINT32_MAX)
		return 0;
	frame = data + 1;
	len = size - 1;
	lt = linktypes[data[0] % (sizeof(linktypes) / sizeof(linktypes[0]))];
	memset(&pkt, 0x5a, sizeof(pkt));
	memset(&ref, 0xa5, sizeof(ref));
	pkt.ts_ns = ref.ts_ns = 42;
	rc_ref = pl_decode(frame, (uint32_t)len, lt, false, &ref);
	rc = pl_decode(frame, (uint32_t)len, lt, true, &pkt);
	if (rc != rc_ref)
		__builtin_trap();
	check_same(&pkt, &ref);
	if (pkt.ts_ns != 42 || pl_decode_result_name(rc)[0] == 'u')
		__builtin_trap();
	if (rc == PL_DEC_OK)
		check_packet(frame, len, &pkt);
	return 0;
}
