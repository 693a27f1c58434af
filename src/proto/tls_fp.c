/* tls_fp.c – JA3/JA3S (MD5 of the decimal hello fields) and JA4/JA4S (FoxIO's definition:
 * technical_details/JA4.md and JA4S.md of github.com/FoxIO-LLC/ja4) of a parsed hello, and
 * the certificate hashes. Digests come from libcrypto (EVP). */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include "pktlog/tls.h"

#define FP_MAX_LIST 1024              /* values of one list a fingerprint sorts */

static uint16_t u16_at(const struct pl_tls_list *l, size_t i)
{
	return (uint16_t)(l->p[2 * i] << 8 | l->p[2 * i + 1]);
}

static void hex_of(const unsigned char *d, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[2 * n] = 0;
}

/* A digest being fed text piece by piece. */
struct dg {
	EVP_MD_CTX *ctx;
	bool ok;
};

static void dg_init(struct dg *d, const EVP_MD *md)
{
	d->ctx = EVP_MD_CTX_new();
	d->ok = d->ctx && EVP_DigestInit_ex(d->ctx, md, NULL) == 1;
}

static void dg_put(struct dg *d, const char *s, size_t n)
{
	if (d->ok && n && EVP_DigestUpdate(d->ctx, s, n) != 1)
		d->ok = false;
}

/* Finish into hex (keep hex chars of it); 0 or -1. Frees the context either way. */
static int dg_hex(struct dg *d, char *out, size_t keep)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	out[0] = 0;
	if (d->ok && EVP_DigestFinal_ex(d->ctx, md, &len) != 1)
		d->ok = false;
	EVP_MD_CTX_free(d->ctx);
	if (!d->ok)
		return -1;
	hex_of(md, len, hex);
	keep = PL_MIN(keep, (size_t)2 * len);
	memcpy(out, hex, keep);
	out[keep] = 0;
	return 0;
}

static void dg_dec(struct dg *d, unsigned v, bool dash)
{
	char b[8];
	int n = snprintf(b, sizeof(b), "%s%u", dash ? "-" : "", v);

	dg_put(d, b, (size_t)n);
}

static void dg_hex4(struct dg *d, uint16_t v, bool comma)
{
	char b[8];
	int n = snprintf(b, sizeof(b), "%s%04x", comma ? "," : "", v);

	dg_put(d, b, (size_t)n);
}

/* JA3 part: the non-GREASE 16-bit values of a list, decimal, '-'-joined. */
static void dg_list16(struct dg *d, const struct pl_tls_list *l)
{
	bool first = true;

	for (size_t i = 0; i < l->n; i++) {
		uint16_t v = u16_at(l, i);

		if (pl_tls_grease(v))
			continue;
		dg_dec(d, v, !first);
		first = false;
	}
}

static void dg_exts(struct dg *d, const struct pl_tls_hello *h)
{
	bool first = true;

	for (size_t i = 0; i < h->n_exts; i++) {
		if (pl_tls_grease(h->ext_types[i]))
			continue;
		dg_dec(d, h->ext_types[i], !first);
		first = false;
	}
}

int pl_tls_ja3(const struct pl_tls_hello *h, char *out)
{
	struct dg d;

	dg_init(&d, EVP_md5());
	dg_dec(&d, h->version, false);
	dg_put(&d, ",", 1);
	dg_list16(&d, &h->ciphers);
	dg_put(&d, ",", 1);
	dg_exts(&d, h);
	dg_put(&d, ",", 1);
	dg_list16(&d, &h->groups);
	dg_put(&d, ",", 1);
	for (size_t i = 0; i < h->point_formats.n; i++)
		dg_dec(&d, h->point_formats.p[i], i > 0);
	return dg_hex(&d, out, PL_TLS_JA3_LEN);
}

int pl_tls_ja3s(const struct pl_tls_hello *h, char *out)
{
	struct dg d;

	dg_init(&d, EVP_md5());
	dg_dec(&d, h->version, false);
	dg_put(&d, ",", 1);
	dg_dec(&d, h->cipher, false);
	dg_put(&d, ",", 1);
	dg_exts(&d, h);
	return dg_hex(&d, out, PL_TLS_JA3_LEN);
}

/* JA4's two-character version. */
static const char *ja4_version(uint16_t v)
{
	switch (v) {
	case 0x0304: return "13";
	case 0x0303: return "12";
	case 0x0302: return "11";
	case 0x0301: return "10";
	case 0x0300: return "s3";
	case 0x0002: return "s2";
	case 0xfeff: return "d1";
	case 0xfefd: return "d2";
	case 0xfefc: return "d3";
	default: return "00";
	}
}

