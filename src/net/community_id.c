/* community_id.c – Community ID v1 flow hashes (seed 0, TCP) with a small SHA-1.
 *
 * Spec: https://github.com/corelight/community-id-spec – sha1(seed16 . saddr . daddr .
 * proto8 . pad8 . sport16 . dport16) over the endpoint-ordered tuple, base64, "1:" prefix.
 * SHA-1 per FIPS 180-4; written here because only these ~60 bytes per connection need it. */
#include <string.h>
#include "pktlog/community_id.h"

struct sha1 {
	uint32_t h[5];
	uint8_t block[64];
	size_t used;
	uint64_t total;
};

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(struct sha1 *s, const uint8_t *b)
{
	uint32_t w[80], a, bb, c, d, e;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
		       (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = s->h[0]; bb = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) { f = (bb & c) | (~bb & d); k = 0x5a827999; }
		else if (i < 40) { f = bb ^ c ^ d; k = 0x6ed9eba1; }
		else if (i < 60) { f = (bb & c) | (bb & d) | (c & d); k = 0x8f1bbcdc; }
		else { f = bb ^ c ^ d; k = 0xca62c1d6; }
		uint32_t tmp = rol(a, 5) + f + e + k + w[i];
		e = d; d = c; c = rol(bb, 30); bb = a; a = tmp;
	}
	s->h[0] += a; s->h[1] += bb; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}

static void sha1_init(struct sha1 *s)
{
	static const uint32_t iv[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	memcpy(s->h, iv, sizeof(iv));
	s->used = 0;
	s->total = 0;
}

static void sha1_update(struct sha1 *s, const uint8_t *p, size_t n)
{
	s->total += n;
	while (n) {
		size_t take = PL_MIN(n, 64 - s->used);
		memcpy(s->block + s->used, p, take);
		s->used += take;
		p += take;
		n -= take;
		if (s->used == 64) {
			sha1_block(s, s->block);
			s->used = 0;
		}
	}
}

static void sha1_final(struct sha1 *s, uint8_t out[20])
{
	uint64_t bits = s->total * 8;
	uint8_t pad = 0x80, zero = 0, len[8];

	sha1_update(s, &pad, 1);
	while (s->used != 56)
		sha1_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(s, len, 8);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

static size_t base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n) v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

void pl_community_id(uint8_t af, const uint8_t *saddr, uint16_t sport,
		     const uint8_t *daddr, uint16_t dport, char *out)
{
	size_t alen = af == 6 ? 16 : 4;
	int c = memcmp(saddr, daddr, alen);

	if (c > 0 || (c == 0 && sport > dport)) {
		const uint8_t *ta = saddr; saddr = daddr; daddr = ta;
		uint16_t tp = sport; sport = dport; dport = tp;
	}
	uint8_t head[2] = { 0, 0 };                 /* seed 0, big endian */
	uint8_t tail[6] = { 6, 0, (uint8_t)(sport >> 8), (uint8_t)sport,
			    (uint8_t)(dport >> 8), (uint8_t)dport };
	struct sha1 s;
	uint8_t digest[20];

	sha1_init(&s);
	sha1_update(&s, head, 2);
	sha1_update(&s, saddr, alen);
	sha1_update(&s, daddr, alen);
	sha1_update(&s, tail, sizeof(tail));
	sha1_final(&s, digest);
	out[0] = '1';
	out[1] = ':';
	base64(digest, 20, out + 2);
}
