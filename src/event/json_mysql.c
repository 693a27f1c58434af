/* json_mysql.c – the MySQL fields of an event in Packetbeat/ECS JSON: method, query, path,
 * user, mysql.*, params, request and response; and their share of the renderer's bound.
 * Maps filled-in fields to their names; knows no MySQL parsing. */
#include "json_write.h"

AI void mysql_fields(struct jw *w, const struct pl_event *ev)
{
	const struct pl_event_mysql *m = &ev->mysql;

	KV_PSTR(w, "method", m->method);
	KV_PSTR(w, "query", m->query);
	KV_PSTR(w, "path", m->path);
	if (m->user.len) {
		OBJ(w, "user");
		KV_PSTR(w, "name", m->user);
		obj_close(w);
	}
	OBJ(w, "mysql");
	if (m->has_response) {
		KV_U64(w, "affected_rows", m->affected_rows);
		KV_U64(w, "insert_id", m->insert_id);
		KV_U64(w, "num_fields", m->num_fields);
		KV_U64(w, "num_rows", m->num_rows);
		if (m->warnings)
			KV_U64(w, "warnings", m->warnings);
	}
	if (m->is_error) {
		KV_U64(w, "error_code", m->error_code);
		/* Packetbeat's form: "<SQLSTATE>: <message>" (the message cut at 1008 bytes). */
		KEY(w, "error_message");
		putc_(w, '"');
		if (m->sql_state.len) {
			raw_escaped(w, m->sql_state.p, PL_MIN(m->sql_state.len, (size_t)1024), false);
			LIT(w, ": ");
		}
		raw_escaped(w, m->error_message.p,
				PL_MIN(m->error_message.len, (size_t)1024 - 16), false);
		putc_(w, '"');
		KV_PSTR(w, "state", m->sql_state);
	}
	KV_PSTR(w, "db", m->schema);
	obj_close(w);
	if (m->n_params) {
		KEY(w, "params");
		putc_(w, '[');
		for (int i = 0; i < m->n_params; i++) {
			if (i)
				putc_(w, ',');
			put_escaped(w, m->params[i].p, m->params[i].len, false);
		}
		putc_(w, ']');
	}
	KV_PSTR(w, "request", m->request);
	KV_PSTR(w, "response", m->response);
}

void pl_json_mysql(struct jw *w, const struct pl_event *ev)
{
	JW_RENDER(w, mysql_fields, ev);
}

size_t pl_json_mysql_bound(const struct pl_event_mysql *m)
{
	size_t n = m->method.len + m->query.len + m->path.len + m->user.len + m->schema.len +
		   2 * m->sql_state.len + m->error_message.len + m->request.len + m->response.len;

	for (int i = 0; i < m->n_params && i < PL_MYSQL_MAX_PARAMS; i++)
		n += m->params[i].len + 4;
	return n;
}
