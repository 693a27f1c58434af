/* mysql.c – MySQL/MariaDB client/server protocol → transactions: the module's ops (the
 * flow glue), each connection's state, the command records and their pending queue
 * (bounded), expiry, and finishing a response. The protocol itself is read in the files
 * mysql_int.h lists: framing (mysql_wire.c), commands (mysql_cmd.c), responses
 * (mysql_resp.c), prepared statements (mysql_stmt.c), events (mysql_event.c).
 * Must not: format JSON, keep passwords, see TCP sequence numbers, or grow memory
 * without bound (rows are counted, never stored beyond send_response's first max_rows).
 *
 * Decisions (documented here because consumers see them):
 * - One event per command. A command answered by several result sets (CALL,
 *   multi-statements: SERVER_MORE_RESULTS_EXISTS) gives one event: num_fields and path
 *   come from the first result set, num_rows is the sum over all of them, affected_rows,
 *   insert_id, warnings and status flags come from the last OK/EOF, and an ERR anywhere
 *   makes the event an Error.
 * - method: for COM_QUERY the statement's first keyword, upper-cased (leading blanks,
 *   comments and '(' skipped); for COM_STMT_EXECUTE the first keyword of the prepared
 *   text (Packetbeat's "SELECT"); otherwise the command name without "COM_" ("PING",
 *   "INIT_DB", "STMT_PREPARE", "QUIT"), or "COM_0xNN" for a byte no server defines.
 *   A failed login is an Error event with method "LOGIN"; a successful login gives none.
 * - QUIT, STMT_CLOSE and STMT_SEND_LONG_DATA have no response: their event is emitted
 *   when the command is complete, status OK, without mysql.* response fields.
 * - A response with no pending request is counted (mysql_unmatched_responses) and not
 *   emitted, as Packetbeat does: it carries no statement to report. The next command's
 *   response is then unknown (the capture may show the two swapped): that command is an
 *   "Unmatched request" at once, so no response is ever given to the wrong command –
 *   unless a hole in the client's stream came first: the response answered a command
 *   lost in it, and the next command keeps its own. One such response per hole: with
 *   two or more (one answered a lost command, the next may be this command's, shown
 *   swapped) or a hole that held the login (its answer is the login's, a response with
 *   nothing asked answers a command), the command's response is unknown too: it goes
 *   out "Unmatched request", and its own answer may still follow: the next response
 *   that comes before another command is taken as that one and dropped. (Had that
 *   response answered the next command, shown swapped, that command is still unanswered
 *   when the client's following command comes: it goes out "Unmatched request" then.)
 * - Gaps (loss, snap length): a gap inside a packet's payload keeps the framing (the
 *   header said where the packet ends). The packet is read as far as it was captured:
 *   a cut command is an event with the captured start of its text ("Request truncated in
 *   the capture"; method QUERY when the keyword itself may be cut), a cut response packet
 *   keeps what was captured ("Response truncated in the capture"). A gap that swallows a
 *   header ends the response being read ("Packet loss while capturing the response") and
 *   that direction resynchronises: a command packet (sequence id 0, a plausible length
 *   and command byte) at the start of a segment, a response only with the sequence id its
 *   command expects. A hole in the server's stream with several commands waiting (or
 *   while that stream hunts): unless the client was seen pipelining, every one but the
 *   newest was answered inside it (a client sends a command only after reading the answer
 *   before); the newest takes the response that follows, or is lost when the client's
 *   next command comes first. A lost login leaves the client's capabilities unknown:
 *   they are inferred from the packets. An EXECUTE naming a statement id no answer has
 *   named yet waits for a pending PREPARE's answer (shown after it: reordered frames).
 *   Inside an auth exchange (the login, CHANGE_USER) the sequence ids alternate between
 *   server and client: a server packet one id past the expected one shows the client's
 *   auth packet between them lost; it is read (an OK still ends the exchange) and the
 *   event says "Packet loss while capturing the request".
 * - Binary-protocol rows are counted but not rendered into `response`.
 * - MariaDB: the greeting's "5.5.5-" version prefix is dropped (the real version is kept
 *   for the log); the extended capabilities (reserved bytes of greeting and login) are
 *   read. With cache metadata a result set whose metadata-follows byte is 0 has no
 *   column definitions: num_fields is its column count and path is remembered from the
 *   statement's prepare. Progress reports (ERR 0xFFFF) are counted into server.bytes
 *   only. COM_STMT_BULK_EXECUTE is one event, method and query from the prepared text,
 *   params the first row's values (NULL, DEFAULT, IGNORE for indicators).
 * - Query attributes (CLIENT_QUERY_ATTRIBUTES) are skipped: COM_QUERY's text and
 *   COM_STMT_EXECUTE's positional parameters are reported, the attributes are not.
 *   MySQL 8's optional result-set metadata is read as MariaDB's cache metadata is.
 * - COM_RESET_CONNECTION and COM_CHANGE_USER forget the connection's prepared statements
 *   when they succeed; CHANGE_USER sets user and schema from its packet.
 * - TLS (SSLRequest): the connection is handed to the TLS parser after the SSLRequest
 *   packet (its handshake is a `tls` event with this connection's ports, the session counts
 *   in mysql_tls_sessions); no MySQL events follow. With protocols.tls disabled (or no
 *   memory) it is skipped as compressed (zlib or zstd) sessions are from the login on: a
 *   counter each and one log line per connection, no events. */
