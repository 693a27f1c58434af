/* decode.c – one captured frame (link → IPv4/IPv6 → TCP) to one struct pl_packet; must not allocate, keep state or read past frame + caplen.
 *
 * Every byte of wire data is read through a bounded cursor; a read that would
 * cross the end of the capture fails and becomes PL_DEC_TRUNCATED. Below the
 * IP layer a second bound applies: the length the IP header claims. Running
 * past that one is a malformed packet (BAD_IP / BAD_TCP), running past only
 * the capture is a short snaplen (TRUNCATED).
 *
 * The common frame first takes decode_fast(): one length check per header, then
 * plain loads. It only accepts frames the cursor path accepts and fills the same
 * fields; whatever it declines (and every error) goes through the cursor path.
 *
 * Layouts decoded (offsets in bytes):
 *   Ethernet II   dst(6) src(6) type(2) [tpid(2)=0x8100|0x88a8|0x9100 ... tci(2) type(2)]*
 *   Linux SLL     pkttype(2) arphrd(2) addrlen(2) addr(8) protocol(2)               = 16
 *   Linux SLL2    protocol(2) reserved(2) ifindex(4) arphrd(2) pkttype(1)
 *                 addrlen(1) addr(8)                                                = 20
 *   NULL / LOOP   address family, 32 bits, host or network order                    = 4
 *   IPv4          ver|ihl(1) tos(1) total(2) id(2) flags|frag(2) ttl(1) proto(1)
 *                 csum(2) src(4) dst(4) options                                     >= 20
 *   IPv6          ver|tc|flow(4) plen(2) next(1) hlim(1) src(16) dst(16)            = 40
 *   TCP           sport(2) dport(2) seq(4) ack(4) off|rsv(1) flags(1) win(2) csum(2)
 *                 urg(2) options                                                    >= 20
 */
#include <endian.h>
#include <string.h>
#include <pcap/dlt.h>
#include "pktlog/decode.h"

/* Numbers that are pcap file LINKTYPE_ values rather than platform DLT_ values. */
#define LINKTYPE_RAW_IP 101

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define ETH_P_QINQ_OLD 0x9100

/* Deeper stacks than this are not real traffic; stop instead of walking a crafted frame. */
#define MAX_VLAN_TAGS 8
#define MAX_IPV6_EXT_HEADERS 8

#define IPPROTO_TCP_ 6
#define IP6_HOPOPTS 0
#define IP6_ROUTING 43
#define IP6_FRAGMENT 44
#define IP6_AH 51
#define IP6_DSTOPTS 60

#define IPV4_MIN_HLEN 20
#define IPV6_HLEN 40
#define TCP_MIN_HLEN 20
#define SLL_HLEN 16
#define SLL2_HLEN 20

/* A read-only window on wire bytes: [p, end). */
struct cur {
	const uint8_t *p;
	const uint8_t *end;
};

/* The bytes after an IP header: what was captured (c) and how many the IP
 * header says there are (wire_len, never less than what c holds). When the IP
 * length field was 0 (TSO/GSO, jumbograms) the capture is all we know and
 * wire_known is false. */
struct seg {
	struct cur c;
	uint32_t wire_len;
	bool wire_known;
};

static size_t cur_left(const struct cur *c)
{
	return (size_t)(c->end - c->p);
}

static bool cur_has(const struct cur *c, size_t n)
{
	return cur_left(c) >= n;
}

static int cur_skip(struct cur *c, size_t n)
{
	if (!cur_has(c, n))
		return -1;
	c->p += n;
	return 0;
}

static int cur_u8(struct cur *c, uint8_t *v)
{
	if (!cur_has(c, 1))
		return -1;
	*v = c->p[0];
	c->p += 1;
	return 0;
}

static int cur_be16(struct cur *c, uint16_t *v)
{
	if (!cur_has(c, 2))
		return -1;
	*v = (uint16_t)((c->p[0] << 8) | c->p[1]);
	c->p += 2;
	return 0;
}

static int cur_be32(struct cur *c, uint32_t *v)
{
	if (!cur_has(c, 4))
		return -1;
	*v = ((uint32_t)c->p[0] << 24) | ((uint32_t)c->p[1] << 16) |
	     ((uint32_t)c->p[2] << 8) | (uint32_t)c->p[3];
	c->p += 4;
	return 0;
}

static int cur_copy(struct cur *c, void *dst, size_t n)
{
	if (!cur_has(c, n))
		return -1;
	memcpy(dst, c->p, n);
	c->p += n;
	return 0;
}

