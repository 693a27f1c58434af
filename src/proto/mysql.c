/* mysql.c – MySQL/MariaDB client/server protocol → transactions: packet framing, the
 * connection phase, command/response pairing (queued, bounded), result-set walking,
 * prepared statements, gap and mid-stream resynchronisation, and pl_event filling.
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
 *   "Unmatched request" at once, so no response is ever given to the wrong command.
 * - Gaps (loss, snap length): a gap inside a packet's payload keeps the framing (the
 *   header said where the packet ends). The packet is read as far as it was captured:
 *   a cut command is an event with the captured start of its text ("Request truncated in
 *   the capture"; method QUERY when the keyword itself may be cut), a cut response packet
 *   keeps what was captured ("Response truncated in the capture"). A gap that swallows a
 *   header ends the response being read ("Packet loss while capturing the response") and
 *   that direction resynchronises: a command packet (sequence id 0, a plausible length
 *   and command byte) at the start of a segment, a response only with the sequence id its
 *   command expects.
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
 * - TLS (SSLRequest) and compressed (zlib or zstd) sessions are skipped from the login
 *   on: a counter each and one log line per connection, no events. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "pktlog/proto.h"

#define MY_MAX_PACKET 0xffffffu        /* a payload this long continues in the next packet */
#define MY_SERVER_KEEP 2048u           /* server bytes kept per logical packet: OK, ERR,
					* column definitions fit; rows only matter for
					* send_response, which raises it (MY_SERVER_KEEP_ROWS) */
#define MY_SERVER_KEEP_ROWS 65536u
#define MY_CLIENT_KEEP_MIN 4096u
#define MY_MAX_PENDING 64u             /* queued commands per connection */
#define MY_FREELIST_MAX 256u
#define MY_NAME_MAX 64u                /* user, schema */
#define MY_METHOD_MAX 24u
#define MY_PATH_MAX 256u
#define MY_ERRMSG_MAX 512u
#define MY_PARAM_BUF 1024u
#define MY_PARAM_TYPES 64u
#define MY_CSV_MAX (1u << 20)

/* capability flags */
#define CAP_MYSQL 0x00000001u             /* clear: a MariaDB server, extended caps follow */
#define CAP_CONNECT_WITH_DB 0x00000008u
#define CAP_COMPRESS 0x00000020u
#define CAP_PROTOCOL_41 0x00000200u
#define CAP_SSL 0x00000800u
#define CAP_SECURE_CONN 0x00008000u
#define CAP_PLUGIN_AUTH_LENENC 0x00200000u
#define CAP_DEPRECATE_EOF 0x01000000u
#define CAP_OPTIONAL_METADATA 0x02000000u /* MySQL 8: resultset_metadata may be NONE */
#define CAP_ZSTD 0x04000000u
#define CAP_QUERY_ATTRS 0x08000000u
/* MariaDB extended capabilities (bits 32.. of the capability set) */
#define EXT_PROGRESS 0x01u
#define EXT_BULK 0x04u
#define EXT_EXT_METADATA 0x08u
#define EXT_CACHE_METADATA 0x10u

#define EXEC_PARAM_COUNT 0x08u          /* COM_STMT_EXECUTE flag: PARAMETER_COUNT_AVAILABLE */
#define BULK_SEND_TYPES 0x80u
#define MY_VERSION_MAX 48u

#define SERVER_MORE_RESULTS 0x0008u

enum {
	COM_QUIT = 0x01, COM_INIT_DB = 0x02, COM_QUERY = 0x03, COM_FIELD_LIST = 0x04,
	COM_PING = 0x0e, COM_CHANGE_USER = 0x11, COM_STMT_PREPARE = 0x16,
	COM_STMT_EXECUTE = 0x17, COM_STMT_SEND_LONG_DATA = 0x18, COM_STMT_CLOSE = 0x19,
	COM_STMT_RESET = 0x1a, COM_SET_OPTION = 0x1b, COM_RESET_CONNECTION = 0x1f,
	COM_STMT_BULK_EXECUTE = 0xfa,
	CMD_LOGIN = 0x100,     /* internal: the connection phase's login exchange */
};

static const char *const cmd_names[] = {
	"SLEEP", "QUIT", "INIT_DB", "QUERY", "FIELD_LIST", "CREATE_DB", "DROP_DB", "REFRESH",
	"SHUTDOWN", "STATISTICS", "PROCESS_INFO", "CONNECT", "PROCESS_KILL", "DEBUG", "PING",
	"TIME", "DELAYED_INSERT", "CHANGE_USER", "BINLOG_DUMP", "TABLE_DUMP", "CONNECT_OUT",
	"REGISTER_SLAVE", "STMT_PREPARE", "STMT_EXECUTE", "STMT_SEND_LONG_DATA", "STMT_CLOSE",
	"STMT_RESET", "SET_OPTION", "STMT_FETCH", "DAEMON", "BINLOG_DUMP_GTID",
	"RESET_CONNECTION",
};

enum { MODE_HUNT = 0, MODE_SYNC, MODE_DEAD };
enum { PH_GREETING = 0, PH_LOGIN, PH_AUTH, PH_CMD };
/* where the head command's response is */
enum {
	RS_FIRST = 0, RS_COLDEFS, RS_ROWS, RS_PREPARE_OK, RS_PREPARE, RS_AUTH, RS_INFILE,
	RS_FIELDLIST, RS_SIMPLE,
};
enum {
	NOTE_LOSS_RESP = 1, NOTE_LOSS_REQ = 2, NOTE_PARSE = 4, NOTE_UNMATCHED = 8, NOTE_REQ_PARSE = 16,
	NOTE_CUT_REQ = 32, NOTE_CUT_RESP = 64,   /* bytes inside a packet are not in the capture */
};

struct span { uint32_t off, len; };

/* One command and what its response said; strings live in the record's buffers. */
struct mtxn {
	struct mtxn *next;
	int cmd;
	uint64_t start_ns, req_end_ns, end_ns;
	uint64_t client_bytes, server_bytes;
	uint8_t next_seq;            /* sequence id the next response packet must carry */
	uint8_t rs;                  /* RS_* */
	uint8_t notes;
	bool has_response, is_error, done_pending_eof, csv_trunc;
	bool defer_params;           /* EXECUTE of id -1 sent before its prepare's answer: the
				      * raw packet waits in pbuf (raw_len bytes) */
	uint32_t raw_len;
	uint32_t stmt_id;
	uint64_t cols_left;          /* column/parameter definitions still to come */
	bool first_rs_done;          /* num_fields and path are fixed by the first result set */
	uint64_t affected_rows, insert_id, num_rows, num_fields;
	uint16_t error_code, warnings, status_flags;
	char sql_state[5];
	bool has_state;
	char method[MY_METHOD_MAX];
	uint32_t method_len;
	char path[MY_PATH_MAX];
	uint32_t path_len;
	char errmsg[MY_ERRMSG_MAX];
	uint32_t errmsg_len;
	char pbuf[MY_PARAM_BUF];
	struct span params[PL_MYSQL_MAX_PARAMS];
	int n_params;
	uint32_t pbuf_len;
	char *query;                 /* cap: max_query_length */
	uint32_t query_len, query_cap, query_max;
	char new_user[MY_NAME_MAX];  /* CHANGE_USER: the user and schema asked for */
	char new_schema[MY_NAME_MAX];
	uint8_t new_user_len, new_schema_len;
	char *csv;                   /* send_response only */
	uint32_t csv_len, csv_cap, csv_rows;
};

/* A prepared statement remembered for COM_STMT_EXECUTE. */
struct mstmt {
	uint32_t id;
	bool used;
	uint16_t n_params;
	uint16_t n_types;
	uint8_t types[MY_PARAM_TYPES * 2];
	uint64_t seq;                /* insertion order, for eviction */
	char *text;                  /* max_query_length bytes, then MY_PATH_MAX for path */
	uint32_t text_len;
	uint16_t path_len;           /* "db.table" of the prepare's first column, or 0 */
};

/* One reassembled logical packet (continuations joined), handed to the dispatcher. */
struct mpkt {
	const uint8_t *p;
	uint32_t len;                /* bytes kept (len < total when truncated) */
	uint64_t total;              /* payload length on the wire */
	uint8_t first_seq, last_seq;
	uint32_t first_len;          /* payload length of the first physical packet */
	uint64_t ts;                 /* first byte of the header */
	uint64_t wire;               /* bytes on the wire, headers included */
	bool cut;                    /* some payload bytes are not in the capture (a gap) */
};

struct mside {
	int mode;
	uint8_t hdr[4];
	uint8_t nhdr;
	bool cont;                   /* the last packet was 16 MB: this one continues it */
	bool started;                /* some bytes of this direction were seen */
	bool cut;                    /* a gap fell inside this message's payload: buf holds
				      * only what came before it */
	bool end_due;                /* a gap ended the packet: frame() hands it over */
	uint32_t plen, got;
	uint8_t seq, first_seq;
	uint32_t first_len;
	uint64_t msg_ts, hdr_ts, wire, total;
	uint8_t *buf;
	uint32_t len, cap;
};

