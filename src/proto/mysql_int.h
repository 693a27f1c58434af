/* mysql_int.h – what the MySQL protocol module's files share (src/proto/mysql*.c): limits,
 * protocol constants, the connection / command / packet records, the bounds-checked packet
 * reader, and the functions one file calls in another. Internal: nothing outside
 * src/proto/mysql*.c includes it (the module's face is pl_mysql_ops in proto.h).
 *
 * Who owns what:
 *   mysql.c        the ops (flow glue), connection set-up and close, the command records
 *                  (free list), the pending-command queue, expiry, finishing a response
 *   mysql_wire.c   framing: packet headers, 16 MiB continuations, gaps inside packets,
 *                  resynchronisation, TLS / compression detection (sessions skipped)
 *   mysql_cmd.c    client → server: greeting, login, commands, method and query text
 *   mysql_resp.c   server → client: the response state machine, result sets, OK/ERR/EOF
 *   mysql_stmt.c   prepared statements: the statement table, prepare answers, the binary
 *                  protocol's parameters (EXECUTE, BULK_EXECUTE, query attributes)
 *   mysql_event.c  the pl_event a finished command becomes */
#ifndef PKTLOG_PROTO_MYSQL_INT_H
#define PKTLOG_PROTO_MYSQL_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "pktlog/proto.h"
#include "txq.h"

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

/* mtxn.have: what the response's packets gave (the rest is absent from the event) */
#define HAVE_AFFECTED 0x01u            /* affected_rows, insert_id: an OK, a result set's end */
#define HAVE_ROWS 0x02u                /* num_rows: a result set started, or an OK (none) */
#define HAVE_FIELDS 0x04u              /* num_fields: a column count, or an OK (none) */
#define HAVE_ERROR 0x08u               /* error_code (and message): an ERR packet */
#define HAVE_ALL (HAVE_AFFECTED | HAVE_ROWS | HAVE_FIELDS)

enum {
	COM_QUIT = 0x01, COM_INIT_DB = 0x02, COM_QUERY = 0x03, COM_FIELD_LIST = 0x04,
	COM_PING = 0x0e, COM_CHANGE_USER = 0x11, COM_STMT_PREPARE = 0x16,
	COM_STMT_EXECUTE = 0x17, COM_STMT_SEND_LONG_DATA = 0x18, COM_STMT_CLOSE = 0x19,
	COM_STMT_RESET = 0x1a, COM_SET_OPTION = 0x1b, COM_RESET_CONNECTION = 0x1f,
	COM_STMT_BULK_EXECUTE = 0xfa,
	CMD_LOGIN = 0x100,     /* internal: the connection phase's login exchange */
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
	struct pl_txq_node node;      /* in the connection's pending queue, or the free list */
	int cmd;
	uint64_t start_ns, req_end_ns, end_ns;
	uint64_t client_bytes, server_bytes;
	uint8_t next_seq;            /* sequence id the next response packet must carry */
	uint8_t rs;                  /* RS_* */
	uint8_t notes;
	bool has_response, is_error, done_pending_eof, csv_trunc;
	bool hole_before;            /* a hole in the server's stream came while it waited: its
				      * answer may lie in the hole (see my_hole_in_responses) */
	bool answer_before;          /* pushed just after a response was taken as an unmatched
				      * command's (mconn.owed): that one may have been its own */
	bool defer_params;           /* EXECUTE of id -1 sent before its prepare's answer: the
				      * raw packet waits in pbuf (raw_len bytes) */
	uint32_t raw_len;
	uint32_t stmt_id;
	uint64_t cols_left;          /* column/parameter definitions still to come */
	bool first_rs_done;          /* num_fields and path are fixed by the first result set */
	uint64_t affected_rows, insert_id, num_rows, num_fields;
	uint16_t error_code, warnings, status_flags;
	uint8_t have;                /* HAVE_*: which of the response's numbers a packet gave */
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
	struct pl_txq pend;          /* commands waiting for their responses, oldest first;
				      * pend.late: commands expired or dropped whose responses
				      * may still come */
	struct mtxn *resp;           /* response being read when it answers nobody */
	struct mtxn *login;
	bool absorb_eof;             /* a prepare's trailing EOF may follow */
	uint8_t orphans;             /* responses that came while no command waited for one,
				      * since the last command (saturating) */
	bool req_hole;               /* a hole in the client's stream since the last command */
	bool login_hole;             /* ... and it held the login (whose answer is not an orphan) */
	bool owed;                   /* the last command went out unmatched while its answer may
				      * still come: the next response with nothing asked is its */
	bool owed_taken;             /* a response was taken so since the last command */
	bool pipelined;              /* the client sent a command before the answer to the one
				      * before it (two in one segment, EXECUTE of id -1) */
	uint8_t absorb_seq;
	struct mstmt *stmts;
	uint32_t n_stmts;
	uint64_t stmt_seq;
	/* An SSLRequest was read: TLS follows on this connection (my_wire_tls). tls_rest: the
	 * bytes of the segment being framed that follow it (they are TLS's). */
	bool tls_due;
	size_t tls_rest;
};

