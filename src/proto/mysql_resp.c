/* mysql_resp.c – MySQL server → client: the response state machine of the command at the
 * queue's head (OK / ERR / EOF, result sets: column count, definitions, rows, multi-results,
 * LOCAL INFILE, auth rounds), sequence-id checks, progress reports, and the CSV text of
 * rows for send_response. Must not: store rows beyond send_response's first max_rows. */
#include <stdlib.h>
#include "mysql_int.h"

/* --- OK, ERR, result sets --- */

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

void my_parse_err(struct mtxn *t, const struct mpkt *m)
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

/* A column definition (protocol 4.1): names, MariaDB's extended type info when
 * negotiated, then the fixed part announced by its length 0x0c. False when a complete
 * packet does not read so (a truncated one is read as far as it goes). */
bool my_coldef_read(const struct mconn *c, const struct mpkt *m, struct coldef *d)
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
uint32_t my_path_of(const struct coldef *d, char *dst)
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

	if (!my_coldef_read(c, m, &d)) {
		c->env->stats->mysql_parse_errors++;
		t->notes |= NOTE_PARSE;
	}
	name = d.name;
	if (t->first_rs_done)
		return;
	if (idx == 0)
		t->path_len = my_path_of(&d, t->path);
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
	if (pend_head(c) == t && (t->cmd == COM_STMT_EXECUTE || t->cmd == COM_STMT_BULK_EXECUTE))
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
	i = my_skip_lead(t->query, t->query_len) + 3;
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
	my_finish_response(c, t);
}

bool my_deprecate_eof(const struct mconn *c)
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
		my_parse_err(t, m);
		my_finish_response(c, t);
		return;
	}
	if (b == 0xfb && t->cmd == COM_QUERY) {
		t->rs = RS_INFILE;      /* the client sends the file, then the server answers */
		t->has_response = false; /* a request for the file: the answer comes after it */
		return;
	}
	if (m->cut) {
		/* a result set's column count, cut: what follows cannot be walked */
		my_finish_response(c, t);
		my_start_hunt(c, PL_DIR_TO_CLIENT);
		return;
	}
	n = rd_lenenc(&r, NULL);
	meta = read_meta_follows(c, &r, m);
	if (r.bad || n == 0 || meta < 0 || m->len != m->total) {
		c->env->stats->mysql_parse_errors++;
		t->notes |= NOTE_PARSE;
		my_finish_response(c, t);
		my_start_hunt(c, PL_DIR_TO_CLIENT);
		return;
	}
	if (!t->first_rs_done)
		t->num_fields = n;
	t->cols_left = meta ? n : 0;
	t->rs = RS_COLDEFS;
	if (!meta && !t->first_rs_done)
		my_path_from_stmt(c, t);
}

/* 0xfe first and shorter than a 16 MB packet: EOF or OK-as-EOF, never a row. */
bool my_is_terminator(const struct mpkt *m)
{
	return m->len && m->p[0] == 0xfe && m->first_len < MY_MAX_PACKET;
}

static void rs_rows(struct mconn *c, struct mtxn *t, const struct mpkt *m);

static void rs_coldefs(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	if (m->len && m->p[0] == 0xff) {
		my_parse_err(t, m);
		my_finish_response(c, t);
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
	if (my_is_terminator(m) && (c->caps_known ? !my_deprecate_eof(c) : m->total < 7))
		return;
	rs_rows(c, t, m);
}

static void rs_rows(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	if (my_is_terminator(m)) {
		end_result(c, t, m, true);
		return;
	}
	if (m->len && m->p[0] == 0xff) {
		my_parse_err(t, m);
		my_finish_response(c, t);
		return;
	}
	on_row(c, t, m);
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
			my_txn_put(t);        /* a successful login is not an event */
			c->env->stats->mysql_responses++;
			return;
		}
		if (t->cmd == COM_CHANGE_USER) {
			memcpy(c->user, t->new_user, t->new_user_len);
			c->user_len = t->new_user_len;
			memcpy(c->schema, t->new_schema, t->new_schema_len);
			c->schema_len = t->new_schema_len;
			my_stmt_forget_all(c);
		}
		my_finish_response(c, t);
		return;
	}
	if (b == 0xff) {
		my_parse_err(t, m);
		if (t == c->login)
			c->phase = PH_CMD;   /* the server closes; nothing else expected */
		my_finish_response(c, t);
	}
}

/* One-packet answers (PING, INIT_DB, SET_OPTION, unknown commands…). */
static void rs_simple(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	uint8_t b = m->len ? m->p[0] : 0;

	if (b == 0xff)
		my_parse_err(t, m);
	else if (b == 0x00 || b == 0xfe)
		parse_ok(t, m, b == 0xfe);
	if (b == 0x00 && t->cmd == COM_RESET_CONNECTION && t != c->resp)
		my_stmt_forget_all(c);
	if (b == 0x00 && t->cmd == COM_INIT_DB && t->query_len && t->query_len <= MY_NAME_MAX) {
		memcpy(c->schema, t->query, t->query_len);
		c->schema_len = (uint8_t)t->query_len;
	}
	my_finish_response(c, t);
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
void my_resp_mismatch(struct mconn *c, struct mtxn *t)
{
	c->env->stats->mysql_parse_errors++;
	if (t != c->resp) {
		t->notes |= NOTE_PARSE;
		if (t->server_bytes == 0)
			t->notes |= NOTE_UNMATCHED;
		my_finish_response(c, t);
	}
	my_start_hunt(c, PL_DIR_TO_CLIENT);
}

/* The response being read answers this record (the head command, or an orphan). */
static struct mtxn *resp_txn(struct mconn *c)
{
	if (c->resp)
		return c->resp;
	if (c->pend.late == 0 && pend_head(c))
		return pend_head(c);
	c->resp = my_txn_get(c);
	if (c->resp) {
		c->resp->cmd = COM_QUERY;
		c->resp->next_seq = 1;
	}
	return c->resp;
}

void my_server_msg(struct mconn *c, const struct mpkt *m)
{
	struct mtxn *t;

	if (c->absorb_eof) {
		c->absorb_eof = false;
		if (m->first_seq == c->absorb_seq && my_is_terminator(m) && m->total < 9)
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
		my_resp_mismatch(c, t);
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
		if (my_is_terminator(m) || (m->len && m->p[0] == 0xff))
			rs_rows(c, t, m);
		else
			t->num_fields++;
		break;
	case RS_PREPARE_OK:
		my_rs_prepare_first(c, t, m);
		break;
	case RS_PREPARE:
		my_rs_prepare(c, t, m);
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