struct mconn {
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	struct mside side[2];
	int phase;
	bool caps_known;
	uint32_t server_caps, client_caps;
	uint32_t server_ext, ext_caps;  /* MariaDB extended caps: the server's, negotiated */
	char version[MY_VERSION_MAX];   /* server version, "5.5.5-" prefix removed */
	uint8_t version_len;
	char user[MY_NAME_MAX], schema[MY_NAME_MAX];
	uint8_t user_len, schema_len;
	struct mtxn *head, *tail;
	uint32_t n_pend;
	uint32_t late;               /* expired commands whose responses may still come */
	struct mtxn *resp;           /* response being read when it answers nobody */
	struct mtxn *login;
	bool absorb_eof;             /* a prepare's trailing EOF may follow */
	bool orphan;                 /* a response came while no command waited for one */
	uint8_t absorb_seq;
	struct mstmt *stmts;
	uint32_t n_stmts;
	uint64_t stmt_seq;
};

/* What the flow entry holds (proto.h's state): the connection's state is allocated when
 * its first bytes arrive. */
struct mstub {
	struct mconn *c;
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	bool failed;                 /* no memory for c: the connection is ignored */
};

/* --- bounds-checked reader --- */

struct rd {
	const uint8_t *p;
	uint32_t len, off;
	bool bad;
};

static struct rd rd_make(const uint8_t *p, uint32_t len)
{
	return (struct rd){ p, len, 0, false };
}

static uint32_t rd_left(const struct rd *r)
{
	return r->bad ? 0 : r->len - r->off;
}

static uint64_t rd_uint(struct rd *r, uint32_t n)
{
	uint64_t v = 0;

	if (rd_left(r) < n) {
		r->bad = true;
		return 0;
	}
	for (uint32_t i = 0; i < n; i++)
		v |= (uint64_t)r->p[r->off + i] << (8 * i);
	r->off += n;
	return v;
}

/* One byte: the common case of rd_uint, kept small enough to inline. */
static inline uint8_t rd_u8(struct rd *r)
{
	if (r->bad || r->off >= r->len) {
		r->bad = true;
		return 0;
	}
	return r->p[r->off++];
}

static void rd_skip(struct rd *r, uint64_t n)
{
	if (rd_left(r) < n) {
		r->bad = true;
		return;
	}
	r->off += (uint32_t)n;
}

/* Length-encoded integer; *is_null set for 0xfb. 0xff is never valid here. */
static uint64_t rd_lenenc(struct rd *r, bool *is_null)
{
	uint8_t b = rd_u8(r);

	if (is_null)
		*is_null = false;
	if (r->bad)
		return 0;
	if (b < 0xfb)
		return b;
	switch (b) {
	case 0xfb:
		if (is_null)
			*is_null = true;
		return 0;
	case 0xfc:
		return rd_uint(r, 2);
	case 0xfd:
		return rd_uint(r, 3);
	case 0xfe:
		return rd_uint(r, 8);
	default:
		r->bad = true;
		return 0;
	}
}

/* Length-encoded string: the bytes that are present (may be fewer when the packet was
 * truncated to the keep cap; r->bad then says so). */
static struct pl_str rd_lenstr(struct rd *r, bool *is_null)
{
	uint64_t n = rd_lenenc(r, is_null);
	struct pl_str s = { "", 0 };

	if (r->bad)
		return s;
	if (n > rd_left(r)) {
		s = (struct pl_str){ (const char *)r->p + r->off, rd_left(r) };
		r->bad = true;
		return s;
	}
	s = (struct pl_str){ (const char *)r->p + r->off, (size_t)n };
	r->off += (uint32_t)n;
	return s;
}

static struct pl_str rd_nulstr(struct rd *r)
{
	const uint8_t *z;
	struct pl_str s;

	if (rd_left(r) == 0) {
		r->bad = true;
		return (struct pl_str){ "", 0 };
	}
	z = memchr(r->p + r->off, 0, rd_left(r));
	s.p = (const char *)r->p + r->off;
	s.len = z ? (size_t)(z - (r->p + r->off)) : rd_left(r);
	r->off += (uint32_t)s.len + (z ? 1 : 0);
	return s;
}

/* --- record free list (per thread: one flow table per capture worker) --- */

static _Thread_local struct mtxn *free_head;
static _Thread_local uint32_t free_n;

static struct mtxn *txn_get(struct mconn *c)
{
	const struct pl_config *cfg = c->env->cfg;
	struct mtxn *t = free_head;
	char *q = NULL, *csv = NULL;
	uint32_t qcap = 0, ccap = 0;

	if (t) {
		free_head = t->next;
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

static void txn_put(struct mtxn *t)
{
	if (!t)
		return;
	if (free_n >= MY_FREELIST_MAX) {
		free(t->query);
		free(t->csv);
		free(t);
		return;
	}
	t->next = free_head;
	free_head = t;
	free_n++;
}

/* --- small text helpers --- */

static void copy_capped(char *dst, uint32_t *dlen, uint32_t cap, const char *src, size_t n)
{
	uint32_t k = (uint32_t)PL_MIN(n, (size_t)cap);

	memcpy(dst, src, k);
	*dlen = k;
}

static void copy_capped_u8(char *dst, uint8_t *dlen, uint32_t cap, const char *src, size_t n)
{
	uint32_t k;

	copy_capped(dst, &k, cap, src, n);
	*dlen = (uint8_t)k;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '\v';
}

/* Skip blanks, comments and opening parentheses before a statement's first keyword. */
static size_t skip_lead(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (is_blank(s[i]) || s[i] == '(') {
			i++;
		} else if (s[i] == '#' || (s[i] == '-' && i + 1 < n && s[i + 1] == '-')) {
			while (i < n && s[i] != '\n')
				i++;
		} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
			i += 2;
			while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'))
				i++;
			i = PL_MIN(i + 2, n);
		} else {
			break;
		}
	}
	return i;
}

static void set_method_from_sql(struct mtxn *t, const char *s, size_t n)
{
	size_t i = skip_lead(s, n);

	t->method_len = 0;
	while (i < n && t->method_len < MY_METHOD_MAX) {
		char ch = s[i++];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 32);
		else if (!(ch >= 'A' && ch <= 'Z') && ch != '_')
			break;
		t->method[t->method_len++] = ch;
	}
}

static void set_method_name(struct mtxn *t, int cmd)
{
	if (cmd == CMD_LOGIN) {
		copy_capped(t->method, &t->method_len, MY_METHOD_MAX, "LOGIN", 5);
		return;
	}
	if (cmd == COM_STMT_BULK_EXECUTE) {
		copy_capped(t->method, &t->method_len, MY_METHOD_MAX, "STMT_BULK_EXECUTE", 17);
		return;
	}
	if (cmd >= 0 && (size_t)cmd < PL_ARRAY_LEN(cmd_names)) {
		copy_capped(t->method, &t->method_len, MY_METHOD_MAX, cmd_names[cmd],
			    strlen(cmd_names[cmd]));
		return;
	}
	t->method_len = (uint32_t)snprintf(t->method, MY_METHOD_MAX, "COM_0x%02X", (unsigned)cmd & 0xff);
}

/* Statement text trimmed of surrounding blanks, truncated at max_query_length (the
 * record's buffer may be larger: records are shared by every connection of the thread). */
static void set_query(struct mtxn *t, const char *s, size_t n)
{
	uint32_t cap = PL_MIN(t->query_cap, t->query_max);

	while (n && is_blank(s[0])) {
		s++;
		n--;
	}
	while (n && (is_blank(s[n - 1]) || s[n - 1] == '\0'))
		n--;
	t->query_len = 0;
	if (t->query)
		copy_capped(t->query, &t->query_len, cap, s, n);
}

/* --- event emission --- */

static void conn_fill(const struct mconn *c, struct pl_event *ev)
{
	const struct pl_conn *k = c->conn;

	memset(ev, 0, sizeof(*ev));
	ev->type = PL_EV_MYSQL;
	ev->af = k->af;
	memcpy(ev->client.ip, k->client_ip, sizeof(ev->client.ip));
	memcpy(ev->server.ip, k->server_ip, sizeof(ev->server.ip));
	ev->client.port = k->client_port;
	ev->server.port = k->server_port;
	ev->community_id = k->community_id;
}

static struct pl_str mk(const char *p, size_t n)
{
	return n ? (struct pl_str){ p, n } : (struct pl_str){ "", 0 };
}

static void fill_mysql(const struct mconn *c, const struct mtxn *t, struct pl_event_mysql *m)
{
	const struct pl_config *cfg = c->env->cfg;

	m->method = mk(t->method, t->method_len);
	m->query = mk(t->query, t->query_len);
	m->path = mk(t->path, t->path_len);
	m->user = mk(c->user, c->user_len);
	m->schema = mk(c->schema, c->schema_len);
	m->has_response = t->has_response;
	m->is_error = t->is_error;
	m->affected_rows = t->affected_rows;
	m->insert_id = t->insert_id;
	m->num_rows = t->num_rows;
	m->num_fields = t->num_fields;
	m->error_code = t->error_code;
	m->sql_state = t->has_state ? mk(t->sql_state, 5) : mk("", 0);
	m->error_message = mk(t->errmsg, t->errmsg_len);
	m->warnings = t->warnings;
	m->status_flags = t->status_flags;
	for (int i = 0; i < t->n_params; i++)
		m->params[i] = mk(t->pbuf + t->params[i].off, t->params[i].len);
	m->n_params = t->n_params;
	if (cfg->mysql.send_request)
		m->request = mk(t->query, t->query_len);
	if (cfg->mysql.send_response && t->has_response && t->csv)
		m->response = mk(t->csv, t->csv_len);
}