/* What the flow entry holds (proto.h's state): the connection's state is allocated when
 * its first bytes arrive. */
struct mstub {
	union {
		struct mconn *c;
		void *tls;           /* when `tls`: pl_tls_ops' state (heap), the session's now */
	};
	const struct pl_conn *conn;
	const struct pl_proto_env *env;
	bool failed;                 /* no memory for c: the connection is ignored */
	bool tls_state;              /* handed to the TLS parser after an SSLRequest: `tls` */
};
_Static_assert(sizeof(struct mstub) <= 32, "the flow entry reserves 32 bytes per connection");

/* --- bounds-checked reader (header-inline: every parser reads with it) --- */

struct rd {
	const uint8_t *p;
	uint32_t len, off;
	bool bad;
};

static inline struct rd rd_make(const uint8_t *p, uint32_t len)
{
	return (struct rd){ p, len, 0, false };
}

static inline uint32_t rd_left(const struct rd *r)
{
	return r->bad ? 0 : r->len - r->off;
}

static inline uint64_t rd_uint(struct rd *r, uint32_t n)
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

static inline void rd_skip(struct rd *r, uint64_t n)
{
	if (rd_left(r) < n) {
		r->bad = true;
		return;
	}
	r->off += (uint32_t)n;
}

/* Length-encoded integer; *is_null set for 0xfb. 0xff is never valid here. */
static inline uint64_t rd_lenenc(struct rd *r, bool *is_null)
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
static inline struct pl_str rd_lenstr(struct rd *r, bool *is_null)
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

static inline struct pl_str rd_nulstr(struct rd *r)
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

/* --- small text helpers --- */

static inline void copy_capped(char *dst, uint32_t *dlen, uint32_t cap, const char *src, size_t n)
{
	uint32_t k = (uint32_t)PL_MIN(n, (size_t)cap);

	memcpy(dst, src, k);
	*dlen = k;
}

static inline void copy_capped_u8(char *dst, uint8_t *dlen, uint32_t cap, const char *src, size_t n)
{
	uint32_t k;

	copy_capped(dst, &k, cap, src, n);
	*dlen = (uint8_t)k;
}

static inline bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '\v';
}

/* Some bytes of a packet are in hand. */
static inline bool side_mid(const struct mside *s)
{
	return s->mode == MODE_SYNC && (s->nhdr > 0 || s->got < s->plen || s->cont);
}

/* QUIT, STMT_CLOSE and STMT_SEND_LONG_DATA: the server sends nothing back. */
static inline bool no_reply(int cmd)
{
	return cmd == COM_QUIT || cmd == COM_STMT_CLOSE || cmd == COM_STMT_SEND_LONG_DATA;
}

/* CLIENT_QUERY_ATTRIBUTES negotiated: COM_QUERY and COM_STMT_EXECUTE carry attributes. */
static inline bool query_attrs(const struct mconn *c)
{
	return c->caps_known && (c->server_caps & c->client_caps & CAP_QUERY_ATTRS);
}

