/* mysql_wire.c – MySQL wire framing: 4-byte packet headers, payloads joined across 16 MiB
 * continuations into one logical packet (struct mpkt) handed to the command or response
 * reader, gaps inside a packet (cut, framing kept) and between packets (resynchronisation:
 * hunting for a plausible command or response start), and the sessions it cannot frame
 * (TLS, zlib/zstd compression: skipped, counted, noted once in the log).
 * Must not: interpret a payload beyond what a packet start's plausibility needs. */
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include "mysql_int.h"

/* --- resynchronisation --- */

static void side_reset(struct mside *s)
{
	s->nhdr = 0;
	s->cont = false;
	s->cut = false;
	s->end_due = false;
	s->plen = s->got = 0;
	s->len = 0;
	s->wire = s->total = 0;
}

void my_start_hunt(struct mconn *c, int dir)
{
	struct mside *s = &c->side[dir];

	if (s->mode == MODE_DEAD)
		return;
	c->env->stats->mysql_resyncs++;
	s->mode = MODE_HUNT;
	side_reset(s);
	if (dir == PL_DIR_TO_CLIENT) {
		c->absorb_eof = false;
		if (c->resp) {
			my_txn_put(c->resp);
			c->resp = NULL;
		}
	}
}

void my_set_dead(struct mconn *c)
{
	for (int d = 0; d < 2; d++) {
		c->side[d].mode = MODE_DEAD;
		side_reset(&c->side[d]);
	}
}

/* --- sessions that cannot be framed --- */

/* A skipped connection is said once in the log (at most one line a second per thread). */
static void skip_note(const struct mconn *c, const char *why)
{
	static _Thread_local time_t last;
	static _Thread_local uint64_t quiet;
	const struct pl_conn *k = c->conn;
	char cli[INET6_ADDRSTRLEN] = "?", srv[INET6_ADDRSTRLEN] = "?";
	time_t now = time(NULL);

	if (now == last) {
		quiet++;
		return;
	}
	last = now;
	inet_ntop(k->af == 6 ? AF_INET6 : AF_INET, k->client_ip, cli, sizeof(cli));
	inet_ntop(k->af == 6 ? AF_INET6 : AF_INET, k->server_ip, srv, sizeof(srv));
	if (quiet)
		pl_info("mysql: connection %s:%u -> %s:%u (server %.*s) %s: skipped, no events "
			"(and %llu more such connections since the last note)", cli, k->client_port,
			srv, k->server_port, (int)c->version_len, c->version, why,
			(unsigned long long)quiet);
	else
		pl_info("mysql: connection %s:%u -> %s:%u (server %.*s) %s: skipped, no events", cli,
			k->client_port, srv, k->server_port, (int)c->version_len, c->version, why);
	quiet = 0;
}

/* The login is an SSLRequest (its 32 bytes end before the user name): the session goes
 * on in TLS. MySQL stops here; mysql.c hands the connection to the TLS parser once the
 * segment's framing returns (tls_due, tls_rest). */
bool my_wire_tls(struct mconn *c, uint32_t caps, uint64_t total)
{
	if (total != 32 || !(caps & CAP_SSL))
		return false;
	c->tls_due = true;
	my_set_dead(c);
	return true;
}

void my_wire_tls_skipped(struct mconn *c)
{
	c->env->stats->mysql_tls_skipped++;
	skip_note(c, "switched to TLS");
}

/* Client and server both offer compression (zlib or zstd): every packet after the login
 * is wrapped in a compressed frame. Counted, noted, and the connection is left alone. */
bool my_wire_compressed(struct mconn *c, uint32_t caps)
{
	uint32_t both = caps & c->server_caps;

	if (!(both & (CAP_COMPRESS | CAP_ZSTD)))
		return false;
	c->env->stats->mysql_compressed_skipped++;
	skip_note(c, both & CAP_ZSTD ? "uses zstd compression" : "uses zlib compression");
	my_set_dead(c);
	return true;
}