static void emit_txn(struct mconn *c, struct mtxn *t)
{
	struct pl_stats *st = c->env->stats;
	struct pl_event ev;
	bool no_reply = t->cmd == COM_QUIT || t->cmd == COM_STMT_CLOSE ||
			t->cmd == COM_STMT_SEND_LONG_DATA;

	conn_fill(c, &ev);
	ev.start_ns = t->start_ns;
	ev.end_ns = t->has_response ? t->end_ns : 0;
	ev.client.bytes = t->client_bytes;
	ev.server.bytes = t->server_bytes;
	fill_mysql(c, t, &ev.mysql);
	if (t->notes & NOTE_UNMATCHED)
		pl_event_add_error(&ev, "Unmatched request");
	if (t->notes & NOTE_LOSS_REQ)
		pl_event_add_error(&ev, "Packet loss while capturing the request");
	if (t->notes & NOTE_LOSS_RESP)
		pl_event_add_error(&ev, "Packet loss while capturing the response");
	if (t->notes & NOTE_PARSE)
		pl_event_add_error(&ev, "Parse error in the response");
	if (t->notes & NOTE_REQ_PARSE)
		pl_event_add_error(&ev, "Parse error in the request");
	if ((t->notes & (NOTE_CUT_REQ | NOTE_LOSS_REQ)) == NOTE_CUT_REQ)
		pl_event_add_error(&ev, "Request truncated in the capture");
	if ((t->notes & (NOTE_CUT_RESP | NOTE_LOSS_RESP)) == NOTE_CUT_RESP)
		pl_event_add_error(&ev, "Response truncated in the capture");
	ev.ok = !t->is_error && (t->has_response || no_reply) &&
		!(t->notes & (NOTE_UNMATCHED | NOTE_PARSE));
	/* Packetbeat's mysql_with_gap: loss inside the rows keeps an OK status */
	if (t->notes & NOTE_LOSS_RESP && !t->has_response)
		ev.ok = false;
	if (ev.ok)
		st->mysql_transactions_ok++;
	else
		st->mysql_transactions_error++;
	c->env->emit(&ev, c->env->emit_arg);
}

/* --- pending command FIFO --- */

static struct mtxn *pend_pop(struct mconn *c)
{
	struct mtxn *t = c->head;

	if (!t)
		return NULL;
	c->head = t->next;
	if (!c->head)
		c->tail = NULL;
	t->next = NULL;
	c->n_pend--;
	return t;
}

static void emit_unmatched(struct mconn *c, struct mtxn *t)
{
	c->env->stats->mysql_unmatched_requests++;
	t->notes |= NOTE_UNMATCHED;
	emit_txn(c, t);
	txn_put(t);
}

static void pend_push(struct mconn *c, struct mtxn *t)
{
	if (c->n_pend >= MY_MAX_PENDING) {
		/* its response, if any, is still ahead of the others on the wire */
		c->late++;
		emit_unmatched(c, pend_pop(c));
	}
	t->next = NULL;
	if (c->tail)
		c->tail->next = t;
	else
		c->head = t;
	c->tail = t;
	c->n_pend++;
}

/* The response being read answers this record (the head command, or an orphan). */
static struct mtxn *resp_txn(struct mconn *c)
{
	if (c->resp)
		return c->resp;
	if (c->late == 0 && c->head)
		return c->head;
	c->resp = txn_get(c);
	if (c->resp) {
		c->resp->cmd = COM_QUERY;
		c->resp->next_seq = 1;
	}
	return c->resp;
}

/* The response to `t` is complete (or abandoned with a note). */
static void finish_response(struct mconn *c, struct mtxn *t)
{
	struct pl_stats *st = c->env->stats;

	st->mysql_responses++;
	if (t == c->resp) {
		c->resp = NULL;
		if (c->late)
			c->late--;
		st->mysql_unmatched_responses++;
		txn_put(t);
		return;
	}
	if (t == c->login) {
		c->login = NULL;
		emit_txn(c, t);
		txn_put(t);
		return;
	}
	pend_pop(c);
	emit_txn(c, t);
	txn_put(t);
}

/* Some bytes of a packet are in hand. */
static bool side_mid(const struct mside *s)
{
	return s->mode == MODE_SYNC && (s->nhdr > 0 || s->got < s->plen || s->cont);
}

static void expire(struct mconn *c, uint64_t now)
{
	uint64_t tmo = c->env->cfg->mysql.transaction_timeout_ns;

	while (c->head && tmo) {
		struct mtxn *t = c->head;

		/* a response in progress answers the head command: do not expire it */
		if (c->late == 0 && (t->server_bytes || side_mid(&c->side[PL_DIR_TO_CLIENT])))
			return;
		if (now < t->req_end_ns || now - t->req_end_ns <= tmo)
			return;
		c->late++;
		emit_unmatched(c, pend_pop(c));
	}
}

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

static void start_hunt(struct mconn *c, int dir)
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
			txn_put(c->resp);
			c->resp = NULL;
		}
	}
}

static void set_dead(struct mconn *c)
{
	for (int d = 0; d < 2; d++) {
		c->side[d].mode = MODE_DEAD;
		side_reset(&c->side[d]);
	}
}

/* --- response parsing (server → client) --- */

static void parse_ok(struct mtxn *t, const struct mpkt *m, bool eof_form)
{
	struct rd r = rd_make(m->p, m->len);

	rd_skip(&r, 1);
	if (eof_form && m->total < 7) {
		/* EOF packet: warnings, status */
		t->warnings = (uint16_t)rd_uint(&r, 2);
		t->status_flags = (uint16_t)rd_uint(&r, 2);
		return;
	}
	t->affected_rows = rd_lenenc(&r, NULL);
	t->insert_id = rd_lenenc(&r, NULL);
	t->status_flags = (uint16_t)rd_uint(&r, 2);
	t->warnings = (uint16_t)rd_uint(&r, 2);
}

static void parse_err(struct mtxn *t, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	uint32_t rest;

	rd_skip(&r, 1);
	t->is_error = true;
	t->error_code = (uint16_t)rd_uint(&r, 2);
	if (rd_left(&r) >= 6 && r.p[r.off] == '#') {
		memcpy(t->sql_state, r.p + r.off + 1, 5);
		t->has_state = true;
		r.off += 6;
	}
	rest = rd_left(&r);
	copy_capped(t->errmsg, &t->errmsg_len, MY_ERRMSG_MAX, (const char *)r.p + r.off, rest);
	t->status_flags = 0;
}

/* CSV field as Go's encoding/csv writes it (Packetbeat's response text). */
static void csv_put(struct mtxn *t, const char *s, size_t n)
{
	bool quote = n && s[0] == ' ';

	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (t->csv_len + n * 2 + 4 > t->csv_cap) {
		t->csv_trunc = true;
		return;
	}
	if (quote)
		t->csv[t->csv_len++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (quote && s[i] == '"')
			t->csv[t->csv_len++] = '"';
		t->csv[t->csv_len++] = s[i];
	}
	if (quote)
		t->csv[t->csv_len++] = '"';
}

static bool csv_ready(struct mconn *c, struct mtxn *t)
{
	const struct pl_config *cfg = c->env->cfg;
	uint64_t want;

	if (!cfg->mysql.send_response)
		return false;
	if (t->csv)
		return true;
	want = ((uint64_t)cfg->mysql.max_rows + 1) * ((uint64_t)cfg->mysql.max_row_length * 2 + 64);
	want = PL_MIN(want, (uint64_t)MY_CSV_MAX);
	t->csv = malloc((size_t)want);
	t->csv_cap = t->csv ? (uint32_t)want : 0;
	return t->csv != NULL;
}

struct coldef {
	struct pl_str schema, table, name;
};

/* A column definition (protocol 4.1): names, MariaDB's extended type info when
 * negotiated, then the fixed part announced by its length 0x0c. False when a complete
 * packet does not read so (a truncated one is read as far as it goes). */
static bool coldef_read(const struct mconn *c, const struct mpkt *m, struct coldef *d)
{
	struct rd r = rd_make(m->p, m->len);

	rd_lenstr(&r, NULL);            /* catalog */
	d->schema = rd_lenstr(&r, NULL);
	d->table = rd_lenstr(&r, NULL);
	rd_lenstr(&r, NULL);            /* org_table */
	d->name = rd_lenstr(&r, NULL);
	if (!c->caps_known || m->len < m->total)
		return true;
	rd_lenstr(&r, NULL);            /* org_name */
	if (c->ext_caps & EXT_EXT_METADATA)
		rd_lenstr(&r, NULL);    /* extended type info: (kind, value) pairs */
	if (rd_lenenc(&r, NULL) != 0x0c)
		return false;
	return rd_left(&r) >= 12;       /* charset, length, type, flags, decimals, filler */
}