/* Can n more bytes be read from the segment? `bad` is the verdict when the IP
 * header itself says they are not there. */
static int seg_check(const struct seg *s, size_t n, int bad)
{
	if (n > s->wire_len)
		return s->wire_known ? bad : PL_DEC_TRUNCATED;
	if (!cur_has(&s->c, n))
		return PL_DEC_TRUNCATED;
	return PL_DEC_OK;
}

/* Only after seg_check() said yes. */
static void seg_consume(struct seg *s, size_t n)
{
	s->c.p += n;
	s->wire_len -= (uint32_t)n;
}

/* Bound the segment to `wire` bytes of which at most what the capture holds. */
static void seg_init(struct seg *s, const struct cur *rest, uint32_t wire, bool known)
{
	size_t cap = PL_MIN((size_t)wire, cur_left(rest));

	s->c.p = rest->p;
	s->c.end = rest->p + cap;
	s->wire_len = wire;
	s->wire_known = known;
}

/* ---- link layer: leave the cursor at the network header, report its ethertype ---- */

static bool is_vlan_tpid(uint16_t type)
{
	return type == ETH_P_8021Q || type == ETH_P_8021AD || type == ETH_P_QINQ_OLD;
}

/* After a tag comes TCI(2) and the inner type(2). A stack deeper than the
 * limit leaves a tag type in *etype, which the caller rejects as not IP. */
static int skip_vlan_tags(struct cur *c, uint16_t *etype)
{
	for (int i = 0; i < MAX_VLAN_TAGS && is_vlan_tpid(*etype); i++)
		if (cur_skip(c, 2) || cur_be16(c, etype))
			return PL_DEC_TRUNCATED;
	return PL_DEC_OK;
}

static int link_ethernet(struct cur *c, uint16_t *etype)
{
	if (cur_skip(c, 12) || cur_be16(c, etype))
		return PL_DEC_TRUNCATED;
	return skip_vlan_tags(c, etype);
}

/* Cooked captures can still carry a tag when the kernel did not strip it. */
static int link_sll(struct cur *c, uint16_t *etype)
{
	if (cur_skip(c, SLL_HLEN - 2) || cur_be16(c, etype))
		return PL_DEC_TRUNCATED;
	return skip_vlan_tags(c, etype);
}

static int link_sll2(struct cur *c, uint16_t *etype)
{
	if (cur_be16(c, etype) || cur_skip(c, SLL2_HLEN - 2))
		return PL_DEC_TRUNCATED;
	return skip_vlan_tags(c, etype);
}

/* BSD AF_ values differ between systems and the capturing host's byte order
 * is unknown to the reader of a file, so every known value in either order counts. */
static uint16_t loop_family_etype(uint32_t fam)
{
	switch (fam) {
	case 2:
		return ETH_P_IPV4;
	case 10: /* Linux */
	case 24: /* NetBSD, OpenBSD */
	case 28: /* FreeBSD */
	case 30: /* macOS */
		return ETH_P_IPV6;
	default:
		return 0;
	}
}

static int link_loopback(struct cur *c, uint16_t *etype)
{
	uint8_t b[4];
	uint32_t be, le;

	if (cur_copy(c, b, sizeof(b)))
		return PL_DEC_TRUNCATED;
	be = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
	le = ((uint32_t)b[3] << 24) | ((uint32_t)b[2] << 16) | ((uint32_t)b[1] << 8) | b[0];
	*etype = loop_family_etype(be);
	if (*etype == 0)
		*etype = loop_family_etype(le);
	return PL_DEC_OK;
}

/* Raw IP has no link header: the version nibble is the only type information. */
static int link_raw(struct cur *c, uint16_t *etype)
{
	struct cur peek = *c;
	uint8_t b;

	if (cur_u8(&peek, &b))
		return PL_DEC_TRUNCATED;
	switch (b >> 4) {
	case 4:
		*etype = ETH_P_IPV4;
		return PL_DEC_OK;
	case 6:
		*etype = ETH_P_IPV6;
		return PL_DEC_OK;
	default:
		return PL_DEC_BAD_IP;
	}
}