#include <stdlib.h>
#include "mysql_int.h"

/* --- record free list (per thread: one flow table per capture worker) --- */

static _Thread_local struct mtxn *free_head;
static _Thread_local uint32_t free_n;

struct mtxn *my_txn_get(struct mconn *c)
{
	const struct pl_config *cfg = c->env->cfg;
	struct mtxn *t = free_head;
	char *q = NULL, *csv = NULL;
	uint32_t qcap = 0, ccap = 0;

	if (t) {
		free_head = PL_TXQ_ENTRY(t->node.next, struct mtxn, node);
		free_n--;
		q = t->query;
		qcap = t->query_cap;
		csv = t->csv;
		ccap = t->csv_cap;
	} else {
		t = malloc(sizeof(*t));
		if (!t)
			return NULL;
	}
	memset(t, 0, sizeof(*t));
	t->query = q;
	t->query_cap = qcap;
	t->csv = csv;
	t->csv_cap = ccap;
	t->query_max = cfg->mysql.max_query_length;
	if (t->query_cap < cfg->mysql.max_query_length) {
		char *nq = realloc(t->query, cfg->mysql.max_query_length);
		if (nq) {
			t->query = nq;
			t->query_cap = cfg->mysql.max_query_length;
		}
	}
	return t;
}

void my_txn_put(struct mtxn *t)
{
	if (!t)
		return;
	if (free_n >= MY_FREELIST_MAX) {
		free(t->query);
		free(t->csv);
		free(t);
		return;
	}
	t->node.next = free_head ? &free_head->node : NULL;
	free_head = t;
	free_n++;
}

/* --- pending command FIFO --- */

static struct mtxn *pend_pop(struct mconn *c)
{
	return PL_TXQ_ENTRY(pl_txq_pop(&c->pend), struct mtxn, node);
}

void my_emit_unmatched(struct mconn *c, struct mtxn *t)
{
	c->env->stats->mysql_unmatched_requests++;
	t->notes |= NOTE_UNMATCHED;
	my_emit_txn(c, t);
	my_txn_put(t);
}

void my_pend_push(struct mconn *c, struct mtxn *t)
{
	struct mtxn *old = PL_TXQ_ENTRY(pl_txq_push(&c->pend, &t->node, MY_MAX_PENDING),
					struct mtxn, node);

	if (old) {
		/* its response, if any, is still ahead of the others on the wire */
		c->pend.late++;
		my_emit_unmatched(c, old);
	}
}

/* The response to `t` is complete (or abandoned with a note). */
void my_finish_response(struct mconn *c, struct mtxn *t)
{
	struct pl_stats *st = c->env->stats;

	st->mysql_responses++;
	if (t == c->resp) {
		c->resp = NULL;
		if (c->pend.late)
			c->pend.late--;
		st->mysql_unmatched_responses++;
		my_txn_put(t);
		return;
	}
	if (t == c->login) {
		c->login = NULL;
		my_emit_txn(c, t);
		my_txn_put(t);
		return;
	}
	pend_pop(c);
	my_emit_txn(c, t);
	my_txn_put(t);
}

/* The response to the head command `t` was (partly) in a hole of the capture. */
void my_lose_response(struct mconn *c, struct mtxn *t)
{
	t->notes |= NOTE_LOSS_RESP;
	if (t->rs != RS_ROWS && t->rs != RS_COLDEFS)
		t->is_error = t->is_error || !t->has_response;
	my_finish_response(c, t);
}

/* A hole in the server's stream (framed: it came while the stream was read in step, not
 * while hunting for a packet start). A client that does not pipeline sends a command only
 * after reading the answer to the one before, and the server sends nothing between
 * answers. So every command queued before the newest was answered inside the hole (or
 * while the stream was hunted): each is finished with its loss noted. The newest's answer
 * may follow the hole (the flow gives a hole up when the bytes after it are acknowledged,
 * so the commands sent meanwhile are queued already) or lie in it: it waits, marked, for
 * a response start or for the client's next command, which settles it as lost
 * (my_command_starts). Alone and framed, it is lost at once: the stream was in step
 * after the previous answer, so the hole begins with its own. For a client seen
 * pipelining the order tells nothing: only a framed head's answer is lost. */