/* "db.table" into dst (cap MY_PATH_MAX); its length, 0 when either part is empty. */
static uint32_t path_of(const struct coldef *d, char *dst)
{
	if (!d->schema.len || !d->table.len || d->schema.len + d->table.len + 1 > MY_PATH_MAX)
		return 0;
	memcpy(dst, d->schema.p, d->schema.len);
	dst[d->schema.len] = '.';
	memcpy(dst + d->schema.len + 1, d->table.p, d->table.len);
	return (uint32_t)(d->schema.len + d->table.len + 1);
}

/* Column definition: path from the first one, its name into the CSV header. */
static void on_coldef(struct mconn *c, struct mtxn *t, const struct mpkt *m, uint64_t idx)
{
	struct coldef d;
	struct pl_str name;

	if (!coldef_read(c, m, &d)) {
		c->env->stats->mysql_parse_errors++;
		t->notes |= NOTE_PARSE;
	}
	name = d.name;
	if (t->first_rs_done)
		return;
	if (idx == 0)
		t->path_len = path_of(&d, t->path);
	if (!csv_ready(c, t))
		return;
	if (idx && t->csv_len < t->csv_cap)
		t->csv[t->csv_len++] = ',';
	csv_put(t, name.p, name.len);
}

static void csv_end_line(struct mtxn *t)
{
	if (t->csv && t->csv_len < t->csv_cap)
		t->csv[t->csv_len++] = '\n';
}

/* A text-protocol row: values into the CSV (total value bytes capped at max_row_length). */
static void on_row(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	const struct pl_config *cfg = c->env->cfg;
	struct rd r = rd_make(m->p, m->len);
	uint32_t used = 0;

	t->num_rows++;
	if (t->first_rs_done || !t->csv || t->csv_rows >= cfg->mysql.max_rows)
		return;
	if (c->head == t && (t->cmd == COM_STMT_EXECUTE || t->cmd == COM_STMT_BULK_EXECUTE))
		return;                 /* binary rows: counted only */
	t->csv_rows++;
	for (uint64_t i = 0; i < t->num_fields && rd_left(&r) > 0; i++) {
		bool is_null;
		struct pl_str v = rd_lenstr(&r, &is_null);
		size_t k;

		if (is_null)
			v = (struct pl_str){ "NULL", 4 };
		k = PL_MIN(v.len, (size_t)(cfg->mysql.max_row_length - used));
		if (i && t->csv_len < t->csv_cap)
			t->csv[t->csv_len++] = ',';
		csv_put(t, v.p, k);
		used += (uint32_t)k;
	}
	csv_end_line(t);
}

/* "USE db" succeeded: later events carry the new default schema (mysql.db). */
static void note_use(struct mconn *c, const struct mtxn *t)
{
	size_t i, n;

	if (t->cmd != COM_QUERY || t->method_len != 3 || memcmp(t->method, "USE", 3))
		return;
	i = skip_lead(t->query, t->query_len) + 3;
	while (i < t->query_len && is_blank(t->query[i]))
		i++;
	if (i < t->query_len && t->query[i] == '`')
		i++;
	for (n = 0; i + n < t->query_len && n < MY_NAME_MAX; n++) {
		char ch = t->query[i + n];
		if (ch == '`' || ch == ';' || is_blank(ch))
			break;
	}
	memcpy(c->schema, t->query + i, n);
	c->schema_len = (uint8_t)n;
}

static struct mstmt *stmt_find(struct mconn *c, uint32_t id);
static void resolve_deferred(struct mconn *c, struct mtxn *prep, struct mstmt *e);

/* An OK/EOF ended a result set or a command: more may follow (multi-results). */
static void end_result(struct mconn *c, struct mtxn *t, const struct mpkt *m, bool eof_form)
{
	parse_ok(t, m, eof_form);
	if (!t->is_error && t != c->resp)
		note_use(c, t);
	if (t->num_fields)
		t->first_rs_done = true;
	if (t->status_flags & SERVER_MORE_RESULTS) {
		t->rs = RS_FIRST;
		return;
	}
	finish_response(c, t);
}

static bool deprecate_eof(const struct mconn *c)
{
	return c->caps_known && (c->server_caps & c->client_caps & CAP_DEPRECATE_EOF);
}

/* MARIADB_CLIENT_CACHE_METADATA (and MySQL 8's CLIENT_OPTIONAL_RESULTSET_METADATA): the
 * column count is followed by a metadata-follows byte (0: no column definitions; MariaDB's
 * client has them from the prepare). 1 when definitions follow, 0 when not, -1 when the
 * packet does not end where it should. When the handshake was not seen, a trailing 0 or 1
 * right after the count is that byte. */
static int read_meta_follows(const struct mconn *c, struct rd *r, const struct mpkt *m)
{
	uint64_t b;

	if (c->caps_known && !(c->ext_caps & EXT_CACHE_METADATA) &&
	    !(c->server_caps & c->client_caps & CAP_OPTIONAL_METADATA))
		return rd_left(r) == 0 ? 1 : -1;
	if (!c->caps_known && rd_left(r) == 0)
		return 1;
	b = rd_uint(r, 1);
	if (r->bad || rd_left(r) != 0 || b > 1)
		return -1;
	return (int)b;
}

/* An execute's result set without definitions: path is the prepare's. */
static void path_from_stmt(struct mconn *c, struct mtxn *t)
{
	const struct mstmt *e;

	if (t->cmd != COM_STMT_EXECUTE || t == c->resp)
		return;
	e = stmt_find(c, t->stmt_id);
	if (!e || !e->path_len)
		return;
	memcpy(t->path, e->text + c->env->cfg->mysql.max_query_length, e->path_len);
	t->path_len = e->path_len;
}

static void rs_first(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	uint8_t b = m->len ? m->p[0] : 0;
	struct rd r = rd_make(m->p, m->len);
	uint64_t n;
	int meta;

	if (b == 0x00 && m->total >= 7) {
		end_result(c, t, m, false);
		return;
	}
	if (b == 0xff) {
		parse_err(t, m);
		finish_response(c, t);
		return;
	}
	if (b == 0xfb && t->cmd == COM_QUERY) {
		t->rs = RS_INFILE;      /* the client sends the file, then the server answers */
		t->has_response = false; /* a request for the file: the answer comes after it */
		return;
	}
	if (m->cut) {
		/* a result set's column count, cut: what follows cannot be walked */
		finish_response(c, t);
		start_hunt(c, PL_DIR_TO_CLIENT);
		return;
	}
	n = rd_lenenc(&r, NULL);
	meta = read_meta_follows(c, &r, m);
	if (r.bad || n == 0 || meta < 0 || m->len != m->total) {
		c->env->stats->mysql_parse_errors++;
		t->notes |= NOTE_PARSE;
		finish_response(c, t);
		start_hunt(c, PL_DIR_TO_CLIENT);
		return;
	}
	if (!t->first_rs_done)
		t->num_fields = n;
	t->cols_left = meta ? n : 0;
	t->rs = RS_COLDEFS;
	if (!meta && !t->first_rs_done)
		path_from_stmt(c, t);
}

/* 0xfe first and shorter than a 16 MB packet: EOF or OK-as-EOF, never a row. */
static bool is_terminator(const struct mpkt *m)
{
	return m->len && m->p[0] == 0xfe && m->first_len < MY_MAX_PACKET;
}

static void rs_rows(struct mconn *c, struct mtxn *t, const struct mpkt *m);

static void rs_coldefs(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	if (m->len && m->p[0] == 0xff) {
		parse_err(t, m);
		finish_response(c, t);
		return;
	}
	if (t->cols_left) {
		on_coldef(c, t, m, t->num_fields - t->cols_left);
		t->cols_left--;
		return;
	}
	/* Definitions done. An EOF marker follows unless CLIENT_DEPRECATE_EOF; when the
	 * handshake was not seen, its 5-byte length tells it from an OK-as-EOF (>= 7). */
	t->rs = RS_ROWS;
	if (t->csv && !t->first_rs_done)
		csv_end_line(t);
	if (is_terminator(m) && (c->caps_known ? !deprecate_eof(c) : m->total < 7))
		return;
	rs_rows(c, t, m);
}

static void rs_rows(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	if (is_terminator(m)) {
		end_result(c, t, m, true);
		return;
	}
	if (m->len && m->p[0] == 0xff) {
		parse_err(t, m);
		finish_response(c, t);
		return;
	}
	on_row(c, t, m);
}

/* id 0xFFFFFFFF (MariaDB) is the statement prepared last. */
static struct mstmt *stmt_find(struct mconn *c, uint32_t id)
{
	struct mstmt *last = NULL;

	for (uint32_t i = 0; i < c->n_stmts; i++) {
		struct mstmt *e = &c->stmts[i];

		if (!e->used)
			continue;
		if (e->id == id)
			return e;
		if (id == 0xffffffffu && (!last || e->seq > last->seq))
			last = e;
	}
	return last;
}

/* RESET_CONNECTION and CHANGE_USER deallocate every prepared statement. */
static void stmt_forget_all(struct mconn *c)
{
	for (uint32_t i = 0; i < c->n_stmts; i++)
		c->stmts[i].used = false;
}

