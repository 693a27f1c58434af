/* tls.c – the `tls` protocol: TLS records of each reassembled TCP stream → one event per
 * handshake (ClientHello, ServerHello, HelloRetryRequest, Certificate and
 * ServerKeyExchange of TLS <= 1.2, alerts, ChangeCipherSpec; the end of the handshake
 * inferred from the first encrypted records). This file owns the ops (flow glue), record
 * framing, handshake message assembly, alerts and the end of the handshake; the hellos are
 * in tls_hello.c, certificates in tls_cert.c, the state's memory and the event in
 * tls_event.c, fingerprints in tls_fp.c (shared structs: tls_int.h).
 *
 * Records may span segments and handshake messages may span records: each direction keeps
 * the record header being read and the handshake message being read, whose body is kept
 * up to protocols.tls.max_handshake_bytes (the rest is counted, and a certificate is still
 * read when the leaf fits). Nothing is read after the handshake. */
#include <string.h>
#include "tls_int.h"

#define REC_MAX (16384 + 2048)        /* largest record body TLS allows (ciphertext) */

enum rec { REC_CCS = 20, REC_ALERT = 21, REC_HANDSHAKE = 22, REC_APPDATA = 23, REC_HEARTBEAT = 24 };
enum hsmsg { HS_CLIENT_HELLO = 1, HS_SERVER_HELLO = 2, HS_CERTIFICATE = 11,
	     HS_SERVER_KEY_EXCHANGE = 12 };

/* Both sides finished: the handshake is over at ts. */
static void check_established(struct tconn *c, struct hs *h, uint64_t ts)
{
	struct side *cs = &h->side[PL_DIR_TO_SERVER], *ss = &h->side[PL_DIR_TO_CLIENT];

	if (!h->sh_seen)
		return;
	if (h->tls13 ? !(ss->appdata && cs->appdata) : !(cs->finished && ss->finished))
		return;
	h->ev.established = true;
	h->end_ns = ts;
	if (!h->tls13 && !h->client_ccs_first) {
		/* abbreviated handshake: the server finished first, resuming */
		h->ev.resumed = true;
		/* a ticket offered is what the server resumed (RFC 5077 §3.4: the echoed
		 * session id then only signals it); without one, the session id */
		h->ev.resumption = lit(h->ticket_offered ? "session_ticket" : "session_id");
	}
	tls_emit(c, ts);
}

/* --- records --------------------------------------------------------------------------- */

static void handshake_msg(struct tconn *c, struct hs *h, enum pl_dir d, uint64_t ts)
{
	struct side *s = &h->side[d];
	static const uint8_t empty[1];
	uint32_t kept = PL_MIN(s->msg_have, s->cap);
	const uint8_t *body = s->buf ? s->buf : empty;   /* an empty message has no buffer */
	uint8_t type = s->mh[0];
	bool first_ch = type == HS_CLIENT_HELLO && d == PL_DIR_TO_SERVER && !h->ch_seen;

	if (first_ch)
		h->ch_seen = true;    /* even when cut: the handshake began */
	if (kept < s->msg_len && type != HS_CERTIFICATE) {
		note(h, "Handshake message larger than protocols.tls.max_handshake_bytes");
		c->env->stats->tls_truncated++;
		return;
	}
	if (d == PL_DIR_TO_SERVER) {
		if (first_ch) {
			tls_client_hello(h, body, kept, ts);
		} else if (type == HS_CERTIFICATE && !h->tls13) {
			tls_certificate(c, h, 1, body, kept);
		}
		return;
	}
	if (type == HS_SERVER_HELLO && !h->sh_seen)
		tls_server_hello(c, h, body, kept);
	else if (type == HS_CERTIFICATE && h->sh_seen && !h->tls13)
		tls_certificate(c, h, 0, body, kept);
	else if (type == HS_SERVER_KEY_EXCHANGE && h->sh_seen)
		tls_server_key_exchange(h, body, kept);
}

