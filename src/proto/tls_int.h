/* tls_int.h – what the TLS protocol module's files share (src/proto/tls*.c): the
 * per-connection stub, the handshake state and its per-direction record / message state, the
 * event's string arena, the bounded reader over a message body, and the functions one file
 * calls in another. Internal: nothing outside src/proto/tls*.c includes it (the module's face
 * is pl_tls_ops in proto.h; tls.h has the fingerprints and names).
 *
 * Who owns what:
 *   tls.c        the ops (flow glue), records and their framing, handshake message assembly,
 *                alerts, ChangeCipherSpec and the inferred end of the handshake
 *   tls_hello.c  ClientHello, ServerHello / HelloRetryRequest, their extensions,
 *                ServerKeyExchange (the curve)
 *   tls_cert.c   certificates through libcrypto: names, times, serial, SANs, public key
 *   tls_event.c  the handshake state's memory (per-thread pool, max_memory_mb, message
 *                buffers) and the event a handshake becomes
 *   tls_fp.c, tls_names.c, tls_stats.c  fingerprints, IANA names, counters */
#ifndef PKTLOG_PROTO_TLS_INT_H
#define PKTLOG_PROTO_TLS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "pktlog/proto.h"
#include "pktlog/tls.h"

#define ARENA_BYTES 12288             /* the event's strings */

struct side {
	uint8_t hdr[5];
	uint8_t hdr_have;
	uint8_t rec_type;
	uint32_t rec_left;            /* body bytes of the current record still to come */
	uint32_t rec_len;
	uint8_t mh[4];                /* handshake message header being read */
	uint8_t mh_have;
	uint32_t msg_len, msg_have;   /* body length and bytes seen of the current message */
	uint8_t *buf;                 /* kept body bytes: min(msg_have, cap) */
	uint32_t cap;
	uint8_t alert[2];
	uint8_t alert_have;
	bool dead;                    /* framing lost (gap or garbage): nothing more is read */
	bool ccs;                     /* sent ChangeCipherSpec (TLS <= 1.2) */
	bool finished;                /* sent a record after its ChangeCipherSpec */
	bool appdata;                 /* sent an application_data record */
	uint64_t bytes;
};

/* A connection's handshake, from its first byte to its event. */
struct hs {
	struct side side[2];
	uint64_t start_ns, end_ns;
	bool ch_seen, sh_seen, tls13, alerted, gap, truncated, client_ccs_first;
	bool eoed;                    /* TLS 1.3 EndOfEarlyData seen (by its length) */
	bool ticket_offered;
	uint16_t cipher, version;     /* chosen */
	struct pl_event_tls ev;
	struct pl_tls_x509 cert[2];   /* [0] server leaf, [1] client leaf */
	struct pl_str ciphers[PL_TLS_MAX_CIPHERS];
	struct pl_str names[2][PL_TLS_MAX_NAMES];
	const char *notes[PL_EVENT_MAX_ERRORS];
	int n_notes;
	size_t used;
	char arena[ARENA_BYTES];
};

/* The flow entry holds only this stub. */
struct tconn {
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	struct hs *hs;
	bool over;                    /* event emitted, or not a handshake we saw begin */
};

static inline void note(struct hs *h, const char *msg)
{
	for (int i = 0; i < h->n_notes; i++)
		if (h->notes[i] == msg)
			return;
	if (h->n_notes < PL_EVENT_MAX_ERRORS)
		h->notes[h->n_notes++] = msg;
}

/* Copy s[0..n) into the arena; an empty string (absent) when it is full. */
static inline struct pl_str keep(struct hs *h, const void *s, size_t n)
{
	char *o;

	if (!n)
		return PL_STR_NULL;
	if (n > ARENA_BYTES - h->used) {
		h->truncated = true;
		return PL_STR_NULL;
	}
	o = h->arena + h->used;
	memcpy(o, s, n);
	h->used += n;
	return (struct pl_str){ o, n };
}

static inline struct pl_str lit(const char *s)
{
	return (struct pl_str){ s, strlen(s) };
}

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* A bounded reader over a message body. */
struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static inline const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return p;
}

static inline unsigned get8(struct rd *r)
{
	const uint8_t *p = take(r, 1);

	return p ? p[0] : 0;
}

static inline unsigned get16(struct rd *r)
{
	const uint8_t *p = take(r, 2);

	return p ? be16(p) : 0;
}

/* A sub-reader of the next n bytes. */
static inline struct rd sub(struct rd *r, size_t n)
{
	const uint8_t *p = take(r, n);

	return p ? (struct rd){ p, p + n, false } : (struct rd){ NULL, NULL, true };
}

static inline bool done(const struct rd *r) { return !r->bad && r->p == r->end; }

static inline struct pl_str hex_str(struct hs *h, char *b, int rc)
{
	return rc == 0 ? keep(h, b, strlen(b)) : PL_STR_NULL;
}

/* tls_hello.c */
void tls_client_hello(struct hs *h, const uint8_t *p, size_t n, uint64_t ts);
void tls_server_hello(struct tconn *c, struct hs *h, const uint8_t *p, size_t n);
void tls_server_key_exchange(struct hs *h, const uint8_t *p, size_t n);

/* tls_cert.c */
void tls_certificate(struct tconn *c, struct hs *h, int who, const uint8_t *p, size_t n);

/* tls_event.c */
struct hs *tls_hs_new(struct tconn *c);   /* NULL: memory cap or allocation failed (c->over) */
bool tls_msg_room(struct tconn *c, struct side *s, uint32_t len);
void tls_release(struct tconn *c);
void tls_emit(struct tconn *c, uint64_t ts);
void tls_thread_cleanup(void);

#endif