/* Remember a prepared statement; the oldest is forgotten at max_statements. */
static void stmt_add(struct mconn *c, const struct mtxn *t, uint32_t id, uint16_t n_params)
{
	uint32_t max = c->env->cfg->mysql.max_statements;
	struct mstmt *e = stmt_find(c, id);

	if (max == 0)
		return;
	if (!c->stmts) {
		c->stmts = calloc(max, sizeof(*c->stmts));
		if (!c->stmts)
			return;
	}
	if (!e && c->n_stmts < max) {
		e = &c->stmts[c->n_stmts++];
	} else if (!e) {
		e = &c->stmts[0];
		for (uint32_t i = 0; i < c->n_stmts; i++)
			if (!c->stmts[i].used || c->stmts[i].seq < e->seq)
				e = &c->stmts[i];
		if (e->used)
			c->env->stats->mysql_statements_evicted++;
	}
	if (!e->text) {
		e->text = malloc((size_t)c->env->cfg->mysql.max_query_length + MY_PATH_MAX);
		if (!e->text)
			return;
	}
	e->used = true;
	e->id = id;
	e->n_params = n_params;
	e->n_types = 0;
	e->path_len = 0;
	e->seq = ++c->stmt_seq;
	e->text_len = PL_MIN(t->query_len, c->env->cfg->mysql.max_query_length);
	if (e->text_len)
		memcpy(e->text, t->query, e->text_len);
}

static void rs_prepare_first(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	uint32_t id;
	uint16_t ncols, nparams;

	if (m->len && m->p[0] == 0xff) {
		parse_err(t, m);
		if (t == c->head)
			resolve_deferred(c, t, NULL);
		finish_response(c, t);
		return;
	}
	rd_skip(&r, 1);
	id = (uint32_t)rd_uint(&r, 4);
	ncols = (uint16_t)rd_uint(&r, 2);
	nparams = (uint16_t)rd_uint(&r, 2);
	rd_skip(&r, 1);
	t->warnings = (uint16_t)rd_uint(&r, 2);
	if (r.bad || m->p[0] != 0x00) {
		c->env->stats->mysql_parse_errors++;
		t->notes |= NOTE_PARSE;
		finish_response(c, t);
		start_hunt(c, PL_DIR_TO_CLIENT);
		return;
	}
	t->stmt_id = id;
	stmt_add(c, t, id, nparams);
	if (t == c->head)
		resolve_deferred(c, t, stmt_find(c, id));
	t->num_fields = ncols;
	t->cols_left = (uint64_t)ncols + nparams;
	t->rs = RS_PREPARE;
	if (t->cols_left == 0)
		finish_response(c, t);
}

/* The prepare's first column definition: the statement's path, for executes whose result
 * sets come without definitions (cache metadata). */
static void remember_path(struct mconn *c, const struct mtxn *t, const struct mpkt *m)
{
	struct mstmt *e = stmt_find(c, t->stmt_id);
	struct coldef d;

	if (!e || e->id != t->stmt_id)
		return;
	if (!coldef_read(c, m, &d)) {
		c->env->stats->mysql_parse_errors++;
		return;
	}
	e->path_len = (uint16_t)path_of(&d, e->text + c->env->cfg->mysql.max_query_length);
}

/* Parameter and column definitions of a prepare; the EOFs between them are skipped. The
 * event goes out with the last definition; a trailing EOF is absorbed afterwards. */
static void rs_prepare(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	if (is_terminator(m) && m->total < 9)
		return;
	if (t->cols_left == t->num_fields && t->num_fields)
		remember_path(c, t, m);
	if (t->cols_left)
		t->cols_left--;
	if (t->cols_left)
		return;
	if (!deprecate_eof(c)) {
		c->absorb_eof = true;
		c->absorb_seq = (uint8_t)(m->last_seq + 1);
	}
	finish_response(c, t);
}

/* Auth exchange (login, CHANGE_USER): OK ends it, ERR fails it, anything else is a round. */
static void rs_auth(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	uint8_t b = m->len ? m->p[0] : 0;

	if (b == 0x00) {
		parse_ok(t, m, false);
		if (t == c->login) {
			c->phase = PH_CMD;
			c->login = NULL;
			txn_put(t);        /* a successful login is not an event */
			c->env->stats->mysql_responses++;
			return;
		}
		if (t->cmd == COM_CHANGE_USER) {
			memcpy(c->user, t->new_user, t->new_user_len);
			c->user_len = t->new_user_len;
			memcpy(c->schema, t->new_schema, t->new_schema_len);
			c->schema_len = t->new_schema_len;
			stmt_forget_all(c);
		}
		finish_response(c, t);
		return;
	}
	if (b == 0xff) {
		parse_err(t, m);
		if (t == c->login)
			c->phase = PH_CMD;   /* the server closes; nothing else expected */
		finish_response(c, t);
	}
}

/* One-packet answers (PING, INIT_DB, SET_OPTION, unknown commands…). */
static void rs_simple(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	uint8_t b = m->len ? m->p[0] : 0;

	if (b == 0xff)
		parse_err(t, m);
	else if (b == 0x00 || b == 0xfe)
		parse_ok(t, m, b == 0xfe);
	if (b == 0x00 && t->cmd == COM_RESET_CONNECTION && t != c->resp)
		stmt_forget_all(c);
	if (b == 0x00 && t->cmd == COM_INIT_DB && t->query_len && t->query_len <= MY_NAME_MAX) {
		memcpy(c->schema, t->query, t->query_len);
		c->schema_len = (uint8_t)t->query_len;
	}
	finish_response(c, t);
}

/* How the response to this command starts. */
static int first_state(const struct mtxn *t, const struct mconn *c)
{
	if (t == c->resp)
		return RS_FIRST;
	switch (t->cmd) {
	case COM_QUERY:
	case COM_STMT_EXECUTE:
	case COM_STMT_BULK_EXECUTE:
		return RS_FIRST;
	case COM_STMT_PREPARE:
		return RS_PREPARE_OK;
	case COM_CHANGE_USER:
		return RS_AUTH;
	case COM_FIELD_LIST:
		return RS_FIELDLIST;
	default:
		return RS_SIMPLE;
	}
}

/* MariaDB progress report: an ERR packet with code 0xFFFF while a command runs (stage,
 * max stage, progress, text), sent when the client asked for them. */
static bool is_progress(const struct mconn *c, const struct mpkt *m)
{
	if (m->len < 3 || m->p[0] != 0xff || m->p[1] != 0xff || m->p[2] != 0xff)
		return false;
	return !c->caps_known || (c->ext_caps & EXT_PROGRESS) || (c->client_caps & (1u << 29));
}

/* A server packet belongs to nothing we know (lost or unparsed bytes before it): the
 * response it was read for ends with a note, and the direction resynchronises. */
static void resp_mismatch(struct mconn *c, struct mtxn *t)
{
	c->env->stats->mysql_parse_errors++;
	if (t != c->resp) {
		t->notes |= NOTE_PARSE;
		if (t->server_bytes == 0)
			t->notes |= NOTE_UNMATCHED;
		finish_response(c, t);
	}
	start_hunt(c, PL_DIR_TO_CLIENT);
}

/* A server packet's header is in: its sequence id must be the one the response expects
 * (checked before its payload is read, so a wrong length cannot swallow what follows). */
static bool resp_seq_ok(struct mconn *c, uint8_t seq)
{
	struct mtxn *t;

	if (c->phase != PH_CMD || c->absorb_eof)
		return true;
	t = c->resp ? c->resp : (c->late == 0 ? c->head : NULL);
	if (!t || seq == t->next_seq)
		return true;
	resp_mismatch(c, t);
	return false;
}

static void server_msg(struct mconn *c, const struct mpkt *m)
{
	struct mtxn *t;

	if (c->absorb_eof) {
		c->absorb_eof = false;
		if (m->first_seq == c->absorb_seq && is_terminator(m) && m->total < 9)
			return;
	}
	if (c->phase == PH_AUTH && c->login) {
		t = c->login;
		if (!t->has_response)
			t->end_ns = m->ts;
		t->has_response = true;
		t->server_bytes += m->wire;
		rs_auth(c, t, m);
		return;
	}
	t = resp_txn(c);
	if (!t)
		return;
	if (m->first_seq != t->next_seq) {
		resp_mismatch(c, t);
		return;
	}
	t->next_seq = (uint8_t)(m->last_seq + 1);
	if (m->cut && t != c->resp)
		t->notes |= NOTE_CUT_RESP;
	if (is_progress(c, m)) {
		t->server_bytes += m->wire;     /* not the answer yet: no response time */
		return;
	}
	if (!t->has_response)
		t->end_ns = m->ts;
	t->has_response = true;
	t->server_bytes += m->wire;
	if (t->rs == RS_FIRST)
		t->rs = first_state(t, c);
	switch (t->rs) {
	case RS_FIRST:
		rs_first(c, t, m);
		break;
	case RS_AUTH:
		rs_auth(c, t, m);
		break;
	case RS_COLDEFS:
		rs_coldefs(c, t, m);
		break;
	case RS_ROWS:
		rs_rows(c, t, m);
		break;
	case RS_FIELDLIST:
		/* column definitions to EOF; counted as fields */
		if (is_terminator(m) || (m->len && m->p[0] == 0xff))
			rs_rows(c, t, m);
		else
			t->num_fields++;
		break;
	case RS_PREPARE_OK:
		rs_prepare_first(c, t, m);
		break;
	case RS_PREPARE:
		rs_prepare(c, t, m);
		break;
	case RS_INFILE:
		rs_first(c, t, m);
		break;
	case RS_SIMPLE:
		rs_simple(c, t, m);
		break;
	default:
		break;
	}
}