static int decode_link(int linktype, struct cur *c, uint16_t *etype)
{
	switch (linktype) {
	case DLT_EN10MB:
		return link_ethernet(c, etype);
	case DLT_LINUX_SLL:
		return link_sll(c, etype);
	case DLT_LINUX_SLL2:
		return link_sll2(c, etype);
	case DLT_NULL:
	case DLT_LOOP:
		return link_loopback(c, etype);
	case DLT_RAW:
	case LINKTYPE_RAW_IP:
		return link_raw(c, etype);
	case DLT_IPV4:
		*etype = ETH_P_IPV4;
		return PL_DEC_OK;
	case DLT_IPV6:
		*etype = ETH_P_IPV6;
		return PL_DEC_OK;
	default:
		return PL_DEC_BAD_LINKTYPE;
	}
}

/* ---- network layer: fill addresses, bound the TCP segment ---- */

static int decode_ipv4(const struct cur *c, struct pl_packet *pkt, struct seg *l4)
{
	struct cur ip = *c;
	uint8_t vihl, tos, ttl, proto;
	uint16_t total, id, frag, csum;
	uint8_t src[4], dst[4];
	size_t hlen;

	if (cur_u8(&ip, &vihl))
		return PL_DEC_TRUNCATED;
	if ((vihl >> 4) != 4 || (vihl & 0x0f) < 5)
		return PL_DEC_BAD_IP;
	hlen = (size_t)(vihl & 0x0f) * 4;
	if (cur_u8(&ip, &tos) || cur_be16(&ip, &total) || cur_be16(&ip, &id) ||
	    cur_be16(&ip, &frag) || cur_u8(&ip, &ttl) || cur_u8(&ip, &proto) ||
	    cur_be16(&ip, &csum) || cur_copy(&ip, src, 4) || cur_copy(&ip, dst, 4))
		return PL_DEC_TRUNCATED;
	/* total == 0 is what TSO/GSO captures show; anything else must cover the header. */
	if (total != 0 && total < hlen)
		return PL_DEC_BAD_IP;
	ip = *c;
	if (cur_skip(&ip, hlen))
		return PL_DEC_TRUNCATED;
	if (frag & 0x3fff) /* MF or a fragment offset */
		return PL_DEC_FRAGMENT;
	if (proto != IPPROTO_TCP_)
		return PL_DEC_NOT_TCP;

	pkt->af = 4;
	memcpy(pkt->src, src, 4);
	memcpy(pkt->dst, dst, 4);
	/* min(total length, captured): Ethernet pads short frames and the padding is not payload. */
	if (total != 0)
		seg_init(l4, &ip, (uint32_t)(total - hlen), true);
	else
		seg_init(l4, &ip, (uint32_t)cur_left(&ip), false);
	return PL_DEC_OK;
}

/* Skip one extension header whose length byte counts `unit`-byte words beyond `base` words. */
static int ipv6_skip_ext(struct seg *s, uint8_t *nh, size_t unit, size_t base)
{
	struct cur peek = s->c;
	uint8_t next, len;
	size_t hlen;
	int rc;

	rc = seg_check(s, 2, PL_DEC_BAD_IP);
	if (rc != PL_DEC_OK)
		return rc;
	if (cur_u8(&peek, &next) || cur_u8(&peek, &len))
		return PL_DEC_TRUNCATED;
	hlen = ((size_t)len + base) * unit;
	rc = seg_check(s, hlen, PL_DEC_BAD_IP);
	if (rc != PL_DEC_OK)
		return rc;
	seg_consume(s, hlen);
	*nh = next;
	return PL_DEC_OK;
}

/* Walk the extension-header chain to TCP. Bounded so a crafted chain costs little. */
static int ipv6_walk_ext(struct seg *s, uint8_t nh)
{
	for (int i = 0; i <= MAX_IPV6_EXT_HEADERS; i++) {
		int rc;

		switch (nh) {
		case IPPROTO_TCP_:
			return PL_DEC_OK;
		case IP6_FRAGMENT:
			return PL_DEC_FRAGMENT;
		case IP6_HOPOPTS:
		case IP6_ROUTING:
		case IP6_DSTOPTS:
			rc = ipv6_skip_ext(s, &nh, 8, 1);
			break;
		case IP6_AH: /* RFC 4302: length in 4-byte words, minus 2 */
			rc = ipv6_skip_ext(s, &nh, 4, 2);
			break;
		default: /* UDP, ICMPv6, 59 = no next header, … */
			return PL_DEC_NOT_TCP;
		}
		if (rc != PL_DEC_OK)
			return rc;
	}
	return PL_DEC_BAD_IP;
}