static bool alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* First and last character of the (first) ALPN value, "00" when there is none. */
static void ja4_alpn(const struct pl_tls_hello *h, char *o)
{
	static const char hx[] = "0123456789abcdef";
	const uint8_t *a = h->alpn;
	size_t n = h->alpn_len;

	if (!a || !n) {
		o[0] = o[1] = '0';
		return;
	}
	if (alnum(a[0]) && alnum(a[n - 1])) {
		o[0] = (char)a[0];
		o[1] = (char)a[n - 1];
		return;
	}
	o[0] = hx[a[0] >> 4];
	o[1] = hx[a[n - 1] & 15];
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* Truncated SHA-256 of the comma-joined 4-digit hex values, "000000000000" for none.
 * tail (may be NULL) follows after '_' when it has values. */
static int ja4_hash(const uint16_t *v, size_t n, const uint16_t *tail, size_t nt, char *out)
{
	struct dg d;

	if (!n) {
		memcpy(out, "000000000000", 13);
		return 0;
	}
	dg_init(&d, EVP_sha256());
	for (size_t i = 0; i < n; i++)
		dg_hex4(&d, v[i], i > 0);
	if (nt) {
		dg_put(&d, "_", 1);
		for (size_t i = 0; i < nt; i++)
			dg_hex4(&d, tail[i], i > 0);
	}
	return dg_hex(&d, out, 12);
}

/* The non-GREASE values of l (or of exts when l is NULL) into v; -1 when too many. */
static int collect(const struct pl_tls_list *l, const uint16_t *exts, size_t n_exts,
		   uint16_t *v, size_t *n)
{
	size_t total = l ? l->n : n_exts;

	*n = 0;
	for (size_t i = 0; i < total; i++) {
		uint16_t x = l ? u16_at(l, i) : exts[i];

		if (pl_tls_grease(x))
			continue;
		if (*n == FP_MAX_LIST)
			return -1;
		v[(*n)++] = x;
	}
	return 0;
}

int pl_tls_ja4(const struct pl_tls_hello *h, char *out)
{
	uint16_t c[FP_MAX_LIST], e[FP_MAX_LIST], s[FP_MAX_LIST], ver = h->version;
	size_t nc, ne, ns, ne_hash = 0;
	char a[11];

	out[0] = 0;
	if (collect(&h->ciphers, NULL, 0, c, &nc) || collect(NULL, h->ext_types, h->n_exts, e, &ne) ||
	    collect(&h->sig_algs, NULL, 0, s, &ns))
		return -1;
	if (h->versions.n) {
		uint16_t best = 0;

		for (size_t i = 0; i < h->versions.n; i++) {
			uint16_t v = u16_at(&h->versions, i);

			if (!pl_tls_grease(v) && v > best)
				best = v;
		}
		if (best)
			ver = best;
	}
	snprintf(a, sizeof(a), "t%s%c%02u%02u", ja4_version(ver), h->has_sni ? 'd' : 'i',
		 (unsigned)PL_MIN(nc, (size_t)99), (unsigned)PL_MIN(ne, (size_t)99));
	memcpy(out, a, 8);
	ja4_alpn(h, out + 8);
	out[10] = '_';
	qsort(c, nc, sizeof(c[0]), cmp_u16);
	if (ja4_hash(c, nc, NULL, 0, out + 11))
		return -1;
	out[23] = '_';
	/* SNI and ALPN are counted in part a, left out of the hash */
	for (size_t i = 0; i < ne; i++)
		if (e[i] != 0x0000 && e[i] != 0x0010)
			e[ne_hash++] = e[i];
	qsort(e, ne_hash, sizeof(e[0]), cmp_u16);
	if (ja4_hash(e, ne_hash, s, ns, out + 24)) {
		out[0] = 0;
		return -1;
	}
	return 0;
}

int pl_tls_ja4s(const struct pl_tls_hello *h, char *out)
{
	uint16_t e[FP_MAX_LIST];
	size_t ne;
	char a[16];

	out[0] = 0;
	if (collect(NULL, h->ext_types, h->n_exts, e, &ne))
		return -1;
	snprintf(a, sizeof(a), "t%s%02u",
		 ja4_version(h->selected_version ? h->selected_version : h->version),
		 (unsigned)PL_MIN(ne, (size_t)99));
	memcpy(out, a, 5);
	ja4_alpn(h, out + 5);
	snprintf(out + 7, 7, "_%04x_", h->cipher);
	return ja4_hash(e, ne, NULL, 0, out + 13);
}

static int digest_hex(const EVP_MD *md, const uint8_t *p, size_t n, char *out)
{
	struct dg d;

	dg_init(&d, md);
	dg_put(&d, (const char *)p, n);
	return dg_hex(&d, out, 2 * EVP_MAX_MD_SIZE);
}

int pl_tls_sha1_hex(const uint8_t *p, size_t n, char *out)
{
	return digest_hex(EVP_sha1(), p, n, out);
}

int pl_tls_sha256_hex(const uint8_t *p, size_t n, char *out)
{
	return digest_hex(EVP_sha256(), p, n, out);
}