/* --- command parsing (client → server) --- */

static void param_add(struct mtxn *t, const char *s, size_t n)
{
	size_t room = MY_PARAM_BUF - t->pbuf_len;

	if (t->n_params >= PL_MYSQL_MAX_PARAMS)
		return;
	n = PL_MIN(n, room);
	memcpy(t->pbuf + t->pbuf_len, s, n);
	t->params[t->n_params++] = (struct span){ t->pbuf_len, (uint32_t)n };
	t->pbuf_len += (uint32_t)n;
}

static void param_fmt(struct mtxn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void param_fmt(struct mtxn *t, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		param_add(t, tmp, PL_MIN((size_t)n, sizeof(tmp) - 1));
}

static void param_datetime(struct mtxn *t, struct rd *r)
{
	uint32_t n = (uint32_t)rd_uint(r, 1);
	unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, us = 0;

	if (n >= 4) {
		y = (unsigned)rd_uint(r, 2);
		mo = (unsigned)rd_uint(r, 1);
		d = (unsigned)rd_uint(r, 1);
	}
	if (n >= 7) {
		h = (unsigned)rd_uint(r, 1);
		mi = (unsigned)rd_uint(r, 1);
		s = (unsigned)rd_uint(r, 1);
	}
	if (n >= 11)
		us = (unsigned)rd_uint(r, 4);
	if (n != 0 && n != 4 && n != 7 && n != 11)
		r->bad = true;
	if (r->bad)
		return;
	if (n == 11)
		param_fmt(t, "%04u-%02u-%02u %02u:%02u:%02u.%06u", y, mo, d, h, mi, s, us);
	else if (n == 7)
		param_fmt(t, "%04u-%02u-%02u %02u:%02u:%02u", y, mo, d, h, mi, s);
	else
		param_fmt(t, "%04u-%02u-%02u", y, mo, d);
}

static void param_time(struct mtxn *t, struct rd *r)
{
	uint32_t n = (uint32_t)rd_uint(r, 1);
	unsigned neg = 0, days = 0, h = 0, mi = 0, s = 0, us = 0;

	if (n >= 8) {
		neg = (unsigned)rd_uint(r, 1);
		days = (unsigned)rd_uint(r, 4);
		h = (unsigned)rd_uint(r, 1);
		mi = (unsigned)rd_uint(r, 1);
		s = (unsigned)rd_uint(r, 1);
	}
	if (n >= 12)
		us = (unsigned)rd_uint(r, 4);
	if (n != 0 && n != 8 && n != 12)
		r->bad = true;
	if (r->bad)
		return;
	param_fmt(t, "%s%02u:%02u:%02u", neg ? "-" : "", days * 24 + h, mi, s);
	if (n == 12)
		param_fmt(t, ".%06u", us);   /* a second span only when needed: rare */
}

static void param_int(struct mtxn *t, struct rd *r, uint32_t bytes, bool uns)
{
	uint64_t v = rd_uint(r, bytes);
	uint32_t sh = 64 - 8 * bytes;

	if (r->bad)
		return;
	if (uns)
		param_fmt(t, "%llu", (unsigned long long)v);
	else
		param_fmt(t, "%lld", (long long)((int64_t)(v << sh) >> sh));
}

/* One bound value of the binary protocol, as text. */
static void param_value(struct mtxn *t, struct rd *r, uint8_t type, bool uns)
{
	union { uint32_t u; float f; } f4;
	union { uint64_t u; double d; } f8;

	switch (type) {
	case 0x01:
		param_int(t, r, 1, uns);
		return;
	case 0x02: case 0x0d:
		param_int(t, r, 2, uns);
		return;
	case 0x03: case 0x09:
		param_int(t, r, 4, uns);
		return;
	case 0x08:
		param_int(t, r, 8, uns);
		return;
	case 0x04: f4.u = (uint32_t)rd_uint(r, 4); if (!r->bad) param_fmt(t, "%g", (double)f4.f); return;
	case 0x05: f8.u = rd_uint(r, 8); if (!r->bad) param_fmt(t, "%.17g", f8.d); return;
	case 0x06: param_add(t, "NULL", 4); return;
	case 0x07: case 0x0a: case 0x0c: param_datetime(t, r); return;
	case 0x0b: param_time(t, r); return;
	default: {
		struct pl_str s = rd_lenstr(r, NULL);
		if (!r->bad)
			param_add(t, s.p, s.len);
		return;
	}
	}
}

static bool query_attrs(const struct mconn *c)
{
	return c->caps_known && (c->server_caps & c->client_caps & CAP_QUERY_ATTRS);
}

/* Step over one binary-protocol value of this type. */
static void value_skip(struct rd *r, uint8_t type)
{
	switch (type) {
	case 0x06:
		return;
	case 0x01:
		rd_skip(r, 1);
		return;
	case 0x02: case 0x0d:
		rd_skip(r, 2);
		return;
	case 0x03: case 0x04: case 0x09:
		rd_skip(r, 4);
		return;
	case 0x05: case 0x08:
		rd_skip(r, 8);
		return;
	case 0x07: case 0x0a: case 0x0b: case 0x0c:
		rd_skip(r, rd_uint(r, 1));
		return;
	default:
		rd_lenstr(r, NULL);
		return;
	}
}

/* Parameter types (and, with query attributes, names) of an execute: the first
 * MY_PARAM_TYPES positional ones are kept for the executes that do not resend them. */
static void read_types(const struct mconn *c, struct mstmt *e, struct rd *r, uint64_t total)
{
	for (uint64_t i = 0; i < total && !r->bad; i++) {
		uint8_t ty = (uint8_t)rd_uint(r, 1), fl = (uint8_t)rd_uint(r, 1);

		if (i < MY_PARAM_TYPES && i < e->n_params) {
			e->types[2 * i] = ty;
			e->types[2 * i + 1] = fl;
		}
		if (query_attrs(c))
			rd_lenstr(r, NULL);     /* parameter name */
	}
	e->n_types = r->bad ? 0 : (uint16_t)PL_MIN((uint32_t)e->n_params, MY_PARAM_TYPES);
}

/* COM_STMT_EXECUTE: the prepared text and the positional values. With query attributes
 * a parameter count (positional + attributes) may precede the NULL bitmap; the
 * attributes' values come after the positional ones and are not reported. */
/* The latest STMT_PREPARE still waiting for its answer, if any. */
static struct mtxn *pending_prepare(struct mconn *c)
{
	struct mtxn *p = NULL;

	for (struct mtxn *x = c->late ? NULL : c->head; x; x = x->next)
		if (x->cmd == COM_STMT_PREPARE)
			p = x;
	return p;
}

static void execute_values(struct mconn *c, struct mtxn *t, struct mstmt *e, const uint8_t *p,
			   uint32_t len);

static void parse_execute(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	struct mtxn *prep;
	struct mstmt *e;

	rd_skip(&r, 1);
	t->stmt_id = (uint32_t)rd_uint(&r, 4);
	prep = !r.bad && t->stmt_id == 0xffffffffu ? pending_prepare(c) : NULL;
	if (prep) {
		/* MariaDB's pipelined prepare + execute: the text is the prepare's; the
		 * values are read when its answer tells how many there are */
		set_query(t, prep->query, prep->query_len);
		set_method_from_sql(t, prep->query, prep->query_len);
		if (m->len == m->total && m->len <= MY_PARAM_BUF) {
			memcpy(t->pbuf, m->p, m->len);
			t->raw_len = m->len;
			t->defer_params = true;
		}
		return;
	}
	e = r.bad ? NULL : stmt_find(c, t->stmt_id);
	if (!e) {
		set_method_name(t, COM_STMT_EXECUTE);
		return;
	}
	set_query(t, e->text, e->text_len);
	set_method_from_sql(t, e->text, e->text_len);
	execute_values(c, t, e, m->p, m->len);
}

/* Executes of id -1 queued behind this prepare (up to the next prepare) now know it. */
static void resolve_deferred(struct mconn *c, struct mtxn *prep, struct mstmt *e)
{
	uint8_t raw[MY_PARAM_BUF];

	for (struct mtxn *x = prep->next; x && x->cmd != COM_STMT_PREPARE; x = x->next) {
		if (!x->defer_params)
			continue;
		x->defer_params = false;
		if (!e)
			continue;
		memcpy(raw, x->pbuf, x->raw_len);
		x->pbuf_len = 0;
		x->n_params = 0;
		execute_values(c, x, e, raw, x->raw_len);
	}
}

/* The values of an execute packet (p, len: the whole payload) for statement e. */
static void execute_values(struct mconn *c, struct mtxn *t, struct mstmt *e, const uint8_t *p,
			   uint32_t len)
{
	struct rd r = rd_make(p, len);
	const uint8_t *nulls;
	uint64_t total;
	uint32_t flags;

	rd_skip(&r, 5);                 /* command, statement id */
	flags = (uint32_t)rd_uint(&r, 1);
	rd_skip(&r, 4);                 /* iteration count */
	total = e->n_params;
	if (query_attrs(c) && (e->n_params || (flags & EXEC_PARAM_COUNT)))
		total = rd_lenenc(&r, NULL);
	if (total == 0 || r.bad || total < e->n_params || total > 0xffff)
		return;
	if (rd_left(&r) < (total + 7) / 8 + 1)
		return;
	nulls = r.p + r.off;
	r.off += (uint32_t)((total + 7) / 8);
	if (rd_uint(&r, 1) == 1)
		read_types(c, e, &r, total);
	for (uint32_t i = 0; i < e->n_params && i < e->n_types && !r.bad; i++) {
		if (t->n_params >= PL_MYSQL_MAX_PARAMS)
			break;
		if (nulls[i / 8] & (1u << (i % 8)))
			param_add(t, "NULL", 4);
		else
			param_value(t, &r, e->types[2 * i], e->types[2 * i + 1] & 0x80);
	}
}

/* COM_STMT_BULK_EXECUTE (MariaDB array binding): statement id, flags, the types when
 * sent, then rows of (indicator, value) per parameter. The first row is reported. */
static void parse_bulk(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	static const char *const ind_names[] = { NULL, "NULL", "DEFAULT", "IGNORE" };
	struct rd r = rd_make(m->p, m->len);
	struct mstmt *e;
	uint32_t flags;

	rd_skip(&r, 1);
	t->stmt_id = (uint32_t)rd_uint(&r, 4);
	flags = (uint32_t)rd_uint(&r, 2);
	e = r.bad ? NULL : stmt_find(c, t->stmt_id);
	if (!e)
		return;
	set_query(t, e->text, e->text_len);
	set_method_from_sql(t, e->text, e->text_len);
	if (flags & BULK_SEND_TYPES) {
		for (uint32_t i = 0; i < e->n_params && !r.bad; i++) {
			uint8_t ty = (uint8_t)rd_uint(&r, 1), fl = (uint8_t)rd_uint(&r, 1);

			if (i < MY_PARAM_TYPES) {
				e->types[2 * i] = ty;
				e->types[2 * i + 1] = fl;
			}
		}
		e->n_types = r.bad ? 0 : (uint16_t)PL_MIN((uint32_t)e->n_params, MY_PARAM_TYPES);
	}
	for (uint32_t i = 0; i < e->n_params && i < e->n_types && !r.bad; i++) {
		uint64_t ind = rd_uint(&r, 1);

		if (r.bad || t->n_params >= PL_MYSQL_MAX_PARAMS || ind >= PL_ARRAY_LEN(ind_names))
			return;
		if (ind)
			param_add(t, ind_names[ind], strlen(ind_names[ind]));
		else
			param_value(t, &r, e->types[2 * i], e->types[2 * i + 1] & 0x80);
	}
}

/* CHANGE_USER: user, auth response, schema (then charset, plugin, attributes). */
static void parse_change_user(const struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	struct pl_str user, db = { "", 0 };

	rd_skip(&r, 1);
	user = rd_nulstr(&r);
	if (!c->caps_known || (c->client_caps & CAP_SECURE_CONN))
		rd_skip(&r, rd_uint(&r, 1));
	else
		rd_nulstr(&r);
	if (rd_left(&r))
		db = rd_nulstr(&r);
	copy_capped_u8(t->new_user, &t->new_user_len, MY_NAME_MAX, user.p, user.len);
	copy_capped_u8(t->new_schema, &t->new_schema_len, MY_NAME_MAX, db.p, db.len);
}

static void stmt_forget(struct mconn *c, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	struct mstmt *e;

	rd_skip(&r, 1);
	e = stmt_find(c, (uint32_t)rd_uint(&r, 4));
	if (e && !r.bad)
		e->used = false;
}

/* COM_QUERY's query attributes: count, set count, NULL bitmap, bind flag, types and
 * names, values. r is left at the statement text (bad when they do not read). */
static void skip_query_attrs(struct rd *r)
{
	uint8_t types[MY_PARAM_TYPES];
	const uint8_t *nulls;
	uint64_t n = rd_lenenc(r, NULL);

	rd_lenenc(r, NULL);             /* parameter sets: always 1 */
	if (n == 0 || r->bad)
		return;
	if (n > MY_PARAM_TYPES || rd_left(r) < (n + 7) / 8 + 1) {
		r->bad = true;
		return;
	}
	nulls = r->p + r->off;
	r->off += (uint32_t)((n + 7) / 8);
	if (rd_uint(r, 1) != 1) {
		r->bad = true;
		return;
	}
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		types[i] = (uint8_t)rd_uint(r, 2);
		rd_lenstr(r, NULL);
	}
	for (uint32_t i = 0; i < n && !r->bad; i++)
		if (!(nulls[i / 8] & (1u << (i % 8))))
			value_skip(r, types[i]);
}