static int decode_ipv6(const struct cur *c, struct pl_packet *pkt, struct seg *l4)
{
	struct cur ip = *c;
	uint32_t vtcfl;
	uint16_t plen;
	uint8_t nh, hlim;

	if (cur_be32(&ip, &vtcfl))
		return PL_DEC_TRUNCATED;
	if ((vtcfl >> 28) != 6)
		return PL_DEC_BAD_IP;
	if (cur_be16(&ip, &plen) || cur_u8(&ip, &nh) || cur_u8(&ip, &hlim) ||
	    cur_copy(&ip, pkt->src, 16) || cur_copy(&ip, pkt->dst, 16))
		return PL_DEC_TRUNCATED;
	pkt->af = 6;
	/* plen == 0: a jumbogram or a TSO/GSO capture; the capture is all we have. */
	if (plen != 0)
		seg_init(l4, &ip, plen, true);
	else
		seg_init(l4, &ip, (uint32_t)cur_left(&ip), false);
	return ipv6_walk_ext(l4, nh);
}

/* ---- transport layer ---- */

static int decode_tcp(struct seg *s, struct pl_packet *pkt)
{
	struct cur t = s->c;
	uint8_t off, flags;
	size_t hlen;
	int rc;

	rc = seg_check(s, TCP_MIN_HLEN, PL_DEC_BAD_TCP);
	if (rc != PL_DEC_OK)
		return rc;
	if (cur_be16(&t, &pkt->sport) || cur_be16(&t, &pkt->dport) ||
	    cur_be32(&t, &pkt->seq) || cur_be32(&t, &pkt->ack) ||
	    cur_u8(&t, &off) || cur_u8(&t, &flags) || cur_be16(&t, &pkt->window))
		return PL_DEC_TRUNCATED;
	hlen = (size_t)(off >> 4) * 4;
	if (hlen < TCP_MIN_HLEN)
		return PL_DEC_BAD_TCP;
	rc = seg_check(s, hlen, PL_DEC_BAD_TCP);
	if (rc != PL_DEC_OK)
		return rc;
	seg_consume(s, hlen);
	/* The whole flags byte, ECE/CWR/URG included; consumers test bits. */
	pkt->tcp_flags = flags;
	pkt->payload = s->c.p;
	pkt->payload_len = (uint32_t)cur_left(&s->c);
	pkt->payload_wire_len = s->wire_len;
	return PL_DEC_OK;
}

/* ---- the common frame, straight through ----
 *
 * Ethernet II or Linux SLL, untagged, carrying IPv4 without options or IPv6 without
 * extension headers, not a fragment, TCP, with the IP and TCP headers wholly captured
 * and inside the length the IP header gives (which is not 0). One length check per
 * header instead of one per field, and no memset: every field is written. Anything
 * else (including every frame the general path rejects) is left to the general path,
 * so this accepts a subset of what it accepts and must fill the same fields with the
 * same values; tests/unit/test_decode.c and tests/fuzz/fuzz_decode.c compare the two. */


/* Unaligned big-endian loads; the caller has checked the bytes are captured. */
static inline uint16_t rd_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static inline uint32_t rd_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

#define ETH_HLEN 14
#define DECODE_FAST_NO (-1)

static inline __attribute__((always_inline)) int decode_fast(const uint8_t *frame, uint32_t caplen, int linktype,
			      struct pl_packet *pkt)
{
	const uint8_t *ip, *tcp;
	uint32_t l2, cap, wire, thl;  /* cap, wire: bytes after the IP header, captured / per IP */

