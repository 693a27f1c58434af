/* tls.h – TLS hello fingerprints (JA3, JA3S, JA4, JA4S) and TLS code-point names.
 *
 * The TLS protocol (src/proto/tls_hello.c) parses a hello into struct pl_tls_hello, whose lists
 * point into the handshake bytes, and the functions here turn it into fingerprints
 * (src/proto/tls_fp.c) or names (src/proto/tls_names.c). Nothing here allocates except the
 * digest contexts of libcrypto. */
#ifndef PKTLOG_TLS_H
#define PKTLOG_TLS_H

#include "pktlog/common.h"

/* A list of 8- or 16-bit big-endian values as they are on the wire. */
struct pl_tls_list {
	const uint8_t *p;
	size_t n;                     /* number of values */
};

struct pl_tls_hello {
	uint16_t version;             /* legacy_version of the hello */
	bool server;                  /* a ServerHello: `cipher` holds the chosen suite */
	uint16_t cipher;
	struct pl_tls_list ciphers;   /* ClientHello: cipher suites (16-bit) */
	const uint16_t *ext_types;    /* extension types in wire order, host order */
	size_t n_exts;
	struct pl_tls_list groups;    /* supported_groups (16-bit) */
	struct pl_tls_list point_formats; /* ec_point_formats (8-bit) */
	struct pl_tls_list sig_algs;  /* signature_algorithms (16-bit) */
	struct pl_tls_list versions;  /* ClientHello: supported_versions (16-bit) */
	uint16_t selected_version;    /* ServerHello: supported_versions, 0 when absent */
	bool has_sni;
	const uint8_t *alpn;          /* first ALPN protocol (client) or the chosen one (server) */
	size_t alpn_len;              /* 0 when there is none */
};

#define PL_TLS_JA3_LEN 32             /* lower-case hex MD5 */
#define PL_TLS_JA4_LEN 36             /* "t13d1516h2_8daaf6152771_e5627efa2ab1" */
#define PL_TLS_JA4S_LEN 25            /* "t120400_c030_4e8089b08790" */

static inline bool pl_tls_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* Each writes its fingerprint and a NUL into out (LEN + 1 bytes). Return 0, or -1 when the
 * digest could not be computed (out is then empty). */
int pl_tls_ja3(const struct pl_tls_hello *h, char *out);
int pl_tls_ja3s(const struct pl_tls_hello *h, char *out);
int pl_tls_ja4(const struct pl_tls_hello *h, char *out);
int pl_tls_ja4s(const struct pl_tls_hello *h, char *out);

/* Lower-case hex SHA-1 (40) / SHA-256 (64) of p[0..n) and a NUL. 0 or -1. */
int pl_tls_sha1_hex(const uint8_t *p, size_t n, char *out);
int pl_tls_sha256_hex(const uint8_t *p, size_t n, char *out);

/* IANA names; NULL when the code is not known. */
const char *pl_tls_cipher_name(uint16_t code);
const char *pl_tls_group_name(uint16_t code);
const char *pl_tls_alert_name(uint8_t code);

#endif