/* Bytes of a plaintext handshake record. */
static void handshake_bytes(struct tconn *c, struct hs *h, enum pl_dir d, const uint8_t *p,
			    size_t n, uint64_t ts)
{
	struct side *s = &h->side[d];

	while (n && !c->over) {
		if (s->mh_have < 4) {
			size_t k = PL_MIN(n, (size_t)(4 - s->mh_have));

			memcpy(s->mh + s->mh_have, p, k);
			s->mh_have = (uint8_t)(s->mh_have + k);
			p += k;
			n -= k;
			if (s->mh_have < 4)
				return;
			s->msg_len = be24(s->mh + 1);
			s->msg_have = 0;
			if (!h->ch_seen && (d != PL_DIR_TO_SERVER || s->mh[0] != HS_CLIENT_HELLO)) {
				c->env->stats->tls_not_handshake++;
				c->over = true;     /* joined mid-stream: no event */
				tls_release(c);
				return;
			}
			if (!tls_msg_room(c, s, s->msg_len))
				s->msg_have = 0;    /* kept bytes = cap (possibly 0): counted below */
		} else {
			size_t k = PL_MIN(n, (size_t)(s->msg_len - s->msg_have));
			uint32_t room = s->msg_have < s->cap ? s->cap - s->msg_have : 0;

			memcpy(s->buf + s->msg_have, p, PL_MIN(k, (size_t)room));
			s->msg_have += (uint32_t)k;
			p += k;
			n -= k;
		}
		if (s->mh_have == 4 && s->msg_have == s->msg_len) {
			handshake_msg(c, h, d, ts);
			s->mh_have = 0;
			if (c->over)
				return;
		}
	}
}

static void alert(struct tconn *c, struct hs *h, uint8_t level, uint8_t desc, uint64_t ts)
{
	const char *name = pl_tls_alert_name(desc);

	if (desc == 0 && level == 1)      /* close_notify in clear: the peer is just leaving */
		return;
	h->alerted = true;
	c->env->stats->tls_alerts++;
	note(h, name ? name : "unknown alert");
	h->end_ns = ts;
	if (level == 2)
		tls_emit(c, ts);
}

static bool encrypted(const struct hs *h, const struct side *s)
{
	return s->ccs || (h->tls13 && s->appdata);
}

/* A whole record body or a piece of it. */
static void record_bytes(struct tconn *c, struct hs *h, enum pl_dir d, const uint8_t *p,
			 size_t n, uint64_t ts)
{
	struct side *s = &h->side[d];

	if (encrypted(h, s))
		return;
	if (s->rec_type == REC_HANDSHAKE) {
		handshake_bytes(c, h, d, p, n, ts);
	} else if (s->rec_type == REC_ALERT) {
		for (size_t i = 0; i < n && !c->over; i++) {
			s->alert[s->alert_have++] = p[i];
			if (s->alert_have == 2) {
				s->alert_have = 0;
				alert(c, h, s->alert[0], s->alert[1], ts);
			}
		}
	}
}

/* A record is complete. */
static void record_end(struct tconn *c, struct hs *h, enum pl_dir d, uint64_t ts)
{
	struct side *s = &h->side[d];

	switch (s->rec_type) {
	case REC_CCS:
		/* before the ServerHello only TLS 1.3's compatibility CCS (after a
		 * HelloRetryRequest) can come: it starts no encryption */
		if (h->sh_seen && !h->tls13 && !s->ccs) {
			s->ccs = true;
			if (d == PL_DIR_TO_SERVER && !h->side[PL_DIR_TO_CLIENT].ccs)
				h->client_ccs_first = true;
			return;
		}
		break;
	case REC_APPDATA:
		if (d == PL_DIR_TO_SERVER && !h->sh_seen) {
			h->ev.early_data_bytes += s->rec_len;   /* 0-RTT */
			return;
		}
		if (h->tls13 && d == PL_DIR_TO_SERVER && !h->side[PL_DIR_TO_CLIENT].appdata)
			return;   /* not yet an answer to the server's flight */
		if (h->tls13 && d == PL_DIR_TO_SERVER && h->ev.early_data_offered && !h->eoed &&
		    (s->rec_len == 4 + 1 + 16 || s->rec_len == 4 + 1 + 8)) {
			h->eoed = true;   /* EndOfEarlyData (AEAD tag of 16 or 8): Finished follows */
			return;
		}
		if (h->tls13 && d == PL_DIR_TO_SERVER && s->rec_len <= 24) {
			/* Too short for a Finished (>= 32 bytes + type + AEAD tag): the
			 * client's answer to the server's flight is an encrypted alert. */
			h->alerted = true;
			c->env->stats->tls_alerts++;
			note(h, "Encrypted alert from the client (TLS 1.3)");
			h->end_ns = ts;
			tls_emit(c, ts);
			return;
		}
		s->appdata = true;
		break;
	}
	if (s->ccs && s->rec_type != REC_CCS)
		s->finished = true;
	check_established(c, h, ts);
}

