/* test_decode.c – unit tests of src/net/decode.c: hand-built frames for every link type, IPv4/IPv6, every result code, every cut length. */
#include "unit.h"
#include <pcap/dlt.h>
#include "pktlog/decode.h"

#define LINKTYPE_RAW_IP 101

static const uint8_t V4_SRC[4] = { 192, 0, 2, 1 };
static const uint8_t V4_DST[4] = { 198, 51, 100, 2 };
static const uint8_t V6_SRC[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t V6_DST[16] = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xab, [15] = 2 };
static const char REQ[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
#define REQ_LEN (sizeof(REQ) - 1)

#define SPORT 40000
#define DPORT 80
#define SEQ 0x11223344u
#define ACK 0x55667788u
#define WIN 0xfaf0
#define FLAGS (PL_TCP_PSH | PL_TCP_ACK)

/* A frame under construction plus what decoding it must give. */
struct frame {
	uint8_t b[512];
	size_t n;
	int lt;
	uint8_t af;
	size_t hdr;           /* offset of the TCP payload */
	const char *payload;  /* expected payload bytes */
	size_t plen;          /* payload length per the IP header */
	bool wire_known;      /* false when the IP length field is 0 */
};

static void put8(struct frame *f, unsigned v)
{
	assert_true(f->n < sizeof(f->b));
	f->b[f->n++] = (uint8_t)v;
}

static void put16(struct frame *f, unsigned v)
{
	put8(f, v >> 8);
	put8(f, v & 0xff);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void putle32(struct frame *f, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		put8(f, (v >> (8 * i)) & 0xff);
}

static void putn(struct frame *f, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(f, ((const uint8_t *)p)[i]);
}

static void putfill(struct frame *f, unsigned v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(f, v);
}

/* ---- link headers ---- */

static void put_eth_tags(struct frame *f, const uint16_t *tpids, size_t ntags, uint16_t etype)
{
	static const uint8_t macs[12] = { 0, 1, 2, 3, 4, 5, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };

	f->lt = DLT_EN10MB;
	putn(f, macs, sizeof(macs));
	for (size_t i = 0; i < ntags; i++) {
		put16(f, tpids[i]);
		put16(f, 100 + (unsigned)i); /* PCP 0, VID 100+i */
	}
	put16(f, etype);
}

static void put_eth(struct frame *f, uint16_t etype)
{
	put_eth_tags(f, NULL, 0, etype);
}

static void put_sll(struct frame *f, uint16_t proto)
{
	f->lt = DLT_LINUX_SLL;
	put16(f, 0);      /* to us */
	put16(f, 1);      /* ARPHRD_ETHER */
	put16(f, 6);
	putfill(f, 0x42, 8);
	put16(f, proto);
}

static void put_sll2(struct frame *f, uint16_t proto)
{
	f->lt = DLT_LINUX_SLL2;
	put16(f, proto);
	put16(f, 0);
	put32(f, 3);      /* ifindex */
	put16(f, 1);
	put8(f, 4);       /* outgoing */
	put8(f, 6);
	putfill(f, 0x43, 8);
}

static void put_loop(struct frame *f, int lt, uint32_t family, bool big_endian)
{
	f->lt = lt;
	if (big_endian)
		put32(f, family);
	else
		putle32(f, family);
}

/* ---- IP and TCP ---- */

static void put_ipv4(struct frame *f, uint8_t proto, size_t ipopt, uint16_t frag, size_t l4len)
{
	put8(f, 0x40 | (unsigned)((20 + ipopt) / 4));
	put8(f, 0);
	put16(f, (unsigned)(20 + ipopt + l4len));
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	putn(f, V4_SRC, 4);
	putn(f, V4_DST, 4);
	putfill(f, 1, ipopt); /* NOP options */
}

static void put_ipv6(struct frame *f, uint8_t nh, size_t plen)
{
	put32(f, 0x60012345);
	put16(f, (unsigned)plen);
	put8(f, nh);
	put8(f, 64);
	putn(f, V6_SRC, 16);
	putn(f, V6_DST, 16);
}

static void put_tcp(struct frame *f, size_t tcpopt, const char *payload, size_t plen)
{
	put16(f, SPORT);
	put16(f, DPORT);
	put32(f, SEQ);
	put32(f, ACK);
	put8(f, (unsigned)((20 + tcpopt) / 4) << 4);
	put8(f, FLAGS);
	put16(f, WIN);
	put16(f, 0);
	put16(f, 0);
	putfill(f, 1, tcpopt);
	f->hdr = f->n;
	f->payload = payload;
	f->plen = plen;
	putn(f, payload, plen);
}

static void ip4_tcp_p(struct frame *f, size_t ipopt, size_t tcpopt, const char *payload, size_t plen)
{
	f->af = 4;
	f->wire_known = true;
	put_ipv4(f, 6, ipopt, 0x4000 /* DF */, 20 + tcpopt + plen);
	put_tcp(f, tcpopt, payload, plen);
}

static void ip4_tcp(struct frame *f)
{
	ip4_tcp_p(f, 0, 0, REQ, REQ_LEN);
}

/* ext is a chain of extension headers starting with header type first_nh and ending in TCP. */
static void ip6_tcp_ext(struct frame *f, uint8_t first_nh, const uint8_t *ext, size_t extlen)
{
	f->af = 6;
	f->wire_known = true;
	put_ipv6(f, extlen ? first_nh : 6, extlen + 20 + REQ_LEN);
	putn(f, ext, extlen);
	put_tcp(f, 0, REQ, REQ_LEN);
}

static void ip6_tcp(struct frame *f)
{
	ip6_tcp_ext(f, 6, NULL, 0);
}

/* ---- checks ---- */

/* Every field of struct pl_packet (the padding is nobody's business). */
static void assert_same_packet(const struct pl_packet *a, const struct pl_packet *b)
{
	assert_int_equal(a->af, b->af);
	assert_int_equal(a->tcp_flags, b->tcp_flags);
	assert_int_equal(a->sport, b->sport);
	assert_int_equal(a->dport, b->dport);
	assert_memory_equal(a->src, b->src, 16);
	assert_memory_equal(a->dst, b->dst, 16);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->ack, b->ack);
	assert_int_equal(a->window, b->window);
	assert_ptr_equal(a->payload, b->payload);
	assert_int_equal(a->payload_len, b->payload_len);
	assert_int_equal(a->payload_wire_len, b->payload_wire_len);
	assert_int_equal(a->ts_ns, b->ts_ns);
}

/* pl_decode() with the general path alone and with the fast path first, into packets
 * filled with different garbage: the same result and the same fields, whatever the
 * result. *pkt (ts_ns as the caller set it) gets the fast-path-on decode. Every
 * decode in this file goes through here, so every frame and cut below is also a
 * fast-versus-general comparison. */
static int decode_both(const uint8_t *b, size_t len, int lt, struct pl_packet *pkt)
{
	struct pl_packet ref, fast;
	int rc_ref, rc_fast;

	memset(&ref, 0xa5, sizeof(ref));
	memset(&fast, 0x5a, sizeof(fast));
	ref.ts_ns = fast.ts_ns = pkt->ts_ns;
	rc_ref = pl_decode(b, (uint32_t)len, lt, false, &ref);
	rc_fast = pl_decode(b, (uint32_t)len, lt, true, &fast);
	assert_int_equal(rc_fast, rc_ref);
	assert_same_packet(&fast, &ref);
	*pkt = fast;
	return rc_fast;
}

static int decode(const struct frame *f, size_t len, struct pl_packet *pkt)
{
	return decode_both(f->b, len, f->lt, pkt);
}

static int decode_all(const struct frame *f)
{
	struct pl_packet pkt = { .ts_ns = 0 };

	return decode(f, f->n, &pkt);
}

static void check_fields(const struct frame *f, const struct pl_packet *p, const uint8_t *base)
{
	static const uint8_t zero[12];

	assert_int_equal(p->af, f->af);
	assert_int_equal(p->sport, SPORT);
	assert_int_equal(p->dport, DPORT);
	assert_int_equal(p->seq, SEQ);
	assert_int_equal(p->ack, ACK);
	assert_int_equal(p->window, WIN);
	assert_int_equal(p->tcp_flags, FLAGS);
	if (f->af == 4) {
		assert_memory_equal(p->src, V4_SRC, 4);
		assert_memory_equal(p->dst, V4_DST, 4);
		assert_memory_equal(p->src + 4, zero, 12);
		assert_memory_equal(p->dst + 4, zero, 12);
	} else {
		assert_memory_equal(p->src, V6_SRC, 16);
		assert_memory_equal(p->dst, V6_DST, 16);
	}
	assert_ptr_equal(p->payload, base + f->hdr);
}

/* Decode f cut at every length, from a heap copy of exactly that length so
 * ASan sees any over-read: TRUNCATED while a header is cut, OK once only payload is. */
static void check_cuts(const struct frame *f)
{
	for (size_t len = 0; len <= f->n; len++) {
		uint8_t *copy = malloc(len ? len : 1);
		struct pl_packet pkt = { .ts_ns = 0 };
		int rc;

		assert_non_null(copy);
		memcpy(copy, f->b, len);
		rc = decode_both(copy, len, f->lt, &pkt);
		if (len < f->hdr) {
			assert_int_equal(rc, PL_DEC_TRUNCATED);
		} else {
			size_t got = PL_MIN(len - f->hdr, f->plen);

			assert_int_equal(rc, PL_DEC_OK);
			check_fields(f, &pkt, copy);
			assert_int_equal(pkt.payload_len, got);
			assert_int_equal(pkt.payload_wire_len, f->wire_known ? f->plen : got);
			if (f->wire_known && got < f->plen)
				assert_true(pkt.payload_wire_len > pkt.payload_len);
		}
		free(copy);
	}
}

/* The whole frame decodes to every expected field, then every cut of it behaves. */
static void check_ok(const struct frame *f)
{
	struct pl_packet pkt;

	memset(&pkt, 0xa5, sizeof(pkt));
	pkt.ts_ns = 1234567890123ULL;
	assert_int_equal(decode(f, f->n, &pkt), PL_DEC_OK);
	assert_int_equal(pkt.ts_ns, 1234567890123ULL);
	check_fields(f, &pkt, f->b);
	assert_int_equal(pkt.payload_len, f->plen);
	assert_int_equal(pkt.payload_wire_len, f->plen);
	if (f->plen)
		assert_memory_equal(pkt.payload, f->payload, f->plen);
	check_cuts(f);
}

/* ---- link types ---- */

static void test_eth_ipv4(void **state)
{
	struct frame f = { 0 };

	put_eth(&f, 0x0800);
	ip4_tcp(&f);
	assert_int_equal(f.hdr, 14 + 20 + 20);
	check_ok(&f);
}

static void test_eth_ipv4_options(void **state)
{
	struct frame f = { 0 };

	put_eth(&f, 0x0800);
	ip4_tcp_p(&f, 8, 12, REQ, REQ_LEN);
	assert_int_equal(f.hdr, 14 + 28 + 32);
	check_ok(&f);
}

static void test_eth_padding_excluded(void **state)
{
	struct frame f = { 0 };
	struct frame g = { 0 };

	/* A bare ACK is 54 bytes; Ethernet pads it to 60. */
	put_eth(&f, 0x0800);
	ip4_tcp_p(&f, 0, 0, "", 0);
	putfill(&f, 0xee, 6);
	check_ok(&f);

	put_eth(&g, 0x0800);
	ip4_tcp_p(&g, 0, 0, "hi", 2);
	putfill(&g, 0xee, 4);
	check_ok(&g);
}

static void test_eth_ipv6(void **state)
{
	struct frame f = { 0 };

	put_eth(&f, 0x86dd);
	ip6_tcp(&f);
	assert_int_equal(f.hdr, 14 + 40 + 20);
	check_ok(&f);
}

static void test_eth_ipv6_ext_headers(void **state)
{
	/* hop-by-hop(8) → routing(16) → destination options(8) → AH(24) → TCP */
	uint8_t ext[56] = { 0 };
	struct frame f = { 0 };

	ext[0] = 43;   ext[1] = 0;  /* hop-by-hop, 8 bytes */
	ext[8] = 60;   ext[9] = 1;  /* routing, 16 bytes */
	ext[24] = 51;  ext[25] = 0; /* destination options, 8 bytes */
	ext[32] = 6;   ext[33] = 4; /* AH: (4 + 2) * 4 = 24 bytes */
	put_eth(&f, 0x86dd);
	ip6_tcp_ext(&f, 0, ext, sizeof(ext));
	assert_int_equal(f.hdr, 14 + 40 + 56 + 20);
	check_ok(&f);
}

static void test_vlan_8021q(void **state)
{
	static const uint16_t tags[] = { 0x8100 };
	struct frame f = { 0 };
	struct frame g = { 0 };

	put_eth_tags(&f, tags, 1, 0x0800);
	ip4_tcp(&f);
	assert_int_equal(f.hdr, 18 + 40);
	check_ok(&f);

	put_eth_tags(&g, tags, 1, 0x86dd);
	ip6_tcp(&g);
	check_ok(&g);
}

static void test_vlan_qinq(void **state)
{
	static const uint16_t ad[] = { 0x88a8, 0x8100 };
	static const uint16_t old[] = { 0x9100, 0x8100 };
	struct frame f = { 0 };
	struct frame g = { 0 };

	put_eth_tags(&f, ad, 2, 0x0800);
	ip4_tcp(&f);
	assert_int_equal(f.hdr, 22 + 40);
	check_ok(&f);

	put_eth_tags(&g, old, 2, 0x86dd);
	ip6_tcp(&g);
	check_ok(&g);
}

static void test_vlan_stack_limit(void **state)
{
	static const uint16_t tags[9] = { 0x88a8, 0x9100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100 };
	struct frame f = { 0 };
	struct frame g = { 0 };

	put_eth_tags(&f, tags, 8, 0x0800);
	ip4_tcp(&f);
	check_ok(&f);

	put_eth_tags(&g, tags, 9, 0x0800);
	ip4_tcp(&g);
	assert_int_equal(decode_all(&g), PL_DEC_NOT_IP);
}

static void test_sll(void **state)
{
	static const uint16_t tags[] = { 0x8100 };
	struct frame f = { 0 };
	struct frame g = { 0 };
	struct frame h = { 0 };

	put_sll(&f, 0x0800);
	ip4_tcp(&f);
	assert_int_equal(f.hdr, 16 + 40);
	check_ok(&f);

	put_sll(&g, 0x86dd);
	ip6_tcp(&g);
	check_ok(&g);

	/* An unstripped tag after the cooked header. */
	put_sll(&h, tags[0]);
	put16(&h, 7);
	put16(&h, 0x0800);
	ip4_tcp(&h);
	check_ok(&h);
}

static void test_sll2(void **state)
{
	struct frame f = { 0 };
	struct frame g = { 0 };

	put_sll2(&f, 0x0800);
	ip4_tcp(&f);
	assert_int_equal(f.hdr, 20 + 40);
	check_ok(&f);

	put_sll2(&g, 0x86dd);
	ip6_tcp(&g);
	check_ok(&g);
}

static void test_loopback_both_orders(void **state)
{
	static const int lts[] = { DLT_NULL, DLT_LOOP };
	static const uint32_t v6fams[] = { 10, 24, 28, 30 };

	for (size_t l = 0; l < PL_ARRAY_LEN(lts); l++) {
		for (int big = 0; big <= 1; big++) {
			struct frame f = { 0 };

			put_loop(&f, lts[l], 2, big);
			ip4_tcp(&f);
			assert_int_equal(f.hdr, 4 + 40);
			check_ok(&f);
			for (size_t i = 0; i < PL_ARRAY_LEN(v6fams); i++) {
				struct frame g = { 0 };

				put_loop(&g, lts[l], v6fams[i], big);
				ip6_tcp(&g);
				check_ok(&g);
			}
		}
	}
}

static void test_loopback_unknown_family(void **state)
{
	struct frame f = { 0 };
	struct frame g = { 0 };

	put_loop(&f, DLT_NULL, 7, false);
	ip4_tcp(&f);
	assert_int_equal(decode_all(&f), PL_DEC_NOT_IP);

	put_loop(&g, DLT_LOOP, 0x00020000, true);
	ip4_tcp(&g);
	assert_int_equal(decode_all(&g), PL_DEC_NOT_IP);
}

static void test_raw(void **state)
{
	static const int raw[] = { DLT_RAW, LINKTYPE_RAW_IP };

	for (size_t i = 0; i < PL_ARRAY_LEN(raw); i++) {
		struct frame f = { 0 };
		struct frame g = { 0 };

		f.lt = raw[i];
		ip4_tcp(&f);
		assert_int_equal(f.hdr, 40);
		check_ok(&f);

		g.lt = raw[i];
		ip6_tcp(&g);
		check_ok(&g);
	}
}

static void test_raw_ipv4_ipv6_linktypes(void **state)
{
	struct frame f = { .lt = DLT_IPV4 };
	struct frame g = { .lt = DLT_IPV6 };
	struct frame h = { .lt = DLT_IPV4 };
	struct frame k = { .lt = DLT_IPV6 };

	ip4_tcp(&f);
	check_ok(&f);
	ip6_tcp(&g);
	check_ok(&g);

	/* The link type promises one version; the packet is the other. */
	ip6_tcp(&h);
	assert_int_equal(decode_all(&h), PL_DEC_BAD_IP);
	ip4_tcp(&k);
	assert_int_equal(decode_all(&k), PL_DEC_BAD_IP);
}

static void test_raw_bad_version(void **state)
{
	struct frame f = { .lt = DLT_RAW };

	ip4_tcp(&f);
	f.b[0] = 0x55;
	assert_int_equal(decode_all(&f), PL_DEC_BAD_IP);
	f.b[0] = 0x05;
	assert_int_equal(decode_all(&f), PL_DEC_BAD_IP);
}

static void test_bad_linktype(void **state)
{
	struct frame f = { 0 };
	struct pl_packet pkt;

	put_eth(&f, 0x0800);
	ip4_tcp(&f);
	assert_int_equal(pl_decode(f.b, (uint32_t)f.n, 105 /* 802.11 */, true, &pkt), PL_DEC_BAD_LINKTYPE);
	assert_int_equal(pl_decode(f.b, (uint32_t)f.n, -1, true, &pkt), PL_DEC_BAD_LINKTYPE);
	assert_int_equal(pl_decode(f.b, (uint32_t)f.n, 99999, true, &pkt), PL_DEC_BAD_LINKTYPE);
}

static void test_null_frame(void **state)
{
	struct pl_packet pkt;

	pkt.ts_ns = 7;
	assert_int_equal(pl_decode(NULL, 0, DLT_EN10MB, true, &pkt), PL_DEC_TRUNCATED);
	assert_int_equal(pkt.ts_ns, 7);
}

/* ---- results other than OK ---- */

static void test_not_ip(void **state)
{
	struct frame f = { 0 };
	struct frame g = { 0 };
	struct frame h = { 0 };
	struct frame k = { 0 };

	put_eth(&f, 0x0806);       /* ARP */
	putfill(&f, 0, 28);
	assert_int_equal(decode_all(&f), PL_DEC_NOT_IP);

	put_sll(&g, 0x0806);
	putfill(&g, 0, 28);
	assert_int_equal(decode_all(&g), PL_DEC_NOT_IP);

	put_eth(&h, 0x88cc);       /* LLDP */
	putfill(&h, 0, 20);
	assert_int_equal(decode_all(&h), PL_DEC_NOT_IP);

	put_eth(&k, 46);           /* 802.3 length, LLC follows */
	putfill(&k, 0, 46);
	assert_int_equal(decode_all(&k), PL_DEC_NOT_IP);
}

static void test_not_tcp(void **state)
{
	static const uint8_t hop_udp[8] = { 17, 0 };
	struct frame f = { 0 };
	struct frame g = { 0 };
	struct frame h = { 0 };
	struct frame k = { 0 };
	struct frame m = { 0 };

	put_eth(&f, 0x0800);
	put_ipv4(&f, 17, 0, 0, 8 + 4);
	putfill(&f, 0, 12);
	assert_int_equal(decode_all(&f), PL_DEC_NOT_TCP);

	put_eth(&g, 0x0800);
	put_ipv4(&g, 1, 0, 0, 8);  /* ICMP */
	putfill(&g, 0, 8);
	assert_int_equal(decode_all(&g), PL_DEC_NOT_TCP);

	put_eth(&h, 0x86dd);
	put_ipv6(&h, 17, 8);
	putfill(&h, 0, 8);
	assert_int_equal(decode_all(&h), PL_DEC_NOT_TCP);

	put_eth(&k, 0x86dd);
	put_ipv6(&k, 59, 0);       /* no next header */
	assert_int_equal(decode_all(&k), PL_DEC_NOT_TCP);

	put_eth(&m, 0x86dd);
	put_ipv6(&m, 0, 16);
	putn(&m, hop_udp, sizeof(hop_udp));
	putfill(&m, 0, 8);
	assert_int_equal(decode_all(&m), PL_DEC_NOT_TCP);
}

static void test_fragments(void **state)
{
	static const uint16_t frags[] = { 0x2000 /* MF */, 0x0001, 0x00b9, 0x6000 /* DF|MF */ };
	static const uint8_t frag_hdr[8] = { 6, 0, 0, 1, 0, 0, 0, 42 };
	static const uint8_t hop_frag[16] = { 44, 0, [8] = 6, [11] = 1 };

	for (size_t i = 0; i < PL_ARRAY_LEN(frags); i++) {
		struct frame f = { 0 };

		put_eth(&f, 0x0800);
		put_ipv4(&f, 6, 0, frags[i], 20 + REQ_LEN);
		put_tcp(&f, 0, REQ, REQ_LEN);
		assert_int_equal(decode_all(&f), PL_DEC_FRAGMENT);
	}

	/* A later fragment of UDP is still a fragment first. */
	struct frame u = { 0 };
	put_eth(&u, 0x0800);
	put_ipv4(&u, 17, 0, 0x0010, 8);
	putfill(&u, 0, 8);
	assert_int_equal(decode_all(&u), PL_DEC_FRAGMENT);

	struct frame g = { 0 };
	put_eth(&g, 0x86dd);
	put_ipv6(&g, 44, 8 + 20 + REQ_LEN);
	putn(&g, frag_hdr, sizeof(frag_hdr));
	put_tcp(&g, 0, REQ, REQ_LEN);
	assert_int_equal(decode_all(&g), PL_DEC_FRAGMENT);

	struct frame h = { 0 };
	put_eth(&h, 0x86dd);
	put_ipv6(&h, 0, 16 + 20 + REQ_LEN);
	putn(&h, hop_frag, sizeof(hop_frag));
	put_tcp(&h, 0, REQ, REQ_LEN);
	assert_int_equal(decode_all(&h), PL_DEC_FRAGMENT);
}

static void test_bad_ipv4(void **state)
{
	struct frame f = { 0 };

	put_eth(&f, 0x0800);
	ip4_tcp(&f);
	assert_int_equal(decode_all(&f), PL_DEC_OK);

	f.b[14] = 0x55;                     /* version 5 */
	assert_int_equal(decode_all(&f), PL_DEC_BAD_IP);
	f.b[14] = 0x44;                     /* IHL 4 */
	assert_int_equal(decode_all(&f), PL_DEC_BAD_IP);
	f.b[14] = 0x45;
	f.b[16] = 0;
	f.b[17] = 19;                       /* total length < header */
	assert_int_equal(decode_all(&f), PL_DEC_BAD_IP);
	f.b[14] = 0x46;
	f.b[17] = 23;                       /* total length < header with options */
	assert_int_equal(decode_all(&f), PL_DEC_BAD_IP);
}

static void test_bad_ipv6(void **state)
{
	uint8_t hop[8] = { 6, 0 };
	struct frame f = { 0 };
	struct frame g = { 0 };
	struct frame h = { 0 };

	put_eth(&f, 0x86dd);
	ip6_tcp(&f);
	f.b[14] = 0x45;                     /* version 4 under ethertype IPv6 */
	assert_int_equal(decode_all(&f), PL_DEC_BAD_IP);

	/* Hop-by-hop claims 16 bytes but the payload length says 8. */
	hop[1] = 1;
	put_eth(&g, 0x86dd);
	put_ipv6(&g, 0, 8);
	putn(&g, hop, sizeof(hop));
	putfill(&g, 0, 40);
	assert_int_equal(decode_all(&g), PL_DEC_BAD_IP);

	/* Nine destination-option headers: more than anyone sends. */
	put_eth(&h, 0x86dd);
	put_ipv6(&h, 60, 9 * 8 + 20);
	for (int i = 0; i < 9; i++) {
		put8(&h, i == 8 ? 6 : 60);
		putfill(&h, 0, 7);
	}
	put_tcp(&h, 0, "", 0);
	assert_int_equal(decode_all(&h), PL_DEC_BAD_IP);
}

static void test_ipv6_ext_limit_ok(void **state)
{
	uint8_t ext[8 * 8] = { 0 };
	struct frame f = { 0 };

	for (int i = 0; i < 8; i++)
		ext[i * 8] = i == 7 ? 6 : 60;
	put_eth(&f, 0x86dd);
	ip6_tcp_ext(&f, 60, ext, sizeof(ext));
	check_ok(&f);
}

static void test_bad_tcp(void **state)
{
	struct frame f = { 0 };
	struct frame g = { 0 };
	struct frame h = { 0 };
	struct frame k = { 0 };

	put_eth(&f, 0x0800);
	ip4_tcp(&f);
	f.b[14 + 20 + 12] = 0x40;           /* data offset 4 */
	assert_int_equal(decode_all(&f), PL_DEC_BAD_TCP);

	/* Data offset 15 (60 bytes) but only 40 bytes of IP payload. */
	put_eth(&g, 0x0800);
	ip4_tcp_p(&g, 0, 0, REQ, 20);
	putfill(&g, 0xee, 40);             /* captured bytes beyond the IP packet */
	g.b[14 + 20 + 12] = 0xf0;
	assert_int_equal(decode_all(&g), PL_DEC_BAD_TCP);

	/* IP total length leaves only 10 bytes for TCP, though more were captured. */
	put_eth(&h, 0x0800);
	put_ipv4(&h, 6, 0, 0, 10);
	put_tcp(&h, 0, REQ, REQ_LEN);
	assert_int_equal(decode_all(&h), PL_DEC_BAD_TCP);

	put_eth(&k, 0x86dd);
	put_ipv6(&k, 6, 12);
	put_tcp(&k, 0, REQ, REQ_LEN);
	assert_int_equal(decode_all(&k), PL_DEC_BAD_TCP);
}

/* ---- lengths ---- */

static void test_tso_zero_length(void **state)
{
	struct frame f = { 0 };
	struct frame g = { 0 };

	put_eth(&f, 0x0800);
	ip4_tcp(&f);
	f.b[16] = f.b[17] = 0;              /* IPv4 total length 0 */
	f.wire_known = false;
	check_ok(&f);

	put_eth(&g, 0x86dd);
	ip6_tcp(&g);
	g.b[18] = g.b[19] = 0;              /* IPv6 payload length 0 */
	g.wire_known = false;
	check_ok(&g);
}

static void test_snaplen_cut(void **state)
{
	struct frame f = { 0 };
	struct pl_packet pkt;

	put_eth(&f, 0x0800);
	ip4_tcp(&f);
	assert_int_equal(decode(&f, f.hdr + 5, &pkt), PL_DEC_OK);
	assert_int_equal(pkt.payload_len, 5);
	assert_int_equal(pkt.payload_wire_len, REQ_LEN);
	assert_memory_equal(pkt.payload, "GET /", 5);
	assert_int_equal(decode(&f, f.hdr - 1, &pkt), PL_DEC_TRUNCATED);
}

/* ---- the fast path ---- */

/* Does pl_decode_fast() take the frame (cut to len)? When it does, it agrees with the general path. */
static bool fast_takes(const struct frame *f, size_t len)
{
	struct pl_packet fast, ref;
	int rc;

	memset(&fast, 0x5a, sizeof(fast));
	fast.ts_ns = 99;
	rc = pl_decode_fast(f->b, (uint32_t)len, f->lt, &fast);
	if (rc != PL_DEC_OK) {
		assert_int_equal(rc, -1);
		return false;
	}
	memset(&ref, 0xa5, sizeof(ref));
	ref.ts_ns = 99;
	assert_int_equal(pl_decode(f->b, (uint32_t)len, f->lt, false, &ref), PL_DEC_OK);
	assert_same_packet(&fast, &ref);
	return true;
}

/* The frames it exists for go straight through; everything unusual is declined. */
static void test_fast_path_coverage(void **state)
{
	static const uint16_t one_tag[] = { 0x8100 };
	uint8_t ext[8] = { 6 };
	struct frame f;

	f = (struct frame){ 0 }; put_eth(&f, 0x0800); ip4_tcp(&f);
	assert_true(fast_takes(&f, f.n));
	assert_true(fast_takes(&f, f.hdr));           /* no payload captured */
	assert_true(fast_takes(&f, f.hdr + 3));       /* snap length cut the payload */
	assert_false(fast_takes(&f, f.hdr - 1));      /* a cut header: the general path says so */
	putfill(&f, 0, 10);                           /* Ethernet padding */
	assert_true(fast_takes(&f, f.n));
	f = (struct frame){ 0 }; put_eth(&f, 0x0800); ip4_tcp_p(&f, 0, 12, REQ, REQ_LEN);
	assert_true(fast_takes(&f, f.n));             /* TCP options */
	f = (struct frame){ 0 }; put_eth(&f, 0x0800); ip4_tcp_p(&f, 0, 0, REQ, 0);
	assert_true(fast_takes(&f, f.n));             /* a bare ACK */
	f = (struct frame){ 0 }; put_eth(&f, 0x86dd); ip6_tcp(&f);
	assert_true(fast_takes(&f, f.n));
	assert_false(fast_takes(&f, f.hdr - 1));
	f = (struct frame){ 0 }; put_sll(&f, 0x0800); ip4_tcp(&f);
	assert_true(fast_takes(&f, f.n));
	f = (struct frame){ 0 }; put_sll(&f, 0x86dd); ip6_tcp(&f);
	assert_true(fast_takes(&f, f.n));

	f = (struct frame){ 0 }; put_eth_tags(&f, one_tag, 1, 0x0800); ip4_tcp(&f);
	assert_false(fast_takes(&f, f.n));
	f = (struct frame){ 0 }; put_eth(&f, 0x0800); ip4_tcp_p(&f, 8, 0, REQ, REQ_LEN);
	assert_false(fast_takes(&f, f.n));            /* IP options */
	f = (struct frame){ 0 }; put_eth(&f, 0x86dd); ip6_tcp_ext(&f, 60, ext, sizeof(ext));
	assert_false(fast_takes(&f, f.n));            /* an extension header */
	f = (struct frame){ 0 }; put_eth(&f, 0x0800); ip4_tcp(&f); f.b[16] = f.b[17] = 0;
	assert_false(fast_takes(&f, f.n));            /* TSO: IPv4 total length 0 */
	f = (struct frame){ 0 }; put_eth(&f, 0x86dd); ip6_tcp(&f); f.b[18] = f.b[19] = 0;
	assert_false(fast_takes(&f, f.n));            /* IPv6 payload length 0 */
	f = (struct frame){ 0 }; put_eth(&f, 0x0800); ip4_tcp(&f); f.b[14 + 6] = 0x20;
	assert_false(fast_takes(&f, f.n));            /* MF */
	f = (struct frame){ 0 }; put_sll2(&f, 0x0800); ip4_tcp(&f);
	assert_false(fast_takes(&f, f.n));
	f = (struct frame){ 0 }; put_loop(&f, DLT_NULL, 2, false); ip4_tcp(&f);
	assert_false(fast_takes(&f, f.n));
	f = (struct frame){ 0 }; f.lt = DLT_RAW; ip4_tcp(&f);
	assert_false(fast_takes(&f, f.n));
	assert_int_equal(pl_decode_fast(NULL, 100, DLT_EN10MB, &(struct pl_packet){ 0 }), -1);
}

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* Base frames of every shape the fast path looks at, then a few bytes of their headers
 * changed to values near the boundaries the decoders test, cut at any length, and
 * decoded from a heap copy of exactly that length (ASan sees an over-read). */
static void test_fast_path_agrees_on_mutations(void **state)
{
	static const uint8_t vals[] = { 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x11, 0x14,
					0x20, 0x28, 0x2c, 0x3c, 0x40, 0x44, 0x45, 0x46, 0x4f,
					0x50, 0x60, 0x6f, 0x81, 0x86, 0x88, 0xdd, 0xf0, 0xff };
	struct frame base[6];
	int taken = 0;

	memset(base, 0, sizeof(base));
	put_eth(&base[0], 0x0800); ip4_tcp(&base[0]);
	put_eth(&base[1], 0x86dd); ip6_tcp(&base[1]);
	put_sll(&base[2], 0x0800); ip4_tcp_p(&base[2], 0, 8, REQ, REQ_LEN);
	put_sll(&base[3], 0x86dd); ip6_tcp(&base[3]);
	put_eth(&base[4], 0x0800); ip4_tcp_p(&base[4], 4, 4, REQ, 3);
	putfill(&base[4], 0, 6);
	put_sll2(&base[5], 0x0800); ip4_tcp(&base[5]);
	for (int iter = 0; iter < 200000; iter++) {
		const struct frame *f = &base[rnd(PL_ARRAY_LEN(base))];
		size_t hdr = f->hdr, len = f->n;
		uint8_t b[512];
		struct pl_packet pkt = { .ts_ns = 5 };
		int lt = f->lt;

		memcpy(b, f->b, f->n);
		for (uint32_t k = 1 + rnd(3); k > 0; k--) {
			size_t at = rnd((uint32_t)hdr);

			b[at] = rnd(4) ? vals[rnd(sizeof(vals))] : (uint8_t)rnd(256);
		}
		if (rnd(4) == 0)
			lt = rnd(2) ? DLT_EN10MB : DLT_LINUX_SLL;    /* the other framing */
		if (rnd(2))
			len = rnd((uint32_t)f->n + 1);
		uint8_t *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, b, len);
		if (decode_both(copy, len, lt, &pkt) == PL_DEC_OK &&
		    pl_decode_fast(copy, (uint32_t)len, lt, &(struct pl_packet){ 0 }) == PL_DEC_OK)
			taken++;
		free(copy);
	}
	assert_true(taken > 1000);   /* the mutations did not only exercise the general path */
}