/* The pending queue's oldest and newest command, and the one after t (NULL: none). */
static inline struct mtxn *pend_head(const struct mconn *c)
{
	return PL_TXQ_ENTRY(pl_txq_head(&c->pend), struct mtxn, node);
}

static inline struct mtxn *pend_tail(const struct mconn *c)
{
	return PL_TXQ_ENTRY(c->pend.tail, struct mtxn, node);
}

static inline struct mtxn *pend_next(const struct mtxn *t)
{
	return PL_TXQ_ENTRY(t->node.next, struct mtxn, node);
}

/* A column definition's names (pointing into the packet). */
struct coldef {
	struct pl_str schema, table, name;
};

/* --- mysql.c: records, the pending queue, finishing --- */

struct mtxn *my_txn_get(struct mconn *c);          /* NULL when out of memory */
void my_txn_put(struct mtxn *t);                   /* NULL is fine */
void my_pend_push(struct mconn *c, struct mtxn *t);
void my_emit_unmatched(struct mconn *c, struct mtxn *t);  /* emits and frees t */
void my_finish_response(struct mconn *c, struct mtxn *t); /* emits and frees t */
void my_lose_response(struct mconn *c, struct mtxn *t);   /* the same, its loss noted */
void my_hole_in_responses(struct mconn *c, bool framed);
void my_orphan_response(struct mconn *c);
void my_command_starts(struct mconn *c, const struct mpkt *m);
void my_expire(struct mconn *c, uint64_t now);

/* --- mysql_event.c: the event --- */

void my_emit_txn(struct mconn *c, struct mtxn *t);

/* --- mysql_wire.c: framing, resynchronisation, skipped sessions --- */

void my_conn_data(struct mconn *c, enum pl_dir dir, const uint8_t *p, size_t n, uint64_t ts);
void my_conn_gap(struct mconn *c, enum pl_dir dir, uint64_t len, uint64_t ts);
void my_start_hunt(struct mconn *c, int dir);
void my_set_dead(struct mconn *c);
struct mtxn *my_resp_in_progress(struct mconn *c);
bool my_wire_tls(struct mconn *c, uint32_t caps, uint64_t total);
/* The TLS hand-over could not happen (protocols.tls disabled, no memory): the session is
 * skipped as before, counted in mysql_tls_skipped and noted. */
void my_wire_tls_skipped(struct mconn *c);
bool my_wire_compressed(struct mconn *c, uint32_t caps);

/* --- mysql_cmd.c: client → server --- */

void my_client_msg(struct mconn *c, const struct mpkt *m);
void my_greeting(struct mconn *c, const struct mpkt *m);
size_t my_skip_lead(const char *s, size_t n);
void my_set_method_from_sql(struct mtxn *t, const char *s, size_t n);
void my_set_method_name(struct mtxn *t, int cmd);
void my_set_query(struct mtxn *t, const char *s, size_t n);

/* --- mysql_resp.c: server → client --- */

void my_server_msg(struct mconn *c, const struct mpkt *m);
void my_resp_mismatch(struct mconn *c, struct mtxn *t);
bool my_seq_fits(const struct mtxn *t, uint8_t seq);
void my_parse_err(struct mtxn *t, const struct mpkt *m);
bool my_coldef_read(const struct mconn *c, const struct mpkt *m, struct coldef *d);
uint32_t my_path_of(const struct coldef *d, char *dst);
bool my_is_terminator(const struct mpkt *m);
bool my_deprecate_eof(const struct mconn *c);

/* --- mysql_stmt.c: prepared statements, the binary protocol --- */

void my_rs_prepare_first(struct mconn *c, struct mtxn *t, const struct mpkt *m);
void my_rs_prepare(struct mconn *c, struct mtxn *t, const struct mpkt *m);
void my_path_from_stmt(struct mconn *c, struct mtxn *t);
void my_stmt_forget(struct mconn *c, const struct mpkt *m);
void my_stmt_forget_all(struct mconn *c);
void my_parse_execute(struct mconn *c, struct mtxn *t, const struct mpkt *m);
void my_parse_bulk(struct mconn *c, struct mtxn *t, const struct mpkt *m);
void my_skip_query_attrs(struct rd *r);

#endif