static void side_dead(struct tconn *c, struct hs *h, struct side *s, const char *why)
{
	s->dead = true;
	note(h, why);
	h->gap = true;
}

static void tls_bytes(struct tconn *c, enum pl_dir d, const uint8_t *p, size_t n, uint64_t ts)
{
	struct hs *h = c->hs;
	struct side *s = &h->side[d];

	s->bytes += n;
	while (n && !c->over && !s->dead) {
		if (s->hdr_have < 5) {
			size_t k = PL_MIN(n, (size_t)(5 - s->hdr_have));

			memcpy(s->hdr + s->hdr_have, p, k);
			s->hdr_have = (uint8_t)(s->hdr_have + k);
			p += k;
			n -= k;
			if (s->hdr_have < 5)
				return;
			s->rec_type = s->hdr[0];
			s->rec_len = s->rec_left = be16(s->hdr + 3);
			if (s->rec_type < REC_CCS || s->rec_type > REC_HEARTBEAT || s->hdr[1] != 3 ||
			    s->rec_len > REC_MAX ||
			    (!h->ch_seen && (d != PL_DIR_TO_SERVER || s->rec_type != REC_HANDSHAKE))) {
				if (!h->ch_seen) {     /* not TLS, or joined mid-stream */
					c->env->stats->tls_not_handshake++;
					c->over = true;
					tls_release(c);
					return;
				}
				c->env->stats->tls_parse_errors++;
				side_dead(c, h, s, "TLS record framing lost");
				return;
			}
			if (!h->start_ns)
				h->start_ns = ts;
			if (s->rec_type != REC_ALERT)
				s->alert_have = 0;
		}
		size_t k = PL_MIN(n, (size_t)s->rec_left);
		record_bytes(c, h, d, p, k, ts);
		if (c->over)
			return;
		p += k;
		n -= k;
		s->rec_left -= (uint32_t)k;
		if (!s->rec_left) {
			s->hdr_have = 0;
			record_end(c, h, d, ts);
		}
	}
}

/* --- ops ------------------------------------------------------------------------------- */

static size_t tls_state_size(const struct pl_config *cfg)
{
	return sizeof(struct tconn);
}

static int tls_init(void *state, const struct pl_conn *conn, const struct pl_proto_env *env)
{
	struct tconn *c = state;

	c->conn = conn;
	c->env = env;
	return 0;
}

/* The handshake state, made on the first byte; NULL when the connection is ignored. */
static struct hs *conn_hs(struct tconn *c)
{
	if (c->hs || c->over)
		return c->hs;
	return tls_hs_new(c);
}

static void tls_data(void *state, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct tconn *c = state;

	if (c->over || !conn_hs(c))
		return;
	tls_bytes(c, dir, p, n, ts);
}

static void tls_gap(void *state, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	struct tconn *c = state;
	struct hs *h;

	if (c->over)
		return;
	h = c->hs;
	if (!h || !h->ch_seen) {      /* nothing of a handshake seen before the hole */
		c->env->stats->tls_not_handshake++;
		c->over = true;
		tls_release(c);
		return;
	}
	c->env->stats->tls_gaps++;
	side_dead(c, h, &h->side[dir], "Packet loss during the handshake");
}

static void tls_close(void *state, enum pl_close_reason why, uint64_t ts)
{
	struct tconn *c = state;

	if (c->hs && !c->over)
		tls_emit(c, ts);
	tls_release(c);
}

const struct pl_proto_ops pl_tls_ops = {
	.thread_cleanup = tls_thread_cleanup,
	.name = "tls",
	.state_size = tls_state_size,
	.init = tls_init,
	.data = tls_data,
	.gap = tls_gap,
	.close = tls_close,
};