/* Text after the command byte (and after query attributes when negotiated); bad set
 * when it cannot be found. */
static struct pl_str cmd_text(const struct mconn *c, const struct mpkt *m, bool *bad)
{
	struct rd r = rd_make(m->p, m->len);

	rd_skip(&r, 1);
	if (m->p[0] == COM_QUERY && query_attrs(c))
		skip_query_attrs(&r);
	*bad = r.bad;
	if (r.bad)
		return (struct pl_str){ "", 0 };
	return (struct pl_str){ (const char *)r.p + r.off, rd_left(&r) };
}

static bool no_reply(int cmd)
{
	return cmd == COM_QUIT || cmd == COM_STMT_CLOSE || cmd == COM_STMT_SEND_LONG_DATA;
}

static void new_command(struct mconn *c, const struct mpkt *m)
{
	struct mtxn *t;
	struct pl_str txt;
	struct rd r;
	bool bad;

	if (m->len == 0) {
		c->env->stats->mysql_parse_errors++;
		return;
	}
	t = txn_get(c);
	if (!t)
		return;
	c->env->stats->mysql_requests++;
	t->cmd = m->p[0];
	if (m->cut)
		t->notes |= NOTE_CUT_REQ;
	t->start_ns = m->ts;
	t->req_end_ns = m->ts;
	t->client_bytes = m->wire;
	t->next_seq = (uint8_t)(m->last_seq + 1);
	set_method_name(t, t->cmd);
	txt = cmd_text(c, m, &bad);
	switch (t->cmd) {
	case COM_QUERY:
		if (bad)
			t->notes |= NOTE_REQ_PARSE;
		set_query(t, txt.p, txt.len);
		set_method_from_sql(t, txt.p, txt.len);
		if (m->cut && skip_lead(txt.p, txt.len) + t->method_len >= txt.len)
			set_method_name(t, COM_QUERY);  /* the keyword may go on past the cut */
		break;
	case COM_STMT_PREPARE:
	case COM_INIT_DB:
		set_query(t, txt.p, txt.len);
		break;
	case COM_FIELD_LIST:
		r = rd_make(m->p, m->len);
		rd_skip(&r, 1);
		txt = rd_nulstr(&r);
		set_query(t, txt.p, txt.len);
		break;
	case COM_CHANGE_USER:
		parse_change_user(c, t, m);
		break;
	case COM_STMT_EXECUTE:
		parse_execute(c, t, m);
		break;
	case COM_STMT_BULK_EXECUTE:
		parse_bulk(c, t, m);
		break;
	case COM_STMT_CLOSE:
		stmt_forget(c, m);
		break;
	default:
		break;
	}
	if (no_reply(t->cmd)) {
		emit_txn(c, t);
		txn_put(t);
		return;
	}
	if (c->orphan && !c->head && !c->late) {
		/* a response came with nothing asked, then this command: the capture may show
		 * them swapped, or the response answered a command it lost. Either way this
		 * command's response is unknown; pairing it with the next one would shift */
		c->orphan = false;
		emit_unmatched(c, t);
		return;
	}
	c->orphan = false;
	pend_push(c, t);
}

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

static void parse_login(struct mconn *c, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	struct pl_str user = { "", 0 }, db = { "", 0 };
	uint32_t caps = (uint32_t)rd_uint(&r, 2), ext = 0;
	struct mtxn *t;

	if (caps & CAP_PROTOCOL_41) {
		r.off = 0;
		caps = (uint32_t)rd_uint(&r, 4);
		rd_skip(&r, 4 + 1 + 19);
		ext = (uint32_t)rd_uint(&r, 4);  /* MariaDB: the client's extended caps */
		if (m->total == 32 && (caps & CAP_SSL)) {
			c->env->stats->mysql_tls_skipped++;
			skip_note(c, "switched to TLS");
			set_dead(c);
			return;
		}
		user = rd_nulstr(&r);
		if (caps & CAP_PLUGIN_AUTH_LENENC)
			rd_lenstr(&r, NULL);
		else if (caps & CAP_SECURE_CONN)
			rd_skip(&r, rd_uint(&r, 1));
		else
			rd_nulstr(&r);
		if ((caps & CAP_CONNECT_WITH_DB) && rd_left(&r))
			db = rd_nulstr(&r);
	} else {
		rd_skip(&r, 3);
		user = rd_nulstr(&r);
	}
	c->client_caps = caps;
	if (!(c->server_caps & CAP_MYSQL) && !(caps & CAP_MYSQL) && (caps & CAP_PROTOCOL_41))
		c->ext_caps = ext & c->server_ext;
	if (caps & c->server_caps & (CAP_COMPRESS | CAP_ZSTD)) {
		c->env->stats->mysql_compressed_skipped++;
		skip_note(c, caps & c->server_caps & CAP_ZSTD ? "uses zstd compression" :
			  "uses zlib compression");
		set_dead(c);
		return;
	}
	c->user_len = (uint8_t)PL_MIN(user.len, (size_t)MY_NAME_MAX);
	memcpy(c->user, user.p, c->user_len);
	c->schema_len = (uint8_t)PL_MIN(db.len, (size_t)MY_NAME_MAX);
	memcpy(c->schema, db.p, c->schema_len);
	c->phase = PH_AUTH;
	t = txn_get(c);
	if (!t)
		return;
	t->cmd = CMD_LOGIN;
	set_method_name(t, CMD_LOGIN);
	t->start_ns = m->ts;
	t->req_end_ns = m->ts;
	t->client_bytes = m->wire;
	t->rs = RS_AUTH;
	txn_put(c->login);
	c->login = t;
}