	if (linktype == DLT_EN10MB)
		l2 = ETH_HLEN;
	else if (linktype == DLT_LINUX_SLL)
		l2 = SLL_HLEN;
	else
		return DECODE_FAST_NO;
	/* The smaller of the two network headers plus a TCP header: the ethertype is there too. */
	if (frame == NULL || caplen < l2 + IPV4_MIN_HLEN + TCP_MIN_HLEN)
		return DECODE_FAST_NO;
	ip = frame + l2;
	switch (rd_be16(ip - 2)) {
	case ETH_P_IPV4:
		/* Version 4, IHL 5; TCP; neither MF nor an offset; total covers IP + TCP headers. */
		if (ip[0] != 0x45 || ip[9] != IPPROTO_TCP_ || (rd_be16(ip + 6) & 0x3fff) != 0)
			return DECODE_FAST_NO;
		wire = rd_be16(ip + 2);
		if (wire < IPV4_MIN_HLEN + TCP_MIN_HLEN)
			return DECODE_FAST_NO;
		wire -= IPV4_MIN_HLEN;
		cap = caplen - l2 - IPV4_MIN_HLEN;
		tcp = ip + IPV4_MIN_HLEN;
		pkt->af = 4;
		memcpy(pkt->src, ip + 12, 4);
		memset(pkt->src + 4, 0, 12);
		memcpy(pkt->dst, ip + 16, 4);
		memset(pkt->dst + 4, 0, 12);
		break;
	case ETH_P_IPV6:
		/* Version 6; next header TCP. A payload length of 0 (TSO, jumbogram) or one
		 * short of the TCP header fails the thl > wire test below. */
		if (caplen < l2 + IPV6_HLEN + TCP_MIN_HLEN || (ip[0] >> 4) != 6 || ip[6] != IPPROTO_TCP_)
			return DECODE_FAST_NO;
		wire = rd_be16(ip + 4);
		cap = caplen - l2 - IPV6_HLEN;
		tcp = ip + IPV6_HLEN;
		pkt->af = 6;
		memcpy(pkt->src, ip + 8, 16);
		memcpy(pkt->dst, ip + 24, 16);
		break;
	default:
		return DECODE_FAST_NO;
	}
	/* TCP_MIN_HLEN <= cap here; the header with its options must be in both cap and wire. */
	thl = (uint32_t)(tcp[12] >> 4) * 4;
	if (thl < TCP_MIN_HLEN || thl > wire || thl > cap)
		return DECODE_FAST_NO;
	if (cap > wire)
		cap = wire;  /* Ethernet padding is not payload */
	pkt->sport = rd_be16(tcp);
	pkt->dport = rd_be16(tcp + 2);
	pkt->seq = rd_be32(tcp + 4);
	pkt->ack = rd_be32(tcp + 8);
	pkt->tcp_flags = tcp[13];
	pkt->window = rd_be16(tcp + 14);
	pkt->payload = tcp + thl;
	pkt->payload_len = cap - thl;
	pkt->payload_wire_len = wire - thl;
	return PL_DEC_OK;
}

int pl_decode_fast(const uint8_t *frame, uint32_t caplen, int linktype, struct pl_packet *pkt)
{
	return decode_fast(frame, caplen, linktype, pkt);
}

/* ---- everything: the careful path ---- */

static __attribute__((noinline)) int decode_general(const uint8_t *frame, uint32_t caplen, int linktype, struct pl_packet *pkt)
{
	uint64_t ts_ns = pkt->ts_ns;
	struct cur c;
	struct seg l4;
	uint16_t etype = 0;
	int rc;

	memset(pkt, 0, sizeof(*pkt));
	pkt->ts_ns = ts_ns;
	if (frame == NULL)
		return PL_DEC_TRUNCATED;
	c.p = frame;
	c.end = frame + caplen;

	rc = decode_link(linktype, &c, &etype);
	if (rc != PL_DEC_OK)
		return rc;
	switch (etype) {
	case ETH_P_IPV4:
		rc = decode_ipv4(&c, pkt, &l4);
		break;
	case ETH_P_IPV6:
		rc = decode_ipv6(&c, pkt, &l4);
		break;
	default:
		return PL_DEC_NOT_IP;
	}
	if (rc != PL_DEC_OK)
		return rc;
	return decode_tcp(&l4, pkt);
}

int pl_decode(const uint8_t *frame, uint32_t caplen, int linktype, bool fast_path,
	      struct pl_packet *pkt)
{
	if (fast_path && decode_fast(frame, caplen, linktype, pkt) == PL_DEC_OK)
		return PL_DEC_OK;
	return decode_general(frame, caplen, linktype, pkt);
}

static const char *const result_names[PL_DEC__COUNT] = {
	[PL_DEC_OK] = "ok",
	[PL_DEC_TRUNCATED] = "truncated",
	[PL_DEC_BAD_LINKTYPE] = "bad_linktype",
	[PL_DEC_NOT_IP] = "not_ip",
	[PL_DEC_BAD_IP] = "bad_ip",
	[PL_DEC_FRAGMENT] = "fragment",
	[PL_DEC_NOT_TCP] = "not_tcp",
	[PL_DEC_BAD_TCP] = "bad_tcp",
};

const char *pl_decode_result_name(int result)
{
	if (result < 0 || result >= PL_DEC__COUNT || result_names[result] == NULL)
		return "unknown";
	return result_names[result];
}
