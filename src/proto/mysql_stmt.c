/* mysql_stmt.c – MySQL prepared statements: the connection's statement table (bounded,
 * oldest evicted), a prepare's answer, and the binary protocol's values: COM_STMT_EXECUTE
 * parameters (types remembered, MariaDB's pipelined id -1), COM_STMT_BULK_EXECUTE, and the
 * query attributes of CLIENT_QUERY_ATTRIBUTES. Binary result rows are counted by
 * mysql_resp.c, never rendered. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "mysql_int.h"

static void resolve_deferred(struct mconn *c, struct mtxn *prep, struct mstmt *e);

/* --- the statement table --- */

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
void my_stmt_forget_all(struct mconn *c)
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

void my_rs_prepare_first(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	struct rd r = rd_make(m->p, m->len);
	uint32_t id;
	uint16_t ncols, nparams;

	if (m->len && m->p[0] == 0xff) {
		my_parse_err(t, m);
		if (t == pend_head(c))
			resolve_deferred(c, t, NULL);
		my_finish_response(c, t);
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
		my_finish_response(c, t);
		my_start_hunt(c, PL_DIR_TO_CLIENT);
		return;
	}
	t->stmt_id = id;
	stmt_add(c, t, id, nparams);
	if (t == pend_head(c))
		resolve_deferred(c, t, stmt_find(c, id));
	t->num_fields = ncols;
	t->cols_left = (uint64_t)ncols + nparams;
	t->rs = RS_PREPARE;
	if (t->cols_left == 0)
		my_finish_response(c, t);
}

/* The prepare's first column definition: the statement's path, for executes whose result
 * sets come without definitions (cache metadata). */
static void remember_path(struct mconn *c, const struct mtxn *t, const struct mpkt *m)
{
	struct mstmt *e = stmt_find(c, t->stmt_id);
	struct coldef d;

	if (!e || e->id != t->stmt_id)
		return;
	if (!my_coldef_read(c, m, &d)) {
		c->env->stats->mysql_parse_errors++;
		return;
	}
	e->path_len = (uint16_t)my_path_of(&d, e->text + c->env->cfg->mysql.max_query_length);
}

/* An execute's result set without definitions: path is the prepare's. */
void my_path_from_stmt(struct mconn *c, struct mtxn *t)
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

/* Parameter and column definitions of a prepare; the EOFs between them are skipped. The
 * event goes out with the last definition; a trailing EOF is absorbed afterwards. */
void my_rs_prepare(struct mconn *c, struct mtxn *t, const struct mpkt *m)
{
	if (my_is_terminator(m) && m->total < 9)
		return;
	if (t->cols_left == t->num_fields && t->num_fields)
		remember_path(c, t, m);
	if (t->cols_left)
		t->cols_left--;
	if (t->cols_left)
		return;
	if (!my_deprecate_eof(c)) {
		c->absorb_eof = true;
		c->absorb_seq = (uint8_t)(m->last_seq + 1);
	}
	my_finish_response(c, t);
}

/* --- binary-protocol values --- */

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

/* The latest STMT_PREPARE still waiting for its answer, if any. */
static struct mtxn *pending_prepare(struct mconn *c)
{
	struct mtxn *p = NULL;

	for (struct mtxn *x = c->pend.late ? NULL : pend_head(c); x; x = pend_next(x))
		if (x->cmd == COM_STMT_PREPARE)
			p = x;
	return p;
}

static void execute_values(struct mconn *c, struct mtxn *t, struct mstmt *e, const uint8_t *p,
			   uint32_t len);

/* Keep an execute's packet until a waiting prepare's answer tells its statement. */
static void defer_execute(struct mtxn *t, const struct mpkt *m)
{
	if (m->len != m->total || m->len > MY_PARAM_BUF)
		return;
	memcpy(t->pbuf, m->p, m->len);
	t->raw_len = m->len;
	t->defer_params = true;
}

/* COM_STMT_EXECUTE: the prepared text and the positional values. With query attributes
 * a parameter count (positional + attributes) may precede the NULL bitmap; the
 * attributes' values come after the positional ones and are not reported. */
void my_parse_execute(struct mconn *c, struct mtxn *t, const struct mpkt *m)
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
		c->pipelined = true;
		my_set_query(t, prep->query, prep->query_len);
		my_set_method_from_sql(t, prep->query, prep->query_len);
		defer_execute(t, m);
		return;
	}
	e = r.bad ? NULL : stmt_find(c, t->stmt_id);
	if (!e) {
		/* an id no answer named yet: a prepare still waiting may name it (its answer
		 * shown after this execute: frames reordered in the capture) */
		my_set_method_name(t, COM_STMT_EXECUTE);
		if (!r.bad && pending_prepare(c))
			defer_execute(t, m);
		return;
	}
	my_set_query(t, e->text, e->text_len);
	my_set_method_from_sql(t, e->text, e->text_len);
	execute_values(c, t, e, m->p, m->len);
}

/* Executes queued behind this prepare (up to the next prepare) of id -1, or of the id its
 * answer names, now know their statement (e; NULL when the prepare failed). */
static void resolve_deferred(struct mconn *c, struct mtxn *prep, struct mstmt *e)
{
	uint8_t raw[MY_PARAM_BUF];

	for (struct mtxn *x = pend_next(prep); x && x->cmd != COM_STMT_PREPARE; x = pend_next(x)) {
		if (!x->defer_params)
			continue;
		x->defer_params = false;
		if (!e || (x->stmt_id != 0xffffffffu && x->stmt_id != e->id))
			continue;
		if (x->stmt_id != 0xffffffffu) {
			my_set_query(x, e->text, e->text_len);
			my_set_method_from_sql(x, e->text, e->text_len);
		}
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
void my_parse_bulk(struct mconn *c, struct mtxn *t, const struct mpkt *m)
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
	my_set_query(t, e->text, e->text_len);
	my_set_method_from_sql(t, e->text, e->text_len);
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

void my_stmt_forget(struct mconn *c, const struct mpkt *m)
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
void my_skip_query_attrs(struct rd *r)
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