static void test_result_names(void **state)
{
	static const char *const want[] = { "ok", "truncated", "bad_linktype", "not_ip",
					    "bad_ip", "fragment", "not_tcp", "bad_tcp" };

	assert_int_equal(PL_ARRAY_LEN(want), PL_DEC__COUNT);
	for (int i = 0; i < PL_DEC__COUNT; i++)
		assert_string_equal(pl_decode_result_name(i), want[i]);
	assert_string_equal(pl_decode_result_name(-1), "unknown");
	assert_string_equal(pl_decode_result_name(PL_DEC__COUNT), "unknown");
	assert_string_equal(pl_decode_result_name(1000), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth_ipv4),
		cmocka_unit_test(test_eth_ipv4_options),
		cmocka_unit_test(test_eth_padding_excluded),
		cmocka_unit_test(test_eth_ipv6),
		cmocka_unit_test(test_eth_ipv6_ext_headers),
		cmocka_unit_test(test_vlan_8021q),
		cmocka_unit_test(test_vlan_qinq),
		cmocka_unit_test(test_vlan_stack_limit),
		cmocka_unit_test(test_sll),
		cmocka_unit_test(test_sll2),
		cmocka_unit_test(test_loopback_both_orders),
		cmocka_unit_test(test_loopback_unknown_family),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_raw_ipv4_ipv6_linktypes),
		cmocka_unit_test(test_raw_bad_version),
		cmocka_unit_test(test_bad_linktype),
		cmocka_unit_test(test_null_frame),
		cmocka_unit_test(test_not_ip),
		cmocka_unit_test(test_not_tcp),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_bad_ipv4),
		cmocka_unit_test(test_bad_ipv6),
		cmocka_unit_test(test_ipv6_ext_limit_ok),
		cmocka_unit_test(test_bad_tcp),
		cmocka_unit_test(test_tso_zero_length),
		cmocka_unit_test(test_snaplen_cut),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_fast_path_coverage),
		cmocka_unit_test(test_fast_path_agrees_on_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