/* --- framing --- */

static void deliver(struct mconn *c, int dir, const struct mpkt *m)
{
	if (dir == PL_DIR_TO_SERVER) {
		my_client_msg(c, m);
		return;
	}
	if (c->phase == PH_GREETING) {
		my_greeting(c, m);
		return;
	}
	my_server_msg(c, m);
}

static void side_fail(struct mconn *c, int dir)
{
	c->env->stats->mysql_parse_errors++;
	my_start_hunt(c, dir);
}

/* A server packet's header is in: its sequence id must be the one the response expects
 * (checked before its payload is read, so a wrong length cannot swallow what follows). */
static bool resp_seq_ok(struct mconn *c, uint8_t seq)
{
	struct mtxn *t;

	if (c->phase != PH_CMD || c->absorb_eof)
		return true;
	t = c->resp ? c->resp : (c->pend.late == 0 ? pend_head(c) : NULL);
	if (!t || my_seq_fits(t, seq))
		return true;
	my_resp_mismatch(c, t);
	return false;
}

/* A server packet starts while no command waits for an answer (before the login was
 * read, a packet of sequence id 1: a command's answer, the login lost). */
static bool unasked(const struct mconn *c, int dir, uint8_t seq)
{
	bool cmd_phase = c->phase == PH_CMD || (c->phase == PH_LOGIN && seq == 1);

	return dir == PL_DIR_TO_CLIENT && cmd_phase && !pend_head(c) && !c->resp &&
	       !c->pend.late && !c->absorb_eof;
}

/* Consume bytes of one direction in sync; stops early when the side leaves sync.
 * Returns how many bytes it did not consume. */
static size_t frame(struct mconn *c, int dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct mside *s = &c->side[dir];

	/* end_due: a gap reached this packet's end (see gap_in_packet): hand it over now */
	while ((n > 0 || s->end_due) && s->mode == MODE_SYNC) {
		if (s->nhdr < 4) {
			if (s->nhdr == 0)
				s->hdr_ts = ts;
			s->hdr[s->nhdr++] = *p++;
			n--;
			if (s->nhdr < 4)
				continue;
			uint8_t prev = s->seq;
			s->plen = (uint32_t)s->hdr[0] | (uint32_t)s->hdr[1] << 8 | (uint32_t)s->hdr[2] << 16;
			s->seq = s->hdr[3];
			s->got = 0;
			if (s->cont && s->seq != (uint8_t)(prev + 1)) {
				side_fail(c, dir);
				return n;
			}
			if (!s->cont && unasked(c, dir, s->seq)) {
				/* nothing was asked: do not let a stray length swallow what follows */
				c->env->stats->mysql_unmatched_responses++;
				my_orphan_response(c);
				my_start_hunt(c, dir);
				return n;
			}
			if (!s->cont && dir == PL_DIR_TO_CLIENT && !resp_seq_ok(c, s->seq))
				return n;
			if (!s->cont) {
				s->first_seq = s->seq;
				s->first_len = s->plen;
				s->msg_ts = s->hdr_ts;
				s->wire = s->total = 0;
				s->len = 0;
				s->cut = false;
			}
		}
		size_t k = PL_MIN(n, (size_t)(s->plen - s->got));
		size_t keep = s->cut ? 0 : PL_MIN(k, (size_t)(s->cap - s->len));
		if (keep) {
			memcpy(s->buf + s->len, p, keep);
			s->len += (uint32_t)keep;
		}
		s->got += (uint32_t)k;
		p += k;
		n -= k;
		if (s->got < s->plen)
			continue;
		bool now = s->end_due;
		s->end_due = false;
		s->wire += 4u + s->plen;
		s->total += s->plen;
		s->nhdr = 0;
		s->cont = s->plen == MY_MAX_PACKET;
		if (s->cont && !now)
			continue;
		struct mpkt m = { s->buf, s->len, s->total, s->first_seq, s->seq, s->first_len,
				  s->msg_ts, s->wire, s->cut };
		s->cont = false;
		s->cut = false;
		deliver(c, dir, &m);
		if (dir == PL_DIR_TO_SERVER && pend_tail(c) && pend_tail(c)->start_ns == m.ts)
			pend_tail(c)->req_end_ns = ts;
	}
	return n;
}