void my_hole_in_responses(struct mconn *c, bool framed)
{
	struct mtxn *h = pend_head(c), *newest = pend_tail(c);

	if (c->resp || c->pend.late || !h)
		return;
	if (c->pipelined || (framed && h == newest)) {
		if (framed)
			my_lose_response(c, h);
		return;
	}
	while ((h = pend_head(c)) != newest)
		my_lose_response(c, h);
	newest->hole_before = true;
}

/* A command packet starts (sequence id 0). Two commands in one segment (the same capture
 * time), the one before still unanswered, show a pipelining client. Without pipelining,
 * a command waiting since a hole in the server's stream had its answer in the hole, and
 * one waiting since a response was taken as the unmatched command's before it (c->owed)
 * had its answer in that response (shown before it): its response is unknown. */
void my_command_starts(struct mconn *c, const struct mpkt *m)
{
	struct mtxn *h = c->pend.late ? NULL : pend_head(c), *newest = pend_tail(c);

	if (newest && newest->start_ns == m->ts)
		c->pipelined = true;
	if (!h || h->server_bytes || c->pipelined)
		return;
	if (h->hole_before)
		my_lose_response(c, h);
	else if (h->answer_before)
		my_emit_unmatched(c, pend_pop(c));
}

/* A response starts while no command waits for one. It is the answer owed to a command
 * that went out unmatched when that command's answer could still follow (c->owed, see
 * new_command in mysql_cmd.c), else one more orphan: an answer to a command lost in the
 * client's stream, or to the next command, shown swapped with it. */
void my_orphan_response(struct mconn *c)
{
	if (c->owed) {
		c->owed = false;
		c->owed_taken = true;
		return;
	}
	if (c->orphans < UINT8_MAX)
		c->orphans++;
}

void my_expire(struct mconn *c, uint64_t now)
{
	uint64_t tmo = c->env->cfg->mysql.transaction_timeout_ns;

	while (pend_head(c) && tmo) {
		struct mtxn *t = pend_head(c);

		/* a response in progress answers the head command: do not expire it */
		if (c->pend.late == 0 && (t->server_bytes || side_mid(&c->side[PL_DIR_TO_CLIENT])))
			return;
		if (now < t->req_end_ns || now - t->req_end_ns <= tmo)
			return;
		c->pend.late++;
		my_emit_unmatched(c, pend_pop(c));
	}
}

/* --- connection life and the ops --- */

static void mysql_idle(void *state, uint64_t now)
{
	struct mstub *b = state;

	if (b->tls_state) {
		if (pl_tls_ops.idle)
			pl_tls_ops.idle(b->tls, now);
		return;
	}
	if (b->c)
		my_expire(b->c, now);
}

static void conn_close(struct mconn *c)
{
	struct mtxn *t = my_resp_in_progress(c);

	if (t && t != c->resp) {
		/* the connection ended inside a response */
		t->notes |= NOTE_LOSS_RESP;
		my_finish_response(c, t);
	}
	while ((t = pend_head(c))) {
		if (t->hole_before && !t->server_bytes && !c->pend.late)
			my_lose_response(c, t);
		else
			my_emit_unmatched(c, pend_pop(c));
	}
	my_txn_put(c->resp);
	c->resp = NULL;
	my_txn_put(c->login);
	c->login = NULL;
	for (uint32_t i = 0; i < c->n_stmts; i++)
		free(c->stmts[i].text);
	free(c->stmts);
	c->stmts = NULL;
	c->n_stmts = 0;
	for (int d = 0; d < 2; d++) {
		free(c->side[d].buf);
		c->side[d].buf = NULL;
		c->side[d].mode = MODE_DEAD;
	}
}

/* Set up a connection's state when its first bytes (or its first hole) arrive. */
static int conn_init(struct mconn *c, const struct pl_conn *conn, const struct pl_proto_env *env)
{
	uint32_t ckeep = PL_MAX(env->cfg->mysql.max_query_length + 64u, MY_CLIENT_KEEP_MIN);

	c->conn = conn;
	c->env = env;
	c->phase = PH_GREETING;
	c->side[0].cap = ckeep;
	c->side[1].cap = MY_SERVER_KEEP;
	if (env->cfg->mysql.send_response)
		c->side[1].cap = (uint32_t)PL_MIN(PL_MAX((uint64_t)env->cfg->mysql.max_row_length * 4 + 64,
						       (uint64_t)MY_SERVER_KEEP), (uint64_t)MY_SERVER_KEEP_ROWS);
	for (int d = 0; d < 2; d++) {
		c->side[d].mode = MODE_SYNC;
		c->side[d].buf = malloc(c->side[d].cap);
		if (!c->side[d].buf) {
			free(c->side[0].buf);
			c->side[0].buf = NULL;
			return -1;
		}
	}
	return 0;
}