static void client_msg(struct mconn *c, const struct mpkt *m)
{
	struct mtxn *h = c->late ? NULL : c->head;

	if (c->phase == PH_LOGIN) {
		parse_login(c, m);
		return;
	}
	if (c->phase == PH_AUTH) {
		/* auth rounds continue the login's sequence; a sequence id 0 is the first
		 * command, shown before the server's OK (frames reordered in the capture) */
		if (m->first_seq == 0 && c->login) {
			new_command(c, m);
			return;
		}
		if (c->login)
			c->login->client_bytes += m->wire;
		return;
	}
	c->phase = PH_CMD;
	if (m->first_seq == 0) {
		new_command(c, m);
		return;
	}
	/* LOCAL INFILE contents and CHANGE_USER auth rounds continue the head's exchange */
	if (h && (h->rs == RS_INFILE || h->rs == RS_AUTH) && m->first_seq == h->next_seq) {
		h->client_bytes += m->wire;
		h->next_seq = (uint8_t)(m->last_seq + 1);
		if (m->cut)
			h->notes |= NOTE_CUT_REQ;
		return;
	}
	c->env->stats->mysql_parse_errors++;
	start_hunt(c, PL_DIR_TO_SERVER);
}

/* MariaDB servers announce "5.5.5-<real version>" for old clients' sake. */
static void set_version(struct mconn *c, struct pl_str v)
{
	if (v.len > 6 && !memcmp(v.p, "5.5.5-", 6)) {
		v.p += 6;
		v.len -= 6;
	}
	copy_capped_u8(c->version, &c->version_len, MY_VERSION_MAX, v.p, v.len);
}

static void greeting(struct mconn *c, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	uint32_t caps;

	if (m->first_seq != 0 || m->len == 0 || m->p[0] != 10) {
		/* not a greeting: the capture began mid-connection */
		c->phase = PH_CMD;
		start_hunt(c, PL_DIR_TO_CLIENT);
		return;
	}
	rd_skip(&r, 1);
	set_version(c, rd_nulstr(&r));
	rd_skip(&r, 4 + 8 + 1);         /* connection id, auth data, filler */
	caps = (uint32_t)rd_uint(&r, 2);
	if (rd_left(&r) >= 5) {
		rd_skip(&r, 3);
		caps |= (uint32_t)rd_uint(&r, 2) << 16;
	}
	/* auth data length, 6 reserved bytes, then MariaDB's extended capabilities */
	if (!(caps & CAP_MYSQL) && rd_left(&r) >= 11) {
		rd_skip(&r, 7);
		c->server_ext = (uint32_t)rd_uint(&r, 4);
	}
	c->server_caps = caps;
	c->caps_known = true;
	c->phase = PH_LOGIN;
}

static void deliver(struct mconn *c, int dir, const struct mpkt *m)
{
	if (dir == PL_DIR_TO_SERVER) {
		client_msg(c, m);
		return;
	}
	if (c->phase == PH_GREETING) {
		greeting(c, m);
		return;
	}
	server_msg(c, m);
}

/* --- framing --- */

static void side_fail(struct mconn *c, int dir)
{
	c->env->stats->mysql_parse_errors++;
	start_hunt(c, dir);
}

/* A server packet starts while no command waits for an answer. */
static bool unasked(const struct mconn *c, int dir)
{
	return dir == PL_DIR_TO_CLIENT && c->phase == PH_CMD && !c->head && !c->resp &&
	       !c->late && !c->absorb_eof;
}

/* Consume bytes of one direction in sync; stops early when the side leaves sync. */
static void frame(struct mconn *c, int dir, const uint8_t *p, size_t n, uint64_t ts)
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
				return;
			}
			if (!s->cont && unasked(c, dir)) {
				/* nothing was asked: do not let a stray length swallow what follows */
				c->env->stats->mysql_unmatched_responses++;
				c->orphan = true;
				start_hunt(c, dir);
				return;
			}
			if (!s->cont && dir == PL_DIR_TO_CLIENT && !resp_seq_ok(c, s->seq))
				return;
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
		if (dir == PL_DIR_TO_SERVER && c->tail && c->tail->start_ns == m.ts)
			c->tail->req_end_ns = ts;
	}
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
	const struct mtxn *t = c->late ? NULL : c->head;

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

static void conn_data(struct mconn *c, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	int d = dir == PL_DIR_TO_CLIENT;
	struct mside *s = &c->side[d];

	expire(c, ts);
	if (s->mode == MODE_DEAD || n == 0)
		return;
	if (!s->started) {
		s->started = true;
		first_bytes(c, d, p, n);
	}
	if (s->mode == MODE_HUNT) {
		bool ok = d == PL_DIR_TO_SERVER ? plausible_command(p, n) : plausible_response(c, p, n);
		if (!ok) {
			/* a response's first packet while nothing waits: as in frame() */
			if (d == PL_DIR_TO_CLIENT && c->phase == PH_CMD && !c->head && !c->late &&
			    n >= 5 && p[3] == 1 && (p[0] | p[1] | p[2]) != 0)
				c->orphan = true;
			return;
		}
		s->mode = MODE_SYNC;
		side_reset(s);
	}
	frame(c, d, p, n, ts);
}

/* The response being read when bytes went missing. */
static struct mtxn *resp_in_progress(struct mconn *c)
{
	if (c->resp)
		return c->resp;
	if (c->late == 0 && c->head && (c->head->server_bytes || side_mid(&c->side[1])))
		return c->head;
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

static void conn_gap(struct mconn *c, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	int d = dir == PL_DIR_TO_CLIENT;
	struct mtxn *t;

	if (c->side[d].mode == MODE_DEAD || len == 0)
		return;
	len = gap_in_packet(c, d, len, ts);
	if (len == 0 || c->side[d].mode == MODE_DEAD)
		return;
	if (d == PL_DIR_TO_CLIENT && ((c->phase == PH_AUTH && c->login) || !c->side[d].started)) {
		/* the hole holds the greeting or the login's answer, not a command's: the
		 * commands already sent keep their own responses, which follow */
		c->side[d].started = true;
		txn_put(c->login);
		c->login = NULL;
		c->phase = PH_CMD;
		start_hunt(c, d);
		return;
	}
	if (c->phase < PH_CMD)
		c->phase = PH_CMD;      /* the handshake cannot be followed any more */
	if (d == PL_DIR_TO_SERVER && c->late == 0 && c->head && c->head->rs == RS_INFILE)
		c->head->notes |= NOTE_LOSS_REQ;    /* part of the file the client sent is lost */
	if (d == PL_DIR_TO_CLIENT && c->side[d].mode == MODE_SYNC) {
		t = resp_in_progress(c);
		if (!t && c->late == 0 && c->head)
			t = c->head;    /* the hole may hold its whole response */
		if (t && t != c->resp) {
			t->notes |= NOTE_LOSS_RESP;
			if (t->rs != RS_ROWS && t->rs != RS_COLDEFS)
				t->is_error = t->is_error || !t->has_response;
			finish_response(c, t);
		}
	}
	if (c->side[d].mode == MODE_SYNC)
		start_hunt(c, d);
}

static void mysql_idle(void *state, uint64_t now)
{
	struct mstub *b = state;

	if (b->c)
		expire(b->c, now);
}

static void conn_close(struct mconn *c)
{
	struct mtxn *t = resp_in_progress(c);

	if (t && t != c->resp) {
		/* the connection ended inside a response */
		t->notes |= NOTE_LOSS_RESP;
		finish_response(c, t);
	}
	while (c->head)
		emit_unmatched(c, pend_pop(c));
	txn_put(c->resp);
	c->resp = NULL;
	txn_put(c->login);
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

static void mysql_data(void *state, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts)
{
	struct mconn *c = stub_conn(state);

	if (c)
		conn_data(c, dir, p, n, ts);
}

static void mysql_gap(void *state, enum pl_dir dir, uint64_t len, uint64_t ts)
{
	struct mconn *c = stub_conn(state);

	if (c)
		conn_gap(c, dir, len, ts);
}

static void mysql_close(void *state, enum pl_close_reason why, uint64_t ts)
{
	struct mstub *b = state;

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
		free_head = t->next;
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
