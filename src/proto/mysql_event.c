/* mysql_event.c – the pl_event a finished MySQL command becomes: connection, timing,
 * bytes, the mysql.* fields from its record, error notes, ok. Must not: read packets or
 * keep state of its own. */
#include "mysql_int.h"

/* --- event emission --- */

static void conn_fill(const struct mconn *c, struct pl_event *ev)
{
	pl_event_begin(ev, PL_EV_MYSQL, c->conn);
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
	m->unread = (uint8_t)(((t->have & HAVE_AFFECTED) ? 0 : PL_MYSQL_UNREAD_AFFECTED) |
			      ((t->have & HAVE_ROWS) ? 0 : PL_MYSQL_UNREAD_ROWS) |
			      ((t->have & HAVE_FIELDS) ? 0 : PL_MYSQL_UNREAD_FIELDS) |
			      ((t->have & HAVE_ERROR) ? 0 : PL_MYSQL_UNREAD_ERROR));
	for (int i = 0; i < t->n_params; i++)
		m->params[i] = mk(t->pbuf + t->params[i].off, t->params[i].len);
	m->n_params = t->n_params;
	if (cfg->mysql.send_request)
		m->request = mk(t->query, t->query_len);
	if (cfg->mysql.send_response && t->has_response && t->csv)
		m->response = mk(t->csv, t->csv_len);
}

void my_emit_txn(struct mconn *c, struct mtxn *t)
{
	struct pl_stats *st = c->env->stats;
	struct pl_event ev;
	bool none = no_reply(t->cmd);

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
	ev.ok = !t->is_error && (t->has_response || none) &&
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