/* The flow entry holds only this stub: a connection that never carries a byte (a SYN
 * flood, an idle handshake) costs no parser state and no buffers. */
static size_t mysql_state_size(const struct pl_config *cfg)
{
	return sizeof(struct mstub);
}

static int mysql_init(void *state, const struct pl_conn *conn, const struct pl_proto_env *env)
{
	struct mstub *b = state;

	b->conn = conn;
	b->env = env;
	return 0;
}

/* The connection's state, made on first use; NULL when there is no memory for it (the
 * connection is then ignored from here on, and counted). */
static struct mconn *stub_conn(struct mstub *b)
{
	struct mconn *c;

	if (b->c || b->failed)
		return b->c;
	c = calloc(1, sizeof(*c));
	if (!c || conn_init(c, b->conn, b->env) != 0) {
		free(c);
		b->failed = true;
		b->env->stats->proto_state_dropped++;
		return NULL;
	}
	b->c = c;
	return c;
}

/* --- the TLS hand-over: SSLRequest, then TLS on the same connection --- */

/* The client's SSLRequest was framed: the TLS parser (pl_tls_ops, its handshake event with
 * this connection's ports) takes the connection, with `rest` (the bytes after the
 * SSLRequest in that segment). MySQL's state goes; the session counts as encrypted. Where
 * protocols.tls is disabled or there is no memory, the session is skipped as before. */
static void to_tls(struct mstub *b, struct mconn *c, enum pl_dir dir, const uint8_t *rest,
		   size_t n, uint64_t ts)
{
	const struct pl_config *cfg = b->env->cfg;
	void *tls = NULL;

	c->tls_due = false;
	if (cfg->tls.enabled && (tls = calloc(1, pl_tls_ops.state_size(cfg))) &&
	    pl_tls_ops.init(tls, b->conn, b->env) != 0) {
		free(tls);
		tls = NULL;
		b->env->stats->proto_state_dropped++;
	}
	if (!tls) {
		my_wire_tls_skipped(c);
		return;                 /* both sides are dead: the connection is left alone */
	}
	conn_close(c);
	free(c);
	b->tls = tls;
	b->tls_state = true;
	b->env->stats->mysql_tls_sessions++;
	if (n)
		pl_tls_ops.data(tls, dir, rest, n, ts);
}

static void mysql_data(void *state, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct mstub *b = state;
	struct mconn *c;

	if (__builtin_expect(b->tls_state, 0)) {
		pl_tls_ops.data(b->tls, dir, p, n, ts);
		return;
	}
	if (!(c = stub_conn(b)))
		return;
	my_conn_data(c, dir, p, n, ts);
	if (__builtin_expect(c->tls_due, 0))
		to_tls(b, c, dir, p + n - c->tls_rest, c->tls_rest, ts);
}

static void mysql_gap(void *state, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	struct mstub *b = state;
	struct mconn *c;

	if (b->tls_state) {
		pl_tls_ops.gap(b->tls, dir, len, ts);
		return;
	}
	if (!(c = stub_conn(b)))
		return;
	my_conn_gap(c, dir, len, ts);
	if (c->tls_due)
		to_tls(b, c, dir, NULL, 0, ts);   /* a cut SSLRequest ended at this hole */
}

static void mysql_close(void *state, enum pl_close_reason why, uint64_t ts)
{
	struct mstub *b = state;

	if (b->tls_state) {
		pl_tls_ops.close(b->tls, why, ts);
		free(b->tls);
		b->tls = NULL;
		b->tls_state = false;
		return;
	}
	if (!b->c)
		return;
	conn_close(b->c);
	free(b->c);
	b->c = NULL;
}

static void mysql_thread_cleanup(void)
{
	while (free_head) {
		struct mtxn *t = free_head;
		free_head = PL_TXQ_ENTRY(t->node.next, struct mtxn, node);
		free(t->query);
		free(t->csv);
		free(t);
	}
	free_n = 0;
}

const struct pl_proto_ops pl_mysql_ops = {
	.thread_cleanup = mysql_thread_cleanup,
	.name = "mysql",
	.state_size = mysql_state_size,
	.init = mysql_init,
	.data = mysql_data,
	.gap = mysql_gap,
	.idle = mysql_idle,
	.close = mysql_close,
};