static const uint8_t plausible_len[32] = {
	/* exact payload lengths of fixed-size commands; 0 = variable, 0xff = never sent */
	[0x00] = 0xff, [0x01] = 1, [0x0b] = 0xff, [0x0e] = 1, [0x0f] = 0xff, [0x10] = 0xff,
	[0x14] = 0xff, [0x19] = 5, [0x1a] = 5, [0x1b] = 3, [0x1d] = 0xff, [0x1f] = 1,
	[0x09] = 1, [0x0a] = 1, [0x0d] = 1,
};

/* Does a command packet start here? seq 0, a command byte clients send, a fitting length. */
static bool plausible_command(const uint8_t *p, size_t n)
{
	uint32_t len;
	uint8_t cmd, want;

	if (n < 5 || p[3] != 0)
		return false;
	len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
	cmd = p[4];
	if (len == 0 || cmd >= 32)
		return false;
	want = plausible_len[cmd];
	if (want == 0xff || (want && len != want))
		return false;
	if ((cmd == COM_QUERY || cmd == COM_STMT_PREPARE || cmd == COM_INIT_DB) && n > 5) {
		uint8_t b = p[5];
		if (len < 2 || !(b >= 0x20 || b == '\t' || b == '\n' || b == '\r' || b == 0))
			return false;
	}
	if (cmd == COM_STMT_EXECUTE && len < 10)
		return false;
	return true;
}

/* A response can start here: the sequence id the waiting command expects. */
static bool plausible_response(struct mconn *c, const uint8_t *p, size_t n)
{
	const struct mtxn *t = c->pend.late ? NULL : pend_head(c);

	if (n < 5 || !t || t->server_bytes || c->resp)
		return false;
	return p[3] == t->next_seq && (p[0] | p[1] | p[2]) != 0;
}

/* The first bytes of a direction decide whether the connection was seen from its start:
 * the server greets first, the client answers the greeting. Anything else is a pickup
 * in mid-stream, and that direction hunts for a packet start. */
static void first_bytes(struct mconn *c, int d, const uint8_t *p, size_t n)
{
	struct mside *s = &c->side[d];

	if (d == PL_DIR_TO_CLIENT) {
		if (c->phase == PH_GREETING && (n < 5 || (p[3] == 0 && (p[4] == 10 || p[4] == 0xff))))
			return;
	} else if (c->phase == PH_LOGIN) {
		return;
	}
	c->phase = PH_CMD;
	s->mode = MODE_HUNT;
}

void my_conn_data(struct mconn *c, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	int d = dir == PL_DIR_TO_CLIENT;
	struct mside *s = &c->side[d];
	size_t left;

	my_expire(c, ts);
	if (s->mode == MODE_DEAD || n == 0)
		return;
	if (!s->started) {
		s->started = true;
		first_bytes(c, d, p, n);
	}
	if (s->mode == MODE_HUNT) {
		bool ok = d == PL_DIR_TO_SERVER ? plausible_command(p, n) : plausible_response(c, p, n);
		if (!ok) {
			/* a response's first packet while nothing waits: as in frame(); before the
			 * login was read (it was lost) such a packet answers a command too */
			if (d == PL_DIR_TO_CLIENT && c->phase >= PH_LOGIN && !c->login &&
			    !pend_head(c) && !c->pend.late && n >= 5 && p[3] == 1 &&
			    (p[0] | p[1] | p[2]) != 0)
				my_orphan_response(c);
			return;
		}
		s->mode = MODE_SYNC;
		side_reset(s);
	}
	left = frame(c, d, p, n, ts);
	if (c->tls_due)
		c->tls_rest = left;     /* what follows the SSLRequest: TLS's (mysql.c) */
}

/* The response being read when bytes went missing. */
struct mtxn *my_resp_in_progress(struct mconn *c)
{
	if (c->resp)
		return c->resp;
	if (c->pend.late == 0 && pend_head(c) && (pend_head(c)->server_bytes || side_mid(&c->side[1])))
		return pend_head(c);
	return NULL;
}

/* A gap that starts inside a packet's payload: the header said where the packet ends, so
 * the framing survives a hole that ends there too (a snap length cut, a lost frame inside
 * a long packet). The packet goes on marked cut, with only the bytes before the hole.
 * Returns how much of the hole lies past the packet: those bytes hold a header, so the
 * packet is handed over at once and the caller resynchronises. */
static uint64_t gap_in_packet(struct mconn *c, int d, uint64_t len, uint64_t ts)
{
	static const uint8_t none[1];   /* frame() is given no bytes, never a null pointer */
	struct mside *s = &c->side[d];
	uint64_t k;

	if (s->mode != MODE_SYNC || s->nhdr < 4 || s->got >= s->plen)
		return len;
	k = PL_MIN(len, (uint64_t)(s->plen - s->got));
	s->got += (uint32_t)k;
	s->cut = true;
	if (s->got < s->plen)
		return 0;
	len -= k;
	if (s->plen == MY_MAX_PACKET && len == 0)
		return 0;       /* the next header follows in the data: frame() goes on */
	s->end_due = true;
	frame(c, d, none, 0, ts);
	return len;
}

void my_conn_gap(struct mconn *c, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	int d = dir == PL_DIR_TO_CLIENT;

	if (c->side[d].mode == MODE_DEAD || len == 0)
		return;
	len = gap_in_packet(c, d, len, ts);
	if (len == 0 || c->side[d].mode == MODE_DEAD)
		return;
	if (d == PL_DIR_TO_CLIENT && ((c->phase == PH_AUTH && c->login) || !c->side[d].started)) {
		/* the hole holds the greeting or the login's answer, not a command's: the
		 * commands already sent keep their own responses, which follow */
		c->side[d].started = true;
		my_txn_put(c->login);
		c->login = NULL;
		c->phase = PH_CMD;
		my_start_hunt(c, d);
		return;
	}
	if (d == PL_DIR_TO_SERVER && c->phase == PH_LOGIN) {
		c->caps_known = false;  /* the login is lost: what the client chose is unknown */
		c->login_hole = true;
	}
	if (d == PL_DIR_TO_SERVER && c->phase == PH_AUTH && c->login) {
		/* an auth round of the client is lost: the login goes on (its sequence ids
		 * tell the server's next packet), the client's stream resynchronises */
		c->login->notes |= NOTE_LOSS_REQ;
		if (c->side[d].mode == MODE_SYNC)
			my_start_hunt(c, d);
		return;
	}
	if (c->phase < PH_CMD)
		c->phase = PH_CMD;      /* the handshake cannot be followed any more */
	if (d == PL_DIR_TO_SERVER && c->pend.late == 0 && pend_head(c) &&
	    (pend_head(c)->rs == RS_INFILE || pend_head(c)->rs == RS_AUTH))
		pend_head(c)->notes |= NOTE_LOSS_REQ;    /* part of the file the client sent, or
							  * its auth data, is lost */
	if (d == PL_DIR_TO_SERVER)
		c->req_hole = true;     /* a response that came with nothing asked may have
					 * answered a command lost here (new_command) */
	if (d == PL_DIR_TO_CLIENT)
		my_hole_in_responses(c, c->side[d].mode == MODE_SYNC);
	if (c->side[d].mode == MODE_SYNC)
		my_start_hunt(c, d);
}
